// An XMPP client for the browser: RFC 7395 WebSocket framing (BOSH, XEP-0124/0206, as fallback),
// SASL ANONYMOUS/PLAIN, resource binding, IQ tracking, ping answering (docs/client-xmpp.md §1-5).
//
// `XmppCore` is the protocol without I/O: elements in (`receive`), elements out (`onSend`),
// events out (`onEvent`). `WebSocketTransport` and `BoshTransport` only move elements.

import { el, parse, parseAll } from './xml.js';

export const NS_CLIENT = 'jabber:client';
export const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
export const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
export const NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind';
export const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
export const NS_BOSH = 'http://jabber.org/protocol/httpbind';
export const NS_PING = 'urn:xmpp:ping';
export const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const PING_INTERVAL_MS = 10000;
const PING_TIMEOUT_MS = 5000;

export class XmppError extends Error {
    constructor(condition, text, stanza) {
        super(text ? `${condition}: ${text}` : condition);
        this.condition = condition;
        this.text = text;
        this.stanza = stanza;
    }
}

// The defined condition and text of a stanza or SASL failure.
export function errorOf(stanza) {
    const error = stanza.name === 'failure' || stanza.name === 'stream:error' ? stanza : stanza.first('error');
    if (!error) return new XmppError('undefined-condition', '', stanza);
    const condition = error.children.find(c => typeof c !== 'string' && c.name !== 'text');
    const text = error.first('text')?.text || '';
    return new XmppError(condition ? condition.name : 'undefined-condition', text, stanza);
}

function utf8Base64(text) {
    const bytes = new TextEncoder().encode(text);
    let binary = '';
    for (const b of bytes) binary += String.fromCharCode(b);
    return btoa(binary);
}

export class XmppCore {
    constructor({ domain, username, password, onSend, onEvent }) {
        this.domain = domain;
        this.username = username;
        this.password = password;
        this.onSend = onSend;
        this.onEvent = onEvent;
        this.state = 'connecting';
        this.jid = null;
        this.pending = new Map();
        this.handlers = [];
        this.nextId = 1;
    }

    // What the transport must do to (re)open a stream: WebSocket sends <open/>, BOSH restarts.
    start() {
        this.state = 'opening';
        this.onEvent({ type: 'open-stream' });
    }

    receive(stanza) {
        const name = stanza.name.replace(/^stream:/, '');
        if (name === 'open') {
            return;
        }
        if (stanza.name === 'stream:error') {
            return this.fail(errorOf(stanza));
        }
        if (name === 'close') {
            return this.fail(new XmppError('closed', 'the server closed the stream'));
        }
        if (name === 'features') {
            return this.features(stanza);
        }
        if (stanza.ns === NS_SASL) {
            if (stanza.name === 'success') {
                this.state = 'authenticated';
                this.onEvent({ type: 'restart-stream' });
                return;
            }
            if (stanza.name === 'failure') {
                return this.fail(errorOf(stanza), 'auth');
            }
        }
        if (stanza.name === 'iq' && (stanza.attrs.type === 'result' || stanza.attrs.type === 'error')) {
            const key = stanza.attrs.id;
            const waiter = this.pending.get(key);
            if (waiter) {
                this.pending.delete(key);
                if (stanza.attrs.type === 'result') waiter.resolve(stanza);
                else waiter.reject(errorOf(stanza));
                return;
            }
        }
        if (stanza.name === 'iq' && stanza.attrs.type === 'get' && stanza.first('ping', NS_PING)) {
            return this.send(el('iq', { type: 'result', to: stanza.attrs.from, id: stanza.attrs.id }));
        }
        for (const handler of this.handlers) {
            if (handler(stanza)) return;
        }
        if (stanza.name === 'iq' && (stanza.attrs.type === 'get' || stanza.attrs.type === 'set')) {
            this.send(iqError(stanza, 'cancel', 'service-unavailable'));
        }
    }

    features(features) {
        const mechanisms = features.first('mechanisms', NS_SASL);
        if (this.state === 'opening' && mechanisms) {
            const offered = mechanisms.elements('mechanism').map(m => m.text.trim());
            const mechanism = this.password ? 'PLAIN' : 'ANONYMOUS';
            if (!offered.includes(mechanism)) {
                return this.fail(new XmppError(this.password ? 'no-plain' : 'password-required',
                    this.password ? 'the server does not accept passwords over this connection'
                        : 'this server requires you to log in'), 'auth');
            }
            const data = this.password ? utf8Base64(`\0${this.username}\0${this.password}`) : '';
            this.send(el('auth', { xmlns: NS_SASL, mechanism }, data || '='));
            return;
        }
        if (features.first('bind', NS_BIND)) {
            this.iq(el('iq', { type: 'set' }, el('bind', { xmlns: NS_BIND }))).then(result => {
                this.jid = result.find('bind', 'jid').text;
                this.state = 'online';
                this.onEvent({ type: 'online', jid: this.jid });
            }, error => this.fail(error));
        }
    }

