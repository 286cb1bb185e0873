// The pages: welcome, prejoin, meeting, lobby, leave. Reads the `config` that /config.js defines.

import { XmppConnection } from './xmpp.js';
import { Conference, ConferenceError, roomNode } from './conference.js';
import * as auth from './auth.js';
import { h, clear } from './dom.js';

const config = globalThis.config || {};
const interfaceConfig = globalThis.interfaceConfig || {};
const app = document.getElementById('app');

// Buttons we implement, in the order upstream's default toolbar shows them.
const BUTTONS = ['microphone', 'camera', 'desktop', 'chat', 'raisehand', 'participants-pane', 'tileview', 'invite', 'security', 'hangup'];

export function parseLocation(pathname) {
    const parts = pathname.split('/').filter(Boolean).map(p => decodeURIComponent(p));
    if (parts.length >= 2) return { tenant: parts[0], room: parts[1] };
    return { tenant: '', room: parts[0] || '' };
}

function toolbarButtons() {
    const wanted = Array.isArray(config.toolbarButtons) ? config.toolbarButtons : BUTTONS;
    return wanted.filter(name => BUTTONS.includes(name));
}

function showError(container, message) {
    container.querySelector('[data-testid="error-message"]')?.remove();
    container.prepend(h('div', { class: 'error', role: 'alert', 'data-testid': 'error-message' }, message));
}

function mediaErrorText(error) {
    if (error?.name === 'NotAllowedError' || error?.name === 'SecurityError') {
        return 'Camera and microphone access was denied. Allow it in your browser\u2019s site settings, then reload this page. You can still join to watch and listen.';
    }
    if (error?.name === 'NotFoundError' || error?.name === 'OverconstrainedError') {
        return 'No camera or microphone was found. You can still join to watch and listen.';
    }
    if (error?.name === 'TimeoutError') {
        return 'Your camera and microphone did not respond. You can still join to watch and listen, or reload to try again.';
    }
    if (error?.name === 'NotReadableError') {
        return 'Your camera or microphone is in use by another application.';
    }
    return `Your camera and microphone could not be started (${error?.message || error}).`;
}

const MEDIA_TIMEOUT_MS = 15000;

// getUserMedia that gives up after MEDIA_TIMEOUT_MS (a device or permission prompt that never
// answers must not keep a person out of the meeting); a late stream is stopped, not leaked.
function askDevices(constraints) {
    let timedOut = false;
    const request = navigator.mediaDevices.getUserMedia(constraints);
    request.then(stream => timedOut && stream.getTracks().forEach(t => t.stop()), () => {});
    return Promise.race([request, new Promise((_, reject) => setTimeout(() => {
        timedOut = true;
        reject(Object.assign(new Error('the camera and microphone did not answer'), { name: 'TimeoutError' }));
    }, MEDIA_TIMEOUT_MS))]);
}

async function getMedia(wantAudio, wantVideo) {
    if (!wantAudio && !wantVideo) return { stream: new MediaStream() };
    const video = wantVideo ? (config.constraints?.video || true) : false;
    try {
        return { stream: await askDevices({ audio: wantAudio, video }) };
    } catch (error) {
        if (wantVideo && wantAudio && error.name !== 'TimeoutError') {
            try {
                return { stream: await askDevices({ audio: true, video: false }), error };
            } catch (ignored) { /* fall through to no media */ }
        }
        return { stream: new MediaStream(), error };
    }
}

// ---- welcome ----

function welcomePage() {
    document.title = interfaceConfig.APP_NAME || 'Jitsi Meet';
    if (config.welcomePage?.disabled) {
        clear(app).append(h('section', { class: 'centered', 'data-testid': 'welcome-disabled' },
            h('h1', {}, interfaceConfig.APP_NAME || 'Jitsi Meet'),
            h('p', {}, 'Open a meeting link to join a meeting.')));
        return;
    }
    const input = h('input', { 'data-testid': 'welcome-room-input', placeholder: 'Name of the meeting', 'aria-label': 'Meeting name', autofocus: true });
    const go = () => {
        const name = input.value.trim();
        if (!name) {
            showError(section, 'Type a name for the meeting first.');
            return;
        }
        location.assign(`/${encodeURIComponent(name)}`);
    };
    input.addEventListener('keydown', e => e.key === 'Enter' && go());
    const section = h('section', { class: 'centered', 'data-testid': 'welcome-page' },
        h('h1', {}, interfaceConfig.APP_NAME || 'Jitsi Meet'),
        h('p', {}, 'Start or join a video meeting.'),
        h('div', { class: 'row' }, input, h('button', { class: 'primary', 'data-testid': 'welcome-join', onclick: go }, 'Start meeting')));
    clear(app).append(section);
}

