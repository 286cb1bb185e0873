// Unit tests of the browser client's pure protocol modules; run by tests/web/test_client_js.py.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { El, el, parse, parseAll, XmlError } from '../../../web_static/libs/xml.js';
import { parseJsonSources, parseXmlSources, sourcesOf, receivedSsrcs } from '../../../web_static/libs/sources.js';
import {
    Layout, answerContents, buildRemoteSdp, localSources, mungeSimulcast, parseOffer, sdpCandidateToJingle,
    sessionAccept, sourceAction, splitSdp,
} from '../../../web_static/libs/jingle-sdp.js';

const initiate = parse(readFileSync(new URL('./session-initiate.xml', import.meta.url), 'utf8'));
const jingle = initiate.first('jingle');

test('xml round trip, escaping and namespaces', () => {
    const msg = el('message', { xmlns: 'jabber:client', to: 'r@muc/x' }, el('body', {}, 'a < b & "c"'));
    const back = parse(msg.toString());
    assert.equal(back.first('body').text, 'a < b & "c"');
    assert.equal(back.first('body').ns, 'jabber:client');
    assert.equal(parse("<a x='1&amp;2'>&#x41;&#66;</a>").attrs.x, '1&2');
    assert.equal(parse('<a>&#x41;&#66;</a>').text, 'AB');
    assert.equal(parseAll('<?xml version="1.0"?><a/><b><c/></b>').length, 2);
    assert.throws(() => parse('<a><b></a>'), XmlError);
    assert.throws(() => parse('<a>'), XmlError);
    assert.throws(() => parse('<a>&bogus;</a>'), XmlError);
    const built = new El('iq', { type: 'get' }).c('query', { xmlns: 'q' }).c('item').up().up();
    assert.equal(built.toString(), '<iq type="get"><query xmlns="q"><item/></query></iq>');
});

test('JSON sources: groups, owners, desktop', () => {
    const map = sourcesOf(jingle);
    const v = map.get('3f2a9c1e-v0');
    assert.deepEqual(v.ssrcs, [1001, 1002, 1003, 1011]);
    assert.equal(v.videoType, 'camera');
    assert.deepEqual(v.groups, [{ semantics: 'SIM', ssrcs: [1001, 1002, 1003] }, { semantics: 'FID', ssrcs: [1001, 1011] }]);
    assert.deepEqual(receivedSsrcs(v), { ssrcs: [1001, 1011], groups: [{ semantics: 'FID', ssrcs: [1001, 1011] }] });
    assert.equal(map.get('jvb-a0').owner, 'jvb');
    const desk = parseJsonSources('{"sources":{"ab":[[{"s":7,"n":"ab-v1","v":"d"}],[],[]]}}');
    assert.equal(desk.get('ab-v1').videoType, 'desktop');
    assert.throws(() => parseJsonSources('{"sources":{"ab":[[{"s":-1}],[],[]]}}'));
});

test('XML sources with ssrc-info owner', () => {
    const add = parse(`<jingle xmlns="urn:xmpp:jingle:1" action="source-add"><content name="video"><description xmlns="urn:xmpp:jingle:apps:rtp:1" media="video"><source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="11" name="bb-v0" videoType="camera"><parameter name="msid" value="s t"/><ssrc-info xmlns="http://jitsi.org/jitmeet" owner="room@muc/bb"/></source><source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="12" name="bb-v0"><parameter name="msid" value="s t"/></source><ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics="FID"><source ssrc="11"/><source ssrc="12"/></ssrc-group></description></content></jingle>`);
    const map = parseXmlSources(add);
    assert.equal(map.get('bb-v0').owner, 'bb');
    assert.deepEqual(map.get('bb-v0').groups, [{ semantics: 'FID', ssrcs: [11, 12] }]);
});

