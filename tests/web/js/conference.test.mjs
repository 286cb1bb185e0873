// The Conference's hooks for feature modules, its Rayo dial and hangup and its tones, against a fake XMPP connection.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { el, parse } from '../../../web_static/libs/xml.js';
import { Conference, ConferenceError } from '../../../web_static/libs/conference.js';
import { fakeConnection } from './fake-xmpp.mjs';

const ROOM = 'standup@muc.meet.jitsi';

function conferenceOnAFakeConnection({ iq = () => Promise.resolve(el('iq', { type: 'result' })) } = {}) {
    const connection = fakeConnection(iq);
    const page = [];
    const conference = new Conference({ connection, config: { hosts: { domain: 'meet.jitsi' }, hiddenDomain: 'hidden.meet.jitsi' },
        room: 'standup', onEvent: e => page.push(e) });
    conference.currentRoom = conference.roomJid;
    return { conference, sent: connection.sent, page, receive: xml => connection.receive(parse(xml)) };
}

const transcriberPresence = type => `<presence from="${ROOM}/tr1"${type ? ` type="${type}"` : ''}>
    <x xmlns="http://jabber.org/protocol/muc#user"><item jid="transcriber@hidden.meet.jitsi/x" role="participant"/></x>
    <features><feature var="http://jitsi.org/protocol/transcriber"/></features>
    <transcription-status status="ON"/></presence>`;

test('a feature module hears every event after the page, until it stops listening', () => {
    const { conference, page, receive } = conferenceOnAFakeConnection();
    const heard = [];
    const stop = conference.on(e => heard.push([e.type, page.length]));
    receive(`<message from="${ROOM}/bob" type="groupchat"><json-message xmlns="http://jitsi.org/jitmeet">{"type":"x"}</json-message></message>`);
    assert.deepEqual(heard, [['json', 1]]);  // the page had it first
    stop();
    receive(`<message from="${ROOM}/bob" type="groupchat"><json-message xmlns="http://jitsi.org/jitmeet">{"type":"y"}</json-message></message>`);
    assert.equal(heard.length, 1);
    assert.equal(page.length, 2);
});

test('hidden members are announced with their presence, and known to a module that attaches later', () => {
    const { conference, page, receive } = conferenceOnAFakeConnection();
    receive(transcriberPresence());
    const joined = page.find(e => e.type === 'hidden-member');
    assert.equal(joined.left, false);
    assert.equal(joined.member.jid, 'transcriber@hidden.meet.jitsi/x');
    assert.equal(conference.hidden.get('tr1').presence.first('transcription-status').attrs.status, 'ON');
    assert.equal(conference.participants.size, 0);  // no tile
    receive(transcriberPresence('unavailable'));
    assert.equal(page.filter(e => e.type === 'hidden-member').at(-1).left, true);
    assert.equal(conference.hidden.size, 0);
});

test('presence extensions go into each presence we send, until removed', async () => {
    const { conference, sent } = conferenceOnAFakeConnection();
    let requesting = true;
    const remove = conference.addPresenceExtension(() => (requesting ? [el('jitsi_participant_requestingTranscription', {}, 'true')] : []));
    await conference.presence(`${ROOM}/aaaaaaaa`);
    assert.equal(sent.at(-1).first('jitsi_participant_requestingTranscription')?.text, 'true');
    requesting = false;
    await conference.presence(`${ROOM}/aaaaaaaa`);
    assert.equal(sent.at(-1).first('jitsi_participant_requestingTranscription'), null);
    requesting = true;
    remove();
    await conference.presence(`${ROOM}/aaaaaaaa`);
    assert.equal(sent.at(-1).first('jitsi_participant_requestingTranscription'), null);
});

test('a dial goes to the focus with the room and, in a locked room, its password', async () => {
    const { conference, sent } = conferenceOnAFakeConnection();
    await conference.dial('+4930123456');
    let iq = parse(sent.at(-1).toString());
    assert.deepEqual([iq.attrs.type, iq.attrs.to], ['set', `${ROOM}/focus`]);
    const dial = iq.first('dial', 'urn:xmpp:rayo:1');
    assert.deepEqual([dial.attrs.to, dial.attrs.from], ['+4930123456', 'fromnumber']);
    assert.deepEqual(dial.elements('header', 'urn:xmpp:rayo:1').map(h => [h.attrs.name, h.attrs.value]), [['JvbRoomName', ROOM]]);
    conference.password = 's3cret';
    await conference.dial('sip:phone@example.com');
    iq = parse(sent.at(-1).toString());
    assert.deepEqual(iq.first('dial').elements('header').map(h => [h.attrs.name, h.attrs.value]),
        [['JvbRoomName', ROOM], ['JvbRoomPassword', 's3cret']]);
});

test('invite by phone says why a dial was refused', async () => {
    const refusing = condition => conferenceOnAFakeConnection({ iq: () => Promise.reject(Object.assign(new Error(condition), { condition })) }).conference;
    await assert.rejects(refusing('service-unavailable').callPhone('+4930123456'),
        error => error instanceof ConferenceError && /No SIP gateway/.test(error.message));
    await assert.rejects(refusing('bad-request').callPhone('+4930123456'), /could not be placed \(bad-request\)/);
});

test('a hangup goes to the caller\'s occupant, the dial\'s ref, and its refusals are said in words', async () => {
    const { conference, sent } = conferenceOnAFakeConnection();
    await conference.hangUpPhone('0a1b2c3d');
    const iq = parse(sent.at(-1).toString());
    assert.deepEqual([iq.attrs.type, iq.attrs.to], ['set', `${ROOM}/0a1b2c3d`]);
    assert.ok(iq.first('hangup', 'urn:xmpp:rayo:1'));
    const refusing = condition => conferenceOnAFakeConnection({ iq: () => Promise.reject(Object.assign(new Error(condition), { condition })) }).conference;
    await assert.rejects(refusing('forbidden').hangUpPhone('0a1b2c3d'), /Only a moderator/);
    await assert.rejects(refusing('item-not-found').hangUpPhone('0a1b2c3d'), /already ended/);
});

test('tones go to the audio sender\'s DTMF queue behind those still queued, and need a microphone', () => {
    const { conference } = conferenceOnAFakeConnection();
    assert.throws(() => conference.sendTones('1'), error => error instanceof ConferenceError && /microphone/.test(error.message));
    const inserted = [];
    const dtmf = { canInsertDTMF: true, toneBuffer: '', insertDTMF(tones, duration, pause) { inserted.push([tones, duration, pause]); this.toneBuffer = tones; } };
    const audio = { sender: { track: { kind: 'audio' }, dtmf } };
    conference.session = { pc: { getTransceivers: () => [{ sender: { track: { kind: 'video' } } }, audio] } };
    conference.sendTones('1');
    conference.sendTones('#');
    assert.deepEqual(inserted, [['1', 200, 200], ['1#', 200, 200]]);
});
