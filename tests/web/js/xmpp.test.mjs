// XmppCore driven by a scripted server: SASL, stream restart, bind, IQ matching, errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parse } from '../../../web_static/libs/xml.js';
import { XmppCore, withQuery } from '../../../web_static/libs/xmpp.js';

function harness(opts = {}) {
    const sent = [];
    const events = [];
    const core = new XmppCore({ domain: 'meet.jitsi', onSend: s => sent.push(s), onEvent: e => events.push(e), ...opts });
    const feed = xml => core.receive(parse(xml));
    return { core, sent, events, feed };
}

const FEATURES_SASL = `<stream:features xmlns:stream="http://etherx.jabber.org/streams"><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>ANONYMOUS</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>`;
const FEATURES_BIND = `<stream:features xmlns:stream="http://etherx.jabber.org/streams"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></stream:features>`;

test('anonymous login, restart, bind', async () => {
    const { core, sent, events, feed } = harness();
    core.start();
    assert.equal(events[0].type, 'open-stream');
    feed('<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" from="meet.jitsi" version="1.0"/>');
    feed(FEATURES_SASL);
    assert.equal(sent[0].toString(), '<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="ANONYMOUS">=</auth>');
    feed('<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>');
    assert.equal(events.at(-1).type, 'restart-stream');
    core.state = 'opening-bound';
    feed(FEATURES_BIND);
    const bind = sent.at(-1);
    assert.equal(bind.attrs.type, 'set');
    feed(`<iq xmlns="jabber:client" type="result" id="${bind.attrs.id}"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>3f2a9c1e-aaaa@meet.jitsi/r1</jid></bind></iq>`);
    await new Promise(r => setTimeout(r, 0));
    assert.equal(events.at(-1).type, 'online');
    assert.equal(core.jid, '3f2a9c1e-aaaa@meet.jitsi/r1');
});

test('PLAIN carries UTF-8 credentials; missing mechanism is explained', () => {
    const { core, sent, feed } = harness({ username: 'zoë', password: 'pässword' });
    core.start();
    feed(FEATURES_SASL);
    const decoded = Buffer.from(sent[0].text, 'base64').toString('utf8');
    assert.equal(decoded, '\0zoë\0pässword');
    const anon = harness();
    anon.core.start();
    anon.feed('<stream:features xmlns:stream="http://etherx.jabber.org/streams"><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>');
    assert.equal(anon.events.at(-1).type, 'failed');
    assert.equal(anon.events.at(-1).error.condition, 'password-required');
});

test('SASL failure text reaches the event', () => {
    const { core, events, feed } = harness();
    core.start();
    feed(FEATURES_SASL);
    feed('<failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><not-allowed/><text>token required</text></failure>');
    assert.equal(events.at(-1).error.condition, 'not-allowed');
    assert.equal(events.at(-1).error.text, 'token required');
});

test('iq results and errors resolve their promise; pings answered; unknown IQs refused', async () => {
    const { core, sent, feed } = harness();
    core.state = 'online';
    const ok = core.iq(parse('<iq type="get" to="meet.jitsi"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>'));
    const bad = core.iq(parse('<iq type="set" to="focus.meet.jitsi"><conference xmlns="http://jitsi.org/protocol/focus"/></iq>'));
    feed(`<iq type="result" id="${sent[0].attrs.id}"/>`);
    feed(`<iq type="error" id="${sent[1].attrs.id}"><error type="cancel"><not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">not authorized user domain</text></error></iq>`);
    assert.equal((await ok).attrs.type, 'result');
    await assert.rejects(bad, e => e.condition === 'not-authorized' && e.text === 'not authorized user domain');
    feed('<iq type="get" from="meet.jitsi" id="p1"><ping xmlns="urn:xmpp:ping"/></iq>');
    assert.equal(sent.at(-1).toString(), '<iq type="result" to="meet.jitsi" id="p1"/>');
    feed('<iq type="set" from="x@y/z" id="u1"><weird xmlns="urn:example"/></iq>');
    assert.match(sent.at(-1).toString(), /service-unavailable/);
    const handled = [];
    core.handlers.push(s => s.name === 'message' && handled.push(s));
    feed('<message from="r@muc/a" type="groupchat"><body>hi</body></message>');
    assert.equal(handled.length, 1);
});

test('connection URL query', () => {
    assert.equal(withQuery('wss://h/xmpp-websocket', { room: 'caf%c3%a9', token: undefined }),
        'wss://h/xmpp-websocket?room=caf%c3%a9');
    assert.equal(withQuery('/http-bind?x=1', { room: 'r', token: 'a&b' }), '/http-bind?x=1&room=r&token=a%26b');
});
