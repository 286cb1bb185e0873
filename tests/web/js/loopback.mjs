// In-browser loopback: a second RTCPeerConnection plays the bridge (its offer turned into the
// focus's Jingle session-initiate), our Conference answers it as in a meeting. Checks that
// Chrome accepts the SDP we generate, demuxes a remote source to its own m-line by SSRC, decodes
// its video, sends our camera as three simulcast layers and opens the bridge channel.
import { el, parse } from '/libs/xml.js';
import { splitSdp, payloadsFromSection, transportFromSection, NS_HDREXT, NS_SCTP } from '/libs/jingle-sdp.js';
import { NS_RTP } from '/libs/sources.js';
import { Conference } from '/libs/conference.js';
import { fakeConnection } from './fake-xmpp.mjs';

const attr = (lines, name) => lines.find(l => l.startsWith(`a=${name}:`))?.slice(name.length + 3);
const attrs = (lines, name) => lines.filter(l => l.startsWith(`a=${name}:`)).map(l => l.slice(name.length + 3));
const OWNER = 'bbbbbbbb';

function offerToJingle(sdp) {
    const { session, media } = splitSdp(sdp);
    const jingle = el('jingle', { xmlns: 'urn:xmpp:jingle:1', action: 'session-initiate', sid: 'loop1', initiator: 'focus@auth.meet.jitsi/focus' });
    const sources = { video: [], videoGroups: [], audio: [] };
    for (const section of media) {
        const kind = section[0].slice(2).split(' ')[0];
        const name = kind === 'application' ? 'data' : kind;
        const content = jingle.c('content', { creator: 'initiator', name, senders: 'both' });
        const description = content.c('description', { xmlns: NS_RTP, media: kind });
        if (kind !== 'application') {
            payloadsFromSection(section).forEach(p => description.append(p));
            for (const ext of attrs(section, 'extmap')) {
                const [id, uri] = ext.split(' ');
                // like jicofo's default offer: no MID extension, so receivers demux by SSRC
                if (!uri.includes('sdes:mid') && !uri.includes('rtp-stream-id')) description.c('rtp-hdrext', { xmlns: NS_HDREXT, id, uri });
            }
            const ssrcs = [...new Set(attrs(section, 'ssrc').map(l => Number(l.split(' ')[0])))];
            for (const s of ssrcs) sources[kind].push({ s, n: `${OWNER}-${kind[0]}0`, m: `stream-${OWNER} track-${kind}` });
            for (const g of attrs(section, 'ssrc-group')) {
                const [sem, ...list] = g.split(' ');
                if (sem === 'FID') sources.videoGroups.push(['f', ...list.map(Number)]);
            }
        }
        const transport = transportFromSection(section, session);
        transport.first('fingerprint').attrs.setup = 'actpass';
        if (kind === 'application') transport.append(el('sctpmap', { xmlns: NS_SCTP, number: attr(section, 'sctp-port'), protocol: 'webrtc-datachannel', streams: '1024' }));
        content.append(transport);
    }
    jingle.append(el('json-message', { xmlns: 'http://jitsi.org/jitmeet' },
        JSON.stringify({ sources: { [OWNER]: [sources.video, sources.videoGroups, sources.audio] } })));
    return jingle;
}

