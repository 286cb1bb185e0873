// node strophe_ws.mjs '<json options>' : run scenario.js over WebSocket with Strophe's node build.
import { Strophe } from 'strophe.js';
import './scenario.js';

const opts = JSON.parse(process.argv[2]);
try {
    const result = await globalThis.xmppScenario(Strophe, opts.url, opts);
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(0);
} catch (err) {
    process.stdout.write(JSON.stringify({ error: String(err) }) + '\n');
    process.exit(1);
}