// ---- prejoin ----

async function prejoinPage(where) {
    const wantAudio = !config.startWithAudioMuted && !config.startSilent;
    const wantVideo = !config.startWithVideoMuted && !config.startAudioOnly;
    // The page shows at once; the devices' answer (or refusal) arrives into it.
    const stream = new MediaStream();
    const media = getMedia(true, true);
    const state = { audio: wantAudio, video: wantVideo };
    const preview = h('video', { class: 'preview', 'data-testid': 'prejoin-preview', autoplay: true, muted: true, playsinline: true });
    const tokenName = auth.tokenUser(auth.pageToken(location.search) || '')?.name;
    const name = h('input', { 'data-testid': 'prejoin-name', placeholder: 'Your name', 'aria-label': 'Your name',
        value: tokenName || localStorage.getItem('jitsi-py-display-name') || '' });
    const mic = h('button', { 'data-testid': 'prejoin-microphone', 'aria-pressed': String(!state.audio) }, state.audio ? 'Mute microphone' : 'Unmute microphone');
    const cam = h('button', { 'data-testid': 'prejoin-camera', 'aria-pressed': String(!state.video) }, state.video ? 'Stop camera' : 'Start camera');
    mic.onclick = () => {
        state.audio = !state.audio;
        mic.textContent = state.audio ? 'Mute microphone' : 'Unmute microphone';
        mic.setAttribute('aria-pressed', String(!state.audio));
    };
    cam.onclick = () => {
        state.video = !state.video;
        stream.getVideoTracks().forEach(t => { t.enabled = state.video; });
        cam.textContent = state.video ? 'Stop camera' : 'Start camera';
        cam.setAttribute('aria-pressed', String(!state.video));
    };
    const hidden = new Set(config.hiddenPremeetingButtons || []);
    const join = h('button', { class: 'primary', 'data-testid': 'prejoin-join' }, 'Join meeting');
    const section = h('section', { class: 'centered', 'data-testid': 'prejoin-page' },
        h('h1', {}, where.room),
        preview,
        config.prejoinConfig?.hideDisplayName ? null : name,
        h('div', { class: 'row' }, hidden.has('microphone') ? null : mic, hidden.has('camera') ? null : cam),
        join);
    clear(app).append(section);
    const ready = media.then(({ stream: got, error }) => {
        got.getTracks().forEach(t => stream.addTrack(t));
        stream.getVideoTracks().forEach(t => { t.enabled = state.video; });
        preview.srcObject = stream;
        if (error) showError(section, mediaErrorText(error));
    });
    return new Promise(resolve => {
        const submit = async () => {
            await ready;
            if (config.requireDisplayName && !name.value.trim()) {
                showError(section, 'Please type your name to join.');
                return;
            }
            localStorage.setItem('jitsi-py-display-name', name.value.trim());
            resolve({ stream, displayName: name.value.trim(), audio: state.audio, video: state.video });
        };
        join.onclick = submit;
        name.addEventListener('keydown', e => e.key === 'Enter' && submit());
    });
}

// ---- meeting ----

class MeetingView {
    constructor(where, media) {
        this.where = where;
        this.media = media;
        this.tiles = new Map();
        this.reconnects = 0;
        this.build();
    }

