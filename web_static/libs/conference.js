// One meeting: the conference request to the focus, the MUC room, the Jingle session with the
// bridge (through the focus) and the bridge channel. Emits plain events for the UI; holds no DOM.

import { el } from './xml.js';
import { NS_DISCO_INFO, iqError } from './xmpp.js';
import { NS_JITMEET, sourcesOf } from './sources.js';
import {
    Layout, NS_FOCUS, answerContents, buildRemoteSdp, candidateToSdp, localSources, mungeSimulcast, parseOffer, parseTransport,
    sessionAccept, sourceAction, transportInfo,
} from './jingle-sdp.js';
import { BridgeChannel } from './bridge-channel.js';

export const NS_MUC = 'http://jabber.org/protocol/muc';
export const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';
export const NS_MUC_ADMIN = 'http://jabber.org/protocol/muc#admin';
export const NS_MUC_OWNER = 'http://jabber.org/protocol/muc#owner';
export const NS_NICK = 'http://jabber.org/protocol/nick';
export const NS_CAPS = 'http://jabber.org/protocol/caps';
export const NS_DATA = 'jabber:x:data';
export const NS_JIBRI = 'http://jitsi.org/protocol/jibri';
export const NS_RAYO = 'urn:xmpp:rayo:1';
export const FEATURE_JIGASI = 'http://jitsi.org/protocol/jigasi';

export const FEATURES = [
    'http://jabber.org/protocol/caps', 'urn:xmpp:jingle:1', 'urn:xmpp:jingle:apps:rtp:1',
    'urn:xmpp:jingle:transports:ice-udp:1', 'urn:xmpp:jingle:apps:dtls:0',
    'urn:xmpp:jingle:transports:dtls-sctp:1', 'urn:xmpp:jingle:apps:rtp:audio', 'urn:xmpp:jingle:apps:rtp:video',
    'http://jitsi.org/json-encoded-sources', 'urn:ietf:rfc:4588', 'http://jitsi.org/tcc',
    'http://jitsi.org/source-name', 'http://jitsi.org/receive-multiple-video-streams',
];
const CAPS_NODE = 'https://jitsi.org/jitsi-meet';
// A gateway answers a dial once it is in the room (up to 10 s of its own), after the focus chose it.
const DIAL_TIMEOUT_MS = 30000;

// SSRC simulcast (what the bridge's layer selection reads) works with VP8; Chrome sends AV1 and
// VP9 as one SVC stream instead, so VP8 goes first in the offer we answer.
const PREFERRED_VIDEO_CODEC = 'VP8';

export class ConferenceError extends Error {
    constructor(kind, message) {
        super(message);
        this.kind = kind;
    }
}

// The room name as the app makes it: NFKC, lower case, URI-encoded (docs/client-xmpp.md §1.1, §7.1).
export function roomNode(name) {
    let decoded = name;
    try {
        decoded = decodeURIComponent(name);
    } catch (e) { /* keep as typed */ }
    return encodeURIComponent(decoded.normalize('NFKC').toLowerCase()).toLowerCase();
}

export function randomHex(bytes) {
    const a = new Uint8Array(bytes);
    crypto.getRandomValues(a);
    return [...a].map(b => b.toString(16).padStart(2, '0')).join('');
}

function machineUid() {
    let uid = globalThis.localStorage?.getItem('jitsi-py-machine-uid');
    if (!uid) {
        uid = randomHex(16);
        globalThis.localStorage?.setItem('jitsi-py-machine-uid', uid);
    }
    return uid;
}

// The focus's authentication session (docs/focus.md §1.4): kept after an authenticated conference
// request and presented on later ones, so a returning user of this browser is recognised without
// a password for as long as the focus keeps it (ENABLE_AUTO_LOGIN, JICOFO_AUTH_LIFETIME); dropped
// when the focus no longer knows it, and on logout.
const SESSION_KEY = 'jitsi-py-session-id';
export const focusSession = {
    get: () => globalThis.localStorage?.getItem(SESSION_KEY) || undefined,
    set: id => (id ? globalThis.localStorage?.setItem(SESSION_KEY, id) : globalThis.localStorage?.removeItem(SESSION_KEY)),
};

// One conference request on `xmpp`; the answer's <conference/>. A session the focus no longer
// knows (not-acceptable, session-invalid) is dropped and the request made again without it.
export async function askFocus(xmpp, { focusJid, roomJid, token }) {
    for (;;) {
        const session = focusSession.get();
        const request = el('iq', { type: 'set', to: focusJid },
            el('conference', { xmlns: NS_FOCUS, room: roomJid, 'machine-uid': machineUid(), 'session-id': session, token },
                el('property', { name: 'rtcstatsEnabled', value: 'false' }),
                el('property', { name: 'visitors-version', value: '1' })));
        try {
            const conference = (await xmpp.iq(request, 15000)).first('conference', NS_FOCUS);
            if (conference?.attrs['session-id']) focusSession.set(conference.attrs['session-id']);
            return conference;
        } catch (error) {
            if (!session || error.condition !== 'not-acceptable') throw error;
            focusSession.set(undefined);
        }
    }
}

