// The meeting page's pure helpers: grid sizes, initials, room names, chat links, connection quality.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
    addRecent, checkRoomName, connectionQuality, dialOutTarget, formatDuration, gridDimensions, initials, linkify, randomRoomName,
    streamTarget,
} from '../../../web_static/libs/ui.js';

test('the grid makes tiles as large as the box allows', () => {
    // a wide page: two tiles side by side, not stacked
    assert.equal(gridDimensions(2, 1600, 600, 16 / 9, 0).columns, 2);
    // a phone held upright: stacked
    assert.equal(gridDimensions(2, 400, 800, 16 / 9, 0).columns, 1);
    const six = gridDimensions(6, 1280, 720, 16 / 9, 0);
    assert.deepEqual([six.columns, six.rows], [3, 2]);
    assert.ok(Math.abs(six.tileWidth - 1280 / 3) < 1);
    for (let n = 1; n <= 25; n++) {
        const g = gridDimensions(n, 1280, 720);
        assert.ok(g.columns * g.rows >= n, `${n} tiles fit`);
        assert.ok(g.columns * g.tileWidth <= 1280 && g.rows * g.tileHeight <= 720, `${n} tiles stay inside`);
    }
    assert.equal(gridDimensions(0, 100, 100).tileWidth, 0);
});

test('initials', () => {
    assert.equal(initials('Ada Lovelace'), 'AL');
    assert.equal(initials('  grace  brewster murray hopper '), 'GH');
    assert.equal(initials('Émile'), 'É');
    assert.equal(initials('Bob <b>Builder</b>'), 'BB');
    assert.equal(initials(''), '?');
    assert.equal(initials(undefined), '?');
});

test('room names: unsafe characters refused with a word and a safe suggestion', () => {
    assert.deepEqual(checkRoomName(' Daily Standup '), { ok: true, name: 'Daily Standup' });
    const question = checkRoomName('what?now');
    assert.equal(question.ok, false);
    assert.match(question.message, /cannot contain \?/);
    assert.equal(question.suggestion, 'whatnow');
    const quote = checkRoomName("Bob's room");
    assert.match(quote.message, /'/);
    assert.equal(quote.suggestion, 'Bobs room');
    for (const c of ['&', ':', '"', '%', '#', '/']) assert.equal(checkRoomName(`a${c}b`).ok, false, c);
    assert.match(checkRoomName('').message, /Type a name/);
    assert.match(checkRoomName('x'.repeat(201)).message, /at most 200/);
});

test('random meeting names are safe room names', () => {
    let seed = 0;
    const random = () => (seed = (seed * 9301 + 49297) % 233280) / 233280;
    for (let i = 0; i < 50; i++) {
        const name = randomRoomName(random);
        assert.ok(checkRoomName(name).ok, name);
        assert.match(name, /^([A-Z][a-z]+){4}$/);
    }
});

test('recent meetings: newest first, one entry per room, bounded', () => {
    let list = [];
    for (let i = 0; i < 12; i++) list = addRecent(list, `room${i % 10}`, i);
    assert.equal(list.length, 8);
    assert.deepEqual(list.slice(0, 3).map(r => r.room), ['room1', 'room0', 'room9']);
    assert.equal(new Set(list.map(r => r.room)).size, 8);
});

test('chat links: only http(s), trailing punctuation left out, the rest stays text', () => {
    assert.deepEqual(linkify('see https://example.org/a?b=1. then'), [
        { text: 'see ' }, { link: 'https://example.org/a?b=1' }, { text: '. then' }]);
    assert.deepEqual(linkify('javascript:alert(1) <b>x</b>'), [{ text: 'javascript:alert(1) <b>x</b>' }]);
    assert.deepEqual(linkify('(http://a.example)'), [{ text: '(' }, { link: 'http://a.example' }, { text: ')' }]);
    assert.deepEqual(linkify(''), []);
});

test('connection quality from two stats snapshots', () => {
    const before = { timestamp: 1000, bytes: 0, packets: 0, lost: 0 };
    const good = connectionQuality(before, { timestamp: 3000, bytes: 250000, packets: 200, lost: 0 }, 0.02);
    assert.deepEqual(good, { bitrate: 1000, loss: 0, rtt: 20, level: 'good' });
    assert.equal(connectionQuality(before, { timestamp: 3000, bytes: 1, packets: 95, lost: 5 }, 0.02).level, 'fair');
    assert.equal(connectionQuality(before, { timestamp: 3000, bytes: 1, packets: 80, lost: 20 }).level, 'poor');
    assert.equal(connectionQuality(before, { timestamp: 3000, bytes: 1, packets: 10, lost: 0 }, 0.6).level, 'poor');
    assert.equal(connectionQuality(before, { timestamp: 3000, bytes: 1, packets: 10, lost: 0 }).rtt, null);
});

test('meeting timer', () => {
    assert.equal(formatDuration(0), '00:00');
    assert.equal(formatDuration(61500), '01:01');
    assert.equal(formatDuration(3600000 + 62000), '1:01:02');
});

test('invite by phone: a number without its punctuation, a SIP address as typed', () => {
    assert.deepEqual(dialOutTarget(' +49 (30) 1234-567 '), { ok: true, target: '+49301234567' });
    assert.deepEqual(dialOutTarget('0301234567'), { ok: true, target: '0301234567' });
    assert.deepEqual(dialOutTarget('sip:phone@127.0.0.1:5080'), { ok: true, target: 'sip:phone@127.0.0.1:5080' });
    assert.deepEqual(dialOutTarget('alice@pbx.example.com'), { ok: true, target: 'alice@pbx.example.com' });
    for (const bad of ['', '   ', '12', 'call me', 'sip:nobody', 'a b@c', '+49 30 12x4', '1'.repeat(21)]) {
        assert.equal(dialOutTarget(bad).ok, false, bad);
        assert.ok(dialOutTarget(bad).message, bad);
    }
});

test('live streaming: an RTMP URL or a stream key, judged as the recorder will read it', () => {
    const youtube = '^(?:[a-zA-Z0-9]{4}(?:-(?!$)|$)){4}';
    assert.deepEqual(streamTarget(' rtmp://127.0.0.1:1935/live/key1 ', youtube), { ok: true, streamid: 'rtmp://127.0.0.1:1935/live/key1', warning: '' });
    assert.deepEqual(streamTarget('RTMPS://live.example.com/app/k?x=1', youtube), { ok: true, streamid: 'RTMPS://live.example.com/app/k?x=1', warning: '' });
    assert.deepEqual(streamTarget('abcd-1234-efgh-5678', youtube), { ok: true, streamid: 'abcd-1234-efgh-5678', warning: '' });
    // a key of another service: sent, with a word of warning
    const other = streamTarget('live_12345_abcdef', youtube);
    assert.equal(other.ok, true);
    assert.match(other.warning, /YouTube/);
    assert.equal(streamTarget('live_12345_abcdef', '').warning, '');
    assert.equal(streamTarget('live_12345_abcdef', '(').warning, '');  // a broken pattern checks nothing
    for (const bad of ['', 'https://example.com/live/key', 'rtmp://example.com/live', 'rtmp:///live/key', 'two words']) {
        assert.equal(streamTarget(bad, youtube).ok, false, bad);
    }
});