    build() {
        this.stage = h('div', { class: 'stage', 'data-testid': 'stage' });
        this.messages = h('div', { class: 'messages', 'data-testid': 'chat-messages', 'aria-live': 'polite' });
        const chatInput = h('input', { 'data-testid': 'chat-input', placeholder: 'Type a message', 'aria-label': 'Chat message' });
        const sendChat = () => {
            const text = chatInput.value.trim();
            if (text && this.conference) this.conference.sendChat(text);
            chatInput.value = '';
        };
        chatInput.addEventListener('keydown', e => e.key === 'Enter' && sendChat());
        this.chat = h('aside', { class: 'side', hidden: true, 'data-testid': 'chat-panel' },
            h('h2', {}, 'Chat'), this.messages,
            h('div', { class: 'row' }, chatInput, h('button', { 'data-testid': 'chat-send', onclick: sendChat }, 'Send')));
        this.people = h('ul', { class: 'people', 'data-testid': 'participants-list' });
        this.knocks = h('ul', { class: 'people', 'data-testid': 'lobby-knocks' });
        this.moderatorTools = h('div', { class: 'row', 'data-testid': 'moderator-tools', hidden: true },
            h('button', { 'data-testid': 'toggle-lobby', onclick: () => this.run(() => this.conference.setLobby(!this.conference.roomInfo?.lobby)) }, 'Lobby on/off'),
            h('button', { 'data-testid': 'toggle-av-moderation', onclick: () => this.run(() => this.conference.setAvModeration(!this.avModeration)) }, 'A/V moderation'),
            h('button', { 'data-testid': 'add-breakout-room', onclick: () => this.run(() => this.conference.addBreakoutRoom(`Room ${++this.breakouts}`)) }, 'Add breakout room'));
        this.breakouts = 0;
        this.breakoutList = h('ul', { class: 'people', 'data-testid': 'breakout-rooms' });
        this.participantsPanel = h('aside', { class: 'side', hidden: true, 'data-testid': 'participants-panel' },
            h('h2', {}, 'Participants'), this.moderatorTools, this.people, h('h3', {}, 'Waiting in the lobby'), this.knocks,
            h('h3', {}, 'Breakout rooms'), this.breakoutList);
        this.banner = h('div', { class: 'banner', 'data-testid': 'connection-status', hidden: true });
        this.toolbar = h('nav', { class: 'toolbar', 'data-testid': 'toolbar' });
        this.buttons = {};
        const actions = {
            microphone: ['Mute', () => this.conference?.setMuted('audio', !this.conference.muted.audio)],
            camera: ['Stop camera', () => this.conference?.setMuted('video', !this.conference.muted.video)],
            desktop: ['Share screen', () => this.run(() => (this.conference.screenStream ? this.conference.stopScreenShare() : this.conference.startScreenShare()))],
            chat: ['Chat', () => { this.chat.hidden = !this.chat.hidden; }],
            raisehand: ['Raise hand', () => {
                if (!this.conference) return;
                this.conference.setRaisedHand(!this.conference.raisedHand);
                this.buttons.raisehand.setAttribute('aria-pressed', String(!!this.conference.raisedHand));
                this.setLocalBadges();
            }],
            'participants-pane': ['Participants', () => { this.participantsPanel.hidden = !this.participantsPanel.hidden; }],
            tileview: ['Tile view', () => this.stage.classList.toggle('tiles')],
            invite: ['Invite', () => this.inviteDialog()],
            security: ['Password', () => this.passwordDialog()],
            hangup: ['Leave', () => this.leave()],
        };
        for (const name of toolbarButtons()) {
            const [label, action] = actions[name];
            const button = h('button', { 'data-testid': `toolbar-${name}`, class: name === 'hangup' ? 'danger' : '', onclick: action, 'aria-pressed': 'false' }, label);
            this.buttons[name] = button;
            this.toolbar.append(button);
        }
        this.root = h('section', { class: 'meeting-page', 'data-testid': 'meeting-page', style: 'display:flex;flex-direction:column;height:100%' },
            this.banner, h('div', { class: 'meeting' }, this.stage, this.chat, this.participantsPanel), this.toolbar);
        clear(app).append(this.root);
        this.localTile = this.tile('local', this.media.displayName || interfaceConfig.DEFAULT_LOCAL_DISPLAY_NAME || 'me', true);
        this.setTileVideo(this.localTile, this.media.stream.getVideoTracks()[0], 'camera');
    }

    async run(action) {
        try {
            await action();
        } catch (error) {
            this.flash(error instanceof ConferenceError || error?.condition ? error.message : `That did not work: ${error?.message || error}`);
        }
    }

    flash(message) {
        showError(this.root, message);
        setTimeout(() => this.root.querySelector('[data-testid="error-message"]')?.remove(), 8000);
    }

    tile(id, name, local = false) {
        let tile = this.tiles.get(id);
        if (!tile) {
            tile = h('div', { class: `tile${local ? ' local' : ''}`, 'data-testid': local ? 'local-tile' : 'remote-tile', 'data-participant': id },
                h('div', { class: 'avatar' }, (name || '?').slice(0, 1).toUpperCase()),
                h('div', { class: 'name', 'data-testid': 'tile-name' }, name),
                h('div', { class: 'badges' }));
            this.tiles.set(id, tile);
            this.stage.append(tile);
        }
        return tile;
    }

    setTileVideo(tile, track, videoType) {
        let video = tile.querySelector('video');
        if (!track) {
            video?.remove();
            return;
        }
        if (!video) {
            video = h('video', { autoplay: true, playsinline: true, muted: true, 'data-testid': 'tile-video' });
            tile.prepend(video);
        }
        video.className = videoType === 'desktop' ? 'desktop' : 'camera';
        if (!tile.classList.contains('local')) {
            video.requestVideoFrameCallback?.(() => {
                if (!performance.getEntriesByName('jitsi:first-remote-frame').length) performance.mark('jitsi:first-remote-frame');
            });
        }
        if (video.srcObject?.getVideoTracks()[0] !== track) video.srcObject = new MediaStream([track]);
    }