function acceptToAnswer(accept, offerSdp) {
    const { media } = splitSdp(offerSdp);
    const lines = ['v=0', 'o=- 2 2 IN IP4 0.0.0.0', 's=-', 't=0 0', `a=group:BUNDLE ${media.map(m => attr(m, 'mid')).join(' ')}`, 'a=msid-semantic: WMS *'];
    for (const section of media) {
        const kind = section[0].slice(2).split(' ')[0];
        const content = accept.elements('content').find(c => c.attrs.name === (kind === 'application' ? 'data' : kind));
        const transport = content.first('transport');
        const description = content.first('description');
        const payloads = description.elements('payload-type');
        lines.push(kind === 'application' ? 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel'
            : `m=${kind} 9 UDP/TLS/RTP/SAVPF ${payloads.map(p => p.attrs.id).join(' ')}`);
        lines.push('c=IN IP4 0.0.0.0', `a=ice-ufrag:${transport.attrs.ufrag}`, `a=ice-pwd:${transport.attrs.pwd}`,
            `a=fingerprint:${transport.first('fingerprint').attrs.hash} ${transport.first('fingerprint').text}`,
            `a=setup:${transport.first('fingerprint').attrs.setup}`, `a=mid:${attr(section, 'mid')}`);
        if (kind === 'application') {
            lines.push(`a=sctp-port:${transport.first('sctpmap').attrs.number}`);
            continue;
        }
        lines.push('a=sendrecv', 'a=rtcp-mux');
        for (const h of description.elements('rtp-hdrext')) lines.push(`a=extmap:${h.attrs.id} ${h.attrs.uri}`);
        for (const p of payloads) {
            lines.push(`a=rtpmap:${p.attrs.id} ${p.attrs.name}/${p.attrs.clockrate}${p.attrs.channels ? `/${p.attrs.channels}` : ''}`);
            const params = p.elements('parameter');
            if (params.length) lines.push(`a=fmtp:${p.attrs.id} ${params.map(x => `${x.attrs.name}=${x.attrs.value}`).join(';')}`);
            for (const fb of p.elements('rtcp-fb')) lines.push(`a=rtcp-fb:${p.attrs.id} ${fb.attrs.type}${fb.attrs.subtype ? ` ${fb.attrs.subtype}` : ''}`);
        }
        for (const g of description.elements('ssrc-group')) lines.push(`a=ssrc-group:${g.attrs.semantics} ${g.elements('source').map(s => s.attrs.ssrc).join(' ')}`);
        for (const s of description.elements('source')) {
            lines.push(`a=ssrc:${s.attrs.ssrc} cname:a`, `a=ssrc:${s.attrs.ssrc} msid:${s.first('parameter').attrs.value}`);
        }
    }
    return lines.join('\r\n') + '\r\n';
}

async function gathered(pc) {
    if (pc.iceGatheringState === 'complete') return;
    await new Promise(resolve => pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve()));
}

