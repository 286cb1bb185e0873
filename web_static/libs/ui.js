// The meeting page's pure helpers (no DOM): tile grid sizes, initials, room names, chat text,
// connection quality. Tested in node (tests/web/js/ui.test.mjs).

// Columns and rows that make `count` tiles of `aspect` (width / height) as large as possible in a
// `width` x `height` box with `gap` pixels between tiles.
export function gridDimensions(count, width, height, aspect = 16 / 9, gap = 6) {
    if (count <= 0) return { columns: 1, rows: 1, tileWidth: 0, tileHeight: 0 };
    let best = null;
    for (let columns = 1; columns <= count; columns++) {
        const rows = Math.ceil(count / columns);
        const cellWidth = (width - gap * (columns - 1)) / columns;
        const cellHeight = (height - gap * (rows - 1)) / rows;
        const tileWidth = Math.max(0, Math.min(cellWidth, cellHeight * aspect));
        // on a tie, more columns: fewer rows leave less of a wide page empty
        if (!best || tileWidth >= best.tileWidth - 0.5) best = { columns, rows, tileWidth, tileHeight: tileWidth / aspect };
    }
    return best;
}

export function initials(name) {
    // the first letter or digit of the first and last words ("Bob <b>Builder</b>" is BB)
    const words = String(name || '').split(/\s+/).map(w => w.match(/[\p{L}\p{N}]/u)?.[0]).filter(Boolean);
    if (!words.length) return '?';
    return (words[0] + (words.length > 1 ? words[words.length - 1] : '')).toUpperCase();
}

// A steady colour per name, so a person's avatar looks the same to everyone.
export function avatarColor(name) {
    let hash = 0;
    for (const c of String(name || '')) hash = (hash * 31 + c.codePointAt(0)) >>> 0;
    return `hsl(${hash % 360} 45% 38%)`;
}