    setBadges(tile, p) {
        const badges = tile.querySelector('.badges');
        clear(badges);
        if (p.audioMuted) badges.append(h('span', { class: 'badge', 'data-testid': 'badge-audio-muted' }, 'mic off'));
        if (p.videoMuted) badges.append(h('span', { class: 'badge', 'data-testid': 'badge-video-muted' }, 'cam off'));
        if (p.raisedHand) badges.append(h('span', { class: 'badge', 'data-testid': 'badge-raised-hand' }, '\u270b'));
        if (p.role === 'moderator') badges.append(h('span', { class: 'badge', 'data-testid': 'badge-moderator' }, 'host'));
        if (p.phone) badges.append(h('span', { class: 'badge', 'data-testid': 'badge-phone', title: 'On the phone' }, '\u260e'));
        if (p.phone && p.status) badges.append(h('span', { class: 'badge', 'data-testid': 'badge-call-status' }, p.status));
    }

    setLocalBadges() {
        const c = this.conference;
        if (c) this.setBadges(this.localTile, { role: c.role, audioMuted: c.muted.audio, videoMuted: c.muted.video, raisedHand: c.raisedHand });
    }

    renderPeople() {
        clear(this.people);
        const conference = this.conference;
        if (!conference) return;
        const me = conference.role === 'moderator';
        this.moderatorTools.hidden = !me;
        this.people.append(h('li', { 'data-testid': 'participant-self' }, h('span', { class: 'who' }, `${this.media.displayName || 'me'} (you)`)));
        for (const p of conference.participants.values()) {
            const menu = me && !config.remoteVideoMenu?.disabled ? [
                h('button', { 'data-testid': 'mute-participant', onclick: () => this.run(() => conference.muteParticipant(p.id)) }, 'Mute'),
                config.remoteVideoMenu?.disableKick ? null : h('button', { 'data-testid': 'kick-participant', onclick: () => this.run(() => conference.kick(p.id)) }, 'Remove'),
                config.remoteVideoMenu?.disableGrantModerator ? null : h('button', { 'data-testid': 'grant-moderator', onclick: () => this.run(() => conference.grantModerator(p.id)) }, 'Make host'),
            ] : [];
            this.people.append(h('li', { 'data-testid': 'participant-item', 'data-participant': p.id },
                h('span', { class: 'who' }, `${p.phone ? '\u260e ' : ''}${p.name || p.id}${p.role === 'moderator' ? ' (host)' : ''}${p.raisedHand ? ' \u270b' : ''}`), ...menu));
        }
    }

    // The meeting's link; its dial-in numbers and PIN when the deployment has them (config.js's
    // dialInNumbersUrl and dialInConfCodeUrl, as jitsi-meet's invite dialog); "call a phone" for a
    // moderator when the focus has a SIP gateway.
    inviteDialog() {
        const dialIn = h('div', { 'data-testid': 'dialin-info' });
        const parts = [h('p', {}, 'Share the link: ', h('code', { 'data-testid': 'invite-link' }, location.href)), dialIn];
        const conference = this.conference;
        if (conference?.sipGateway && conference.role === 'moderator') {
            const number = h('input', { 'data-testid': 'dial-out-number', placeholder: 'Phone number or SIP address' });
            const call = () => {
                const target = number.value.trim();
                if (target) this.run(() => conference.dial(target));
                dialog.close();
            };
            parts.push(h('p', {}, 'Invite by phone'), h('div', { class: 'row' }, number,
                h('button', { class: 'primary', 'data-testid': 'dial-out-call', onclick: call }, 'Call')));
        }
        const dialog = h('dialog', { 'data-testid': 'invite-dialog' }, h('h2', {}, 'Invite people'), ...parts,
            h('div', { class: 'row' }, h('button', { onclick: () => dialog.close() }, 'Close')));
        this.root.append(dialog);
        dialog.showModal();
        if (conference && config.dialInNumbersUrl && config.dialInConfCodeUrl) this.showDialIn(dialIn, conference.currentRoom);
    }

