// node strophe_sm.mjs '<json options>': XEP-0198 over WebSocket with Strophe's own stream management.
// Logs in, waits for <enabled/>, drops the socket without closing the stream, waits for "go" on
// stdin (the test queues stanzas meanwhile), reconnects with the same SM state and reports what
// the resumed session received. One JSON object per line on stdout.
import { Strophe, MemoryStorageBackend } from 'strophe.js';
import { createInterface } from 'node:readline';

const opts = JSON.parse(process.argv[2]);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const lines = createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once('line', resolve));
const storage = new MemoryStorageBackend();
const until = async (predicate, ms, what) => {
    const end = Date.now() + ms;
    while (!predicate()) {
        if (Date.now() > end) throw new Error('timeout: ' + what);
        await new Promise((r) => setTimeout(r, 20));
    }
};

function open(bodies) {
    const conn = new Strophe.Connection(opts.url, { enableStreamManagement: true, streamManagement: { storage } });
    const statuses = [];
    conn.addHandler((m) => { bodies.push(m.getElementsByTagName('body')[0].textContent); return true; },
        null, 'message');
    conn.connect(opts.jid, opts.password, (status) => statuses.push(status));
    return { conn, statuses };
}

try {
    const first = open([]);
    await until(() => first.statuses.includes(Strophe.Status.CONNECTED), 10000, 'first login');
    await until(() => first.conn.sm && first.conn.sm.enabled, 10000, 'sm enabled');
    out({ phase: 'enabled', jid: first.conn.jid });
    first.conn._proto.socket.terminate();  // the network goes away: no <close/>
    await until(() => first.statuses.includes(Strophe.Status.DISCONNECTED), 10000, 'drop noticed');
    out({ phase: 'dropped' });
    await nextLine();
    const bodies = [];
    const second = open(bodies);
    await until(() => second.statuses.includes(Strophe.Status.CONNECTED), 10000, 'second login');
    await until(() => bodies.length >= opts.expect, 10000, 'replayed stanzas');
    out({ phase: 'resumed', jid: second.conn.jid, resumed: second.conn.hasResumed(), bodies });
    second.conn.disconnect();
    setTimeout(() => process.exit(0), 500);
} catch (err) {
    out({ phase: 'error', error: String(err) });
    process.exit(1);
}
