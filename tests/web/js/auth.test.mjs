// The login helpers of auth.js: which domain a login goes to, which failures mean "log in",
// the JWT's user, the token login URL; the focus session conference.js keeps.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LoginError, connectionDomain, loginErrorOf, loginParts, pageToken, tokenAuthUrl, tokenUser } from '../../../web_static/libs/auth.js';
import { XmppError } from '../../../web_static/libs/xmpp.js';

const HOSTS = { domain: 'meet.jitsi', authdomain: 'meet.jitsi', anonymousdomain: 'guest.meet.jitsi' };

test('logins go to the auth domain, guests to the anonymous one', () => {
    assert.deepEqual(loginParts('alice', HOSTS), { node: 'alice', domain: 'meet.jitsi' });
    assert.deepEqual(loginParts('bob@other.example', HOSTS), { node: 'bob', domain: 'other.example' });
    assert.deepEqual(loginParts('carol', { domain: 'meet.jitsi' }), { node: 'carol', domain: 'meet.jitsi' });
    assert.equal(connectionDomain(HOSTS, null), 'guest.meet.jitsi');
    assert.equal(connectionDomain({ domain: 'meet.jitsi' }, null), 'meet.jitsi');
    assert.equal(connectionDomain(HOSTS, { username: 'alice', password: 'x' }), 'meet.jitsi');
    assert.equal(connectionDomain(HOSTS, null, '?jwt=a.b.c'), 'meet.jitsi');
    assert.equal(connectionDomain(HOSTS, null, '?login=true'), 'meet.jitsi');
});

test('which connection failures ask for a login', () => {
    const required = loginErrorOf(new XmppError('password-required', ''), false);
    assert.ok(required instanceof LoginError && required.kind === 'password-required');
    const wrong = loginErrorOf(new XmppError('not-authorized', 'unknown user or wrong password'), true);
    assert.ok(wrong instanceof LoginError && wrong.kind === 'credentials');
    assert.match(wrong.message, /wrong/);
    // anonymous refusals (a JWT deployment without a token) are not a password matter
    const refused = new XmppError('not-authorized', 'no token');
    assert.equal(loginErrorOf(refused, false), refused);
    const lost = new Error('the XMPP WebSocket was refused');
    assert.equal(loginErrorOf(lost, true), lost);
});

function b64url(object) {
    return Buffer.from(JSON.stringify(object)).toString('base64url');
}

test('the page token and the user it names', () => {
    const token = `${b64url({ alg: 'HS256' })}.${b64url({ context: { user: { name: 'Zoë Ä', id: 'z' } } })}.sig`;
    assert.equal(pageToken(`?jwt=${token}&x=1`), token);
    assert.equal(pageToken('?x=1'), undefined);
    assert.deepEqual(tokenUser(token), { name: 'Zoë Ä', id: 'z' });
    assert.equal(tokenUser('not-a-token'), null);
    assert.equal(tokenUser(`${b64url({})}.${b64url({ room: '*' })}.s`), null);
});

test('tokenAuthUrl gets the room', () => {
    assert.equal(tokenAuthUrl({ tokenAuthUrl: 'https://login.example/?room={room}' }, 'Daily Standup'),
        'https://login.example/?room=Daily%20Standup');
    assert.equal(tokenAuthUrl({}, 'x'), null);
});

// The focus session of conference.js: kept from an answer, presented on the next request,
// dropped when the focus no longer knows it.
test('the focus session is kept, presented, and dropped when invalid', async () => {
    const { askFocus, focusSession } = await import('../../../web_static/libs/conference.js');
    const { parse } = await import('../../../web_static/libs/xml.js');
    const store = new Map();
    globalThis.localStorage = { getItem: k => store.get(k) ?? null, setItem: (k, v) => store.set(k, String(v)), removeItem: k => store.delete(k) };
    try {
        const sent = [];
        let answer;
        const xmpp = { iq: async iq => { sent.push(iq.first('conference').attrs); return answer(iq); } };
        const where = { focusJid: 'focus.meet.jitsi', roomJid: 'standup@muc.meet.jitsi' };
        answer = () => parse("<iq type='result'><conference xmlns='http://jitsi.org/protocol/focus' room='standup@muc.meet.jitsi' ready='true' session-id='s-1' identity='alice@meet.jitsi'/></iq>");
        await askFocus(xmpp, where);
        assert.equal(sent[0]['session-id'], undefined);
        assert.ok(sent[0]['machine-uid']);
        assert.equal(focusSession.get(), 's-1');
        // the next request presents it; the focus forgot it: dropped, asked again without it
        answer = iq => {
            if (iq.first('conference').attrs['session-id']) throw new XmppError('not-acceptable', 'invalid session');
            return parse("<iq type='result'><conference xmlns='http://jitsi.org/protocol/focus' room='standup@muc.meet.jitsi' ready='true'/></iq>");
        };
        const conference = await askFocus(xmpp, where);
        assert.equal(conference.attrs.ready, 'true');
        assert.deepEqual(sent.slice(1).map(a => a['session-id']), ['s-1', undefined]);
        assert.equal(sent[1]['machine-uid'], sent[0]['machine-uid']);
        assert.equal(focusSession.get(), undefined);
        // other refusals are the caller's
        answer = () => { throw new XmppError('not-authorized', 'not authorized user domain'); };
        await assert.rejects(askFocus(xmpp, where), e => e.condition === 'not-authorized');
    } finally {
        delete globalThis.localStorage;
    }
});