    async showDialIn(container, room) {
        const ask = async url => {
            const response = await fetch(`${url}${url.includes('?') ? '&' : '?'}conference=${encodeURIComponent(room)}`);
            if (!response.ok) throw new Error(`${response.status}`);
            return response.json();
        };
        try {
            const [numbers, mapping] = await Promise.all([ask(config.dialInNumbersUrl), ask(config.dialInConfCodeUrl)]);
            const list = Array.isArray(numbers) ? numbers
                : Object.entries(numbers.numbers || {}).flatMap(([countryCode, all]) => all.map(formattedNumber => ({ countryCode, formattedNumber })));
            if (!list.length || !mapping.id) return;
            const pin = String(mapping.id).replace(/(\d{3})(?=\d)/g, '$1 ');
            container.append(h('p', {}, 'Or dial in:'),
                h('ul', {}, ...list.map(n => h('li', { 'data-testid': 'dialin-number' },
                    `${n.countryCode === 'SIP' || n.countryCode === 'SIP_AUDIO_ONLY' ? 'SIP' : n.countryCode}: ${n.formattedNumber}`))),
                h('p', {}, 'PIN: ', h('strong', { 'data-testid': 'dialin-pin' }, `${pin} #`)));
        } catch (error) {
            container.append(h('p', { class: 'muted' }, `Dial-in information is not available (${error.message}).`));
        }
    }

    passwordDialog() {
        if (this.conference?.role !== 'moderator') {
            this.flash('Only a moderator can set the meeting password.');
            return;
        }
        const input = h('input', { 'data-testid': 'password-input', placeholder: 'New password (empty removes it)' });
        const dialog = h('dialog', { 'data-testid': 'password-dialog' },
            h('p', {}, 'Lock the meeting with a password'), input,
            h('div', { class: 'row' },
                h('button', { class: 'primary', 'data-testid': 'password-save', onclick: () => { dialog.close(); this.run(() => this.conference.setPassword(input.value)); } }, 'Save'),
                h('button', { onclick: () => dialog.close() }, 'Cancel')));
        this.root.append(dialog);
        dialog.showModal();
    }

    // With authentication on: a guest may log in (and become a moderator), whoever is logged
    // in may log out.
    showAccount() {
        const { enabled, identity } = this.conference?.auth || {};
        this.account?.remove();
        this.account = !enabled ? null : identity
            ? h('button', { 'data-testid': 'toolbar-logout', title: `Logged in as ${identity}`, onclick: () => this.logout() }, 'Log out')
            : h('button', { 'data-testid': 'toolbar-login', onclick: () => this.login() }, 'Log in');
        if (this.account) this.toolbar.insertBefore(this.account, this.buttons.hangup || null);
    }

    // A guest in the meeting logs in on a second connection; the focus then makes them a moderator.
    async login() {
        const tokenUrl = auth.tokenAuthUrl(config, this.where.room);
        if (tokenUrl) {
            location.assign(tokenUrl);
            return;
        }
        let message;
        for (;;) {
            const credentials = await auth.askCredentials(this.root, message, 'Log in to become a moderator of this meeting.');
            if (!credentials || !this.conference) return;
            this.root.dataset.auth = 'logging-in';
            this.status('Logging in\u2026');
            try {
                const login = openConnection(credentials, this.where.room);
                try {
                    await login.connect();
                } catch (error) {
                    login.disconnect();
                    throw auth.loginErrorOf(error, true);
                }
                await this.conference.upgradeRole(login);
                return;
            } catch (error) {
                if (error instanceof auth.LoginError && error.kind === 'credentials') {
                    message = error.message;
                    continue;
                }
                this.flash(error instanceof ConferenceError ? error.message : `Logging in did not work: ${error?.message || error}`);
                return;
            } finally {
                delete this.root.dataset.auth;
                this.status(null);
            }
        }
    }

    async logout() {
        if (!this.conference || !await auth.confirmLogout(this.root)) return;
        try {
            const url = await this.conference.logout();
            this.leave('You logged out.');
            if (url) location.assign(url);
        } catch (error) {
            this.flash(error.message);
        }
    }