test('offer to remote SDP: bundle, transport, sources on their own m-lines', () => {
    const offer = parseOffer(jingle);
    assert.equal(offer.sid, '4kq0v9oq1h5s0');
    assert.equal(offer.bridgeSessionId, 'e7e2d7b8');
    assert.match(offer.websocket, /colibri-ws/);
    const layout = new Layout(offer);
    const sources = sourcesOf(jingle);
    assert.ok(layout.setRemoteSources(sources));
    const sdp = buildRemoteSdp(layout, sources);
    const { media, session } = splitSdp(sdp);
    assert.ok(session.includes('a=group:BUNDLE 0 1 2 3 4'));
    assert.equal(media.length, 5);
    assert.match(media[0][0], /^m=audio 9 UDP\/TLS\/RTP\/SAVPF 111 126$/);
    assert.ok(media[0].includes('a=fmtp:111 minptime=10;useinbandfec=1'));
    assert.ok(media[0].includes('a=rtpmap:111 opus/48000/2'));
    assert.ok(media[0].includes('a=candidate:2 1 udp 1694498815 203.0.113.9 10000 typ srflx raddr 198.51.100.7 rport 10000 generation 0'));
    assert.ok(media[0].includes('a=ssrc:5678 cname:jvb'));
    assert.ok(media[1].includes('a=rtcp-fb:100 nack pli'));
    assert.ok(media[2].includes('a=sctp-port:5000'));
    const remoteVideo = media.find(m => m.includes('a=ssrc:1001 cname:3f2a9c1e'));
    assert.ok(remoteVideo.includes('a=sendonly'));
    assert.ok(remoteVideo.includes('a=ssrc-group:FID 1001 1011'));
    assert.ok(!remoteVideo.some(l => l.includes('1002')), 'only the first simulcast layer is received');
    assert.equal(layout.sourceOfMid(layout.midOf('3f2a9c1e-a0')).name, '3f2a9c1e-a0');

    // source-remove frees the m-line (inactive), the next source of that media reuses it
    sources.delete('3f2a9c1e-v0');
    assert.ok(layout.setRemoteSources(sources));
    const after = splitSdp(buildRemoteSdp(layout, sources)).media;
    assert.equal(after.length, 5);
    assert.ok(after[layout.slots.findIndex(s => s.kind === 'remote' && s.media === 'video')].includes('a=inactive'));
    sources.set('cc-v0', { name: 'cc-v0', owner: 'cc', media: 'video', videoType: 'camera', msid: 'x y', ssrcs: [77], groups: [] });
    layout.setRemoteSources(sources);
    assert.equal(splitSdp(buildRemoteSdp(layout, sources)).media.length, 5);
    assert.ok(!layout.setRemoteSources(sources), 'no change, no renegotiation');
});

const ANSWER = [
    'v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0 1 2',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'c=IN IP4 0.0.0.0', 'a=ice-ufrag:abcd', 'a=ice-pwd:pwpwpwpwpwpwpwpwpwpwpwpw',
    'a=fingerprint:sha-256 AA:BB', 'a=setup:active', 'a=mid:0', 'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
    'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2', 'a=rtcp-fb:111 transport-cc', 'a=fmtp:111 minptime=10;useinbandfec=1',
    'a=ssrc:4001 cname:me', 'a=ssrc:4001 msid:stream atrack',
    'm=video 9 UDP/TLS/RTP/SAVPF 100 96', 'c=IN IP4 0.0.0.0', 'a=ice-ufrag:abcd', 'a=ice-pwd:pwpwpwpwpwpwpwpwpwpwpwpw',
    'a=fingerprint:sha-256 AA:BB', 'a=setup:active', 'a=mid:1', 'a=sendrecv', 'a=rtcp-mux',
    'a=rtpmap:100 VP8/90000', 'a=rtcp-fb:100 nack', 'a=rtpmap:96 rtx/90000', 'a=fmtp:96 apt=100',
    'a=ssrc-group:FID 5001 5002', 'a=ssrc:5001 cname:me', 'a=ssrc:5001 msid:stream vtrack', 'a=ssrc:5002 cname:me', 'a=ssrc:5002 msid:stream vtrack',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'c=IN IP4 0.0.0.0', 'a=ice-ufrag:abcd', 'a=ice-pwd:pwpwpwpwpwpwpwpwpwpwpwpw',
    'a=fingerprint:sha-256 AA:BB', 'a=setup:active', 'a=mid:2', 'a=sctp-port:5000',
].join('\r\n') + '\r\n';

test('simulcast munging keeps its SSRCs across renegotiations', () => {
    const memory = new Map();
    const once = mungeSimulcast(ANSWER, '1', memory);
    const twice = mungeSimulcast(ANSWER, '1', memory);
    assert.equal(once, twice);
    const video = splitSdp(once).media[1];
    const sim = video.find(l => l.startsWith('a=ssrc-group:SIM'));
    assert.equal(sim.split(' ').length, 4);
    assert.equal(sim.split(' ')[1], '5001');
    assert.equal(video.filter(l => l.startsWith('a=ssrc-group:FID')).length, 3);
    assert.equal(mungeSimulcast(once, '1', memory), once, 'idempotent');
});