async function capsVer() {
    const text = `client/web//jitsi-py<${[...FEATURES].sort().join('<')}<`;
    const digest = await crypto.subtle.digest('SHA-1', new TextEncoder().encode(text));
    return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

// What the XMPP domain offers: its components (disco#info identities, by type) and its ICE servers
// (XEP-0215). Asked once per connection, as soon as it is online (the prejoin page starts it), so
// joining does not wait for it.
export function discover(xmpp, domain) {
    xmpp.discovered ??= Promise.all([discoverComponents(xmpp, domain), discoverIceServers(xmpp, domain)])
        .then(([components, iceServers]) => ({ components, iceServers }));
    return xmpp.discovered;
}

async function discoverComponents(xmpp, domain) {
    const components = {};
    try {
        const info = await xmpp.iq(el('iq', { type: 'get', to: domain }, el('query', { xmlns: NS_DISCO_INFO })));
        for (const identity of info.find('query')?.elements('identity') || []) {
            components[identity.attrs.type] = identity.attrs.name;
        }
    } catch (error) { /* a domain that does not say: no components */ }
    return components;
}

// XEP-0215 (docs/client-xmpp.md §6.2): for the bridge only TURN over TCP is worth keeping.
async function discoverIceServers(xmpp, domain) {
    const servers = [];
    try {
        const result = await xmpp.iq(el('iq', { type: 'get', to: domain }, el('services', { xmlns: 'urn:xmpp:extdisco:2' })), 5000);
        for (const service of result.first('services')?.elements('service') || []) {
            const { type, host, port, transport, username, password } = service.attrs;
            if (!host || !(type === 'turns' || (type === 'turn' && transport === 'tcp'))) continue;
            const url = `${type}:${host.includes(':') ? `[${host}]` : host}${port ? `:${port}` : ''}${type === 'turn' ? '?transport=tcp' : ''}`;
            servers.push({ urls: url, username, credential: password });
        }
    } catch (error) { /* no TURN on this deployment */ }
    return servers;
}

export class Conference {
    constructor({ connection, config, room, roomJid, displayName, localStream, localReady, onEvent, token }) {
        this.token = token;
        this.xmpp = connection;
        this.config = config;
        this.domain = config.hosts.domain;
        this.mucDomain = (config.hosts.muc || `muc.${this.domain}`).toLowerCase();
        this.focusJid = config.hosts.focus || `focus.${this.domain}`;
        // a breakout room is joined by its JID (on the breakout MUC)
        this.roomJid = roomJid || `${roomNode(room)}@${this.mucDomain}`;
        this.displayName = displayName || '';
        this.localStream = localStream;
        // The devices' answer may come after joining: the media session starts without our tracks
        // then, and they are added (source-add) when it comes.
        this.localReady = localReady;
        this.devicesAnswered = !localReady;
        localReady?.then(() => { this.devicesAnswered = true; });
        this.listeners = new Set(onEvent ? [onEvent] : []);
        this.presenceExtensions = new Set();
        const node = (connection.core.jid || '').split('@')[0];
        this.nick = /^[0-9a-f]{8}/.test(node) ? node.slice(0, 8) : randomHex(4);
        this.participants = new Map();
        this.hidden = new Map();  // the recorder, the transcriber: in the room, nobody's tile
        this.role = 'none';
        this.affiliation = 'none';
        this.muted = { audio: false, video: false };
        this.raisedHand = 0;
        this.avModeration = {};  // media type -> on: a moderator must allow unmuting
        this.avApproved = {};  // media type -> a moderator allowed us
        this.components = {};
        this.auth = { enabled: false, identity: null };
        this.simulcastMemory = new Map();
        this.remoteSources = new Map();
        this.session = null;
        this.screenStream = null;
        this.left = false;
        this.handler = stanza => this.onStanza(stanza);
        connection.addHandler(this.handler);
    }

    // ---- events ----

    // Every event goes to the page's `onEvent`, then to each listener a feature module (captions.js)
    // added; `on` answers the function that removes it.
    on(listener) {
        this.listeners.add(listener);
        return () => this.listeners.delete(listener);
    }

    emit(event) {
        for (const listener of this.listeners) listener(event);
    }

    // `extension()` answers elements for our presence, asked afresh each time it is sent (a feature's
    // state, such as captions.js's transcription request); the answer removes it.
    addPresenceExtension(extension) {
        this.presenceExtensions.add(extension);
        return () => this.presenceExtensions.delete(extension);
    }

    // ---- joining ----

    async join(password) {
        ({ components: this.components, iceServers: this.iceServers } = await discover(this.xmpp, this.domain));
        const focusBare = await this.requestConference();
        this.focusBare = focusBare;
        this.password = password;
        // Made before the offer comes: the constructor takes tens of milliseconds on a busy page.
        this.sparePc ??= this.newPeerConnection();
        await this.enterRoom(this.roomJid, password);
    }

    newPeerConnection() {
        return new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require', iceServers: this.iceServers || [] });
    }

    async requestConference() {
        let delay = 1000;
        for (let attempt = 0; attempt < 8; attempt++) {
            let conference;
            try {
                conference = await askFocus(this.xmpp, this);
            } catch (error) {
                if (error.condition === 'not-authorized') {
                    throw new ConferenceError('auth-required', 'This meeting has not started yet: the host must log in to start it.');
                }
                if (error.condition === 'service-unavailable' || error.condition === 'timeout') {
                    if (attempt >= 2) {
                        throw new ConferenceError('focus-unavailable', 'The meeting service (focus) is not answering. Try again in a moment.');
                    }
                } else {
                    throw new ConferenceError('focus-error', `The meeting could not be started (${error.message}).`);
                }
            }
            if (conference) {
                this.noteAuth(conference);
                // jicofo's sipGatewayEnabled: a SIP gateway can be asked to call a phone into this meeting
                this.sipGateway = conference.elements('property').some(p => p.attrs.name === 'sipGatewayEnabled' && p.attrs.value === 'true');
            }
            if (conference?.attrs.ready === 'true') {
                performance.mark('jitsi:conference-ready');
                return conference.attrs.focusjid || '';
            }
            await new Promise(resolve => setTimeout(resolve, delay));
            delay = Math.min(delay * 2, 8000);
        }
        throw new ConferenceError('focus-unavailable', 'The meeting service (focus) is not ready. Try again in a moment.');
    }

    // What the focus said of authentication: whether it is on, and whom this connection is
    // authenticated as (its identity; none for a guest).
    noteAuth(conference) {
        const enabled = conference.elements('property').some(p => p.attrs.name === 'authentication' && p.attrs.value === 'true');
        this.auth = { enabled, identity: conference.attrs.identity || null };
        this.emit({ type: 'auth', ...this.auth });
    }

    // A guest in the meeting logs in (lib-jitsi-meet's authenticateAndUpgradeRole): `login` is a
    // second connection, logged in with a password; its conference request gets this browser a
    // focus session, then it is closed, and this connection's request presenting that session
    // makes the focus grant us owner.
    async upgradeRole(login) {
        let answer;
        try {
            answer = await askFocus(login, this);
        } finally {
            login.disconnect();
        }
        if (!answer?.attrs['session-id']) {
            throw new ConferenceError('focus-error', 'The meeting service did not accept this login as a host.');
        }
        await this.requestConference();
    }

    // Ends this browser's focus session; resolves the URL the focus asks the user to visit to
    // finish logging out, if any. A session the focus no longer knows has ended already.
    async logout() {
        const session = focusSession.get();
        let url = null;
        if (session) {
            try {
                const result = await this.xmpp.iq(el('iq', { type: 'set', to: this.focusJid },
                    el('logout', { xmlns: NS_FOCUS, 'session-id': session })));
                const encoded = result.first('logout', NS_FOCUS)?.attrs['logout-url'];
                url = encoded ? decodeURIComponent(encoded.replace(/\+/g, ' ')) : null;
            } catch (error) {
                if (error.condition !== 'not-acceptable') {
                    throw new ConferenceError('focus-error', `Logging out did not work (${error.message}).`);
                }
            }
        }
        focusSession.set(undefined);
        this.auth = { ...this.auth, identity: null };
        this.emit({ type: 'auth', ...this.auth });
        return url;
    }

    async presence(to, { join = false, password, extra = [] } = {}) {
        const p = el('presence', { to });
        if (join) {
            const x = p.c('x', { xmlns: NS_MUC });
            if (password) x.c('password').t(password);
        }
        p.append(el('stats-id', {}, this.nick));
        p.append(el('c', { xmlns: NS_CAPS, hash: 'sha-1', node: CAPS_NODE, ver: this.capsVer || (this.capsVer = await capsVer()) }));
        if (this.displayName) p.append(el('nick', { xmlns: NS_NICK }, this.displayName));
        if (this.email) p.append(el('email', {}, this.email));
        p.append(el('SourceInfo', {}, JSON.stringify(this.sourceInfo())));
        p.append(el('audiomuted', {}, String(this.muted.audio)));
        p.append(el('videomuted', {}, String(this.muted.video)));
        p.append(el('jitsi_participant_codecList', {}, 'vp8,vp9,h264,av1'));  // VP8 first, see PREFERRED_VIDEO_CODEC
        if (this.raisedHand) p.append(el('jitsi_participant_raisedHand', {}, String(this.raisedHand)));
        for (const e of extra) p.append(e);
        for (const extension of this.presenceExtensions) for (const e of extension()) p.append(e);
        this.xmpp.send(p);
    }

    sourceInfo() {
        const info = {
            [`${this.nick}-a0`]: { muted: this.muted.audio },
            [`${this.nick}-v0`]: { muted: this.muted.video, videoType: 'camera' },
        };
        if (this.screenStream) info[`${this.nick}-v1`] = { muted: false, videoType: 'desktop' };
        return info;
    }

    enterRoom(roomJid, password) {
        this.currentRoom = roomJid;
        return new Promise((resolve, reject) => {
            this.joinWaiter = { resolve, reject, tries: 0, password };
            this.presence(`${roomJid}/${this.nick}`, { join: true, password });
        });
    }

    // ---- incoming stanzas ----

    onStanza(stanza) {
        const from = stanza.attrs.from || '';
        const bare = from.split('/')[0];
        if (stanza.name === 'presence' && (bare === this.currentRoom || bare === this.lobbyJid)) {
            this.onPresence(stanza, bare);
            return true;
        }
        if (stanza.name === 'iq' && stanza.first('jingle', 'urn:xmpp:jingle:1')) {
            this.onJingle(stanza);
            return true;
        }
        if (stanza.name === 'iq' && stanza.attrs.type === 'get' && stanza.first('query', NS_DISCO_INFO)) {
            const query = el('query', { xmlns: NS_DISCO_INFO, node: stanza.first('query').attrs.node },
                el('identity', { category: 'client', type: 'web', name: 'jitsi-py' }),
                FEATURES.map(f => el('feature', { var: f })));
            this.xmpp.send(el('iq', { type: 'result', to: from, id: stanza.attrs.id }, query));
            return true;
        }
        if (stanza.name === 'iq' && stanza.attrs.type === 'set') {
            const mute = stanza.children.find(c => typeof c !== 'string' && c.name === 'mute');
            if (mute && from === `${this.currentRoom}/focus`) {
                this.xmpp.send(el('iq', { type: 'result', to: from, id: stanza.attrs.id }));
                const media = mute.ns.endsWith('video') ? 'video' : mute.ns.endsWith('desktop') ? 'desktop' : 'audio';
                if (mute.text === 'true') {
                    if (media === 'desktop') this.stopScreenShare();
                    else this.setMuted(media, true);
                    this.emit({ type: 'muted-by-moderator', media });
                }
                return true;
            }
        }
        if (stanza.name === 'message') {
            return this.onMessage(stanza, from, bare);
        }
        return false;
    }

    onPresence(p, bare) {
        const from = p.attrs.from;
        const nick = from.split('/')[1];
        const x = p.first('x', NS_MUC_USER);
        const statuses = x ? x.elements('status').map(s => s.attrs.code) : [];
        if (p.attrs.type === 'error') {
            this.onJoinError(p, bare);
            return;
        }
        if (bare === this.lobbyJid) {
            if (nick === this.nick && p.attrs.type === 'unavailable') {
                this.emit({ type: 'lobby-denied' });
            }
            if (this.role === 'moderator' && nick !== this.nick) {
                this.emit({ type: p.attrs.type === 'unavailable' ? 'knock-left' : 'knock', id: nick,
                    jid: x?.first('item')?.attrs.jid, name: p.first('nick', NS_NICK)?.text || nick });
            }
            if (nick === this.nick && p.attrs.type !== 'unavailable' && this.joinWaiter?.lobby) {
                this.emit({ type: 'lobby-waiting' });
            }
            return;
        }
        const item = x?.first('item');
        if (statuses.includes('110')) {
            if (p.attrs.type === 'unavailable') {
                const destroy = x?.first('destroy');
                if (statuses.includes('307')) this.end('kicked', 'You were removed from the meeting by a moderator.');
                else if (destroy?.attrs.jid) this.end('moved', destroy.first('reason')?.text || 'This room was closed.', destroy.attrs.jid);
                else if (destroy) this.end('ended', destroy.first('reason')?.text || 'The meeting has ended.');
                return;
            }
            const wasModerator = this.role === 'moderator';
            this.role = item?.attrs.role || 'participant';
            this.affiliation = item?.attrs.affiliation || 'none';
            if (this.joinWaiter) {
                const waiter = this.joinWaiter;
                this.joinWaiter = null;
                this.refreshRoomInfo();
                waiter.resolve();
                this.emit({ type: 'joined', nick: this.nick, role: this.role });
            } else if (wasModerator !== (this.role === 'moderator')) {
                this.emit({ type: 'role', role: this.role });
            }
            if (this.role === 'moderator' && this.roomInfo?.lobby && !this.inLobbyAsModerator) this.watchLobby();
            return;
        }
        if (item?.attrs.jid && this.focusBare && item.attrs.jid.startsWith(`${this.focusBare}/`)) {
            if (p.attrs.type === 'unavailable') {
                this.emit({ type: 'focus-left' });
            } else {
                const recording = p.first('jibri-recording-status', NS_JIBRI);
                if (recording) this.onRecordingStatus(recording.attrs);
                const down = !!p.first('bridgeNotAvailable');
                if (down !== !!this.bridgeDown) this.emit({ type: 'bridge-unavailable', unavailable: down });
                this.bridgeDown = down;
            }
            return;
        }
        if (!item?.attrs.jid && nick === 'focus') return;
        if (this.isHidden(p, item)) {
            // no tile, but known with its latest presence: captions.js takes transcripts only from
            // hidden members, and reads a transcriber's state from its presence
            const member = { id: nick, jid: item?.attrs.jid, presence: p };
            if (p.attrs.type === 'unavailable') this.hidden.delete(nick);
            else this.hidden.set(nick, member);
            this.emit({ type: 'hidden-member', member, left: p.attrs.type === 'unavailable' });
            return;
        }
        if (p.attrs.type === 'unavailable') {
            if (this.participants.delete(nick)) {
                this.emit({ type: 'participant-left', id: nick, kicked: statuses.includes('307') });
            }
            return;
        }
        let sourceInfo = {};
        try {
            sourceInfo = JSON.parse(p.first('SourceInfo')?.text || '{}');
        } catch (e) { /* a malformed SourceInfo only loses mute state */ }
        const participant = {
            id: nick,
            jid: item?.attrs.jid,
            role: item?.attrs.role || 'participant',
            name: p.first('nick', NS_NICK)?.text || p.first('identity')?.first('user')?.first('name')?.text || '',
            avatar: p.first('identity')?.first('user')?.first('avatar')?.text || p.first('avatar-url')?.text || '',
            audioMuted: sourceInfo[`${nick}-a0`]?.muted ?? p.first('audiomuted')?.text === 'true',
            videoMuted: sourceInfo[`${nick}-v0`]?.muted ?? p.first('videomuted')?.text === 'true',
            raisedHand: Number(p.first('jitsi_participant_raisedHand')?.text || 0),
            // a caller on the phone, through a SIP gateway; its status is the call's progress
            phone: (p.first('features')?.elements('feature') || []).some(f => f.attrs.var === FEATURE_JIGASI),
            status: p.first('status')?.text || '',
            sourceInfo,
        };
        const known = this.participants.has(nick);
        this.participants.set(nick, participant);
        this.emit({ type: known ? 'participant-updated' : 'participant-joined', participant });
    }

    // A recorder (or another hidden participant) is in the room but nobody's tile: its JID is on
    // the hidden domain, or (when JIDs are not shown) its presence names the recorder feature.
    isHidden(p, item) {
        const hidden = this.config.hiddenDomain;
        const domain = (item?.attrs.jid || '').split('/')[0].split('@').pop();
        if (hidden && domain === hidden) return true;
        return (p.first('features')?.elements('feature') || []).some(f => f.attrs.var === NS_JIBRI);
    }

    onJoinError(p, bare) {
        const error = p.first('error');
        const condition = error?.children.find(c => typeof c !== 'string' && c.name !== 'text')?.name;
        const waiter = this.joinWaiter;
        if (!waiter) return;
        if (bare === this.lobbyJid) {
            waiter.reject(new ConferenceError('lobby', 'Could not join the lobby.'));
            return;
        }
        if (condition === 'not-authorized') {
            this.joinWaiter = null;
            waiter.reject(new ConferenceError('password', waiter.password ? 'The password is not correct.' : 'This meeting is locked with a password.'));
        } else if (condition === 'registration-required') {
            // inside <error> today, a child of the presence in older servers
            const lobby = (error.first('lobbyroom') || p.first('lobbyroom'))?.text;
            if (!lobby) {
                this.joinWaiter = null;
                waiter.reject(new ConferenceError('members-only', 'Only members can join this meeting.'));
                return;
            }
            this.joinLobby(lobby);
        } else if (condition === 'not-allowed' && waiter.tries < 3
            && (error.first('room-does-not-exist', NS_JITMEET) || /creation is restricted/i.test(error.first('text')?.text || ''))) {
            waiter.tries++;
            setTimeout(() => this.presence(`${this.currentRoom}/${this.nick}`, { join: true, password: waiter.password }), 1000 * waiter.tries);
        } else if (condition === 'service-unavailable') {
            this.joinWaiter = null;
            waiter.reject(new ConferenceError('full', 'This meeting is full.'));
        } else if (condition === 'not-acceptable' && error.first('displayname-required', NS_JITMEET)) {
            this.joinWaiter = null;
            waiter.reject(new ConferenceError('name-required', 'This meeting asks for your name before you join.'));
        } else {
            this.joinWaiter = null;
            waiter.reject(new ConferenceError('not-allowed', `You cannot join this meeting (${condition || 'refused'}${error?.first('text') ? `: ${error.first('text').text}` : ''}).`));
        }
    }

    joinLobby(lobbyJid) {
        this.lobbyJid = lobbyJid;
        this.joinWaiter.lobby = true;
        this.emit({ type: 'lobby-waiting' });
        this.presence(`${lobbyJid}/${this.nick}`, { join: true });
    }

    onMessage(m, from, bare) {
        const x = m.first('x', NS_MUC_USER);
        if (bare === this.roomJid && x?.first('invite') && this.joinWaiter?.lobby) {
            // approved from the lobby: leave it and join the main room
            this.xmpp.send(el('presence', { to: `${this.lobbyJid}/${this.nick}`, type: 'unavailable' }));
            this.lobbyJid = null;
            this.joinWaiter.lobby = false;
            this.presence(`${this.roomJid}/${this.nick}`, { join: true, password: x.first('password')?.text || this.password });
            return true;
        }
        if (bare === this.currentRoom && x?.elements('status').some(s => s.attrs.code === '104')) {
            this.refreshRoomInfo();
            return true;
        }
        const json = m.first('json-message', NS_JITMEET);
        if (json) {
            let payload;
            try {
                payload = JSON.parse(json.text);
            } catch (e) {
                return true;
            }
            this.emit({ type: 'json', from, payload });
            if (payload.type === 'av_moderation' && payload.enabled !== undefined) {
                this.avModeration[payload.mediaType || 'audio'] = !!payload.enabled;
                this.avApproved[payload.mediaType || 'audio'] = false;
                this.emit({ type: 'av-moderation', enabled: payload.enabled, mediaType: payload.mediaType });
            }
            if (payload.type === 'av_moderation' && (payload.approved || payload.removed)) {
                this.avApproved[payload.mediaType || 'audio'] = !!payload.approved;
                this.emit({ type: 'av-approval', approved: !!payload.approved, mediaType: payload.mediaType || 'audio' });
            }
            if (payload.type === 'breakout_rooms' && payload.event === 'features/breakout-rooms/update') {
                this.emit({ type: 'breakout-rooms', rooms: payload.rooms });
            }
            if (payload.type === 'breakout_rooms' && payload.event === 'features/breakout-rooms/move-to-room' && payload.roomJid) {
                this.emit({ type: 'move-to-room', roomJid: payload.roomJid });
            }
            if (payload.type === 'lobby-notify') this.emit({ type: 'lobby-notify', payload });
            if (payload.type === 'polls') this.emit({ type: 'poll', payload });
            return true;
        }
        const body = m.first('body');
        if (body && (m.attrs.type === 'groupchat' || m.attrs.type === 'chat')) {
            const nick = from.split('/')[1];
            if (!nick) return true;
            this.emit({ type: 'chat', from: nick, self: nick === this.nick, text: body.text,
                private: m.attrs.type === 'chat', name: this.participants.get(nick)?.name || (nick === this.nick ? this.displayName : nick) });
            return true;
        }
        return false;
    }

    async refreshRoomInfo() {
        try {
            const info = await this.xmpp.iq(el('iq', { type: 'get', to: this.currentRoom }, el('query', { xmlns: NS_DISCO_INFO })));
            const features = info.find('query').elements('feature').map(f => f.attrs.var);
            const fields = {};
            for (const field of info.find('query').first('x', NS_DATA)?.elements('field') || []) {
                fields[field.attrs.var] = field.first('value')?.text;
            }
            this.roomInfo = {
                locked: features.includes('muc_passwordprotected'),
                lobby: features.includes('muc_membersonly'),
                lobbyRoom: fields['muc#roominfo_lobbyroom'],
            };
            this.emit({ type: 'room-info', info: this.roomInfo });
            if (this.role === 'moderator' && this.roomInfo.lobby && !this.inLobbyAsModerator) this.watchLobby();
        } catch (e) { /* room info is advisory */ }
    }

    watchLobby() {
        if (!this.roomInfo?.lobbyRoom) return;
        this.inLobbyAsModerator = true;
        this.lobbyJid = this.roomInfo.lobbyRoom;
        this.presence(`${this.lobbyJid}/${this.nick}`, { join: true });
    }

    // ---- Jingle with the focus ----

    onJingle(iq) {
        const jingle = iq.first('jingle', 'urn:xmpp:jingle:1');
        const action = jingle.attrs.action;
        const from = iq.attrs.from;
        if (iq.attrs.type !== 'set') return;
        if (action === 'session-initiate') {
            if (from !== `${this.currentRoom}/focus`) {
                // P2P offers are declined: media always goes through the bridge.
                this.xmpp.send(el('iq', { type: 'result', to: from, id: iq.attrs.id }));
                this.xmpp.send(el('iq', { type: 'set', to: from },
                    el('jingle', { xmlns: 'urn:xmpp:jingle:1', action: 'session-terminate', sid: jingle.attrs.sid },
                        el('reason', {}, el('decline')))));
                return;
            }
            this.xmpp.send(el('iq', { type: 'result', to: from, id: iq.attrs.id }));
            this.startSession(jingle, from).catch(error => this.emit({ type: 'media-error', error }));
            return;
        }
        if (!this.session || jingle.attrs.sid !== this.session.sid) {
            const error = iqError(iq, 'cancel', 'item-not-found');
            error.first('error').append(el('unknown-session', { xmlns: 'urn:xmpp:jingle:errors:1' }));
            this.xmpp.send(error);
            return;
        }
        this.xmpp.send(el('iq', { type: 'result', to: from, id: iq.attrs.id }));
        if (action === 'source-add' || action === 'source-remove') {
            const changes = sourcesOf(jingle);
            for (const [name, source] of changes) {
                if (action === 'source-add') this.remoteSources.set(name, source);
                else this.remoteSources.delete(name);
            }
            this.renegotiate();
        } else if (action === 'session-terminate') {
            this.closeSession();
        } else if (action === 'transport-info') {
            const transport = parseTransport(jingle.find('content', 'transport'));
            for (const c of transport?.candidates || []) {
                this.session.pc.addIceCandidate({ candidate: candidateToSdp(c), sdpMid: '0' }).catch(() => {});
            }
        }
    }

    // Milestones of joining go to the Performance API (performance.getEntriesByType('mark')), so a
    // test or bench can see where the time to first frame goes.
    async startSession(jingle, from) {
        performance.mark('jitsi:session-initiate');
        this.closeSession();
        const offer = parseOffer(jingle);
        const layout = new Layout(offer, { preferVideoCodec: PREFERRED_VIDEO_CODEC });
        this.remoteSources = sourcesOf(jingle);
        layout.setRemoteSources(this.remoteSources);
        const pc = this.sparePc || this.newPeerConnection();
        this.sparePc = null;
        const session = { sid: offer.sid, initiator: offer.initiator, peer: from, pc, layout, offer, queue: Promise.resolve() };
        this.session = session;
        pc.onicecandidate = event => {
            if (!event.candidate || !event.candidate.candidate || this.session !== session) return;
            const local = pc.localDescription?.sdp || '';
            const ufrag = /a=ice-ufrag:(\S+)/.exec(local)?.[1];
            const pwd = /a=ice-pwd:(\S+)/.exec(local)?.[1];
            this.xmpp.send(el('iq', { type: 'set', to: session.peer },
                transportInfo({ sid: session.sid, initiator: session.initiator, contentName: offer.contents[0].name, ufrag, pwd, candidate: event.candidate.candidate })));
        };
        pc.oniceconnectionstatechange = () => {
            if (pc.iceConnectionState === 'connected') performance.mark('jitsi:ice-connected');
            this.emit({ type: 'ice', state: pc.iceConnectionState });
        };
        pc.ontrack = () => this.emitTracks();
        await pc.setRemoteDescription({ type: 'offer', sdp: buildRemoteSdp(layout, this.remoteSources) });
        const devicesPending = !this.devicesAnswered;
        if (!devicesPending) await this.attachLocalTracks(pc, layout);
        const answer = await pc.createAnswer();
        const sdp = this.mungeLocal(answer.sdp, layout);
        await this.setLocal(pc, sdp, answer.sdp);
        const ours = this.ourSources(pc.localDescription.sdp, layout);
        session.announced = ours;
        const accept = sessionAccept({
            sid: offer.sid, initiator: offer.initiator, responder: this.xmpp.core.jid,
            contents: answerContents(pc.localDescription.sdp, layout, ours), lastN: this.config.channelLastN,
        });
        performance.mark('jitsi:session-accept');
        this.xmpp.iq(el('iq', { type: 'set', to: from }, accept)).catch(error => this.emit({ type: 'media-error', error }));
        this.openBridgeChannel(offer);
        this.emitTracks();
        if (devicesPending) this.localReady.then(() => this.renegotiate((p, l) => this.attachLocalTracks(p, l)));
    }

    // Our camera and microphone on the main audio and video m-lines.
    async attachLocalTracks(pc, layout) {
        const transceivers = pc.getTransceivers();
        await Promise.all(['audio', 'video'].map(async media => {
            const track = media === 'audio' ? this.localStream?.getAudioTracks()[0] : this.localStream?.getVideoTracks()[0];
            const slot = layout.slots.find(s => s.kind === 'main' && s.media === media);
            if (!slot || !track) return;
            const t = transceivers.find(x => x.mid === slot.mid);
            t.direction = 'sendrecv';
            await t.sender.replaceTrack(track);
            t.sender.setStreams?.(this.localStream);
        }));
    }

    mungeLocal(sdp, layout) {
        if (this.config.disableSimulcast) return sdp;
        const videoSlot = layout.slots.find(s => s.kind === 'main' && s.media === 'video');
        return videoSlot ? mungeSimulcast(sdp, videoSlot.mid, this.simulcastMemory) : sdp;
    }

    async setLocal(pc, sdp, plain) {
        try {
            await pc.setLocalDescription({ type: 'answer', sdp });
        } catch (error) {
            // A browser that refuses SSRC simulcast still joins, with one layer.
            console.warn(`simulcast refused, sending one layer: ${error.message}`);
            await pc.setLocalDescription({ type: 'answer', sdp: plain });
        }
    }

    ourSources(sdp, layout) {
        const names = {};
        for (const slot of layout.slots) {
            if (slot.kind === 'main' && slot.media === 'audio') names[slot.mid] = { name: `${this.nick}-a0` };
            if (slot.kind === 'main' && slot.media === 'video') names[slot.mid] = { name: `${this.nick}-v0`, videoType: 'camera' };
            if (slot.kind === 'local') names[slot.mid] = { name: `${this.nick}-v1`, videoType: 'desktop' };
        }
        return localSources(sdp, names);
    }

    renegotiate(localChange) {
        const session = this.session;
        if (!session) return Promise.resolve();
        session.queue = session.queue.then(async () => {
            if (this.session !== session) return;
            const changed = session.layout.setRemoteSources(this.remoteSources);
            if (!changed && !localChange) return;
            session.layout.version++;
            const { pc, layout } = session;
            await pc.setRemoteDescription({ type: 'offer', sdp: buildRemoteSdp(layout, this.remoteSources) });
            if (localChange) await localChange(pc, layout);
            const answer = await pc.createAnswer();
            await this.setLocal(pc, this.mungeLocal(answer.sdp, layout), answer.sdp);
            const ours = this.ourSources(pc.localDescription.sdp, layout);
            const before = new Map((session.announced || []).map(s => [s.name, s]));
            const added = ours.filter(s => !before.has(s.name));
            const removed = [...before.values()].filter(s => !ours.some(o => o.name === s.name));
            session.announced = ours;
            if (added.length) this.xmpp.send(el('iq', { type: 'set', to: session.peer }, sourceAction('source-add', session, added)));
            if (removed.length) this.xmpp.send(el('iq', { type: 'set', to: session.peer }, sourceAction('source-remove', session, removed)));
            this.emitTracks();
        }).catch(error => this.emit({ type: 'media-error', error }));
        return session.queue;
    }

    // Remote tracks by owner: [{ owner, sourceName, kind, track, videoType }]
    emitTracks() {
        const session = this.session;
        if (!session) return;
        const tracks = [];
        for (const t of session.pc.getTransceivers()) {
            const source = session.layout.sourceOfMid(t.mid);
            if (!source || !t.receiver.track) continue;
            tracks.push({ owner: source.owner, sourceName: source.name, kind: source.media, track: t.receiver.track, videoType: source.videoType });
        }
        this.emit({ type: 'tracks', tracks });
        this.bridge?.setSources(tracks.filter(t => t.kind === 'video').map(t => t.sourceName));
    }

    openBridgeChannel(offer) {
        this.bridge?.close();
        const preferSctp = this.config.bridgeChannel?.preferSctp !== false;
        const hasData = offer.contents.some(c => c.media === 'application');
        this.bridge = new BridgeChannel({
            onMessage: message => this.onBridgeMessage(message),
            onOpen: () => this.emit({ type: 'bridge-channel', open: true }),
            onClose: () => this.emit({ type: 'bridge-channel', open: false }),
        });
        if (hasData && (preferSctp || !offer.websocket)) {
            this.bridge.useDataChannel(this.session.pc.createDataChannel('JVB data channel', { protocol: 'http://jitsi.org/protocols/colibri' }));
        } else if (offer.websocket) {
            this.bridge.useWebSocket(offer.websocket);
        }
    }

    onBridgeMessage(message) {
        switch (message.colibriClass) {
        case 'DominantSpeakerEndpointChangeEvent':
            this.emit({ type: 'dominant-speaker', id: message.dominantSpeakerEndpoint, silence: !!message.silence });
            this.bridge.setOnStage(message.dominantSpeakerEndpoint === this.nick ? null : `${message.dominantSpeakerEndpoint}-v0`);
            break;
        case 'EndpointMessage':
            if (message.msgPayload?.name === 'endpoint-reaction') {
                for (const name of message.msgPayload.reactions || []) this.emit({ type: 'reaction', from: message.from, name });
            }
            this.emit({ type: 'endpoint-message', from: message.from, payload: message.msgPayload });
            break;
        case 'EndpointConnectivityStatusChangeEvent':
            this.emit({ type: 'connectivity', id: message.endpoint, active: String(message.active) === 'true' });
            break;
        case 'ForwardedSources':
            this.emit({ type: 'forwarded-sources', sources: message.forwardedSources || [] });
            break;
        default:
            break;
        }
    }

    closeSession() {
        if (!this.session) return;
        this.bridge?.close();
        this.bridge = null;
        try {
            this.session.pc.close();
        } catch (e) { /* already closed */ }
        this.session = null;
        this.emit({ type: 'tracks', tracks: [] });
    }

    // ---- local actions ----

    setMuted(media, muted) {
        this.muted[media] = muted;
        for (const track of media === 'audio' ? this.localStream?.getAudioTracks() || [] : this.localStream?.getVideoTracks() || []) {
            track.enabled = !muted;
        }
        this.presence(`${this.currentRoom}/${this.nick}`);
        this.emit({ type: 'local-muted', media, muted });
    }

    setDisplayName(name, email) {
        this.displayName = name;
        this.email = email;
        this.presence(`${this.currentRoom}/${this.nick}`);
    }

    // A device switch in the meeting: the new track replaces the old one in the stream we send,
    // with no renegotiation (the m-line and its SSRCs stay).
    async replaceLocalTrack(track) {
        const old = track.kind === 'audio' ? this.localStream.getAudioTracks()[0] : this.localStream.getVideoTracks()[0];
        const media = track.kind;
        track.enabled = !this.muted[media];
        const session = this.session;
        const slot = session?.layout.slots.find(s => s.kind === 'main' && s.media === media);
        const transceiver = slot && session.pc.getTransceivers().find(t => t.mid === slot.mid);
        if (transceiver) await transceiver.sender.replaceTrack(track);
        if (old) {
            this.localStream.removeTrack(old);
            old.stop();
        }
        this.localStream.addTrack(track);
    }

    setRaisedHand(raised) {
        this.raisedHand = raised ? Date.now() : 0;
        this.presence(`${this.currentRoom}/${this.nick}`);
    }

    sendChat(text, to) {
        if (to) {
            this.xmpp.send(el('message', { to: `${this.currentRoom}/${to}`, type: 'chat' }, el('body', {}, text), el('x', { xmlns: NS_MUC_USER })));
            this.emit({ type: 'chat', from: this.nick, to, self: true, text, private: true, name: this.displayName });
        } else {
            this.xmpp.send(el('message', { to: this.currentRoom, type: 'groupchat' }, el('body', {}, text)));
        }
    }

    async startScreenShare() {
        if (this.screenStream || !this.session) return;
        this.screenStream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
        const track = this.screenStream.getVideoTracks()[0];
        track.onended = () => this.stopScreenShare();
        const name = `${this.nick}-v1`;
        await this.renegotiate(async (pc, layout) => {
            const slot = layout.localSlot(name);
            await pc.setRemoteDescription({ type: 'offer', sdp: buildRemoteSdp(layout, this.remoteSources) });
            const t = pc.getTransceivers().find(x => x.mid === slot.mid);
            t.direction = 'sendonly';
            await t.sender.replaceTrack(track);
            t.sender.setStreams?.(this.screenStream);
        });
        this.presence(`${this.currentRoom}/${this.nick}`);
        this.bridge?.send({ colibriClass: 'SourceVideoTypeMessage', sourceName: name, videoType: 'desktop' });
        this.emit({ type: 'screen-share', active: true, stream: this.screenStream });
    }

    async stopScreenShare() {
        if (!this.screenStream) return;
        this.screenStream.getTracks().forEach(t => t.stop());
        this.screenStream = null;
        await this.renegotiate(async (pc, layout) => {
            const slot = layout.slots.find(s => s.kind === 'local');
            const t = slot && pc.getTransceivers().find(x => x.mid === slot.mid);
            if (t) {
                await t.sender.replaceTrack(null);
                t.direction = 'inactive';
            }
        });
        this.presence(`${this.currentRoom}/${this.nick}`);
        this.emit({ type: 'screen-share', active: false });
    }

    // moderator actions
    muteParticipant(id, media = 'audio') {
        return this.xmpp.iq(el('iq', { type: 'set', to: `${this.currentRoom}/focus` },
            el('mute', { xmlns: `http://jitsi.org/jitmeet/${media}`, jid: `${this.currentRoom}/${id}` }, 'true')));
    }

    // A Rayo dial through the focus, as lib-jitsi-meet's: a moderator's "invite by phone" (the focus
    // hands it to a SIP gateway, whose participant joins with the number as its name, docs/sip.md §2)
    // or the transcriber (captions.js). The room's password goes along, for the gateway to join with.
    dial(to, timeout = DIAL_TIMEOUT_MS) {
        const dial = el('dial', { xmlns: NS_RAYO, to, from: 'fromnumber' },
            el('header', { name: 'JvbRoomName', value: this.currentRoom }));
        if (this.password) dial.append(el('header', { name: 'JvbRoomPassword', value: this.password }));
        return this.xmpp.iq(el('iq', { type: 'set', to: `${this.currentRoom}/focus` }, dial), timeout);
    }

    // "Invite by phone": the dial with its refusals in words.
    async callPhone(target) {
        try {
            await this.dial(target);
        } catch (error) {
            const why = {
                'service-unavailable': 'No SIP gateway is available to place the call.',
                'resource-constraint': 'The SIP gateways are all busy. Try again later.',
                'remote-server-timeout': 'The SIP gateway did not answer.',
                forbidden: 'Only a moderator can invite by phone.',
                'not-allowed': 'Only a moderator can invite by phone.',
            }[error.condition];
            throw new ConferenceError('dial', why || `The call could not be placed (${error.text || error.condition || error.message}).`);
        }
    }

    // A Rayo hangup to a caller on the phone, sent where lib-jitsi-meet sends it: the ref of the dial's
    // answer, `xmpp:<room>/<the caller's nick>`, which is the caller's occupant. The SIP gateway ends
    // the call (BYE, or CANCEL while it rings) and the caller leaves.
    async hangUpPhone(id) {
        try {
            await this.xmpp.iq(el('iq', { type: 'set', to: `${this.currentRoom}/${id}` }, el('hangup', { xmlns: NS_RAYO })));
        } catch (error) {
            const why = {
                forbidden: 'Only a moderator can hang up a call.',
                'item-not-found': 'The call has already ended.',
            }[error.condition];
            throw new ConferenceError('hangup', why || `The call could not be hung up (${error.text || error.condition || error.message}).`);
        }
    }

    // Digits as RFC 4733 events in our audio to the bridge, as lib-jitsi-meet's sendTones: a SIP
    // gateway relays them to its phone (an automated menu, a PIN). Muted, the events still go.
    // insertDTMF replaces what is still queued, so digits typed faster than they play are kept.
    sendTones(tones, duration = 200, pause = 200) {
        const dtmf = this.session?.pc.getTransceivers().find(t => t.sender.track?.kind === 'audio')?.sender.dtmf;
        if (!dtmf?.canInsertDTMF) throw new ConferenceError('tones', 'Tones need a microphone in the meeting.');
        dtmf.insertDTMF(dtmf.toneBuffer + tones, duration, pause);
    }

    kick(id) {
        return this.xmpp.iq(el('iq', { type: 'set', to: this.currentRoom },
            el('query', { xmlns: NS_MUC_ADMIN }, el('item', { nick: id, role: 'none' }, el('reason', {}, 'You were removed by a moderator')))));
    }

    grantModerator(id) {
        const jid = this.participants.get(id)?.jid;
        if (!jid) return Promise.reject(new Error('unknown participant'));
        return this.xmpp.iq(el('iq', { type: 'set', to: this.currentRoom },
            el('query', { xmlns: NS_MUC_ADMIN }, el('item', { affiliation: 'owner', jid: jid.split('/')[0] }))));
    }

    // Submits the owner form; `required` names the field whose absence means "not supported".
    // Other unknown fields are sent anyway: servers ignore fields they do not have.
    async configureRoom(values, required) {
        const form = await this.xmpp.iq(el('iq', { type: 'get', to: this.currentRoom }, el('query', { xmlns: NS_MUC_OWNER })));
        const fields = form.find('query', 'x')?.elements('field').map(f => f.attrs.var) || [];
        if (required && !fields.includes(required)) {
            throw new ConferenceError('unsupported', `This server does not support ${required}.`);
        }
        const x = el('x', { xmlns: NS_DATA, type: 'submit' },
            el('field', { var: 'FORM_TYPE' }, el('value', {}, 'http://jabber.org/protocol/muc#roomconfig')));
        for (const [name, value] of Object.entries(values)) {
            x.append(el('field', { var: name }, el('value', {}, value)));
        }
        await this.xmpp.iq(el('iq', { type: 'set', to: this.currentRoom }, el('query', { xmlns: NS_MUC_OWNER }, x)));
        await this.refreshRoomInfo();
    }

    async setPassword(password) {
        await this.configureRoom({
            'muc#roomconfig_roomsecret': password || '',
            'muc#roomconfig_passwordprotectedroom': password ? '1' : '0',
            'muc#roomconfig_whois': 'anyone',
        }, 'muc#roomconfig_roomsecret');
        this.password = password || undefined;
    }

    async setLobby(enabled) {
        if (enabled) {
            // one IQ per occupant: Prosody's muc#admin handler reads only the first <item>
            await Promise.all([...this.participants.values()].filter(p => p.jid).map(p => this.xmpp.iq(
                el('iq', { type: 'set', to: this.currentRoom },
                    el('query', { xmlns: NS_MUC_ADMIN }, el('item', { affiliation: 'member', jid: p.jid.split('/')[0] }))))));
        }
        await this.configureRoom({ 'muc#roomconfig_membersonly': enabled ? 'true' : 'false' }, 'muc#roomconfig_membersonly');
    }

    admit(jid) {
        this.xmpp.send(el('message', { to: this.currentRoom }, el('x', { xmlns: NS_MUC_USER }, el('invite', { to: jid }))));
    }

    deny(id) {
        return this.xmpp.iq(el('iq', { type: 'set', to: this.lobbyJid },
            el('query', { xmlns: NS_MUC_ADMIN }, el('item', { nick: id, role: 'none' }))));
    }

    // Whether A/V moderation keeps us from unmuting `media` (moderators are never kept).
    mayNotUnmute(media) {
        return !!this.avModeration[media] && !this.avApproved[media] && this.role !== 'moderator';
    }

    allowUnmute(id, mediaType = 'audio') {
        const component = this.components.av_moderation;
        if (!component) throw new ConferenceError('unsupported', 'A/V moderation is not available on this server.');
        this.xmpp.send(el('message', { to: component }, el('av_moderation', { mediaType, jidToWhitelist: `${this.currentRoom}/${id}` })));
    }

    setAvModeration(enabled, mediaType = 'audio') {
        const component = this.components.av_moderation;
        if (!component) throw new ConferenceError('unsupported', 'A/V moderation is not available on this server.');
        this.xmpp.send(el('message', { to: component }, el('av_moderation', { enable: String(enabled), mediaType })));
    }

    breakoutCommand(type, attrs) {
        const component = this.components.breakout_rooms;
        if (!component) throw new ConferenceError('unsupported', 'Breakout rooms are not available on this server.');
        this.xmpp.send(el('message', { to: component }, el('breakout_rooms', { type: `features/breakout-rooms/${type}`, ...attrs })));
    }

    addBreakoutRoom(subject) {
        this.breakoutCommand('add', { subject });
    }

    removeBreakoutRoom(breakoutRoomJid) {
        this.breakoutCommand('remove', { breakoutRoomJid });
    }

    renameBreakoutRoom(breakoutRoomJid, subject) {
        this.breakoutCommand('rename', { breakoutRoomJid, subject });
    }

    // participantJid: the occupant's JID in the room they are in now (room@muc/nick)
    moveToRoom(participantJid, roomJid) {
        this.breakoutCommand('move-to-room', { participantJid, roomJid });
    }

    // Polls through the polls component: a new poll and each answer reach every occupant.
    sendPolls(command, body) {
        const component = this.components.polls;
        if (!component) throw new ConferenceError('unsupported', 'Polls are not available on this server.');
        this.xmpp.send(el('message', { to: component },
            el('json-message', { xmlns: NS_JITMEET }, JSON.stringify({ type: 'polls', command, ...body }))));
    }

    createPoll(question, answers) {
        this.sendPolls('new-poll', { pollId: randomHex(8), question, answers: answers.map(name => ({ name })) });
    }

    answerPoll(pollId, answers) {
        this.sendPolls('answer-poll', { pollId, answers });
    }

    // A moderator ends the meeting for everyone (the end_conference component destroys the room).
    endForAll() {
        const component = this.components.end_conference;
        if (!component) throw new ConferenceError('unsupported', 'Ending the meeting for everyone is not available on this server.');
        this.xmpp.send(el('message', { to: component }, el('end_conference')));
    }

    // ---- recording and live streaming (docs/focus.md §8) ----

    // The focus publishes each change in its presence and repeats it; repeats are dropped.
    onRecordingStatus({ status, session_id: sessionId, recording_mode: mode, failure_reason: failure, initiator }) {
        const key = `${status}/${sessionId}`;
        if (!status || this.recordingSeen === key) return;
        this.recordingSeen = key;
        this.recording = status === 'on' ? { sessionId, mode: mode || 'file' } : null;
        this.emit({ type: 'recording', status, mode: mode || 'file', failure, initiator });
    }

    // `streamid`: the RTMP URL or YouTube key for live streaming; none for a file recording.
    async startRecording(streamid) {
        const mode = streamid ? 'stream' : 'file';
        try {
            await this.xmpp.iq(el('iq', { type: 'set', to: `${this.currentRoom}/focus` },
                el('jibri', { xmlns: NS_JIBRI, action: 'start', recording_mode: mode, streamid })), 120000);
        } catch (error) {
            const why = {
                'service-unavailable': 'No recorder is available on this server.',
                'resource-constraint': 'All recorders are busy. Try again later.',
                'unexpected-request': 'A recording or live stream is already running.',
                'not-allowed': 'Only a moderator can start it.',
            }[error.condition];
            throw new ConferenceError('recording', why || `The ${mode === 'file' ? 'recording' : 'live stream'} could not start (${error.condition || error.message}).`);
        }
        this.emit({ type: 'recording', status: 'pending', mode });
    }

    stopRecording() {
        const running = this.recording;
        if (!running) return Promise.resolve();
        return this.xmpp.iq(el('iq', { type: 'set', to: `${this.currentRoom}/focus` },
            el('jibri', { xmlns: NS_JIBRI, action: 'stop', recording_mode: running.mode, session_id: running.sessionId })));
    }

    // A reaction to everyone, over the bridge channel (as upstream's endpoint-reaction).
    sendReaction(name) {
        if (!this.bridge?.isOpen) throw new ConferenceError('unsupported', 'Reactions need the media connection, which is not up yet.');
        this.bridge.send({ colibriClass: 'EndpointMessage', to: '', msgPayload: { name: 'endpoint-reaction', reactions: [name], timestamp: Date.now() } });
        this.emit({ type: 'reaction', from: this.nick, name });
    }

    setReceiverConstraints(constraints) {
        this.bridge?.setConstraints(constraints);
    }

    // `roomJid`: where to go instead (a closed breakout room sends its people back to the main room)
    end(kind, message, roomJid) {
        if (this.left) return;
        this.left = true;
        this.xmpp.removeHandler(this.handler);
        this.closeSession();
        this.emit({ type: 'ended', kind, message, roomJid });
    }

    leave() {
        if (this.left) return;
        this.left = true;
        this.xmpp.removeHandler(this.handler);
        this.closeSession();
        this.sparePc?.close();
        this.sparePc = null;
        this.screenStream?.getTracks().forEach(t => t.stop());
        if (this.lobbyJid) this.xmpp.send(el('presence', { to: `${this.lobbyJid}/${this.nick}`, type: 'unavailable' }));
        if (this.currentRoom) this.xmpp.send(el('presence', { to: `${this.currentRoom}/${this.nick}`, type: 'unavailable' }));
    }
}