    onEvent(event) {
        const conference = this.conference;
        switch (event.type) {
        case 'joined':
        case 'role':
            delete this.root.dataset.lobby;
            this.renderPeople();
            this.setLocalBadges();
            this.showAccount();
            break;
        case 'auth':
            this.showAccount();
            break;
        case 'participant-joined':
        case 'participant-updated': {
            const p = event.participant;
            const tile = this.tile(p.id, p.name || interfaceConfig.DEFAULT_REMOTE_DISPLAY_NAME || p.id);
            tile.querySelector('.name').textContent = p.name || interfaceConfig.DEFAULT_REMOTE_DISPLAY_NAME || p.id;
            this.setBadges(tile, p);
            this.renderPeople();
            break;
        }
        case 'participant-left':
            this.tiles.get(event.id)?.remove();
            this.tiles.delete(event.id);
            this.renderPeople();
            break;
        case 'tracks': {
            const seen = new Set();
            for (const t of event.tracks) {
                if (t.kind === 'audio') {
                    this.playAudio(t);
                    continue;
                }
                const id = t.videoType === 'desktop' ? `${t.owner}:screen` : t.owner;
                const p = conference.participants.get(t.owner);
                const tile = this.tile(id, `${p?.name || t.owner}${t.videoType === 'desktop' ? ' (screen)' : ''}`);
                tile.dataset.source = t.sourceName;
                this.setTileVideo(tile, t.track, t.videoType);
                seen.add(id);
            }
            for (const [id, tile] of this.tiles) {
                if (id.endsWith(':screen') && !seen.has(id)) {
                    tile.remove();
                    this.tiles.delete(id);
                }
            }
            break;
        }
        case 'dominant-speaker':
            for (const [id, tile] of this.tiles) tile.classList.toggle('dominant', id === event.id || (id === 'local' && event.id === conference.nick));
            break;
        case 'local-muted':
            if (event.media === 'audio' && this.buttons.microphone) {
                this.buttons.microphone.textContent = event.muted ? 'Unmute' : 'Mute';
                this.buttons.microphone.setAttribute('aria-pressed', String(event.muted));
            }
            if (event.media === 'video' && this.buttons.camera) {
                this.buttons.camera.textContent = event.muted ? 'Start camera' : 'Stop camera';
                this.buttons.camera.setAttribute('aria-pressed', String(event.muted));
            }
            this.setLocalBadges();
            break;
        case 'muted-by-moderator':
            this.flash(`A moderator muted your ${event.media === 'audio' ? 'microphone' : event.media}.`);
            break;
        case 'screen-share':
            this.buttons.desktop?.setAttribute('aria-pressed', String(event.active));
            if (this.buttons.desktop) this.buttons.desktop.textContent = event.active ? 'Stop sharing' : 'Share screen';
            break;
        case 'chat':
            this.messages.append(h('div', { 'data-testid': 'chat-message' },
                h('div', { class: 'from' }, `${event.self ? 'You' : event.name}${event.private ? ' (private)' : ''}`), h('div', {}, event.text)));
            this.messages.scrollTop = this.messages.scrollHeight;
            if (!event.self && this.chat.hidden) this.buttons.chat?.classList.add('unread');
            break;
        case 'knock':
            this.knocks.querySelector(`[data-participant="${CSS.escape(event.id)}"]`)?.remove();
            this.knocks.append(h('li', { 'data-testid': 'lobby-knock', 'data-participant': event.id },
                h('span', { class: 'who' }, event.name),
                h('button', { 'data-testid': 'lobby-admit', onclick: () => conference.admit(event.jid) }, 'Admit'),
                h('button', { 'data-testid': 'lobby-deny', onclick: () => this.run(() => conference.deny(event.id)) }, 'Deny')));
            this.participantsPanel.hidden = false;
            break;
        case 'knock-left':
            this.knocks.querySelector(`[data-participant="${CSS.escape(event.id)}"]`)?.remove();
            break;
        case 'av-moderation':
            this.avModeration = event.enabled;
            this.flash(event.enabled ? 'A moderator must now allow you to unmute.' : 'Everyone may unmute again.');
            break;
        case 'breakout-rooms':
            clear(this.breakoutList);
            for (const room of Object.values(event.rooms || {})) {
                if (room.isMainRoom) continue;
                const count = Object.keys(room.participants || {}).length;
                this.breakoutList.append(h('li', { 'data-testid': 'breakout-room', 'data-jid': room.jid }, `${room.name} (${count})`));
            }
            break;
        case 'bridge-unavailable':
            this.bridgeDown = event.unavailable;
            this.status(null);
            break;
        case 'media-error':
            this.flash(`Media problem: ${event.error?.message || event.error}`);
            break;
        case 'ice':
            if (event.state === 'failed') this.status('The media connection failed. Trying again\u2026', true);
            else if (event.state === 'connected' || event.state === 'completed') this.status(null);
            break;
        case 'ended':
            this.leave(event.message);
            break;
        case 'lobby-waiting':
            this.status('You asked to join. Please wait until a moderator lets you in\u2026');
            this.root.dataset.lobby = 'waiting';
            break;
        case 'lobby-denied':
            this.leave('A moderator did not let you in.');
            break;
        default:
            break;
        }
    }

    playAudio(t) {
        this.audio = this.audio || new Map();
        if (this.audio.has(t.sourceName)) return;
        const audio = h('audio', { autoplay: true, 'data-testid': 'remote-audio', 'data-source': t.sourceName });
        audio.srcObject = new MediaStream([t.track]);
        this.root.append(audio);
        this.audio.set(t.sourceName, audio);
    }