    fail(error, phase = 'stream') {
        if (this.state === 'failed' || this.state === 'closed') return;
        this.state = 'failed';
        for (const waiter of this.pending.values()) waiter.reject(error);
        this.pending.clear();
        this.onEvent({ type: 'failed', error, phase });
    }

    send(stanza) {
        this.onSend(stanza);
    }

    iq(stanza, timeoutMs = 10000) {
        if (!stanza.attrs.id) stanza.attrs.id = `i${this.nextId++}`;
        return new Promise((resolve, reject) => {
            const timer = timeoutMs && setTimeout(() => {
                if (this.pending.delete(stanza.attrs.id)) reject(new XmppError('timeout', `no answer to ${stanza.attrs.id}`));
            }, timeoutMs);
            const done = fn => value => { clearTimeout(timer); fn(value); };
            this.pending.set(stanza.attrs.id, { resolve: done(resolve), reject: done(reject) });
            this.send(stanza);
        });
    }

    close() {
        this.state = 'closed';
        for (const waiter of this.pending.values()) waiter.reject(new XmppError('closed', 'connection closed'));
        this.pending.clear();
    }
}

export function iqError(iq, type, condition, text) {
    return el('iq', { type: 'error', to: iq.attrs.from, id: iq.attrs.id },
        el('error', { type }, el(condition, { xmlns: NS_STANZAS }),
            text ? el('text', { xmlns: NS_STANZAS }, text) : null));
}

export function openFrame(domain) {
    return el('open', { xmlns: NS_FRAMING, to: domain, version: '1.0' });
}

// Stanzas sent on a stream default to jabber:client; the WebSocket framing needs it explicit.
function withClientNs(stanza) {
    if (!stanza.attrs.xmlns && ['iq', 'message', 'presence'].includes(stanza.name)) {
        stanza.attrs.xmlns = NS_CLIENT;
    }
    return stanza;
}

export class WebSocketTransport {
    constructor(url, { WebSocketImpl = globalThis.WebSocket } = {}) {
        this.url = url;
        this.WebSocketImpl = WebSocketImpl;
    }

    open(core, domain) {
        return new Promise((resolve, reject) => {
            const ws = new this.WebSocketImpl(this.url, 'xmpp');
            this.ws = ws;
            let opened = false;
            ws.onopen = () => {
                opened = true;
                resolve();
                core.start();
            };
            ws.onmessage = event => {
                let stanza;
                try {
                    stanza = parse(event.data);
                } catch (error) {
                    core.fail(error);
                    return;
                }
                core.receive(stanza);
            };
            ws.onerror = () => {
                if (!opened) reject(new Error('the XMPP WebSocket could not be opened'));
            };
            ws.onclose = () => {
                if (!opened) reject(new Error('the XMPP WebSocket was refused'));
                else core.fail(new XmppError('connection-lost', 'the connection to the server was lost'));
            };
            this.domain = domain;
        });
    }

    openStream() {
        this.ws.send(openFrame(this.domain).toString());
    }

    send(stanza) {
        if (this.ws.readyState === 1) this.ws.send(withClientNs(stanza).toString());
    }

    close() {
        try {
            if (this.ws.readyState === 1) this.ws.send(el('close', { xmlns: NS_FRAMING }).toString());
            this.ws.onclose = null;
            this.ws.close();
        } catch (e) { /* already gone */ }
    }
}

export class BoshTransport {
    constructor(url, { fetchImpl = globalThis.fetch?.bind(globalThis) } = {}) {
        this.url = url;
        this.fetch = fetchImpl;
        this.rid = Math.floor(Math.random() * 4294967295 / 2);
        this.sid = null;
        this.queue = [];
        this.inflight = 0;
        this.closed = false;
    }

    async open(core, domain) {
        this.core = core;
        this.domain = domain;
        const body = await this.request(el('body', {
            xmlns: NS_BOSH, to: domain, 'xml:lang': 'en', wait: '60', hold: '1', ver: '1.6',
            'xmpp:version': '1.0', 'xmlns:xmpp': 'urn:xmpp:xbosh', content: 'text/xml; charset=utf-8',
            rid: String(this.rid++),
        }));
        this.sid = body.attrs.sid;
        if (!this.sid) throw new Error('the BOSH server did not create a session');
        this.requests = Math.max(2, Number(body.attrs.requests || 2));
        core.state = 'opening';
        this.deliver(body);
        this.pump();
    }

    openStream() {
        this.restart = true;
        this.pump(true);
    }

    async request(body) {
        const response = await this.fetch(this.url, {
            method: 'POST', body: body.toString(), headers: { 'Content-Type': 'text/xml; charset=utf-8' },
        });
        if (!response.ok) throw new Error(`BOSH request failed with HTTP ${response.status}`);
        const [parsed] = parseAll(await response.text());
        if (parsed?.attrs.type === 'terminate') {
            throw new XmppError(parsed.attrs.condition || 'remote-connection-failed', 'the BOSH session ended');
        }
        return parsed;
    }

