// The video area: one tile per participant (and per screen share); either a stage (the pinned
// tile, else a screen share, else the dominant speaker) with a filmstrip of the others, or a grid
// of all tiles sized to fill the page.

import { h } from './dom.js';
import { icon } from './icons.js';
import { avatarColor, gridDimensions, initials } from './ui.js';

const GRID_GAP = 6;

export class VideoLayout {
    constructor({ onTileMenu, localName }) {
        this.onTileMenu = onTileMenu;
        this.tiles = new Map();
        this.order = [];
        this.pinned = null;
        this.dominant = null;
        this.lastOnStage = null;
        this.tileView = false;
        this.stage = h('div', { class: 'stage', 'data-testid': 'stage' });
        this.filmstrip = h('div', { class: 'filmstrip', 'data-testid': 'filmstrip', role: 'list', 'aria-label': 'Participants\u2019 videos' });
        this.element = h('div', { class: 'videos', 'data-layout': 'stage' }, this.stage, this.filmstrip);
        this.resize = new ResizeObserver(() => this.sizeGrid());
        this.resize.observe(this.stage);
        this.tile('local', { name: localName, local: true });
    }

    tile(id, { name, local = false, screen = false } = {}) {
        let tile = this.tiles.get(id);
        if (tile) return tile;
        const nameLabel = h('span', { class: 'name', 'data-testid': 'tile-name' }, name || '');
        const avatar = h('div', { class: 'avatar', 'aria-hidden': 'true' }, h('span', { class: 'initials' }, initials(name)));
        avatar.style.setProperty('--avatar', avatarColor(name));
        tile = h('div', {
            class: `tile${local ? ' local' : ''}${screen ? ' screen' : ''}`, 'data-testid': local ? 'local-tile' : 'remote-tile',
            'data-participant': id, tabindex: '0', role: 'listitem',
        },
        avatar,
        h('div', { class: 'badges', 'data-testid': 'tile-badges' }),
        h('div', { class: 'label' }, h('span', { class: 'status' }), nameLabel, local ? h('span', { class: 'me', 'data-testid': 'tile-me' }, '(me)') : null));
        tile.addEventListener('click', event => {
            if (!event.target.closest('button, .popup')) this.togglePin(id);
        });
        tile.addEventListener('keydown', event => {
            // Enter only: Space is push-to-talk everywhere in the meeting
            if (event.key === 'Enter' && event.target === tile) {
                event.preventDefault();
                event.stopPropagation();
                this.togglePin(id);
            }
        });
        if (!local && !screen) {
            const menu = h('button', { class: 'tile-menu-button', 'data-testid': 'tile-menu', 'aria-label': `Actions for ${name}`, title: 'More actions', 'aria-haspopup': 'menu' }, icon('menu', { size: 18 }));
            menu.addEventListener('click', () => this.onTileMenu(id, tile, menu));
            tile.append(menu);
        }
        this.tiles.set(id, tile);
        this.order.push(id);
        this.updateLabel(tile);
        this.place();
        return tile;
    }

    has(id) {
        return this.tiles.has(id);
    }

    get(id) {
        return this.tiles.get(id);
    }

    remove(id) {
        const tile = this.tiles.get(id);
        if (!tile) return;
        tile.remove();
        this.tiles.delete(id);
        this.order = this.order.filter(x => x !== id);
        if (this.pinned === id) this.pinned = null;
        this.place();
    }

    setName(id, name) {
        const tile = this.tiles.get(id);
        if (!tile) return;
        tile.querySelector('.name').textContent = name;
        // a caller on the phone keeps the phone as its avatar, whatever its name
        if (!tile.classList.contains('phone')) tile.querySelector('.initials').textContent = initials(name);
        tile.querySelector('.avatar').style.setProperty('--avatar', avatarColor(name));
        tile.querySelector('.tile-menu-button')?.setAttribute('aria-label', `Actions for ${name}`);
        this.updateLabel(tile);
    }

    updateLabel(tile) {
        const name = tile.querySelector('.name').textContent;
        const pinned = tile.classList.contains('pinned');
        tile.setAttribute('aria-label', `${name}${tile.classList.contains('local') ? ' (me)' : ''}${pinned ? ', pinned' : ''}. Press Enter to ${pinned ? 'unpin' : 'pin'}.`);
    }