    // With nothing more urgent to say, the banner keeps saying that media is unavailable.
    status(text, warn = false) {
        if (!text && this.bridgeDown) {
            text = 'No media server is available for this meeting right now: you can chat, but not see or hear each other.';
            warn = true;
        }
        this.banner.hidden = !text;
        this.banner.textContent = text || '';
        this.banner.classList.toggle('warn', warn);
    }

    leave(message) {
        this.leaving = true;
        this.conference?.leave();
        this.connection?.disconnect();
        this.media.stream.getTracks().forEach(t => t.stop());
        leavePage(this.where, message);
    }
}

// A connection to the XMPP server for this room: with credentials, logged in on their domain.
function openConnection(credentials, room, onEvent) {
    return new XmppConnection({
        websocket: config.websocket, bosh: config.bosh || '/http-bind', domain: auth.connectionDomain(config.hosts, credentials, location.search),
        username: credentials && auth.loginParts(credentials.username, config.hosts).node, password: credentials?.password,
        query: { room: roomNode(room), token: auth.pageToken(location.search) },
        onEvent,
    });
}

async function connectAndJoin(view, password) {
    const where = view.where;
    const token = auth.pageToken(location.search);
    const credentials = view.credentials;
    view.conference = null;  // one from a failed attempt must not make a failed login look like a lost link
    const connection = openConnection(credentials, where.room, event => {
        if (event.type === 'failed' && !view.leaving && view.conference && connection === view.connection) {
            reconnect(view);
        }
    });
    view.connection = connection;
    performance.mark('jitsi:xmpp-connecting');
    try {
        await connection.connect();
    } catch (error) {
        throw auth.loginErrorOf(error, !!credentials);
    }
    performance.mark('jitsi:xmpp-online');
    const conference = new Conference({
        connection, config, room: where.room, displayName: view.media.displayName,
        localStream: view.media.stream, onEvent: event => view.onEvent(event),
        token,
    });
    conference.muted = { audio: !view.media.audio, video: !view.media.video };
    view.media.stream.getAudioTracks().forEach(t => { t.enabled = view.media.audio; });
    view.media.stream.getVideoTracks().forEach(t => { t.enabled = view.media.video; });
    view.conference = conference;
    await conference.join(password);
    showJoined(view);
}

function showJoined(view) {
    performance.mark('jitsi:joined');
    view.onEvent({ type: 'local-muted', media: 'audio', muted: view.conference.muted.audio });
    view.onEvent({ type: 'local-muted', media: 'video', muted: view.conference.muted.video });
}

async function reconnect(view) {
    view.conference?.closeSession();
    view.conference = null;
    for (const [id, tile] of view.tiles) {
        if (id !== 'local') {
            tile.remove();
            view.tiles.delete(id);
        }
    }
    for (let attempt = 1; attempt <= 6 && !view.leaving; attempt++) {
        view.status(`Connection lost. Reconnecting (attempt ${attempt})\u2026`, true);
        await new Promise(resolve => setTimeout(resolve, Math.min(1000 * 2 ** (attempt - 1), 15000)));
        try {
            await connectAndJoin(view, view.password);
            view.status(null);
            return;
        } catch (error) {
            view.connection?.disconnect();
        }
    }
    if (!view.leaving) view.status('The connection to the meeting was lost. Check your network and reload the page.', true);
}

async function meeting(where, media) {
    const view = new MeetingView(where, media);
    let password;
    for (;;) {
        try {
            view.status('Joining\u2026');
            view.password = password;
            await connectAndJoin(view, password);
            view.status(null);
            return view;
        } catch (caught) {
            let error = caught;
            let signIn = null;
            try {
                signIn = await authenticate(view, error, password);
            } catch (later) {
                error = later;
            }
            if (['joined', 'redirected', 'left'].includes(signIn)) return view;
            if (signIn === 'retry') continue;
            if (signIn === 'cancelled') {
                leavePage(where);
                return null;
            }
            view.connection?.disconnect();
            if (error instanceof ConferenceError && error.kind === 'password') {
                password = await askPassword(error.message);
                if (password === null) {
                    leavePage(where);
                    return null;
                }
                continue;
            }
            view.status(null);
            showError(view.root, joinErrorText(error));
            view.root.querySelector('[data-testid="error-message"]').append(' ',
                h('button', { 'data-testid': 'retry-join', onclick: () => meeting(where, media) }, 'Try again'));
            return view;
        }
    }
}

async function promptLogin(view, message) {
    view.connection?.disconnect();
    view.status(null);
    const credentials = await auth.askCredentials(view.root, message);
    // where guests are allowed, not logging in means waiting for the host as a guest
    if (!credentials && !config.hosts.anonymousdomain) return 'cancelled';
    view.credentials = credentials || undefined;
    return 'retry';
}