    deliver(body) {
        for (const child of body.elements()) this.core.receive(child);
    }

    pump(force = false) {
        if (this.closed || !this.sid) return;
        if (!(this.queue.length || this.restart || force || this.inflight === 0) || this.inflight >= this.requests) return;
        const attrs = { xmlns: NS_BOSH, sid: this.sid, rid: String(this.rid++) };
        if (this.restart) {
            Object.assign(attrs, { 'xmpp:restart': 'true', 'xmlns:xmpp': 'urn:xmpp:xbosh', to: this.domain, 'xml:lang': 'en' });
            this.restart = false;
        }
        const body = el('body', attrs, this.queue.splice(0).map(withClientNs));
        this.inflight++;
        this.request(body).then(result => {
            this.inflight--;
            if (result) this.deliver(result);
            this.pump();
        }, error => {
            this.inflight--;
            if (!this.closed) this.core.fail(new XmppError('connection-lost', error.message));
        });
    }

    send(stanza) {
        this.queue.push(stanza);
        this.pump();
    }

    close() {
        if (this.closed || !this.sid) return;
        this.closed = true;
        const body = el('body', { xmlns: NS_BOSH, sid: this.sid, rid: String(this.rid++), type: 'terminate' },
            this.queue.splice(0).map(withClientNs));
        const text = body.toString();
        if (globalThis.navigator?.sendBeacon) navigator.sendBeacon(this.url, new Blob([text], { type: 'text/xml' }));
        else this.fetch(this.url, { method: 'POST', body: text }).catch(() => {});
    }
}

// Connect with WebSocket when configured, falling back to BOSH if the socket cannot open.
export class XmppConnection {
    constructor({ websocket, bosh, domain, username, password, query = {}, onEvent = () => {} }) {
        this.domain = domain;
        this.websocket = websocket && withQuery(websocket, query);
        this.bosh = bosh && withQuery(bosh, query);
        this.onEvent = onEvent;
        this.core = new XmppCore({
            domain, username, password,
            onSend: stanza => this.transport.send(stanza),
            onEvent: event => this.event(event),
        });
    }

    event(event) {
        if (event.type === 'open-stream' || event.type === 'restart-stream') {
            if (event.type === 'restart-stream') this.core.state = 'opening-bound';
            this.transport.openStream();
            return;
        }
        if (event.type === 'online') {
            this.resolveOnline?.(event.jid);
            this.startPings();
        }
        if (event.type === 'failed') {
            this.rejectOnline?.(event.error);
            clearInterval(this.pingTimer);
            this.transport?.close();
        }
        this.onEvent(event);
    }

    async connect() {
        const online = new Promise((resolve, reject) => {
            this.resolveOnline = resolve;
            this.rejectOnline = reject;
        });
        let lastError;
        for (const transport of [this.websocket && new WebSocketTransport(this.websocket), this.bosh && new BoshTransport(this.bosh)]) {
            if (!transport) continue;
            try {
                this.transport = transport;
                await transport.open(this.core, this.domain);
                this.transportName = transport instanceof WebSocketTransport ? 'websocket' : 'bosh';
                return await online;
            } catch (error) {
                lastError = error;
                if (this.core.state !== 'connecting' && this.core.state !== 'opening') throw error;
            }
        }
        throw lastError || new Error('no XMPP transport configured');
    }

    // docs/client-xmpp.md §5: a ping every 10 s; two unanswered in a row mean the link is dead even if
    // the socket has not noticed yet.
    startPings() {
        let missed = 0;
        clearInterval(this.pingTimer);
        this.pingTimer = setInterval(() => {
            this.core.iq(el('iq', { type: 'get', to: this.domain }, el('ping', { xmlns: NS_PING })), PING_TIMEOUT_MS).then(
                () => { missed = 0; },
                error => {
                    if (error.condition !== 'timeout') return;
                    if (++missed >= 2) this.core.fail(new XmppError('connection-lost', 'the server stopped answering'));
                });
        }, PING_INTERVAL_MS);
    }

    send(stanza) {
        this.core.send(stanza);
    }

    iq(stanza, timeoutMs) {
        return this.core.iq(stanza, timeoutMs);
    }

    addHandler(handler) {
        this.core.handlers.push(handler);
    }

    removeHandler(handler) {
        this.core.handlers = this.core.handlers.filter(h => h !== handler);
    }

    disconnect() {
        clearInterval(this.pingTimer);
        this.core.close();
        this.transport?.close();
    }
}

// `room` is already URI-encoded by the app (docs/client-xmpp.md §1.1) and is sent as it is.
export function withQuery(url, query) {
    const entries = Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== '');
    if (!entries.length) return url;
    const q = entries.map(([k, v]) => `${encodeURIComponent(k)}=${k === 'room' ? v : encodeURIComponent(v)}`).join('&');
    return url + (url.includes('?') ? '&' : '?') + q;
}