    setAvatarUrl(id, url) {
        const tile = this.tiles.get(id);
        if (!tile || !url || !/^https?:\/\//i.test(url)) return;
        const avatar = tile.querySelector('.avatar');
        if (avatar.querySelector('img')?.src === url) return;
        avatar.querySelector('img')?.remove();
        avatar.append(h('img', { src: url, alt: '', referrerpolicy: 'no-referrer', onerror: e => e.target.remove() }));
    }

    // p: { role, audioMuted, videoMuted, raisedHand, phone, status }; phone: a caller through the SIP
    // gateway, whose status is the call's progress
    setState(id, p) {
        const tile = this.tiles.get(id);
        if (!tile) return;
        const badges = tile.querySelector('.badges');
        badges.replaceChildren(
            p.role === 'moderator' ? h('span', { class: 'badge moderator', 'data-testid': 'badge-moderator', title: 'Moderator' }, icon('moderator', { size: 16, title: 'Moderator' })) : '',
            p.raisedHand ? h('span', { class: 'badge hand', 'data-testid': 'badge-raised-hand', title: 'Raised hand' }, icon('raisehand', { size: 16, title: 'Raised hand' })) : '',
            p.phone ? h('span', { class: 'badge phone', 'data-testid': 'badge-phone', title: 'On the phone' }, icon('phone', { size: 16, title: 'On the phone' })) : '',
            p.phone && p.status ? h('span', { class: 'badge', 'data-testid': 'badge-call-status' }, p.status) : '');
        tile.querySelector('.status').replaceChildren(
            p.audioMuted ? h('span', { class: 'badge muted', 'data-testid': 'badge-audio-muted', title: 'Microphone muted' }, icon('microphone-off', { size: 15, title: 'Microphone muted' })) : '',
            p.videoMuted ? h('span', { class: 'badge muted', 'data-testid': 'badge-video-muted', title: 'Camera off' }, icon('camera-off', { size: 15, title: 'Camera off' })) : '');
        if (p.phone && !tile.classList.contains('phone')) {
            tile.classList.add('phone');
            tile.querySelector('.initials').replaceChildren(icon('phone', { size: 40 }));
        }
        tile.classList.toggle('video-muted', !!p.videoMuted);
        tile.classList.toggle('hand-raised', !!p.raisedHand);
    }

    setVideo(id, track, videoType) {
        const tile = this.tiles.get(id);
        if (!tile) return;
        let video = tile.querySelector('video');
        if (!track) {
            video?.remove();
            tile.classList.remove('playing');
            delete tile.dataset.track;
            return;
        }
        if (!video) {
            video = h('video', { autoplay: true, playsinline: true, muted: true, 'data-testid': 'tile-video' });
            // the avatar shows until frames arrive, and again while none do (camera off, last-N)
            video.addEventListener('playing', () => tile.classList.add('playing'));
            video.addEventListener('emptied', () => tile.classList.remove('playing'));
            tile.prepend(video);
        }
        video.className = videoType === 'desktop' ? 'desktop' : 'camera';
        if (!tile.classList.contains('local')) {
            video.requestVideoFrameCallback?.(() => {
                if (!performance.getEntriesByName('jitsi:first-remote-frame').length) performance.mark('jitsi:first-remote-frame');
            });
        }
        if (video.srcObject?.getVideoTracks()[0] !== track) {
            video.srcObject = new MediaStream([track]);
            tile.dataset.track = track.id;
            track.addEventListener('mute', () => tile.classList.remove('playing'));
            track.addEventListener('unmute', () => video.readyState >= 2 && tile.classList.add('playing'));
        }
    }

    setQuality(id, quality) {
        const tile = this.tiles.get(id);
        if (!tile) return;
        let indicator = tile.querySelector('.quality');
        if (!indicator) {
            indicator = h('button', { class: 'quality', 'data-testid': 'tile-quality', 'aria-label': 'Connection quality' },
                icon('quality', { size: 16 }), h('span', { class: 'quality-info popup', role: 'tooltip', 'data-testid': 'tile-quality-info' }));
            tile.append(indicator);
        }
        indicator.dataset.level = quality.level;
        const words = { good: 'Good', fair: 'Fair', poor: 'Poor' }[quality.level];
        const text = `${words} connection \u00b7 bitrate ${quality.bitrate} kbit/s \u00b7 loss ${quality.loss}%${quality.rtt === null ? '' : ` \u00b7 RTT ${quality.rtt} ms`}`;
        indicator.setAttribute('aria-label', text);
        indicator.querySelector('.quality-info').textContent = text;
    }

    setDominant(id) {
        if (this.dominant === id) return;
        this.dominant = id;
        for (const [key, tile] of this.tiles) tile.classList.toggle('dominant', key === id);
        this.place();
    }

    togglePin(id) {
        this.pinned = this.pinned === id ? null : id;
        if (this.pinned) this.tileView = false;
        for (const [key, tile] of this.tiles) {
            tile.classList.toggle('pinned', key === this.pinned);
            this.updateLabel(tile);
        }
        this.place();
    }

    setTileView(on) {
        this.tileView = on;
        if (on && this.pinned) this.togglePin(this.pinned);
        this.place();
    }

    // The video source the stage shows (a remote one), or null: what to ask the bridge for in full.
    stageSource() {
        const id = this.tileView ? null : this.lastOnStage;
        if (!id || id === 'local') return null;
        const tile = this.tiles.get(id);
        return tile?.dataset.source || (id.endsWith(':screen') ? `${id.slice(0, -7)}-v1` : `${id}-v0`);
    }

    // Who is on the stage: the pinned tile, else the newest remote screen share, else the
    // dominant speaker (not ourselves), else whoever was there, else the first remote.
    onStage() {
        if (this.pinned && this.tiles.has(this.pinned)) return this.pinned;
        const screens = this.order.filter(id => id.endsWith(':screen'));
        if (screens.length) return screens[screens.length - 1];
        if (this.dominant && this.dominant !== 'local' && this.tiles.has(this.dominant)) return this.dominant;
        if (this.lastOnStage && this.lastOnStage !== 'local' && this.tiles.has(this.lastOnStage)) return this.lastOnStage;
        return this.order.find(id => id !== 'local') || 'local';
    }

    place() {
        // a moved node loses the keyboard focus: give it back
        const focused = document.activeElement;
        const alone = this.tiles.size <= 1;
        this.element.dataset.layout = this.tileView ? 'grid' : 'stage';
        this.element.classList.toggle('alone', alone);
        if (this.tileView) {
            this.arrange(this.stage, this.order.map(id => this.tiles.get(id)));
            this.lastOnStage = null;
        } else {
            const main = this.onStage();
            this.lastOnStage = main;
            this.arrange(this.stage, [this.tiles.get(main)]);
            this.arrange(this.filmstrip, this.order.filter(id => id !== main).map(id => this.tiles.get(id)));
        }
        for (const [id, tile] of this.tiles) tile.classList.toggle('on-stage', !this.tileView && id === this.lastOnStage);
        this.filmstrip.hidden = this.tileView || alone;
        this.sizeGrid();
        if (focused && focused !== document.activeElement && focused.isConnected) focused.focus({ preventScroll: true });
        const key = `${this.tileView}/${this.pinned}/${this.stageSource()}`;
        if (key !== this.placed) {
            this.placed = key;
            this.onChange?.();
        }
    }

    // Moves as few nodes as it can: a moved <video> keeps playing (it is back in the document
    // within the same task).
    arrange(container, tiles) {
        let previous = null;
        for (const tile of tiles) {
            const want = previous ? previous.nextSibling : container.firstChild;
            if (want !== tile) container.insertBefore(tile, want);
            previous = tile;
        }
    }

    sizeGrid() {
        if (!this.tileView) {
            this.stage.style.gridTemplateColumns = '';
            this.stage.style.gridTemplateRows = '';
            return;
        }
        const { columns, rows, tileWidth, tileHeight } = gridDimensions(this.tiles.size, this.stage.clientWidth - 2 * GRID_GAP,
            this.stage.clientHeight - 2 * GRID_GAP, 16 / 9, GRID_GAP);
        this.stage.style.gridTemplateColumns = `repeat(${columns}, ${Math.floor(tileWidth)}px)`;
        this.stage.style.gridTemplateRows = `repeat(${rows}, ${Math.floor(tileHeight)}px)`;
        this.stage.dataset.columns = String(columns);
    }

    // Which video each tile shows, by the track's id: for connection statistics.
    trackOwners() {
        const owners = new Map();
        for (const [id, tile] of this.tiles) if (tile.dataset.track) owners.set(tile.dataset.track, id);
        return owners;
    }
}