// What ENABLE_AUTH asks of this person: 'joined' (after waiting for the host), 'left' (while
// waiting), 'retry' (with credentials now), 'cancelled', 'redirected' (to config.tokenAuthUrl), or
// null (not an auth matter).
async function authenticate(view, error, password) {
    const authRequired = e => e instanceof ConferenceError && e.kind === 'auth-required';
    const tokenUrl = !auth.pageToken(location.search) && auth.tokenAuthUrl(config, view.where.room);
    const toTokenLogin = () => {
        view.connection?.disconnect();
        view.status('Redirecting to the login page\u2026');
        location.assign(tokenUrl);
        return 'redirected';
    };
    // the server lets nobody in without a login (a password or, with tokenAuthUrl, a token)
    const refused = error?.kind === 'password-required' || (error?.condition === 'not-authorized' && !authRequired(error));
    if (refused && tokenUrl) return toTokenLogin();
    if (error instanceof auth.LoginError) return promptLogin(view, error.kind === 'credentials' ? error.message : undefined);
    if (!authRequired(error)) return null;
    // a guest arrived before the host; the anonymous connection stays and asks again
    const conference = view.conference;
    const outcome = await auth.waitForHost({
        view,
        join: async () => {
            await conference.join(password);
            view.status(null);
        },
        isAuthRequired: authRequired,
    });
    if (outcome === 'login') return tokenUrl ? toTokenLogin() : promptLogin(view);
    if (view.leaving) return 'left';
    showJoined(view);
    return 'joined';
}

function joinErrorText(error) {
    if (error instanceof ConferenceError) return error.message;
    if (error?.condition === 'not-allowed' || error?.condition === 'not-authorized') {
        return `The server refused the login${error.text ? `: ${error.text}` : ''}.`;
    }
    return `Could not connect to the meeting server (${error?.message || error}). Check your network and try again.`;
}

function askPassword(message) {
    return new Promise(resolve => {
        const input = h('input', { 'data-testid': 'room-password-input', type: 'password', placeholder: 'Meeting password' });
        const dialog = h('dialog', { 'data-testid': 'room-password-dialog' },
            h('p', {}, message), input,
            h('div', { class: 'row' },
                h('button', { class: 'primary', 'data-testid': 'room-password-join', onclick: () => { dialog.close(); resolve(input.value); } }, 'Join'),
                h('button', { onclick: () => { dialog.close(); resolve(null); } }, 'Cancel')));
        app.append(dialog);
        dialog.showModal();
    });
}

function leavePage(where, message) {
    document.title = 'You left the meeting';
    if (config.enableClosePage) {
        clear(app).append(h('section', { class: 'centered', 'data-testid': 'close-page' },
            h('h1', {}, 'Thank you for using this meeting service'), message ? h('p', {}, message) : null));
        return;
    }
    clear(app).append(h('section', { class: 'centered', 'data-testid': 'leave-page' },
        h('h1', {}, 'You left the meeting'),
        message ? h('p', { 'data-testid': 'leave-reason' }, message) : null,
        h('div', { class: 'row' },
            h('button', { class: 'primary', 'data-testid': 'rejoin', onclick: () => location.reload() }, 'Rejoin'),
            config.welcomePage?.disabled ? null : h('button', { onclick: () => location.assign('/') }, 'Home'))));
}

async function main() {
    if (!config.hosts) {
        clear(app).append(h('div', { class: 'error centered', 'data-testid': 'error-message' },
            'The meeting configuration (config.js) could not be loaded. Reload the page.'));
        return;
    }
    const where = parseLocation(location.pathname);
    if (!where.room) {
        welcomePage();
        return;
    }
    document.title = `${where.room} | ${interfaceConfig.APP_NAME || 'Jitsi Meet'}`;
    let media;
    if (config.prejoinConfig?.enabled !== false) {
        media = await prejoinPage(where);
    } else {
        const { stream, error } = await getMedia(true, true);
        media = { stream, displayName: localStorage.getItem('jitsi-py-display-name') || '', audio: !config.startWithAudioMuted, video: !config.startWithVideoMuted };
        if (error) setTimeout(() => app.firstChild && showError(app.firstChild, mediaErrorText(error)), 0);
    }
    const view = await meeting(where, media);
    globalThis.jitsiPy = { view, config };
}

main().catch(error => {
    clear(app).append(h('div', { class: 'error centered', role: 'alert', 'data-testid': 'error-message' },
        `Something went wrong: ${error?.message || error}`));
});
