// The login helpers of auth.js: which domain a login goes to, which failures mean "log in",
// the JWT's user, the token login URL.
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