// Characters a room name cannot hold: the web server's room route (nginx's in docker-jitsi-meet)
// refuses them, and `%`/`#` would change what the URL means.
export const UNSAFE_ROOM_CHARACTERS = /[?&:'"%#/\\]/g;
export const MAX_ROOM_NAME_LENGTH = 200;

// { ok: true, name } or { ok: false, message, suggestion }: the name as typed, or why it cannot
// be used and a safe version of it.
export function checkRoomName(typed) {
    const name = String(typed || '').trim();
    if (!name) return { ok: false, message: 'Type a name for the meeting first.', suggestion: '' };
    const unsafe = [...new Set(name.match(UNSAFE_ROOM_CHARACTERS) || [])];
    const suggestion = name.replace(UNSAFE_ROOM_CHARACTERS, '').replace(/\s+/g, ' ').trim().slice(0, MAX_ROOM_NAME_LENGTH);
    if (unsafe.length) {
        return { ok: false, message: `A meeting name cannot contain ${unsafe.join(' ')}.`, suggestion };
    }
    if (name.length > MAX_ROOM_NAME_LENGTH) {
        return { ok: false, message: `A meeting name can be at most ${MAX_ROOM_NAME_LENGTH} characters long.`, suggestion };
    }
    return { ok: true, name };
}

const ADJECTIVES = ['Bright', 'Calm', 'Clever', 'Daring', 'Gentle', 'Golden', 'Happy', 'Lively', 'Quiet', 'Rapid',
    'Silver', 'Steady', 'Sunny', 'Swift', 'Vivid', 'Wise'];
const PLURAL_NOUNS = ['Otters', 'Falcons', 'Rivers', 'Comets', 'Maples', 'Lanterns', 'Harbors', 'Meadows', 'Pilots',
    'Orchards', 'Glaciers', 'Sparrows', 'Islands', 'Engines', 'Beacons', 'Canyons'];
const VERBS = ['Meet', 'Plan', 'Gather', 'Build', 'Listen', 'Sketch', 'Wander', 'Sing', 'Travel', 'Decide'];
const ADVERBS = ['Boldly', 'Gladly', 'Often', 'Quickly', 'Quietly', 'Together', 'Warmly', 'Wisely'];

// A meeting name hard to guess and easy to read out ("SwiftOttersMeetWarmly").
export function randomRoomName(random = Math.random) {
    const pick = list => list[Math.floor(random() * list.length)];
    return pick(ADJECTIVES) + pick(PLURAL_NOUNS) + pick(VERBS) + pick(ADVERBS);
}

// Recent meetings, newest first, one entry per room.
export function addRecent(list, room, now = Date.now(), limit = 8) {
    return [{ room, date: now }, ...(list || []).filter(r => r && r.room !== room)].slice(0, limit);
}

// Chat text as segments, links apart: [{ text }, { link }]. Only http(s) links become links.
const LINK = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/gi;
export function linkify(text) {
    const parts = [];
    let at = 0;
    for (const match of String(text).matchAll(LINK)) {
        if (match.index > at) parts.push({ text: text.slice(at, match.index) });
        parts.push({ link: match[0] });
        at = match.index + match[0].length;
    }
    if (at < text.length) parts.push({ text: text.slice(at) });
    return parts;
}

export const MAX_CHAT_LENGTH = 10000;

// Connection quality from two getStats() snapshots of one participant's inbound video (or of
// our outbound): bitrate in kbit/s, packet loss in %, RTT in ms, and a level (good / fair / poor).
export function connectionQuality(previous, current, rttSeconds) {
    const seconds = Math.max(0.001, (current.timestamp - previous.timestamp) / 1000);
    const bitrate = Math.max(0, (current.bytes - previous.bytes) * 8 / seconds / 1000);
    const received = Math.max(0, current.packets - previous.packets);
    const lost = Math.max(0, current.lost - previous.lost);
    const loss = received + lost > 0 ? lost / (received + lost) * 100 : 0;
    const rtt = rttSeconds === undefined || rttSeconds === null ? null : rttSeconds * 1000;
    let level = 'good';
    if (loss > 10 || (rtt !== null && rtt > 500)) level = 'poor';
    else if (loss > 2 || (rtt !== null && rtt > 250)) level = 'fair';
    return { bitrate: Math.round(bitrate), loss: Math.round(loss * 10) / 10, rtt: rtt === null ? null : Math.round(rtt), level };
}

export function formatDuration(ms) {
    const total = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(total / 3600);
    const m = Math.floor(total / 60) % 60;
    const s = total % 60;
    const two = n => String(n).padStart(2, '0');
    return h ? `${h}:${two(m)}:${two(s)}` : `${two(m)}:${two(s)}`;
}

// Whom "invite by phone" calls: { ok: true, target } or { ok: false, message }. A SIP address goes as
// typed; a phone number loses its spacing and punctuation but keeps a leading +, which a SIP trunk
// needs to tell an international number from a national one.
const SIP_ADDRESS = /^(sips?:)?[^\s@:]+@[^\s@]+$/i;
const PHONE_NUMBER = /^\+?[\d\s().\-/]+$/;
export function dialOutTarget(typed) {
    const text = String(typed || '').trim();
    if (!text) return { ok: false, message: 'Type a phone number or a SIP address.' };
    if (/^sips?:/i.test(text) || text.includes('@')) {
        return SIP_ADDRESS.test(text) ? { ok: true, target: text }
            : { ok: false, message: 'A SIP address looks like sip:name@example.com.' };
    }
    const digits = text.replace(/\D/g, '');
    if (!PHONE_NUMBER.test(text) || digits.length < 3 || digits.length > 20) {
        return { ok: false, message: 'That is not a phone number (digits, with a leading + for another country).' };
    }
    return { ok: true, target: `${text.startsWith('+') ? '+' : ''}${digits}` };
}

// What a live stream goes to, as the recorder reads it (docs/recording.md §4): an rtmp:// or rtmps://
// URL as typed, anything else a YouTube stream key. { ok: true, streamid, warning } or { ok: false,
// message }. `keyPattern` is config.liveStreaming.validatorRegExpString: a key it does not match gets
// a warning, not a refusal, as in jitsi-meet (other services' keys look different).
export function streamTarget(typed, keyPattern) {
    const text = String(typed || '').trim();
    if (!text) return { ok: false, message: 'Type a YouTube stream key or an rtmp:// URL.' };
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1].toLowerCase();
    if (scheme) {
        if (scheme !== 'rtmp' && scheme !== 'rtmps') return { ok: false, message: 'Only rtmp:// and rtmps:// URLs can be streamed to.' };
        let url;
        try {
            url = new URL(text);
        } catch (e) {
            return { ok: false, message: 'That RTMP URL cannot be read.' };
        }
        if (!url.hostname || url.pathname.split('/').filter(Boolean).length < 2) {
            return { ok: false, message: `An RTMP URL names a server, an application and a stream: ${scheme}://server/app/key.` };
        }
        return { ok: true, streamid: text, warning: '' };
    }
    if (/\s/.test(text)) return { ok: false, message: 'A stream key has no spaces.' };
    let pattern = null;
    try {
        pattern = keyPattern ? new RegExp(keyPattern) : null;
    } catch (e) { /* a broken pattern in config.js checks nothing */ }
    return { ok: true, streamid: text, warning: pattern && !pattern.test(text) ? 'This does not look like a YouTube stream key; it is sent as typed.' : '' };
}