test('answer to session-accept with our named sources', () => {
    const offer = parseOffer(jingle);
    const layout = new Layout(offer);
    const munged = mungeSimulcast(ANSWER, '1', new Map());
    const ours = localSources(munged, { 0: { name: '77aa01bc-a0' }, 1: { name: '77aa01bc-v0', videoType: 'camera' } });
    assert.deepEqual(ours.map(s => s.name), ['77aa01bc-a0', '77aa01bc-v0']);
    assert.equal(ours[1].ssrcs.length, 6);
    assert.equal(ours[1].msid, 'stream vtrack');
    const accept = sessionAccept({ sid: offer.sid, initiator: offer.initiator, responder: 'r@muc/77aa01bc',
        contents: answerContents(munged, layout, ours), lastN: 20 });
    const text = accept.toString();
    const back = parse(text);
    assert.equal(back.attrs.action, 'session-accept');
    const names = back.elements('content').map(c => c.attrs.name);
    assert.deepEqual(names, ['audio', 'video', 'data']);
    const video = back.elements('content')[1];
    const sim = video.find('description').elements('ssrc-group').find(g => g.attrs.semantics === 'SIM');
    assert.equal(sim.elements('source').length, 3);
    assert.equal(video.first('initial-last-n').attrs.value, '20');
    const fp = video.find('transport', 'fingerprint');
    assert.equal(fp.attrs.setup, 'active');
    assert.equal(fp.text, 'AA:BB');
    assert.equal(back.elements('content')[2].find('transport', 'sctpmap').attrs.number, '5000');
    assert.equal(video.find('description').elements('payload-type')[1].first('parameter').attrs.value, '100');
    const remove = sourceAction('source-remove', { sid: 's', initiator: 'i' }, [ours[0]]);
    assert.equal(remove.find('content', 'description', 'source').attrs.name, '77aa01bc-a0');
});

test('candidate lines', () => {
    const c = sdpCandidateToJingle('candidate:842163049 1 udp 1677729535 192.0.2.3 54400 typ srflx raddr 10.0.0.1 rport 54400 generation 0 ufrag abcd network-cost 999', 'c1');
    assert.equal(c.type, 'srflx');
    assert.equal(c['rel-addr'], '10.0.0.1');
    assert.equal(c.port, '54400');
    assert.equal(c.protocol, 'udp');
});

test('receiver constraints: on-stage full, others thumbnails', async () => {
    const { receiverConstraints, parseMessage } = await import('../../../web_static/libs/bridge-channel.js');
    const m = receiverConstraints({ sources: ['a-v0', 'b-v0'], onStage: 'b-v0' });
    assert.equal(m.colibriClass, 'ReceiverVideoConstraints');
    assert.deepEqual(m.onStageSources, ['b-v0']);
    assert.deepEqual(m.constraints, { 'a-v0': { maxHeight: 180 }, 'b-v0': { maxHeight: 720 } });
    assert.equal(parseMessage('{"colibriClass":"ServerHello"}').colibriClass, 'ServerHello');
    assert.throws(() => parseMessage('{"x":1}'));
});

test('the preferred video codec and its RTX go first in the offer we answer', async () => {
    const { preferred } = await import('../../../web_static/libs/jingle-sdp.js');
    const offer = parseOffer(parse(`<jingle xmlns="urn:xmpp:jingle:1" action="session-initiate" sid="s"><content name="video"><description xmlns="urn:xmpp:jingle:apps:rtp:1" media="video"><payload-type id="41" name="AV1" clockrate="90000"/><payload-type id="42" name="rtx" clockrate="90000"><parameter name="apt" value="41"/></payload-type><payload-type id="100" name="VP8" clockrate="90000"/><payload-type id="96" name="rtx" clockrate="90000"><parameter name="apt" value="100"/></payload-type></description><transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="u" pwd="p"/></content></jingle>`));
    assert.deepEqual(preferred(offer.contents[0].payloads, 'VP8').map(p => p.id), [100, 96, 41, 42]);
    assert.deepEqual(preferred(offer.contents[0].payloads, undefined).map(p => p.id), [41, 42, 100, 96]);
    const layout = new Layout(offer, { preferVideoCodec: 'VP8' });
    assert.match(buildRemoteSdp(layout, new Map()), /m=video 9 UDP\/TLS\/RTP\/SAVPF 100 96 41 42/);
});
