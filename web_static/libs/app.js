// The pages: welcome, prejoin, meeting, lobby, leave. Reads the `config` that /config.js defines.

import { XmppConnection } from './xmpp.js';
import { Conference, ConferenceError, discover, roomNode } from './conference.js';
import * as auth from './auth.js';
import { h, clear } from './dom.js';
import { icon } from './icons.js';
import { VideoLayout } from './stage.js';
import {
    MAX_CHAT_LENGTH, addRecent, checkRoomName, connectionQuality, dialOutTarget, formatDuration, initials, linkify, randomRoomName, streamTarget,
} from './ui.js';

const config = globalThis.config || {};
const interfaceConfig = globalThis.interfaceConfig || {};
const app = document.getElementById('app');
const APP_NAME = interfaceConfig.APP_NAME || 'Jitsi Meet';

const STORE = {
    name: 'jitsi-py-display-name',
    email: 'jitsi-py-email',
    recent: 'jitsi-py-recent-meetings',
    devices: 'jitsi-py-devices',
};

function stored(key, fallback) {
    try {
        return JSON.parse(localStorage.getItem(key)) ?? fallback;
    } catch (e) {
        return fallback;
    }
}

// The toolbar: [upstream's name, label, icon, shortcut key], main buttons first, then the ones
// the "more" menu holds. TOOLBAR_BUTTONS (config.toolbarButtons) picks among them.
const MAIN_BUTTONS = ['microphone', 'camera', 'desktop', 'chat', 'raisehand', 'reactions', 'participants-pane', 'tileview', 'hangup'];
// upstream's reaction names, drawn with our icons
const REACTIONS = { like: 'Thumbs up', love: 'Heart', laugh: 'Laugh', surprised: 'Surprised', boo: 'Thumbs down' };
const MENU_BUTTONS = ['invite', 'security', 'recording', 'livestreaming', 'settings', 'etherpad', 'fullscreen', 'shortcuts'];

export function parseLocation(pathname) {
    const parts = pathname.split('/').filter(Boolean).map(p => {
        try {
            return decodeURIComponent(p);
        } catch (e) {
            return p;
        }
    });
    if (parts.length >= 2) return { tenant: parts[0], room: parts[1] };
    return { tenant: '', room: parts[0] || '' };
}

function wantedButtons(names) {
    const wanted = Array.isArray(config.toolbarButtons) ? config.toolbarButtons : null;  // null: all
    // the buttons of features this deployment has
    const available = {
        etherpad: !!config.etherpad_base,
        recording: !!(config.recordingService?.enabled || config.fileRecordingsEnabled),
        livestreaming: !!(config.liveStreaming?.enabled || config.liveStreamingEnabled),
    };
    return names.filter(name => (!wanted || wanted.includes(name)) && available[name] !== false);
}

