// One XMPP login as the Jitsi web client does it (Strophe.js), then disco, ping and a message
// to itself; resolves with what the server answered. Runs in node (WebSocket) and in Chromium (BOSH).
globalThis.xmppScenario = async function (Strophe, url, opts) {
    const { $iq, $msg } = globalThis;
    const result = { statuses: [], log: [] };
    const conn = new Strophe.Connection(url);
    const waitStatus = (wanted, ms) => new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('timeout waiting for status ' + wanted
            + ', got ' + JSON.stringify(result.statuses))), ms);
        conn.__waiters = conn.__waiters || [];
        conn.__waiters.push({ wanted, resolve, timer });
    });
    const onStatus = (status, condition) => {
        result.statuses.push([status, condition || null]);
        for (const w of conn.__waiters || []) {
            if (w.wanted.includes(status)) { clearTimeout(w.timer); w.resolve([status, condition]); }
        }
    };
    const connected = waitStatus([Strophe.Status.CONNECTED, Strophe.Status.AUTHFAIL,
        Strophe.Status.CONNFAIL, Strophe.Status.DISCONNECTED], 15000);
    conn.connect(opts.jid, opts.password || null, onStatus);
    const [status, condition] = await connected;
    result.connected = status === Strophe.Status.CONNECTED;
    result.condition = condition || null;
    if (!result.connected) return result;
    result.jid = conn.jid;
    const iq = (stanza) => new Promise((resolve) => {
        conn.sendIQ(stanza, (r) => resolve(r), (e) => resolve(e), 10000);
    });
    const info = await iq($iq({ type: 'get', to: opts.domain }).c('query', { xmlns: 'http://jabber.org/protocol/disco#info' }));
    result.identities = Array.from(info.getElementsByTagName('identity')).map(
        (i) => [i.getAttribute('category'), i.getAttribute('type'), i.getAttribute('name')]);
    result.features = Array.from(info.getElementsByTagName('feature')).map((f) => f.getAttribute('var'));
    const pong = await iq($iq({ type: 'get', to: opts.domain }).c('ping', { xmlns: 'urn:xmpp:ping' }));
    result.ping = pong ? pong.getAttribute('type') : null;
    if (opts.peer) {
        conn.send($msg({ to: opts.peer, type: 'chat' }).c('body').t('hello peer ' + opts.marker));
    }
    const echoed = new Promise((resolve) => {
        conn.addHandler((m) => { resolve(m.getElementsByTagName('body')[0].textContent); return false; },
            null, 'message', 'chat');
        setTimeout(() => resolve(null), 10000);
    });
    conn.send($msg({ to: conn.jid, type: 'chat' }).c('body').t('echo <&> ' + opts.marker));
    result.echo = await echoed;
    const closed = waitStatus([Strophe.Status.DISCONNECTED], 10000);
    conn.disconnect();
    await closed;
    return result;
};
