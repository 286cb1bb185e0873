// Subtitles (docs/transcription.md §4): the closed-captions button, captions over the stage with the
// speaker's name, and the transcription indicator. Installed on the meeting view once joined (and again
// after a reconnect or a move to a breakout room, on the new conference); it keeps to its own elements
// and follows the conference through its hooks: `on` for its events (json-messages, hidden members'
// presences) and `addPresenceExtension` for what our presence says.
//
// Turning subtitles on does what jitsi-meet does: the presence property requestingTranscription, and,
// when no transcriber is in the room yet, a Rayo dial to `jitsi_meet_transcribe` through the focus
// (a `conflict` answer means one is already there). Results are the transcriber's
// `transcription-result` json-messages, taken only from hidden-domain members, as jitsi-meet does.

import { el } from './xml.js';
import { h } from './dom.js';

const FEATURE_TRANSCRIBER = 'http://jitsi.org/protocol/transcriber';
const TRANSCRIBER_CALLEE = 'jitsi_meet_transcribe';
const REMOVE_AFTER_MS = 3000;  // a caption not updated for this long goes
const STABLE = 0.85;  // an interim text above this stability is shown as settled

const config = globalThis.config || {};

function domainOf(jid) {
    return (jid || '').split('/')[0].split('@')[1] || '';
}

class Captions {
    constructor(view) {
        this.view = view;
        this.requesting = false;
        this.transcribers = new Set();  // nicks of hidden members that say transcription is ON
        this.messages = new Map();  // message_id -> { node, timer }
        this.button = view.toolButton('closedcaptions', 'Subtitles', () => this.toggle());
        this.indicator = h('span', { 'data-testid': 'transcribing-indicator', hidden: true,
            style: 'align-self:center;padding:0 8px;color:#f44;font-weight:bold' }, '\u25cf Transcribing');
        this.overlay = h('div', { 'data-testid': 'captions', 'aria-live': 'polite',
            style: 'position:absolute;left:0;right:0;bottom:56px;display:flex;flex-direction:column;'
                + 'align-items:center;gap:4px;pointer-events:none;z-index:5' });
        view.addIndicator(this.indicator);
        if (getComputedStyle(view.stage).position === 'static') view.stage.style.position = 'relative';
        view.stage.append(this.overlay);
    }

    attach(conference) {
        this.conference = conference;
        this.transcribers.clear();
        // a transcriber already in the room was announced before we were attached
        for (const member of conference.hidden.values()) this.onHiddenMember(member, false);
        this.showIndicator();
        conference.on(event => {
            if (event.type === 'json' && event.payload?.type === 'transcription-result') this.onResult(event);
            else if (event.type === 'hidden-member') this.onHiddenMember(event.member, event.left);
        });
        conference.addPresenceExtension(() => (this.requesting
            ? [el('jitsi_participant_requestingTranscription', {}, 'true'),
                el('jitsi_participant_translation_language', {}, 'en')]
            : []));
        if (this.requesting) this.request();
    }

    fromTranscriber(nick) {
        const participant = this.conference.hidden.get(nick) || this.conference.participants.get(nick);
        return !!participant && !!config.hiddenDomain && domainOf(participant.jid) === config.hiddenDomain;
    }

    onHiddenMember({ id, jid, presence }, left) {
        const hidden = !!config.hiddenDomain && domainOf(jid) === config.hiddenDomain;
        const transcriber = presence.first('features')?.elements('feature').some(f => f.attrs.var === FEATURE_TRANSCRIBER);
        const status = presence.first('transcription-status')?.attrs.status;
        // a transcriber that leaves while ON has stopped, abruptly
        if (hidden && transcriber && !left && status === 'ON') this.transcribers.add(id);
        else this.transcribers.delete(id);
        this.showIndicator();
    }

    showIndicator() {
        this.indicator.hidden = this.transcribers.size === 0;
    }

    async toggle() {
        this.requesting = !this.requesting;
        this.button.setAttribute('aria-pressed', String(this.requesting));
        this.overlay.hidden = !this.requesting;
        if (this.requesting) {
            await this.request();
        } else {
            this.sendPresence();
        }
    }

    sendPresence() {
        const conference = this.conference;
        if (conference?.currentRoom) conference.presence(`${conference.currentRoom}/${conference.nick}`);
    }

    async request() {
        this.sendPresence();
        const conference = this.conference;
        if (!conference || this.transcribers.size) return;
        try {
            await conference.dial(TRANSCRIBER_CALLEE);
        } catch (error) {
            if (error?.condition === 'conflict') return;  // a transcriber is already in the room
            this.requesting = false;
            this.button.setAttribute('aria-pressed', 'false');
            this.sendPresence();
            this.view.flash(`Subtitles are not available: ${error?.text || error?.condition || error?.message || error}`);
        }
    }

    onResult({ from, payload }) {
        const nick = (from || '').split('/')[1];
        if (!this.requesting || !this.fromTranscriber(nick)) return;
        const id = String(payload.message_id || '');
        const text = payload.transcript?.[0]?.text;
        if (!id || typeof text !== 'string') return;
        let message = this.messages.get(id);
        if (!message) {
            const name = h('b', { class: 'caption-name' }, `${payload.participant?.name || payload.participant?.id || ''}: `);
            message = { node: h('div', { class: 'caption', 'data-message-id': id,
                style: 'background:rgba(0,0,0,.7);color:#fff;padding:4px 10px;border-radius:4px;max-width:80%' },
            name, h('span', { class: 'caption-text' })) };
            this.messages.set(id, message);
            this.overlay.append(message.node);
        }
        const span = message.node.querySelector('.caption-text');
        span.textContent = text;
        span.style.opacity = payload.is_interim && !(payload.stability > STABLE) ? '0.7' : '1';
        message.node.dataset.final = String(!payload.is_interim);
        clearTimeout(message.timer);
        message.timer = setTimeout(() => {
            message.node.remove();
            this.messages.delete(id);
        }, REMOVE_AFTER_MS);
    }
}

// On the meeting view's `conference`, once it is joined (again after a reconnect or a move to a
// breakout room); app.js loads this module only where config.js turns transcription on.
export function attachCaptions(view, conference) {
    view.captions = view.captions || new Captions(view);
    view.captions.attach(conference);
}