function showError(container, message) {
    container.querySelector(':scope > [data-testid="error-message"]')?.remove();
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

function videoConstraints(deviceId) {
    const base = config.constraints?.video && typeof config.constraints.video === 'object' ? { ...config.constraints.video } : {};
    if (deviceId) base.deviceId = { exact: deviceId };
    return Object.keys(base).length ? base : true;
}

function audioConstraints(deviceId) {
    return deviceId ? { deviceId: { exact: deviceId } } : true;
}

async function getMedia(wantAudio, wantVideo) {
    if (!wantAudio && !wantVideo) return { stream: new MediaStream() };
    const chosen = stored(STORE.devices, {});
    const audio = wantAudio ? audioConstraints(chosen.audioinput) : false;
    const video = wantVideo ? videoConstraints(chosen.videoinput) : false;
    try {
        return { stream: await askDevices({ audio, video }) };
    } catch (error) {
        if (error.name === 'OverconstrainedError' && (chosen.audioinput || chosen.videoinput)) {
            // a remembered device is gone: any camera and microphone will do
            localStorage.removeItem(STORE.devices);
            return getMedia(wantAudio, wantVideo);
        }
        if (wantVideo && wantAudio && error.name !== 'TimeoutError') {
            try {
                return { stream: await askDevices({ audio: true, video: false }), error };
            } catch (ignored) { /* fall through to no media */ }
        }
        return { stream: new MediaStream(), error };
    }
}

// A microphone level meter: a bar whose width follows the track's loudness.
function levelMeter(testid) {
    const bar = h('span', { class: 'level-bar' });
    const meter = h('div', { class: 'level', 'data-testid': testid, role: 'meter', 'aria-label': 'Microphone level', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' }, bar);
    let context = null;
    let frame = 0;
    const stop = () => {
        cancelAnimationFrame(frame);
        context?.close();
        context = null;
    };
    const follow = track => {
        stop();
        if (!track || !window.AudioContext) return;
        context = new AudioContext();
        const analyser = context.createAnalyser();
        analyser.fftSize = 512;
        context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
        const samples = new Float32Array(analyser.fftSize);
        const draw = () => {
            if (!meter.isConnected) {
                stop();
                return;
            }
            analyser.getFloatTimeDomainData(samples);
            let sum = 0;
            for (const x of samples) sum += x * x;
            const level = Math.min(100, Math.round(Math.sqrt(sum / samples.length) * 300));
            bar.style.width = `${level}%`;
            meter.setAttribute('aria-valuenow', String(level));
            meter.dataset.level = String(level);
            frame = requestAnimationFrame(draw);
        };
        draw();
    };
    return { element: meter, follow, stop };
}

const DEVICE_LABELS = { videoinput: 'Camera', audioinput: 'Microphone', audiooutput: 'Speaker' };

// A speaker is chosen only where the browser can send audio to one.
function deviceKinds() {
    return Object.keys(DEVICE_LABELS).filter(kind => kind !== 'audiooutput' || 'setSinkId' in HTMLMediaElement.prototype);
}

function deviceRow(kind, select) {
    return h('label', { class: 'field' }, h('span', {}, DEVICE_LABELS[kind]), select);
}

// Rows the size of the selectors, until the devices answer: nothing on the page moves when they do
// (the join button least of all, which may be on its way under the pointer).
function pendingDeviceRows() {
    return deviceKinds().map(kind => deviceRow(kind, h('select', { 'aria-label': DEVICE_LABELS[kind], disabled: true }, h('option', { value: '' }, '…'))));
}

// Camera, microphone and speaker choices. `onChange(kind, deviceId)` switches; the choice is
// remembered for the next meeting.
async function deviceSelectors(current, onChange) {
    const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
    const chosen = stored(STORE.devices, {});
    return deviceKinds().map(kind => {
        const label = DEVICE_LABELS[kind];
        const list = devices.filter(d => d.kind === kind && d.deviceId);
        const select = h('select', { 'data-testid': `device-${kind}`, 'aria-label': label, disabled: !list.length },
            list.length ? list.map((d, i) => h('option', { value: d.deviceId }, d.label || `${label} ${i + 1}`))
                : h('option', { value: '' }, `No ${label.toLowerCase()} found`));
        const now = current[kind] || chosen[kind];
        if (now && list.some(d => d.deviceId === now)) select.value = now;
        select.addEventListener('change', async () => {
            select.disabled = true;
            try {
                await onChange(kind, select.value);
                localStorage.setItem(STORE.devices, JSON.stringify({ ...stored(STORE.devices, {}), [kind]: select.value }));
            } finally {
                select.disabled = false;
            }
        });
        return deviceRow(kind, select);
    });
}

function currentDevices(stream) {
    return {
        videoinput: stream.getVideoTracks()[0]?.getSettings().deviceId,
        audioinput: stream.getAudioTracks()[0]?.getSettings().deviceId,
        audiooutput: stored(STORE.devices, {}).audiooutput,
    };
}

// A track from another device, for `kind` (videoinput or audioinput).
async function trackFrom(kind, deviceId) {
    const stream = await navigator.mediaDevices.getUserMedia(kind === 'videoinput'
        ? { video: videoConstraints(deviceId) } : { audio: audioConstraints(deviceId) });
    return stream.getTracks()[0];
}

function applySpeaker(deviceId) {
    if (!deviceId) return;
    for (const media of document.querySelectorAll('audio')) media.setSinkId?.(deviceId).catch(() => {});
}

// ---- welcome ----

function welcomePage() {
    document.title = APP_NAME;
    if (config.welcomePage?.disabled) {
        clear(app).append(h('section', { class: 'centered', 'data-testid': 'welcome-disabled' },
            h('h1', {}, APP_NAME),
            h('p', {}, 'Open a meeting link to join a meeting.')));
        return;
    }
    const suggestion = randomRoomName();
    const input = h('input', { 'data-testid': 'welcome-room-input', placeholder: suggestion, 'aria-label': 'Meeting name', autofocus: true, maxlength: '300' });
    const problem = h('p', { class: 'hint', 'data-testid': 'welcome-hint', 'aria-live': 'polite' });
    const go = () => {
        const checked = checkRoomName(input.value);
        if (!checked.ok) {
            showError(section, checked.message);
            if (checked.suggestion) {
                section.querySelector('[data-testid="error-message"]').append(' ',
                    h('button', { 'data-testid': 'welcome-use-suggestion', onclick: () => { input.value = checked.suggestion; go(); } }, `Use \u201c${checked.suggestion}\u201d`));
            }
            return;
        }
        location.assign(`/${encodeURIComponent(checked.name)}`);
    };
    input.addEventListener('keydown', e => e.key === 'Enter' && go());
    input.addEventListener('input', () => {
        const checked = checkRoomName(input.value);
        problem.textContent = input.value && !checked.ok ? checked.message : '';
    });
    const recent = stored(STORE.recent, []).filter(r => r && typeof r.room === 'string' && checkRoomName(r.room).ok);
    const section = h('section', { class: 'centered welcome', 'data-testid': 'welcome-page' },
        h('h1', {}, APP_NAME),
        h('p', {}, 'Secure, fast video meetings. Start one or join one by its name.'),
        h('div', { class: 'row' }, input, h('button', { class: 'primary', 'data-testid': 'welcome-join', onclick: go }, 'Start meeting')),
        problem,
        h('button', { class: 'link', 'data-testid': 'welcome-suggest', onclick: () => { input.value = suggestion; input.focus(); } }, `Suggestion: ${suggestion}`),
        recent.length ? h('nav', { class: 'recent', 'aria-label': 'Recent meetings' },
            h('h2', {}, 'Recent meetings'),
            h('ul', { 'data-testid': 'recent-meetings' }, recent.map(r => h('li', {},
                h('a', { href: `/${encodeURIComponent(r.room)}`, 'data-testid': 'recent-meeting' }, r.room),
                h('time', { datetime: new Date(r.date).toISOString() }, new Date(r.date).toLocaleString()))))) : null);
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
    const name = h('input', { 'data-testid': 'prejoin-name', placeholder: 'Your name', 'aria-label': 'Your name', maxlength: '100',
        value: tokenName || localStorage.getItem(STORE.name) || '' });
    const mic = h('button', { 'data-testid': 'prejoin-microphone' });
    const cam = h('button', { 'data-testid': 'prejoin-camera' });
    const meter = levelMeter('prejoin-level');
    const showState = () => {
        mic.replaceChildren(icon(state.audio ? 'microphone' : 'microphone-off'), h('span', {}, state.audio ? 'Mute microphone' : 'Unmute microphone'));
        mic.setAttribute('aria-pressed', String(!state.audio));
        cam.replaceChildren(icon(state.video ? 'camera' : 'camera-off'), h('span', {}, state.video ? 'Stop camera' : 'Start camera'));
        cam.setAttribute('aria-pressed', String(!state.video));
        preview.classList.toggle('off', !state.video);
    };
    mic.onclick = () => {
        state.audio = !state.audio;
        showState();
    };
    cam.onclick = () => {
        state.video = !state.video;
        stream.getVideoTracks().forEach(t => { t.enabled = state.video; });
        showState();
    };
    showState();
    const hidden = new Set(config.hiddenPremeetingButtons || []);
    const join = h('button', { class: 'primary', 'data-testid': 'prejoin-join' }, 'Join meeting');
    const devices = h('div', { class: 'devices', 'data-testid': 'prejoin-devices' }, ...pendingDeviceRows());
    const section = h('section', { class: 'centered prejoin', 'data-testid': 'prejoin-page' },
        h('h1', {}, where.room),
        h('div', { class: 'preview-box' }, preview, h('div', { class: 'preview-avatar', 'aria-hidden': 'true' }, initials(name.value))),
        config.prejoinConfig?.hideDisplayName ? null : name,
        h('div', { class: 'row' }, hidden.has('microphone') ? null : mic, hidden.has('camera') ? null : cam),
        meter.element,
        devices,
        join);
    name.addEventListener('input', () => { section.querySelector('.preview-avatar').textContent = initials(name.value); });
    clear(app).append(section);
    let submitted = false;
    const ready = media.then(({ stream: got, error }) => {
        got.getTracks().forEach(t => stream.addTrack(t));
        stream.getVideoTracks().forEach(t => { t.enabled = state.video; });
        if (submitted) return { error };  // the meeting page shows them now
        preview.srcObject = stream;
        meter.follow(stream.getAudioTracks()[0]);
        if (error) showError(section, mediaErrorText(error));
        // the device lists come when they come: joining does not wait for them
        deviceSelectors(currentDevices(stream), async (kind, deviceId) => {
            if (kind === 'audiooutput') return;
            const track = await trackFrom(kind, deviceId);
            const old = kind === 'videoinput' ? stream.getVideoTracks()[0] : stream.getAudioTracks()[0];
            if (old) {
                stream.removeTrack(old);
                old.stop();
            }
            if (kind === 'videoinput') track.enabled = state.video;
            stream.addTrack(track);
            preview.srcObject = stream;
            if (kind === 'audioinput') meter.follow(track);
        }).then(rows => devices.replaceChildren(...rows));
        return {};
    });
    return new Promise(resolve => {
        // Joining does not wait for the camera and microphone: the room is entered meanwhile, and
        // only the media session waits for them (`ready`).
        const submit = () => {
            if (config.requireDisplayName && !name.value.trim()) {
                showError(section, 'Please type your name to join.');
                return;
            }
            submitted = true;
            meter.stop();
            localStorage.setItem(STORE.name, name.value.trim());
            resolve({ stream, ready, displayName: name.value.trim(), audio: state.audio, video: state.video });
        };
        join.onclick = submit;
        name.addEventListener('keydown', e => e.key === 'Enter' && submit());
    });
}

// ---- meeting ----

const STATS_INTERVAL_MS = 2000;
const TOAST_MS = 6000;

// Keys that work anywhere in the meeting but in a text field, upstream's letters.
const SHORTCUTS = [
    ['M', 'Mute or unmute the microphone', 'microphone'],
    ['V', 'Start or stop the camera', 'camera'],
    ['D', 'Share the screen or stop sharing', 'desktop'],
    ['C', 'Open or close the chat', 'chat'],
    ['R', 'Raise or lower your hand', 'raisehand'],
    ['P', 'Show or hide the participants', 'participants-pane'],
    ['T', 'Switch between tile view and stage', 'tileview'],
    ['W', 'Switch between tile view and stage', 'tileview'],
    ['S', 'Full screen', 'fullscreen'],
    ['?', 'Show the keyboard shortcuts', 'shortcuts'],
];

function typing(target) {
    return target instanceof HTMLElement && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
}

class MeetingView {
    constructor(where, media) {
        this.where = where;
        this.media = media;
        this.breakouts = 0;
        this.unread = 0;
        this.statsBefore = new Map();
        this.build();
        media.ready.then(({ error }) => this.devicesArrived(error));
    }

    // The camera and microphone may answer after joining: their tracks take the meeting's mute
    // state and the local tile (the media session waits for them itself).
    devicesArrived(error) {
        if (this.leaving) {
            this.media.stream.getTracks().forEach(t => t.stop());
            return;
        }
        const muted = this.conference?.muted || { audio: !this.media.audio, video: !this.media.video };
        this.media.stream.getAudioTracks().forEach(t => { t.enabled = !muted.audio; });
        this.media.stream.getVideoTracks().forEach(t => { t.enabled = !muted.video; });
        this.layout.setVideo('local', this.media.stream.getVideoTracks()[0], 'camera');
        if (error) this.flash(mediaErrorText(error));
    }

    build() {
        this.layout = new VideoLayout({
            localName: this.media.displayName || interfaceConfig.DEFAULT_LOCAL_DISPLAY_NAME || 'me',
            onTileMenu: (id, tile, button) => this.tileMenu(id, tile, button),
        });
        this.layout.onChange = () => this.stageChanged();
        this.layout.setVideo('local', this.media.stream.getVideoTracks()[0], 'camera');
        this.layout.setAvatarUrl('local', auth.tokenUser(auth.pageToken(location.search) || '')?.avatar);
        // notices over the videos (waiting for the host, knocking at the lobby)
        this.stage = h('div', { class: 'notices' });
        this.toasts = h('div', { class: 'toasts', 'aria-live': 'polite', 'data-testid': 'toasts' });
        this.reactions = h('div', { class: 'reactions', 'aria-live': 'polite' });
        this.buildChat();
        this.buildParticipants();
        this.banner = h('div', { class: 'banner', 'data-testid': 'connection-status', role: 'status', hidden: true });
        this.timer = h('span', { class: 'timer', 'data-testid': 'meeting-timer' }, '00:00');
        this.recordingBadge = h('span', { class: 'recording-badge', 'data-testid': 'recording-indicator', role: 'status', hidden: true });
        this.lockIcon = h('span', { class: 'locked', 'data-testid': 'meeting-locked', title: 'Locked with a password', hidden: true }, icon('lock', { size: 16, title: 'Locked with a password' }));
        const header = this.header = h('header', { class: 'meeting-header' },
            h('h1', { class: 'meeting-title', 'data-testid': 'meeting-title' }, this.where.room), this.lockIcon, this.timer, this.recordingBadge);
        this.buildToolbar();
        this.side = h('div', { class: 'sides' }, this.chat, this.participantsPanel);
        this.root = h('section', { class: 'meeting-page', 'data-testid': 'meeting-page' },
            header, this.banner,
            h('div', { class: 'meeting' }, h('div', { class: 'video-area' }, this.layout.element, this.stage, this.reactions, this.toasts), this.side),
            this.toolbar);
        clear(app).append(this.root);
        this.keys = event => this.onKey(event);
        document.addEventListener('keydown', this.keys);
        document.addEventListener('keyup', this.keys);
        this.clock = setInterval(() => this.tick(), 1000);
    }

    // ---- toolbar ----

    buildToolbar() {
        this.toolbar = h('nav', { class: 'toolbar', 'data-testid': 'toolbar', 'aria-label': 'Meeting controls' });
        this.buttons = {};
        this.actions = {
            microphone: () => this.toggleMedia('audio'),
            camera: () => this.toggleMedia('video'),
            desktop: () => this.run(() => (this.conference.screenStream ? this.conference.stopScreenShare() : this.conference.startScreenShare())),
            chat: () => this.togglePanel(this.chat),
            raisehand: () => {
                if (!this.conference) return;
                this.conference.setRaisedHand(!this.conference.raisedHand);
                this.showLocalState();
            },
            'participants-pane': () => this.togglePanel(this.participantsPanel),
            reactions: () => this.popup(this.buttons.reactions, () => h('div', { class: 'menu popup reactions-menu', role: 'menu', 'data-testid': 'reactions-menu' },
                Object.entries(REACTIONS).map(([name, label]) => h('button', { role: 'menuitem', 'data-testid': `reaction-${name}`, 'aria-label': label, title: label,
                    onclick: () => { this.closePopup(); this.run(() => this.conference.sendReaction(name)); } }, icon(name, { size: 26 })))), 'above'),
            tileview: () => this.layout.setTileView(!this.layout.tileView),
            invite: () => this.inviteDialog(),
            security: () => this.securityDialog(),
            settings: () => this.settingsDialog(),
            etherpad: () => this.toggleEtherpad(),
            recording: () => this.run(() => (this.conference.recording ? this.conference.stopRecording() : this.conference.startRecording())),
            livestreaming: () => (this.conference?.recording ? this.run(() => this.conference.stopRecording()) : this.streamDialog()),
            fullscreen: () => (document.fullscreenElement ? document.exitFullscreen() : document.documentElement.requestFullscreen()).catch(() => {}),
            shortcuts: () => this.shortcutsDialog(),
            hangup: () => this.leave(),
        };
        const labels = {
            invite: 'Invite people', security: 'Security options', settings: 'Settings', etherpad: 'Shared document',
            fullscreen: 'Full screen', shortcuts: 'Keyboard shortcuts', hangup: 'Leave',
        };
        const keyOf = name => SHORTCUTS.find(s => s[2] === name)?.[0];
        const main = wantedButtons(MAIN_BUTTONS);
        const menu = wantedButtons(MENU_BUTTONS);
        for (const name of main) {
            if (name === 'hangup' && menu.length) this.toolbar.append(this.moreButton(menu, labels));
            const button = h('button', { 'data-testid': `toolbar-${name}`, class: `tool${name === 'hangup' ? ' danger' : ''}`, 'aria-pressed': name === 'hangup' ? null : 'false',
                onclick: () => this.actions[name]() });
            this.buttons[name] = button;
            this.setButton(name, labels[name] || '', name, keyOf(name));
            this.toolbar.append(button);
        }
        if (!main.includes('hangup') && menu.length) this.toolbar.append(this.moreButton(menu, labels));
        this.setButton('microphone', 'Mute', 'microphone', 'M');
        this.setButton('camera', 'Stop camera', 'camera', 'V');
        this.setButton('desktop', 'Share screen', 'desktop', 'D');
        this.setButton('chat', 'Chat', 'chat', 'C');
        this.setButton('raisehand', 'Raise hand', 'raisehand', 'R');
        this.setButton('participants-pane', 'Participants', 'participants-pane', 'P');
        this.setButton('reactions', 'Reactions', 'reactions');
        this.buttons.reactions?.removeAttribute('aria-pressed');
        this.buttons.reactions?.setAttribute('aria-haspopup', 'menu');
        this.setButton('tileview', 'Tile view', 'tileview', 'T');
    }

    // A button another module adds (subtitles): our look, in the toolbar only when TOOLBAR_BUTTONS
    // wants it (detached otherwise, so the module works the same).
    toolButton(name, label, onclick) {
        const button = h('button', { class: 'tool', 'data-testid': `toolbar-${name}`, 'aria-pressed': 'false', onclick });
        this.buttons[name] = button;
        this.setButton(name, label, name);
        if (wantedButtons([name]).length) {
            this.toolbar.insertBefore(button, this.toolbar.querySelector('[data-testid=toolbar-more]') || this.buttons.hangup || null);
        }
        return button;
    }

    // A status another module shows (transcribing): in the header, beside the recording's.
    addIndicator(element) {
        this.header.append(element);
    }

    moreButton(names, labels) {
        const more = h('button', { class: 'tool', 'data-testid': 'toolbar-more', 'aria-haspopup': 'menu', 'aria-expanded': 'false', title: 'More actions', 'aria-label': 'More actions' },
            icon('more'), h('span', { class: 'label' }, 'More'));
        const endForAll = () => (this.conference?.role === 'moderator' && this.conference.components.end_conference
            ? h('button', { role: 'menuitem', class: 'danger-text', 'data-testid': 'toolbar-end-meeting', onclick: () => { this.closePopup(); this.run(() => this.conference.endForAll()); } },
                icon('hangup'), h('span', {}, 'End the meeting for everyone')) : null);
        more.onclick = () => this.popup(more, () => h('div', { class: 'menu popup', role: 'menu', 'data-testid': 'more-menu' },
            names.map(name => h('button', { role: 'menuitem', 'data-testid': `toolbar-${name}`, onclick: () => { this.closePopup(); this.actions[name](); } },
                icon(name === 'security' ? 'lock' : name), h('span', {}, this.menuLabel(name, labels)))), endForAll()), 'above');
        return more;
    }

    // Unmuting while A/V moderation holds us back asks instead: the raised hand is the request.
    toggleMedia(media) {
        const c = this.conference;
        if (!c) return;
        if (c.muted[media] && c.mayNotUnmute(media)) {
            if (!c.raisedHand) c.setRaisedHand(true);
            this.showLocalState();
            this.flash(`A moderator has to allow you to ${media === 'audio' ? 'unmute' : 'start your camera'}: your hand is raised to ask.`);
            return;
        }
        c.setMuted(media, !c.muted[media]);
    }

    menuLabel(name, labels) {
        const running = this.conference?.recording;
        if (name === 'recording' && running?.mode === 'file') return 'Stop recording';
        if (name === 'recording') return 'Start recording';
        if (name === 'livestreaming' && running?.mode === 'stream') return 'Stop live streaming';
        if (name === 'livestreaming') return 'Start live streaming';
        return labels[name];
    }

    setButton(name, label, iconName, key) {
        const button = this.buttons[name];
        if (!button) return;
        button.replaceChildren(icon(iconName), h('span', { class: 'label' }, label));
        button.setAttribute('aria-label', label);
        button.title = key ? `${label} (${key})` : label;
        if (key) button.setAttribute('aria-keyshortcuts', key);
        if (name === 'chat' && this.unread) button.append(h('span', { class: 'count', 'data-testid': 'chat-unread', 'aria-label': `${this.unread} unread` }, String(this.unread)));
    }

    // A popup menu or tooltip anchored to `anchor`; one at a time, closed by Escape or a click elsewhere.
    popup(anchor, build, where = 'below') {
        const same = this.openPopup?.anchor === anchor;
        this.closePopup();
        if (same) return;
        const element = build();
        element.classList.add(where);
        anchor.setAttribute('aria-expanded', 'true');
        const host = anchor.closest('.tile') || this.root;
        host.append(element);
        if (host === this.root) {
            const box = anchor.getBoundingClientRect();
            element.style.left = `${Math.max(4, Math.min(box.left, window.innerWidth - 240))}px`;
            element.style.bottom = `${window.innerHeight - box.top + 6}px`;
        }
        const outside = event => {
            if (!element.contains(event.target) && !anchor.contains(event.target)) this.closePopup();
        };
        setTimeout(() => document.addEventListener('click', outside), 0);
        this.openPopup = { anchor, element, outside };
        element.querySelector('button, [tabindex]')?.focus();
    }

    closePopup() {
        const open = this.openPopup;
        if (!open) return;
        this.openPopup = null;
        open.element.remove();
        open.anchor.setAttribute('aria-expanded', 'false');
        document.removeEventListener('click', open.outside);
    }

    onKey(event) {
        if (event.key === 'Escape' && event.type === 'keydown') {
            if (this.openPopup) {
                const anchor = this.openPopup.anchor;
                this.closePopup();
                anchor.focus();
            }
            return;
        }
        if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey || this.root.querySelector('dialog[open]')) return;
        // push to talk: Space held unmutes a muted microphone, releasing it mutes again
        if (event.code === 'Space' && !(event.target instanceof HTMLButtonElement)) {
            event.preventDefault();
            if (event.type === 'keydown' && !event.repeat && this.conference?.muted.audio && !this.conference.mayNotUnmute('audio')) {
                this.pushToTalk = true;
                this.conference.setMuted('audio', false);
            } else if (event.type === 'keyup' && this.pushToTalk) {
                this.pushToTalk = false;
                this.conference?.setMuted('audio', true);
            }
            return;
        }
        if (event.type !== 'keydown' || event.repeat) return;
        const shortcut = SHORTCUTS.find(s => s[0] === event.key.toUpperCase());
        if (!shortcut || !this.actions[shortcut[2]]) return;
        event.preventDefault();
        this.actions[shortcut[2]]();
    }

    tick() {
        if (!this.joinedAt) return;
        this.timer.textContent = formatDuration(Date.now() - this.joinedAt);
    }

    // ---- side panels ----

    buildChat() {
        this.messages = h('div', { class: 'messages', 'data-testid': 'chat-messages', 'aria-live': 'polite' });
        this.chatInput = h('textarea', { 'data-testid': 'chat-input', placeholder: 'Type a message', 'aria-label': 'Chat message', rows: '2' });
        this.recipient = h('select', { 'data-testid': 'chat-recipient', 'aria-label': 'Send to' }, h('option', { value: '' }, 'Everyone'));
        this.chatProblem = h('p', { class: 'hint', 'data-testid': 'chat-problem', 'aria-live': 'polite' });
        const send = () => this.sendChat();
        this.chatInput.addEventListener('keydown', e => {
            if (e.key === 'Enter' && !e.shiftKey) {
                e.preventDefault();
                send();
            }
        });
        this.pollsView = null;
        this.chat = h('aside', { class: 'side', hidden: true, 'data-testid': 'chat-panel', 'aria-label': 'Chat' },
            this.panelHeader('Chat', () => this.togglePanel(this.chat)),
            this.messages, this.chatProblem,
            h('button', { class: 'link', 'data-testid': 'chat-create-poll', onclick: () => this.polls().then(polls => polls.createDialog(this.root)) }, icon('poll', { size: 16 }), h('span', {}, 'Create a poll')),
            h('label', { class: 'field inline' }, h('span', {}, 'To'), this.recipient),
            h('div', { class: 'row compose' }, this.chatInput,
                h('button', { class: 'primary icon-only', 'data-testid': 'chat-send', 'aria-label': 'Send', title: 'Send', onclick: send }, icon('send'))));
    }

    sendChat() {
        const text = this.chatInput.value.trim();
        if (!text || !this.conference) return;
        if (text.length > MAX_CHAT_LENGTH) {
            this.chatProblem.textContent = `This message is too long (${text.length} characters, at most ${MAX_CHAT_LENGTH}).`;
            return;
        }
        this.chatProblem.textContent = '';
        this.conference.sendChat(text, this.recipient.value || undefined);
        this.chatInput.value = '';
    }

    panelHeader(title, close) {
        return h('div', { class: 'panel-header' }, h('h2', {}, title),
            h('button', { class: 'icon-only', 'aria-label': `Close ${title.toLowerCase()}`, title: 'Close', onclick: close }, icon('close', { size: 18 })));
    }

    buildParticipants() {
        this.people = h('ul', { class: 'people', 'data-testid': 'participants-list' });
        this.knocks = h('ul', { class: 'people', 'data-testid': 'lobby-knocks' });
        this.moderatorTools = h('div', { class: 'row tools', 'data-testid': 'moderator-tools', hidden: true },
            h('button', { 'data-testid': 'toggle-lobby', onclick: () => this.run(() => this.conference.setLobby(!this.conference.roomInfo?.lobby)) }, 'Lobby on/off'),
            h('button', { 'data-testid': 'toggle-av-moderation', onclick: () => this.run(() => ['audio', 'video'].forEach(media => this.conference.setAvModeration(!this.avModeration, media))) }, 'A/V moderation'),
            h('button', { 'data-testid': 'add-breakout-room', onclick: () => this.run(() => this.conference.addBreakoutRoom(`Room ${++this.breakouts}`)) }, 'Add breakout room'));
        this.breakoutList = h('ul', { class: 'people', 'data-testid': 'breakout-rooms' });
        this.lobbySection = h('section', { hidden: true }, h('h3', {}, 'Waiting in the lobby'), this.knocks);
        this.breakoutSection = h('section', { hidden: true }, h('h3', {}, 'Breakout rooms'), this.breakoutList);
        this.participantsPanel = h('aside', { class: 'side', hidden: true, 'data-testid': 'participants-panel', 'aria-label': 'Participants' },
            this.panelHeader('Participants', () => this.togglePanel(this.participantsPanel)),
            this.moderatorTools, this.lobbySection, this.people, this.breakoutSection);
    }

    // One side panel at a time: the video keeps the rest of the width (on a phone the panel covers it).
    togglePanel(panel, open = panel.hidden) {
        for (const other of [this.chat, this.participantsPanel, this.etherpad]) {
            if (other && other !== panel) other.hidden = true;
        }
        panel.hidden = !open;
        this.buttons.chat?.setAttribute('aria-pressed', String(!this.chat.hidden));
        this.buttons['participants-pane']?.setAttribute('aria-pressed', String(!this.participantsPanel.hidden));
        if (panel === this.chat && open) {
            this.unread = 0;
            this.setButton('chat', 'Chat', 'chat', 'C');
            this.chatInput.focus();
        }
        this.layout.sizeGrid();
    }

    async run(action) {
        try {
            await action();
        } catch (error) {
            this.flash(error instanceof ConferenceError || error?.condition ? error.message : `That did not work: ${error?.message || error}`);
        }
    }

    // A toast: `flash` for what went wrong or was done to us, `notify` for news.
    flash(message) {
        this.toast(message, 'warn', 'error-message');
    }

    notify(message) {
        this.toast(message, 'info', 'toast');
    }

    toast(message, kind, testid) {
        const toast = h('div', { class: `toast ${kind}`, role: kind === 'warn' ? 'alert' : 'status', 'data-testid': testid },
            h('span', {}, message), h('button', { class: 'icon-only', 'aria-label': 'Dismiss', onclick: () => toast.remove() }, icon('close', { size: 16 })));
        this.toasts.append(toast);
        while (this.toasts.children.length > 4) this.toasts.firstChild.remove();
        setTimeout(() => toast.remove(), kind === 'warn' ? 8000 : TOAST_MS);
    }

    // A call from "invite by phone" (or a caller's) as the SIP gateway reports it in its presence status.
    callProgress(p) {
        const name = this.nameOf(p.id);
        if (p.status === 'Connected') this.notify(`${name} answered the call.`);
        else if (p.status === 'Busy') this.flash(`${name} is busy.`);
        else if (p.status === 'Failed') this.flash(`The call to ${name} failed.`);
    }

    // ---- tiles ----

    nameOf(id) {
        if (id === 'local' || id === this.conference?.nick) return this.media.displayName || interfaceConfig.DEFAULT_LOCAL_DISPLAY_NAME || 'me';
        const p = this.conference?.participants.get(id);
        return p?.name || interfaceConfig.DEFAULT_REMOTE_DISPLAY_NAME || 'Fellow Jitster';
    }

    showLocalState() {
        const c = this.conference;
        if (!c) return;
        this.layout.setState('local', { role: c.role, audioMuted: c.muted.audio, videoMuted: c.muted.video, raisedHand: c.raisedHand });
        const raised = !!c.raisedHand;
        this.setButton('raisehand', raised ? 'Lower hand' : 'Raise hand', 'raisehand', 'R');
        this.buttons.raisehand?.setAttribute('aria-pressed', String(raised));
    }

    // The polls module loads with the first poll or the first "Create a poll", not with the page:
    // most meetings have none. Payloads wait on the one load, so they keep their order.
    polls() {
        this.pollsView ??= import('./polls.js').then(({ PollsView }) => new PollsView({
            conference: () => this.conference,
            append: card => {
                this.messages.append(card);
                this.messages.scrollTop = this.messages.scrollHeight;
            },
            notify: message => this.notify(message),
        }));
        return this.pollsView;
    }

    stageChanged() {
        this.setButton('tileview', this.layout.tileView ? 'Stage view' : 'Tile view', this.layout.tileView ? 'stage' : 'tileview', 'T');
        this.buttons.tileview?.setAttribute('aria-pressed', String(this.layout.tileView));
        const c = this.conference;
        if (!c) return;
        // the bridge sends whoever is on the stage (pinned, a screen share, the speaker) in high
        // resolution; in tile view, or with ourselves on the stage, nobody
        c.setReceiverConstraints({ onStage: this.layout.stageSource() });
    }

    tileMenu(id, tile, button) {
        const c = this.conference;
        if (!c) return;
        const moderator = c.role === 'moderator';
        const remote = config.remoteVideoMenu || {};
        const item = (testid, iconName, label, action) => h('button', { role: 'menuitem', 'data-testid': testid, onclick: () => { this.closePopup(); this.run(action); } }, icon(iconName, { size: 18 }), h('span', {}, label));
        this.popup(button, () => h('div', { class: 'menu popup', role: 'menu', 'data-testid': 'tile-menu-items' },
            item('tile-pin', 'pin', this.layout.pinned === id ? 'Unpin' : 'Pin to the stage', () => this.layout.togglePin(id)),
            item('tile-private-message', 'chat', 'Send a private message', () => this.privateMessageTo(id)),
            c.participants.get(id)?.phone ? item('tile-dial-pad', 'phone', 'Dial pad', () => this.dialPadDialog()) : null,
            moderator && c.participants.get(id)?.phone ? item('tile-hangup', 'hangup', 'Hang up the call', () => c.hangUpPhone(id)) : null,
            moderator && !remote.disabled ? [
                item('tile-mute', 'microphone-off', 'Mute', () => c.muteParticipant(id, 'audio')),
                item('tile-stop-camera', 'camera-off', 'Stop camera', () => c.muteParticipant(id, 'video')),
                remote.disableGrantModerator ? null : item('tile-grant-moderator', 'moderator', 'Make moderator', () => c.grantModerator(id)),
                remote.disableKick ? null : item('tile-kick', 'close', 'Remove from the meeting', () => c.kick(id)),
            ] : null));
    }

    // Tones for the callers on the phone (their SIP gateway relays what the meeting sends).
    dialPadDialog() {
        const typed = h('output', { class: 'dial-pad-typed', 'data-testid': 'dial-pad-typed', 'aria-live': 'polite' });
        const press = key => this.run(() => {
            this.conference.sendTones(key);
            typed.textContent += key;
        });
        this.dialog('dial-pad-dialog', 'Dial pad', h('p', {}, 'The keys you press are heard as tones by the callers on the phone.'), typed,
            h('div', { class: 'dial-pad' }, [...'123456789*0#'].map(key => h('button', { 'data-testid': `dial-pad-${key}`, onclick: () => press(key) }, key))));
    }

    privateMessageTo(id) {
        this.updateRecipients();
        this.recipient.value = id;
        this.togglePanel(this.chat, true);
    }

    updateRecipients() {
        const chosen = this.recipient.value;
        const people = [...(this.conference?.participants.values() || [])];
        this.recipient.replaceChildren(h('option', { value: '' }, 'Everyone'),
            ...people.map(p => h('option', { value: p.id }, `${p.name || p.id} (private)`)));
        this.recipient.value = people.some(p => p.id === chosen) ? chosen : '';
    }

    renderPeople() {
        const conference = this.conference;
        if (!conference) return;
        const me = conference.role === 'moderator';
        this.moderatorTools.hidden = !me;
        const row = (testid, id, name, p, extra = []) => h('li', { 'data-testid': testid, 'data-participant': id },
            h('span', { class: 'mini-avatar', 'aria-hidden': 'true' }, initials(name)),
            h('span', { class: 'who' }, name),
            h('span', { class: 'icons' },
                p.phone ? icon('phone', { size: 16, title: 'On the phone' }) : null,
                p.raisedHand ? icon('raisehand', { size: 16, title: 'Raised hand' }) : null,
                p.audioMuted ? icon('microphone-off', { size: 16, title: 'Microphone muted' }) : null,
                p.videoMuted ? icon('camera-off', { size: 16, title: 'Camera off' }) : null),
            ...extra);
        const self = { role: conference.role, audioMuted: conference.muted.audio, videoMuted: conference.muted.video, raisedHand: conference.raisedHand };
        // raised hands first, in the order they went up: the speaking queue
        const people = [...conference.participants.values()].sort((a, b) => (a.raisedHand || Infinity) - (b.raisedHand || Infinity));
        clear(this.people).append(
            row('participant-self', 'local', `${this.nameOf('local')} (me)${self.role === 'moderator' ? ' (host)' : ''}`, self),
            ...people.map(p => row('participant-item', p.id, `${p.name || p.id}${p.role === 'moderator' ? ' (host)' : ''}`, p,
                me && !config.remoteVideoMenu?.disabled ? [h('span', { class: 'actions' },
                    h('button', { 'data-testid': 'mute-participant', onclick: () => this.run(() => conference.muteParticipant(p.id)) }, 'Mute'),
                    config.remoteVideoMenu?.disableKick ? null : h('button', { 'data-testid': 'kick-participant', onclick: () => this.run(() => conference.kick(p.id)) }, 'Remove'),
                    config.remoteVideoMenu?.disableGrantModerator ? null : h('button', { 'data-testid': 'grant-moderator', onclick: () => this.run(() => conference.grantModerator(p.id)) }, 'Make host'),
                    conference.avModeration.audio && p.raisedHand && p.role !== 'moderator'
                        ? h('button', { class: 'primary', 'data-testid': 'av-allow', onclick: () => this.run(() => ['audio', 'video'].forEach(media => conference.avModeration[media] && conference.allowUnmute(p.id, media))) }, 'Allow to unmute') : null,
                    this.moveSelect(p))] : [])));
        const hands = people.filter(p => p.raisedHand).length + (self.raisedHand ? 1 : 0);
        this.participantsPanel.querySelector('h2').textContent = `Participants (${people.length + 1})${hands ? ` \u00b7 ${hands} hand${hands > 1 ? 's' : ''} raised` : ''}`;
        this.updateRecipients();
    }

    // ---- breakout rooms ----

    // A moderator sends someone to another room (a breakout room, or back to the main room).
    moveSelect(p) {
        const conference = this.conference;
        const targets = (this.breakoutRooms || []).filter(room => room.jid !== conference.roomJid)
            .map(room => [room.jid, room.name]);
        if (this.mainRoomJid && conference.roomJid !== this.mainRoomJid) targets.unshift([this.mainRoomJid, 'Main room']);
        if (!targets.length) return null;
        const select = h('select', { 'data-testid': 'move-participant', 'aria-label': `Move ${p.name || p.id} to another room` },
            h('option', { value: '' }, 'Move to\u2026'), targets.map(([jid, name]) => h('option', { value: jid }, name)));
        select.addEventListener('change', () => select.value && this.run(() => conference.moveToRoom(`${conference.roomJid}/${p.id}`, select.value)));
        return select;
    }

    renderBreakoutRooms() {
        const conference = this.conference;
        const moderator = conference?.role === 'moderator';
        const rooms = this.breakoutRooms || [];
        const inBreakout = !!this.mainRoomJid && conference?.roomJid !== this.mainRoomJid;
        clear(this.breakoutList);
        for (const room of rooms) {
            const people = Object.values(room.participants || {});
            const here = room.jid === conference?.roomJid;
            this.breakoutList.append(h('li', { 'data-testid': 'breakout-room', 'data-jid': room.jid },
                h('span', { class: 'who' }, `${room.name} (${people.length})`),
                h('span', { class: 'actions' },
                    here ? null : h('button', { 'data-testid': 'breakout-join', onclick: () => this.switchRoom(room.jid) }, 'Join'),
                    moderator ? h('button', { 'data-testid': 'breakout-rename', onclick: () => this.renameDialog(room) }, 'Rename') : null,
                    moderator ? h('button', { 'data-testid': 'breakout-close', onclick: () => this.run(() => conference.removeBreakoutRoom(room.jid)) }, 'Close') : null),
                people.length ? h('span', { class: 'members hint' }, people.map(x => x.displayName || '?').join(', ')) : null));
        }
        if (inBreakout) {
            this.breakoutList.append(h('li', {}, h('button', { 'data-testid': 'breakout-leave', onclick: () => this.switchRoom(this.mainRoomJid) }, 'Back to the main room')));
        }
        this.breakoutSection.hidden = !rooms.length && !inBreakout;
    }

    renameDialog(room) {
        const name = h('input', { 'data-testid': 'breakout-name', value: room.name, 'aria-label': 'Room name', maxlength: '100' });
        const dialog = this.dialog('breakout-rename-dialog', 'Rename the breakout room', name,
            h('div', { class: 'row' }, h('button', { class: 'primary', 'data-testid': 'breakout-rename-save', onclick: () => {
                if (!name.value.trim()) return;
                dialog.close();
                this.run(() => this.conference.renameBreakoutRoom(room.jid, name.value.trim()));
            } }, 'Rename')));
        name.select();
    }

    showTitle() {
        const room = (this.breakoutRooms || []).find(r => r.jid === this.conference?.roomJid);
        this.root.querySelector('[data-testid=meeting-title]').textContent = room ? `${this.where.room} \u203a ${room.name}` : this.where.room;
    }

    // Into a breakout room or back, on the same connection: the old room is left, a new
    // conference (focus request, room, media session) starts in the other.
    async switchRoom(roomJid) {
        const old = this.conference;
        if (!old || old.roomJid === roomJid) return;
        old.leave();
        this.settled = false;
        this.dropRemotes();
        for (const audio of this.audio?.values() || []) audio.remove();
        this.audio?.clear();
        this.status('Moving to another room\u2026');
        const conference = new Conference({
            connection: this.connection, config, room: this.where.room, roomJid, displayName: this.media.displayName,
            localStream: this.media.stream, localReady: this.media.ready, onEvent: event => this.onEvent(event), token: auth.pageToken(location.search),
        });
        conference.muted = { ...old.muted };
        conference.email = old.email;
        this.conference = conference;
        try {
            await conference.join(this.password);
            this.status(null);
            showJoined(this);
            this.renderBreakoutRooms();
            this.showTitle();
        } catch (error) {
            this.status(null);
            this.flash(joinErrorText(error));
        }
    }

    // ---- dialogs ----

    dialog(testid, title, ...content) {
        const dialog = h('dialog', { 'data-testid': testid, 'aria-label': title },
            h('div', { class: 'panel-header' }, h('h2', {}, title),
                h('button', { class: 'icon-only', 'aria-label': 'Close', 'data-testid': `${testid}-close`, onclick: () => dialog.close() }, icon('close', { size: 18 }))),
            ...content);
        dialog.addEventListener('close', () => dialog.remove());
        this.root.append(dialog);
        dialog.showModal();
        return dialog;
    }

    securityDialog() {
        const c = this.conference;
        if (c?.role !== 'moderator') {
            this.flash('Only a moderator can change the meeting\u2019s security options.');
            return;
        }
        const input = h('input', { 'data-testid': 'password-input', type: 'text', autocomplete: 'off', placeholder: 'New password (empty removes it)', 'aria-label': 'Meeting password' });
        const lobby = h('input', { type: 'checkbox', 'data-testid': 'security-lobby', checked: !!c.roomInfo?.lobby });
        lobby.checked = !!c.roomInfo?.lobby;
        lobby.addEventListener('change', () => this.run(() => c.setLobby(lobby.checked)));
        const dialog = this.dialog('password-dialog', 'Security options',
            h('label', { class: 'field inline' }, lobby, h('span', {}, 'Lobby: people wait until a moderator lets them in')),
            h('p', {}, c.roomInfo?.locked ? 'The meeting is locked with a password.' : 'Lock the meeting with a password'),
            input,
            h('div', { class: 'row' },
                h('button', { class: 'primary', 'data-testid': 'password-save', onclick: () => { dialog.close(); this.run(() => c.setPassword(input.value)); } }, 'Save password'),
                c.roomInfo?.locked ? h('button', { 'data-testid': 'password-remove', onclick: () => { dialog.close(); this.run(() => c.setPassword('')); } }, 'Remove password') : null));
    }

    inviteDialog() {
        const link = `${location.origin}${location.pathname}`;
        const field = h('input', { 'data-testid': 'invite-link', readonly: 'readonly', value: link, 'aria-label': 'Meeting link' });
        const copied = h('span', { class: 'hint', 'aria-live': 'polite', 'data-testid': 'invite-copied' });
        const dialIn = h('div', { class: 'dial-in', 'data-testid': 'invite-dial-in' });
        const copy = async () => {
            try {
                await navigator.clipboard.writeText(link);
            } catch (e) {
                field.select();
                document.execCommand('copy');
            }
            copied.textContent = 'Link copied.';
        };
        // A moderator's "invite by phone" when the focus has a SIP gateway (its sipGatewayEnabled); the
        // call's progress then shows on the caller's tile.
        const c = this.conference;
        const number = h('input', { 'data-testid': 'dial-out-number', placeholder: 'Phone number or SIP address', 'aria-label': 'Phone number or SIP address', autocomplete: 'off' });
        const problem = h('p', { class: 'hint problem', 'data-testid': 'dial-out-error', role: 'alert' });
        const call = () => {
            const checked = dialOutTarget(number.value);
            problem.textContent = checked.ok ? '' : checked.message;
            if (!checked.ok) return;
            dialog.close();
            this.notify(`Calling ${checked.target}\u2026`);
            this.run(() => c.callPhone(checked.target));
        };
        number.addEventListener('keydown', event => event.key === 'Enter' && call());
        const dialOut = c?.sipGateway && c.role === 'moderator' ? h('div', { class: 'dial-out' }, h('h3', {}, 'Invite by phone'),
            h('div', { class: 'row' }, number, h('button', { class: 'primary', 'data-testid': 'dial-out-call', onclick: call }, icon('phone', { size: 18 }), h('span', {}, 'Call'))),
            problem) : null;
        const dialog = this.dialog('invite-dialog', 'Invite people',
            h('p', {}, 'Share this link with the people you want to meet:'),
            h('div', { class: 'row' }, field, h('button', { class: 'primary', 'data-testid': 'invite-copy', onclick: copy }, icon('link', { size: 18 }), h('span', {}, 'Copy link'))),
            copied,
            this.conference?.roomInfo?.locked ? h('p', {}, 'The meeting has a password: give it to them too.') : null,
            dialIn, dialOut);
        if (config.dialInNumbersUrl && config.dialInConfCodeUrl) this.loadDialIn(dialIn);
    }

    // The dial-in numbers and this meeting's PIN from the conference mapper, when configured.
    async loadDialIn(box) {
        const room = this.conference?.roomJid;
        box.textContent = 'Looking up the dial-in numbers\u2026';
        try {
            const query = `conference=${encodeURIComponent(room)}`;
            const [code, numbers] = await Promise.all([config.dialInConfCodeUrl, config.dialInNumbersUrl].map(async url => {
                const response = await fetch(`${url}${url.includes('?') ? '&' : '?'}${query}`);
                if (!response.ok) throw new Error(`HTTP ${response.status}`);
                return response.json();
            }));
            // two shapes: a list of { countryCode, formattedNumber }, or { numbers: { country: [number] } }
            const entries = Array.isArray(numbers) ? numbers : numbers.numbers;
            const list = Array.isArray(entries) ? entries.map(n => [n.countryCode || '', n.formattedNumber || n.number || ''])
                : Object.entries(entries || {}).flatMap(([country, values]) => (Array.isArray(values) ? values : []).map(v => [country, String(v)]));
            box.replaceChildren(h('h3', {}, 'Join by phone'),
                h('p', {}, 'PIN: ', h('strong', { 'data-testid': 'dial-in-pin' }, `${code.id ?? '?'}#`)),
                h('ul', {}, list.map(([country, number]) => h('li', { 'data-testid': 'dial-in-number' }, `${country ? `${country}: ` : ''}${number}`))));
        } catch (error) {
            box.textContent = `The dial-in numbers could not be loaded (${error.message}).`;
        }
    }

    async settingsDialog() {
        const c = this.conference;
        const name = h('input', { 'data-testid': 'settings-name', value: this.media.displayName || '', 'aria-label': 'Your name', maxlength: '100' });
        const email = h('input', { 'data-testid': 'settings-email', type: 'email', value: localStorage.getItem(STORE.email) || '', 'aria-label': 'Your email (for your avatar)' });
        const meter = levelMeter('settings-level');
        const devices = await deviceSelectors(currentDevices(this.media.stream), (kind, deviceId) => this.switchDevice(kind, deviceId, meter));
        const dialog = this.dialog('settings-dialog', 'Settings',
            h('h3', {}, 'Devices'), ...devices, meter.element,
            h('h3', {}, 'Profile'),
            h('label', { class: 'field' }, h('span', {}, 'Name'), name),
            h('label', { class: 'field' }, h('span', {}, 'Email'), email),
            h('div', { class: 'row' }, h('button', { class: 'primary', 'data-testid': 'settings-save', onclick: () => {
                const newName = name.value.trim();
                this.media.displayName = newName;
                localStorage.setItem(STORE.name, newName);
                localStorage.setItem(STORE.email, email.value.trim());
                this.layout.setName('local', this.nameOf('local'));
                c?.setDisplayName(newName, email.value.trim());
                this.renderPeople();
                dialog.close();
            } }, 'Save')));
        dialog.addEventListener('close', () => meter.stop());
        meter.follow(this.media.stream.getAudioTracks()[0]);
    }

    async switchDevice(kind, deviceId, meter) {
        if (kind === 'audiooutput') {
            applySpeaker(deviceId);
            return;
        }
        try {
            const track = await trackFrom(kind, deviceId);
            if (this.conference) {
                await this.conference.replaceLocalTrack(track);
            } else {
                const old = track.kind === 'audio' ? this.media.stream.getAudioTracks()[0] : this.media.stream.getVideoTracks()[0];
                if (old) {
                    this.media.stream.removeTrack(old);
                    old.stop();
                }
                this.media.stream.addTrack(track);
            }
            if (kind === 'videoinput') this.layout.setVideo('local', track, 'camera');
            else meter.follow(track);
        } catch (error) {
            this.flash(mediaErrorText(error));
        }
    }

    // A YouTube stream key or a whole rtmp(s):// URL, as jitsi-meet takes them; checked as typed.
    streamDialog() {
        const key = h('input', { 'data-testid': 'stream-key', 'aria-label': 'Stream key or RTMP URL', placeholder: 'YouTube stream key, or rtmp://\u2026', autocomplete: 'off' });
        const hint = h('p', { class: 'hint', 'data-testid': 'stream-hint', 'aria-live': 'polite' });
        const check = () => {
            const checked = streamTarget(key.value, config.liveStreaming?.validatorRegExpString);
            hint.textContent = checked.ok ? checked.warning : checked.message;
            hint.classList.toggle('problem', !checked.ok);
            return checked;
        };
        const start = () => {
            const checked = check();
            if (!checked.ok) return;
            dialog.close();
            this.run(() => this.conference.startRecording(checked.streamid));
        };
        key.addEventListener('input', () => (key.value.trim() ? check() : hint.replaceChildren()));
        key.addEventListener('keydown', event => event.key === 'Enter' && start());
        // the deployment's help, terms and privacy pages for streaming (docker's ENABLE_LIVESTREAMING_*_LINK)
        const links = [['helpLink', 'Help'], ['termsLink', 'Terms of service'], ['dataPrivacyLink', 'Privacy policy']]
            .filter(([name]) => /^https?:\/\//i.test(config.liveStreaming?.[name] || ''))
            .map(([name, label]) => h('a', { href: config.liveStreaming[name], target: '_blank', rel: 'noopener noreferrer', 'data-testid': `stream-${name}` }, label));
        const dialog = this.dialog('stream-dialog', 'Live streaming',
            h('p', {}, 'Where should the meeting be streamed? A YouTube stream key, or the rtmp:// URL of another service.'), key, hint,
            links.length ? h('p', { class: 'hint links' }, ...links.flatMap((a, i) => (i ? [' \u00b7 ', a] : [a]))) : null,
            h('div', { class: 'row' }, h('button', { class: 'primary', 'data-testid': 'stream-start', onclick: start }, 'Start live stream')));
    }

    shortcutsDialog() {
        this.dialog('shortcuts-dialog', 'Keyboard shortcuts',
            h('dl', { class: 'shortcuts' },
                SHORTCUTS.flatMap(([key, what]) => [h('dt', {}, h('kbd', {}, key)), h('dd', {}, what)]),
                h('dt', {}, h('kbd', {}, 'Space')), h('dd', {}, 'Hold to talk while muted')));
    }

    toggleEtherpad() {
        if (!this.etherpad) {
            const pad = `${config.etherpad_base}${encodeURIComponent(roomNode(this.where.room))}?showChat=false&userName=${encodeURIComponent(this.media.displayName || '')}`;
            this.etherpad = h('aside', { class: 'side wide', hidden: true, 'data-testid': 'etherpad-panel', 'aria-label': 'Shared document' },
                this.panelHeader('Shared document', () => this.togglePanel(this.etherpad)),
                h('iframe', { src: pad, title: 'Shared document', 'data-testid': 'etherpad-frame' }));
            this.side.append(this.etherpad);
        }
        this.togglePanel(this.etherpad);
    }

    // ---- connection quality ----

    async pollStats() {
        const pc = this.conference?.session?.pc;
        if (!pc || document.hidden) return;
        const report = await pc.getStats();
        const owners = this.layout.trackOwners();
        const now = new Map();
        let rtt;
        const local = { timestamp: 0, bytes: 0, packets: 0, lost: 0 };
        for (const r of report.values()) {
            if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') rtt = r.currentRoundTripTime;
            if (r.type === 'inbound-rtp' && r.kind === 'video' && owners.has(r.trackIdentifier)) {
                now.set(owners.get(r.trackIdentifier), { timestamp: r.timestamp, bytes: r.bytesReceived || 0, packets: r.packetsReceived || 0, lost: r.packetsLost || 0 });
            }
            if (r.type === 'outbound-rtp' && r.kind === 'video') {
                local.timestamp = r.timestamp;
                local.bytes += r.bytesSent || 0;
                local.packets += r.packetsSent || 0;
            }
            if (r.type === 'remote-inbound-rtp' && r.kind === 'video') local.lost += Math.max(0, r.packetsLost || 0);
        }
        if (local.timestamp) now.set('local', local);
        for (const [id, current] of now) {
            const before = this.statsBefore.get(id);
            if (before) this.layout.setQuality(id, connectionQuality(before, current, rtt));
        }
        this.statsBefore = now;
    }

    // ---- conference events ----

    onEvent(event) {
        const conference = this.conference;
        switch (event.type) {
        case 'joined':
            this.joinedAt = this.joinedAt || Date.now();
            this.settled = true;
            this.mainRoomJid = this.mainRoomJid || conference.roomJid;
            this.showTitle();
            this.tick();
            localStorage.setItem(STORE.recent, JSON.stringify(addRecent(stored(STORE.recent, []), this.where.room)));
            this.statsTimer = this.statsTimer || setInterval(() => this.pollStats().catch(() => {}), STATS_INTERVAL_MS);
            this.lobbyScreen?.remove();
            this.lobbyScreen = null;
            // falls through
        case 'role':
            delete this.root.dataset.lobby;
            this.renderPeople();
            this.showLocalState();
            this.showAccount();
            if (event.type === 'role' && event.role === 'moderator') this.notify('You are now a moderator.');
            break;
        case 'auth':
            this.showAccount();
            break;
        case 'room-info':
            this.lockIcon.hidden = !event.info.locked;
            break;
        case 'participant-joined':
        case 'participant-updated': {
            const p = event.participant;
            const before = event.type === 'participant-updated' ? this.known?.get(p.id) : null;
            this.known = this.known || new Map();
            this.known.set(p.id, { raisedHand: p.raisedHand, role: p.role, status: p.status });
            this.layout.tile(p.id, { name: this.nameOf(p.id) });
            this.layout.setName(p.id, this.nameOf(p.id));
            this.layout.setState(p.id, p);
            this.layout.setAvatarUrl(p.id, p.avatar);
            if (this.layout.has(`${p.id}:screen`)) this.layout.setName(`${p.id}:screen`, `${this.nameOf(p.id)} (screen)`);
            if (this.settled && event.type === 'participant-joined') this.notify(`${this.nameOf(p.id)} joined the meeting.`);
            if (before && !before.raisedHand && p.raisedHand) this.notify(`${this.nameOf(p.id)} raised their hand.`);
            if (p.phone && p.status !== before?.status) this.callProgress(p);
            this.renderPeople();
            break;
        }
        case 'participant-left':
            if (this.settled) this.notify(`${this.layout.get(event.id)?.querySelector('.name').textContent || 'Someone'} left the meeting.`);
            this.layout.remove(event.id);
            this.layout.remove(`${event.id}:screen`);
            this.known?.delete(event.id);
            this.renderPeople();
            break;
        case 'tracks': {
            const seen = new Set();
            for (const t of event.tracks) {
                if (t.kind === 'audio') {
                    this.playAudio(t);
                    continue;
                }
                const screen = t.videoType === 'desktop';
                const id = screen ? `${t.owner}:screen` : t.owner;
                const name = `${this.nameOf(t.owner)}${screen ? ' (screen)' : ''}`;
                this.layout.tile(id, { name, screen });
                this.layout.get(id).dataset.source = t.sourceName;
                this.layout.setVideo(id, t.track, t.videoType);
                seen.add(id);
            }
            for (const id of [...this.layout.tiles.keys()]) {
                if (id.endsWith(':screen') && !seen.has(id)) this.layout.remove(id);
            }
            break;
        }
        case 'dominant-speaker':
            this.layout.setDominant(event.id === conference.nick ? 'local' : event.id);
            break;
        case 'local-muted':
            if (event.media === 'audio') {
                this.setButton('microphone', event.muted ? 'Unmute' : 'Mute', event.muted ? 'microphone-off' : 'microphone', 'M');
                this.buttons.microphone?.setAttribute('aria-pressed', String(event.muted));
            }
            if (event.media === 'video') {
                this.setButton('camera', event.muted ? 'Start camera' : 'Stop camera', event.muted ? 'camera-off' : 'camera', 'V');
                this.buttons.camera?.setAttribute('aria-pressed', String(event.muted));
            }
            this.showLocalState();
            break;
        case 'muted-by-moderator':
            this.flash(`A moderator muted your ${event.media === 'audio' ? 'microphone' : event.media === 'video' ? 'camera' : 'screen share'}.`);
            break;
        case 'screen-share':
            this.buttons.desktop?.setAttribute('aria-pressed', String(event.active));
            this.setButton('desktop', event.active ? 'Stop sharing' : 'Share screen', 'desktop', 'D');
            break;
        case 'chat':
            this.showChat(event);
            break;
        case 'reaction': {
            if (!REACTIONS[event.name]) break;
            const who = this.nameOf(event.from === conference.nick ? 'local' : event.from);
            const float = h('div', { class: 'reaction', 'data-testid': 'reaction', 'data-reaction': event.name, role: 'status' },
                icon(event.name, { size: 40, title: REACTIONS[event.name] }), h('span', {}, who));
            float.style.left = `${10 + Math.random() * 60}%`;
            this.reactions.append(float);
            setTimeout(() => float.remove(), 4000);
            break;
        }
        case 'recording': {
            const what = event.mode === 'stream' ? 'live stream' : 'recording';
            this.recordingBadge.hidden = event.status === 'off';
            this.recordingBadge.dataset.status = event.status;
            this.recordingBadge.replaceChildren(icon(event.mode === 'stream' ? 'livestreaming' : 'recording', { size: 14 }),
                h('span', {}, event.status === 'pending' ? `Starting the ${what}\u2026` : event.mode === 'stream' ? 'Live' : 'Recording'));
            if (event.status === 'on') this.notify(`The ${what} has started: this meeting is ${event.mode === 'stream' ? 'being streamed' : 'being recorded'}.`);
            else if (event.status === 'off' && event.failure) this.flash(`The ${what} stopped: ${event.failure === 'busy' ? 'all recorders are busy' : 'it failed'}.`);
            else if (event.status === 'off') this.notify(`The ${what} has stopped.`);
            break;
        }
        case 'bridge-channel':
            if (event.open) this.stageChanged();  // a new channel starts without our constraints
            break;
        case 'poll':
            this.polls().then(polls => polls.onPayload(event.payload));
            break;
        case 'knock':
            this.knocks.querySelector(`[data-participant="${CSS.escape(event.id)}"]`)?.remove();
            this.knocks.append(h('li', { 'data-testid': 'lobby-knock', 'data-participant': event.id },
                h('span', { class: 'mini-avatar', 'aria-hidden': 'true' }, initials(event.name)),
                h('span', { class: 'who' }, event.name),
                h('span', { class: 'actions' },
                    h('button', { class: 'primary', 'data-testid': 'lobby-admit', onclick: () => conference.admit(event.jid) }, 'Admit'),
                    h('button', { 'data-testid': 'lobby-deny', onclick: () => this.run(() => conference.deny(event.id)) }, 'Deny'))));
            this.lobbySection.hidden = false;
            this.notify(`${event.name} asks to join the meeting.`);
            this.togglePanel(this.participantsPanel, true);
            break;
        case 'knock-left':
            this.knocks.querySelector(`[data-participant="${CSS.escape(event.id)}"]`)?.remove();
            this.lobbySection.hidden = !this.knocks.children.length;
            break;
        case 'av-moderation': {
            const audio = (event.mediaType || 'audio') === 'audio';
            if (audio) this.avModeration = event.enabled;
            if (audio) this.flash(event.enabled ? 'A moderator must now allow you to unmute.' : 'Everyone may unmute again.');
            else this.flash(event.enabled ? 'A moderator must now allow you to start your camera.' : 'Everyone may start their camera again.');
            this.renderPeople();
            break;
        }
        case 'av-approval':
            if (event.approved) this.notify(`A moderator allowed you to ${event.mediaType === 'audio' ? 'unmute' : 'start your camera'}.`);
            else this.flash('A moderator withdrew your permission to unmute.');
            break;
        case 'breakout-rooms': {
            const all = Object.values(event.rooms || {});
            this.mainRoomJid = all.find(room => room.isMainRoom)?.jid || this.mainRoomJid;
            this.breakoutRooms = all.filter(room => !room.isMainRoom);
            this.renderBreakoutRooms();
            this.renderPeople();
            this.showTitle();
            break;
        }
        case 'move-to-room':
            this.switchRoom(event.roomJid);
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
            if (event.kind === 'moved') {
                this.notify(event.message);
                this.switchRoom(event.roomJid);
            } else {
                this.leave(event.message, event.kind);
            }
            break;
        case 'lobby-waiting':
            this.status('You asked to join. Please wait until a moderator lets you in\u2026');
            this.root.dataset.lobby = 'waiting';
            if (!this.lobbyScreen) {
                this.lobbyScreen = h('div', { class: 'centered card', 'data-testid': 'lobby-screen', role: 'status' },
                    h('h2', {}, 'Knocking\u2026'),
                    h('p', {}, 'This meeting has a lobby. A moderator will let you in soon.'),
                    h('button', { 'data-testid': 'lobby-cancel', onclick: () => this.leave('You stopped waiting in the lobby.') }, 'Cancel'));
                this.stage.append(this.lobbyScreen);
            }
            break;
        case 'lobby-denied':
            this.leave('A moderator did not let you in.', 'denied');
            break;
        default:
            break;
        }
    }

    showChat(event) {
        const from = event.self ? 'You' : event.name;
        const to = event.private ? (event.self ? ` to ${this.nameOf(event.to || this.recipient.value)}` : ' (private)') : '';
        const text = h('div', { class: 'text' }, linkify(event.text).map(part => (part.link
            ? h('a', { href: part.link, target: '_blank', rel: 'noopener noreferrer' }, part.link) : part.text)));
        const reply = event.private && !event.self
            ? h('button', { class: 'link', 'data-testid': 'chat-reply', onclick: () => this.privateMessageTo(event.from) }, 'Reply privately') : null;
        this.messages.append(h('div', { class: `message${event.self ? ' self' : ''}${event.private ? ' private' : ''}`, 'data-testid': 'chat-message' },
            h('div', { class: 'from' }, `${from}${to}`, h('time', {}, new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }))), text, reply));
        this.messages.scrollTop = this.messages.scrollHeight;
        if (!event.self && this.chat.hidden) {
            this.unread++;
            this.setButton('chat', 'Chat', 'chat', 'C');
            this.notify(`${from}${event.private ? ' (private)' : ''}: ${event.text.slice(0, 80)}`);
        }
    }

    playAudio(t) {
        this.audio = this.audio || new Map();
        if (this.audio.has(t.sourceName)) return;
        const audio = h('audio', { autoplay: true, 'data-testid': 'remote-audio', 'data-source': t.sourceName });
        audio.srcObject = new MediaStream([t.track]);
        const speaker = stored(STORE.devices, {}).audiooutput;
        if (speaker) audio.setSinkId?.(speaker).catch(() => {});
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

    // With authentication on: a guest may log in (and become a moderator), whoever is logged
    // in may log out.
    showAccount() {
        const { enabled, identity } = this.conference?.auth || {};
        this.account?.remove();
        this.account = !enabled ? null : identity
            ? h('button', { class: 'tool', 'data-testid': 'toolbar-logout', title: `Logged in as ${identity}` }, icon('invite'), h('span', { class: 'label' }, 'Log out'))
            : h('button', { class: 'tool', 'data-testid': 'toolbar-login' }, icon('invite'), h('span', { class: 'label' }, 'Log in'));
        if (this.account) {
            this.account.onclick = () => (identity ? this.logout() : this.login());
            this.toolbar.insertBefore(this.account, this.buttons.hangup || null);
        }
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

    // After a lost connection: every remote tile goes until the new session brings them back.
    dropRemotes() {
        for (const id of [...this.layout.tiles.keys()]) if (id !== 'local') this.layout.remove(id);
        this.known?.clear();
    }

    leave(message, kind = 'left') {
        this.leaving = true;
        clearInterval(this.clock);
        clearInterval(this.statsTimer);
        document.removeEventListener('keydown', this.keys);
        document.removeEventListener('keyup', this.keys);
        this.conference?.leave();
        this.connection?.disconnect();
        this.media.stream.getTracks().forEach(t => t.stop());
        leavePage(this.where, message, kind);
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

// The guest's XMPP connection, made while the prejoin page waits for the person and the devices
// (as jitsi-meet does), so that joining only has to enter the room. Its failure shows on joining.
function connectEarly(where) {
    const early = { onEvent: null };
    early.connection = openConnection(undefined, where.room, event => early.onEvent?.(event));
    performance.mark('jitsi:xmpp-connecting');
    early.online = early.connection.connect();
    early.online.then(() => discover(early.connection, config.hosts.domain), () => {});
    return early;
}

async function connectAndJoin(view, password, early) {
    const where = view.where;
    const token = auth.pageToken(location.search);
    const credentials = view.credentials;
    view.conference = null;  // one from a failed attempt must not make a failed login look like a lost link
    const onEvent = event => {
        if (event.type === 'failed' && !view.leaving && view.conference && connection === view.connection) {
            reconnect(view);
        }
    };
    // an early connection that went down while the person was on the prejoin page is not reused
    const reuse = early && !credentials && !['failed', 'closed'].includes(early.connection.core.state);
    if (early && !reuse) early.connection.disconnect();
    const connection = reuse ? early.connection : openConnection(credentials, where.room, onEvent);
    if (reuse) early.onEvent = onEvent;
    else performance.mark('jitsi:xmpp-connecting');
    view.connection = connection;
    try {
        await (reuse ? early.online : connection.connect());
    } catch (error) {
        throw auth.loginErrorOf(error, !!credentials);
    }
    performance.mark('jitsi:xmpp-online');
    const conference = new Conference({
        connection, config, room: where.room, displayName: view.media.displayName,
        localStream: view.media.stream, localReady: view.media.ready, onEvent: event => view.onEvent(event),
        token,
    });
    conference.muted = { audio: !view.media.audio, video: !view.media.video };
    conference.email = localStorage.getItem(STORE.email) || undefined;
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
    installCaptions(view);
}

// Subtitles are a module of their own, loaded only where config.js turns transcription on.
function installCaptions(view) {
    const transcription = config.transcription || {};
    if (!transcription.enabled || transcription.disableClosedCaptions) return;
    const conference = view.conference;
    import('./captions.js').then(({ attachCaptions }) => attachCaptions(view, conference));
}

async function reconnect(view) {
    view.conference?.closeSession();
    view.conference = null;
    view.dropRemotes();
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

async function meeting(where, media, early) {
    const view = new MeetingView(where, media);
    let password;
    for (;;) {
        try {
            view.status('Joining\u2026');
            view.password = password;
            const first = early;
            early = null;
            await connectAndJoin(view, password, first);
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

const LEAVE_HEADINGS = {
    left: 'You left the meeting',
    kicked: 'You were removed from the meeting',
    ended: 'The meeting has ended',
    denied: 'You were not let in',
};

function leavePage(where, message, kind = 'left') {
    const heading = LEAVE_HEADINGS[kind] || LEAVE_HEADINGS.left;
    document.title = `${heading} | ${APP_NAME}`;
    if (config.enableClosePage) {
        clear(app).append(h('section', { class: 'centered', 'data-testid': 'close-page' },
            h('h1', {}, 'Thank you for using this meeting service'), message ? h('p', {}, message) : null));
        return;
    }
    clear(app).append(h('section', { class: `centered leave ${kind}`, 'data-testid': 'leave-page', 'data-reason': kind },
        h('h1', { 'data-testid': 'leave-heading' }, heading),
        message ? h('p', { 'data-testid': 'leave-reason' }, message) : null,
        h('div', { class: 'row' },
            kind === 'kicked' || kind === 'denied' ? null : h('button', { class: 'primary', 'data-testid': 'rejoin', onclick: () => location.reload() }, 'Rejoin'),
            config.welcomePage?.disabled ? null : h('button', { 'data-testid': 'leave-home', onclick: () => location.assign('/') }, 'Start a new meeting'))));
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
    document.title = `${where.room} | ${APP_NAME}`;
    const early = connectEarly(where);
    let media;
    if (config.prejoinConfig?.enabled !== false) {
        media = await prejoinPage(where);
    } else {
        const stream = new MediaStream();
        const ready = getMedia(true, true).then(({ stream: got, error }) => {
            got.getTracks().forEach(t => stream.addTrack(t));
            return { error };
        });
        media = { stream, ready, displayName: localStorage.getItem(STORE.name) || '', audio: !config.startWithAudioMuted, video: !config.startWithVideoMuted };
    }
    const view = await meeting(where, media, early);
    globalThis.jitsiPy = { view, config };
}

main().catch(error => {
    clear(app).append(h('div', { class: 'error centered', role: 'alert', 'data-testid': 'error-message' },
        `Something went wrong: ${error?.message || error}`));
});
