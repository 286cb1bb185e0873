// Recording and live streaming (a recorder through the focus, docs/recording.md): the moderator's
// toolbar buttons, the stream-key dialog, and the indicator everyone sees while a session starts
// or runs. What went wrong is said in words.
import { h } from './dom.js';

const MODES = { recording: 'file', livestreaming: 'stream' };
const NOUN = { file: 'Recording', stream: 'Live stream' };
const REASONS = {
    busy: 'every recorder is busy; try again in a few minutes',
    error: 'the recorder could not do it',
};

export function recordingEnabled(config, button) {
    return button === 'recording'
        ? !!(config.recordingService?.enabled ?? config.fileRecordingsEnabled)
        : !!(config.liveStreaming?.enabled ?? config.liveStreamingEnabled);
}

export class RecordingControls {
    // view: the meeting view (conference, buttons, run(), flash(), root)
    constructor(view) {
        this.view = view;
        this.session = null;
        this.indicator = h('div', { class: 'recording-indicator', role: 'status', 'data-testid': 'recording-indicator', hidden: true });
    }

    action(button) {
        const mode = MODES[button];
        return [mode === 'file' ? 'Start recording' : 'Start live stream', () => this.toggle(mode)];
    }

    // Only moderators may start or stop one (the focus refuses anyone else).
    showButtons(moderator) {
        for (const button of Object.keys(MODES)) {
            if (this.view.buttons[button]) this.view.buttons[button].hidden = !moderator;
        }
    }

    running(mode) {
        return this.session?.mode === mode && this.session.status !== 'off';
    }

    toggle(mode) {
        const conference = this.view.conference;
        if (conference?.role !== 'moderator') {
            this.view.flash(`Only a moderator can start or stop the ${NOUN[mode].toLowerCase()}.`);
            return;
        }
        if (this.running(mode)) {
            this.view.run(() => conference.stopRecording(this.session.sessionId));
        } else if (mode === 'file') {
            this.view.run(() => conference.startRecording('file'));
        } else {
            this.streamKeyDialog(key => this.view.run(() => conference.startRecording('stream', key)));
        }
    }

    streamKeyDialog(start) {
        const input = h('input', { 'data-testid': 'stream-key-input', placeholder: 'YouTube stream key or rtmp:// URL', autofocus: true });
        const go = () => {
            const key = input.value.trim();
            if (!key) return;
            dialog.close();
            start(key);
        };
        input.addEventListener('keydown', e => e.key === 'Enter' && go());
        const dialog = h('dialog', { 'data-testid': 'stream-key-dialog' },
            h('p', {}, 'Live stream this meeting'), input,
            h('div', { class: 'row' },
                h('button', { class: 'primary', 'data-testid': 'stream-key-start', onclick: go }, 'Start'),
                h('button', { onclick: () => dialog.close() }, 'Cancel')));
        dialog.addEventListener('close', () => dialog.remove());
        this.view.root.append(dialog);
        dialog.showModal();
    }

    // A 'recording' event from the conference: the focus's status of the current session.
    update(session) {
        const previous = this.session;
        this.session = session;
        const noun = NOUN[session.mode] || 'Recording';
        const live = session.status === 'on' || session.status === 'pending';
        this.indicator.hidden = !live;
        this.indicator.dataset.status = session.status;
        this.indicator.textContent = session.status === 'pending' ? `${noun} is starting…` : `${noun} is on`;
        if (session.status === 'off' && session.error) {
            this.view.flash(`${noun} stopped: ${REASONS[session.error] || session.error}.`);
        } else if (session.status === 'off' && previous?.status === 'on') {
            this.view.flash(`${noun} stopped.`);
        }
        for (const [button, mode] of Object.entries(MODES)) {
            const node = this.view.buttons[button];
            if (!node) continue;
            const on = this.running(mode);
            node.setAttribute('aria-pressed', String(on));
            node.textContent = on ? `Stop ${NOUN[mode].toLowerCase()}` : mode === 'file' ? 'Start recording' : 'Start live stream';
        }
    }
}