export async function run() {
    const log = [];
    const bridge = new RTCPeerConnection();
    const bridgeMedia = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
    bridgeMedia.getTracks().forEach(t => bridge.addTrack(t, bridgeMedia));
    bridge.createDataChannel('bridge-side');
    const fromClient = [];
    bridge.ondatachannel = event => {
        const channel = event.channel;
        log.push(`datachannel ${channel.label} ${channel.protocol}`);
        channel.onmessage = m => fromClient.push(JSON.parse(m.data));
        channel.onopen = () => channel.send(JSON.stringify({ colibriClass: 'DominantSpeakerEndpointChangeEvent', dominantSpeakerEndpoint: OWNER, previousSpeakers: [], silence: false }));
        if (channel.readyState === 'open') channel.onopen();
    };
    await bridge.setLocalDescription(await bridge.createOffer());
    await gathered(bridge);

    const connection = fakeConnection(() => Promise.resolve(el('iq', { type: 'result' })));
    const sent = connection.sent;
    const events = [];
    const local = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 1280, height: 720 } });
    const conference = new Conference({ connection, config: { hosts: { domain: 'meet.jitsi' }, channelLastN: -1 }, room: 'loop',
        displayName: 'A', localStream: local, onEvent: e => events.push(e) });
    conference.currentRoom = conference.roomJid;
    const initiate = el('iq', { type: 'set', from: `${conference.roomJid}/focus`, to: connection.core.jid, id: 'si1' }, offerToJingle(bridge.localDescription.sdp));
    const started = performance.now();
    connection.receive(parse(initiate.toString()));

    const deadline = Date.now() + 20000;
    const until = async (what, check) => {
        while (!check()) {
            if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; log: ${log.join(' | ')}`);
            await new Promise(r => setTimeout(r, 50));
        }
    };
    await until('session-accept', () => sent.some(s => s.first('jingle')?.attrs.action === 'session-accept'));
    const accept = sent.find(s => s.first('jingle')?.attrs.action === 'session-accept').first('jingle');
    const answer = acceptToAnswer(accept, bridge.localDescription.sdp);
    await bridge.setRemoteDescription({ type: 'answer', sdp: answer });
    const trickled = new Set();
    const feedCandidates = () => {
        for (const s of sent) {
            const j = s.first('jingle');
            if (j?.attrs.action !== 'transport-info' || trickled.has(s)) continue;
            trickled.add(s);
            const c = j.find('content', 'transport', 'candidate').attrs;
            bridge.addIceCandidate({ sdpMid: '0', candidate: `candidate:${c.foundation} ${c.component} ${c.protocol} ${c.priority} ${c.ip} ${c.port} typ ${c.type}` }).catch(e => log.push(`cand ${e}`));
        }
    };
    await until('ICE connected', () => { feedCandidates(); return ['connected', 'completed'].includes(bridge.iceConnectionState); });

    const tracks = () => events.filter(e => e.type === 'tracks').at(-1)?.tracks || [];
    await until('remote video track', () => tracks().some(t => t.kind === 'video' && t.owner === OWNER));
    const remote = tracks().find(t => t.kind === 'video');
    const video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    video.srcObject = new MediaStream([remote.track]);
    document.body.append(video);
    await until('first remote frame', () => video.getVideoPlaybackQuality().totalVideoFrames > 0);
    const firstFrameMs = Math.round(performance.now() - started);
    await until('decoded remote frames', () => video.getVideoPlaybackQuality().totalVideoFrames > 5);
    await until('bridge channel open + constraints', () => events.some(e => e.type === 'bridge-channel' && e.open)
        && fromClient.some(m => m.colibriClass === 'ReceiverVideoConstraints'));
    await until('dominant speaker event', () => events.some(e => e.type === 'dominant-speaker' && e.id === OWNER));
    const outbound = async () => [...(await conference.session.pc.getStats()).values()].filter(r => r.type === 'outbound-rtp' && r.kind === 'video');
    let layers = [];
    while (Date.now() < deadline) {
        layers = await outbound();
        if (layers.length >= 3 && layers.every(l => l.packetsSent > 0)) break;
        await new Promise(r => setTimeout(r, 200));
    }
    const inboundAudio = async () => [...(await conference.session.pc.getStats()).values()]
        .filter(r => r.type === 'inbound-rtp' && r.kind === 'audio').reduce((n, r) => n + (r.packetsReceived || 0), 0);
    await until('remote audio packets', () => tracks().some(t => t.kind === 'audio' && t.owner === OWNER));
    let audioPackets = 0;
    while (Date.now() < deadline && (audioPackets = await inboundAudio()) < 10) await new Promise(r => setTimeout(r, 100));
    globalThis.loopback = { conference, sent, outbound };
    const acceptSources = accept.elements('content').find(c => c.attrs.name === 'video').first('description').elements('source');
    return {
        remoteSource: remote.sourceName,
        firstFrameMs,
        audioPackets,
        frames: video.getVideoPlaybackQuality().totalVideoFrames,
        width: video.videoWidth,
        simulcastLayers: layers.length,
        layersSending: layers.filter(l => l.packetsSent > 0).length,
        acceptedVideoSsrcs: acceptSources.length,
        constraints: fromClient.find(m => m.colibriClass === 'ReceiverVideoConstraints'),
        log,
    };
}

// Screen share needs a user gesture: the test clicks a button that calls this.
export async function shareScreen() {
    const { conference, sent, outbound } = globalThis.loopback;
    await conference.startScreenShare();
    const add = sent.map(s => s.first('jingle')).find(j => j?.attrs.action === 'source-add');
    const sources = add ? add.find('content', 'description').elements('source') : [];
    let streams = [];
    for (let i = 0; i < 50; i++) {
        streams = (await outbound()).filter(r => r.packetsSent > 0);
        if (streams.length >= 4) break;
        await new Promise(r => setTimeout(r, 200));
    }
    return {
        added: sources.map(s => `${s.attrs.name}/${s.attrs.videoType}`),
        sending: streams.length,
    };
}
