// Jingle (docs/focus.md §3) <-> SDP for a browser answering the focus's offer, in Unified Plan.
//
// The focus is the offerer. We keep a *layout*: the ordered list of m-lines of the offer we feed
// to setRemoteDescription. mid 0/1/2 are the audio/video/data contents of the Jingle offer (our own
// microphone and camera are sent on 0 and 1); every remote source gets its own m-line after them
// (direction sendonly from the bridge's side, with its SSRCs, so the browser demuxes by SSRC); our
// screen share gets a recvonly slot we answer with sendonly. A removed source leaves its m-line
// inactive and the next source of that kind reuses it, since m-lines can never be deleted.

import { el } from './xml.js';
import { NS_RTP, receivedSsrcs, sourcesToDescriptions } from './sources.js';

export const NS_ICE = 'urn:xmpp:jingle:transports:ice-udp:1';
export const NS_DTLS = 'urn:xmpp:jingle:apps:dtls:0';
export const NS_FB = 'urn:xmpp:jingle:apps:rtp:rtcp-fb:0';
export const NS_HDREXT = 'urn:xmpp:jingle:apps:rtp:rtp-hdrext:0';
export const NS_GROUP = 'urn:xmpp:jingle:apps:grouping:0';
export const NS_SCTP = 'urn:xmpp:jingle:transports:dtls-sctp:1';
export const NS_FOCUS = 'http://jitsi.org/protocol/focus';
export const NS_COLIBRI = 'http://jitsi.org/protocol/colibri';
export const NS_COLIBRI2 = 'jitsi:colibri2';

// ---- Jingle offer -> model ----

function parsePayload(pt) {
    return {
        id: Number(pt.attrs.id), name: pt.attrs.name, clockrate: pt.attrs.clockrate,
        channels: pt.attrs.channels,
        params: pt.elements('parameter').map(p => ({ name: p.attrs.name, value: p.attrs.value })),
        fb: pt.elements('rtcp-fb', NS_FB).map(f => ({ type: f.attrs.type, subtype: f.attrs.subtype })),
    };
}

export function parseCandidate(c) {
    return {
        foundation: c.attrs.foundation, component: c.attrs.component || '1', protocol: c.attrs.protocol || 'udp',
        priority: c.attrs.priority, ip: c.attrs.ip, port: c.attrs.port, type: c.attrs.type,
        relAddr: c.attrs['rel-addr'], relPort: c.attrs['rel-port'], tcptype: c.attrs.tcptype,
        generation: c.attrs.generation || '0',
    };
}

export function parseTransport(transport) {
    if (!transport) return null;
    const sctpmap = transport.first('sctpmap', NS_SCTP);
    return {
        ufrag: transport.attrs.ufrag, pwd: transport.attrs.pwd,
        fingerprints: transport.elements('fingerprint', NS_DTLS).map(f => ({
            hash: f.attrs.hash, setup: f.attrs.setup || 'actpass', value: f.text.trim(),
        })),
        candidates: transport.elements('candidate').map(parseCandidate),
        sctpPort: sctpmap ? Number(sctpmap.attrs.number) : undefined,
        websocket: transport.first('web-socket', NS_COLIBRI)?.attrs.url,
    };
}

export function parseOffer(jingle) {
    const contents = jingle.elements('content').map(content => {
        const d = content.first('description', NS_RTP);
        return {
            name: content.attrs.name,
            senders: content.attrs.senders || 'both',
            media: d ? d.attrs.media : 'application',
            maxptime: d?.attrs.maxptime,
            payloads: d ? d.elements('payload-type').map(parsePayload) : [],
            hdrexts: d ? d.elements('rtp-hdrext', NS_HDREXT).map(h => ({ id: Number(h.attrs.id), uri: h.attrs.uri })) : [],
            extmapAllowMixed: !!d?.first('extmap-allow-mixed', NS_HDREXT),
            transport: parseTransport(content.first('transport', NS_ICE)),
        };
    });
    const bridgeSession = jingle.first('bridge-session', NS_FOCUS);
    return {
        sid: jingle.attrs.sid,
        initiator: jingle.attrs.initiator,
        contents,
        bridgeSessionId: bridgeSession?.attrs.id,
        websocket: contents.map(c => c.transport?.websocket).find(Boolean),
    };
}

// ---- layout of m-lines across renegotiations ----

export class Layout {
    constructor(offer, { preferVideoCodec } = {}) {
        this.offer = offer;
        this.preferVideoCodec = preferVideoCodec;
        // content m-lines first, in the offer's order (its BUNDLE group lists the same)
        this.slots = offer.contents.map((c, i) => ({ mid: String(i), media: c.media, content: c, kind: 'main' }));
        this.version = 1;
    }

    content(media) {
        return this.offer.contents.find(c => c.media === media);
    }

    // Give every remote source (except the bridge's own feedback sources) an m-line; free the
    // m-lines of sources that are gone. Returns true when the layout changed.
    setRemoteSources(sources) {
        const wanted = new Map([...sources.values()].filter(s => s.owner !== 'jvb').map(s => [s.name, s]));
        let changed = false;
        for (const slot of this.slots) {
            if (slot.kind !== 'remote') continue;
            const current = slot.source && wanted.get(slot.source.name);
            if (slot.source && !current) {
                slot.source = null;
                changed = true;
            } else if (current) {
                if (JSON.stringify(current) !== JSON.stringify(slot.source)) {
                    slot.source = current;
                    changed = true;
                }
                wanted.delete(current.name);
            }
        }
        for (const source of wanted.values()) {
            let slot = this.slots.find(s => s.kind === 'remote' && !s.source && s.media === source.media);
            if (!slot) {
                slot = { mid: String(this.slots.length), media: source.media, kind: 'remote', source: null };
                this.slots.push(slot);
            }
            slot.source = source;
            changed = true;
        }
        return changed;
    }

    // A send-only slot of ours beyond the camera (screen share); reused when it exists.
    localSlot(name) {
        let slot = this.slots.find(s => s.kind === 'local' && s.name === name);
        if (!slot) {
            slot = { mid: String(this.slots.length), media: 'video', kind: 'local', name };
            this.slots.push(slot);
        }
        return slot;
    }

    midOf(sourceName) {
        return this.slots.find(s => s.source?.name === sourceName)?.mid;
    }

    sourceOfMid(mid) {
        return this.slots.find(s => s.mid === mid)?.source || null;
    }
}

// ---- model -> SDP ----

export function candidateToSdp(c) {
    let line = `candidate:${c.foundation} ${c.component} ${c.protocol} ${c.priority} ${c.ip} ${c.port} typ ${c.type}`;
    if (c.relAddr) line += ` raddr ${c.relAddr} rport ${c.relPort}`;
    if (c.tcptype) line += ` tcptype ${c.tcptype}`;
    return `${line} generation ${c.generation || 0}`;
}

function mediaSection(slot, layout, sources, bundleTransport, first) {
    const base = slot.kind === 'main' ? slot.content : layout.content(slot.media);
    const lines = [];
    const transport = bundleTransport;
    const payloads = slot.media === 'video' ? preferred(base.payloads, layout.preferVideoCodec) : base.payloads;
    if (slot.media === 'application') {
        lines.push(`m=application 9 UDP/DTLS/SCTP webrtc-datachannel`);
    } else {
        lines.push(`m=${slot.media} 9 UDP/TLS/RTP/SAVPF ${payloads.map(p => p.id).join(' ')}`);
    }
    lines.push('c=IN IP4 0.0.0.0');
    lines.push(`a=ice-ufrag:${transport.ufrag}`, `a=ice-pwd:${transport.pwd}`);
    for (const f of transport.fingerprints) {
        lines.push(`a=fingerprint:${f.hash} ${f.value}`);
    }
    lines.push(`a=setup:${transport.fingerprints[0]?.setup || 'actpass'}`);
    lines.push(`a=mid:${slot.mid}`);
    if (first) {
        for (const c of transport.candidates) lines.push(`a=${candidateToSdp(c)}`);
    }
    if (slot.media === 'application') {
        lines.push(`a=sctp-port:${transport.sctpPort || 5000}`, 'a=max-message-size:262144');
        return lines;
    }
    let direction;
    let ssrcSources = [];
    if (slot.kind === 'main') {
        direction = { both: 'sendrecv', initiator: 'sendonly', responder: 'recvonly', none: 'inactive' }[slot.content.senders] || 'sendrecv';
        ssrcSources = [...sources.values()].filter(s => s.owner === 'jvb' && s.media === slot.media);
    } else if (slot.kind === 'local') {
        direction = 'recvonly';
    } else if (slot.source) {
        direction = 'sendonly';
        ssrcSources = [slot.source];
    } else {
        direction = 'inactive';
    }
    lines.push(`a=${direction}`);
    for (const h of base.hdrexts) lines.push(`a=extmap:${h.id} ${h.uri}`);
    if (base.extmapAllowMixed) lines.push('a=extmap-allow-mixed');
    lines.push('a=rtcp-mux');
    if (slot.media === 'audio' || slot.media === 'video') lines.push('a=rtcp-rsize');
    for (const p of payloads) {
        lines.push(`a=rtpmap:${p.id} ${p.name}/${p.clockrate}${p.channels && p.channels !== '1' ? `/${p.channels}` : ''}`);
        if (p.params.length) {
            lines.push(`a=fmtp:${p.id} ${p.params.map(x => (x.name ? `${x.name}=${x.value}` : x.value)).join(';')}`);
        }
        for (const f of p.fb) lines.push(`a=rtcp-fb:${p.id} ${f.type}${f.subtype ? ` ${f.subtype}` : ''}`);
    }
    if (base.maxptime) lines.push(`a=maxptime:${base.maxptime}`);
    for (const source of ssrcSources) {
        const { ssrcs, groups } = source.owner === 'jvb' ? { ssrcs: source.ssrcs, groups: source.groups } : receivedSsrcs(source);
        const msid = source.msid || `${source.owner}-${source.name} ${source.name}`;
        for (const g of groups) lines.push(`a=ssrc-group:${g.semantics} ${g.ssrcs.join(' ')}`);
        for (const ssrc of ssrcs) {
            lines.push(`a=ssrc:${ssrc} cname:${source.owner}`, `a=ssrc:${ssrc} msid:${msid}`);
        }
        if (slot.kind === 'remote') lines.push(`a=msid:${msid}`);
    }
    return lines;
}

// The payload types of codec `name` and their RTX first: the browser sends the first codec of
// the offer, whatever order its answer lists.
export function preferred(payloads, name) {
    if (!name) return payloads;
    const wanted = new Set(payloads.filter(p => p.name.toLowerCase() === name.toLowerCase()).map(p => p.id));
    for (const p of payloads) {
        const apt = p.params.find(x => x.name === 'apt');
        if (p.name.toLowerCase() === 'rtx' && apt && wanted.has(Number(apt.value))) wanted.add(p.id);
    }
    return [...payloads.filter(p => wanted.has(p.id)), ...payloads.filter(p => !wanted.has(p.id))];
}

export function buildRemoteSdp(layout, sources) {
    const transport = layout.offer.contents.find(c => c.transport)?.transport;
    if (!transport) throw new Error('the offer carries no ICE transport');
    const mids = layout.slots.map(s => s.mid);
    const lines = [
        'v=0', `o=- 1923518516 ${layout.version} IN IP4 0.0.0.0`, 's=-', 't=0 0',
        `a=group:BUNDLE ${mids.join(' ')}`, 'a=msid-semantic: WMS *', 'a=ice-options:trickle',
    ];
    layout.slots.forEach((slot, i) => lines.push(...mediaSection(slot, layout, sources, transport, i === 0)));
    return lines.join('\r\n') + '\r\n';
}

// ---- SDP (our answer) -> model ----

export function splitSdp(sdp) {
    const lines = sdp.split(/\r?\n/).filter(Boolean);
    const session = [];
    const media = [];
    for (const line of lines) {
        if (line.startsWith('m=')) media.push([line]);
        else (media.length ? media[media.length - 1] : session).push(line);
    }
    return { session, media };
}

function attr(lines, name) {
    const prefix = `a=${name}:`;
    const line = lines.find(l => l.startsWith(prefix));
    return line ? line.slice(prefix.length) : undefined;
}

function attrs(lines, name) {
    const prefix = `a=${name}:`;
    return lines.filter(l => l.startsWith(prefix)).map(l => l.slice(prefix.length));
}

export function sdpCandidateToJingle(line, id) {
    const body = line.replace(/^a=/, '').replace(/^candidate:/, '');
    const parts = body.split(' ');
    const c = {
        foundation: parts[0], component: parts[1], protocol: parts[2].toLowerCase(), priority: parts[3],
        ip: parts[4], port: parts[5], type: parts[7], generation: '0', network: '0', id,
    };
    for (let i = 8; i + 1 < parts.length; i += 2) {
        const key = { raddr: 'rel-addr', rport: 'rel-port', tcptype: 'tcptype', generation: 'generation' }[parts[i]];
        if (key) c[key] = parts[i + 1];
    }
    return c;
}

// Chrome writes ICE and DTLS attributes per m-line; other writers may put them at session level.
export function transportFromSection(section, session = []) {
    const pick = name => attr(section, name) ?? attr(session, name);
    const [hash, value] = (pick('fingerprint') || ' ').split(' ');
    const transport = el('transport', { xmlns: NS_ICE, ufrag: pick('ice-ufrag'), pwd: pick('ice-pwd') });
    transport.append(el('rtcp-mux'));
    transport.append(el('fingerprint', { xmlns: NS_DTLS, hash, setup: pick('setup') || 'active', required: 'true' }, value));
    attrs(section, 'candidate').forEach((c, i) => transport.append(el('candidate', sdpCandidateToJingle(c, `c${i}`))));
    return transport;
}

export function payloadsFromSection(section) {
    const ids = section[0].split(' ').slice(3);
    return ids.map(id => {
        const rtpmap = attrs(section, 'rtpmap').find(r => r.startsWith(`${id} `));
        if (!rtpmap) return null;
        const [name, clockrate, channels] = rtpmap.slice(id.length + 1).split('/');
        const pt = el('payload-type', { id, name, clockrate, channels });
        const fmtp = attrs(section, 'fmtp').find(f => f.startsWith(`${id} `));
        if (fmtp) {
            for (const kv of fmtp.slice(id.length + 1).split(';')) {
                const [k, v] = kv.split('=');
                if (k.trim()) pt.append(el('parameter', { name: k.trim(), value: (v ?? '').trim() }));
            }
        }
        for (const fb of attrs(section, 'rtcp-fb').filter(f => f.startsWith(`${id} `))) {
            const [type, subtype] = fb.slice(id.length + 1).split(' ');
            pt.append(el('rtcp-fb', { xmlns: NS_FB, type, subtype }));
        }
        return pt;
    }).filter(Boolean);
}

// Our sources in the answer: per sending m-line its SSRCs and groups. `names` maps a mid to the
// source name and video type we announce for it.
export function localSources(sdp, names) {
    const out = [];
    for (const section of splitSdp(sdp).media) {
        const mid = attr(section, 'mid');
        const meta = names[mid];
        const direction = ['sendrecv', 'sendonly', 'recvonly', 'inactive'].find(d => section.includes(`a=${d}`));
        if (!meta || !(direction === 'sendrecv' || direction === 'sendonly')) continue;
        const ssrcLines = attrs(section, 'ssrc');
        const ssrcs = [...new Set(ssrcLines.map(l => Number(l.split(' ')[0])))];
        if (!ssrcs.length) continue;
        const msidLine = ssrcLines.find(l => l.includes(' msid:'));
        const msid = msidLine ? msidLine.split(' msid:')[1] : attr(section, 'msid');
        const groups = attrs(section, 'ssrc-group').map(g => {
            const [semantics, ...list] = g.split(' ');
            return { semantics, ssrcs: list.map(Number) };
        });
        out.push({ name: meta.name, media: section[0].slice(2).split(' ')[0], videoType: meta.videoType,
            msid, ssrcs, groups, mid });
    }
    return out;
}

// session-accept contents from our answer: the three offered contents, with our sources.
export function answerContents(sdp, layout, ourSources) {
    const { session, media } = splitSdp(sdp);
    const described = sourcesToDescriptions(ourSources);
    const contents = [];
    layout.slots.filter(s => s.kind === 'main').forEach(slot => {
        const section = media.find(m => attr(m, 'mid') === slot.mid);
        if (!section) return;
        const content = el('content', { creator: 'initiator', name: slot.content.name, senders: slot.content.senders });
        if (slot.media !== 'application') {
            const description = el('description', { xmlns: NS_RTP, media: slot.media });
            payloadsFromSection(section).forEach(p => description.append(p));
            for (const ext of attrs(section, 'extmap')) {
                const [id, uri] = ext.split(' ');
                description.append(el('rtp-hdrext', { xmlns: NS_HDREXT, id: id.split('/')[0], uri }));
            }
            if (section.includes('a=extmap-allow-mixed')) description.append(el('extmap-allow-mixed', { xmlns: NS_HDREXT }));
            description.append(el('rtcp-mux'));
            const ours = described.get(slot.media);
            if (ours) ours.children.slice().forEach(c => description.append(c));
            content.append(description);
        } else {
            content.append(el('description', { xmlns: NS_RTP, media: 'application' }));
        }
        const transport = transportFromSection(section, session);
        if (slot.media === 'application') {
            transport.append(el('sctpmap', { xmlns: NS_SCTP, number: attr(section, 'sctp-port') || '5000',
                protocol: 'webrtc-datachannel', streams: '1024' }));
        }
        content.append(transport);
        contents.push(content);
    });
    return contents;
}

// Contents for a source-add/source-remove we send: only <description> with sources.
export function sourceContents(sources) {
    return [...sourcesToDescriptions(sources).entries()].map(([media, description]) =>
        el('content', { creator: 'responder', name: media }, description));
}

// ---- simulcast by SSRC groups (the bridge reads SIM groups, not RIDs) ----

function randomSsrc() {
    return 1 + Math.floor(Math.random() * 0xfffffffe);
}

// Adds two more layers (each with its RTX) to the video m-line `mid`, as an SSRC SIM group.
// `memory` keeps the ssrcs per primary so renegotiations announce the same ones.
export function mungeSimulcast(sdp, mid, memory, layers = 3) {
    const { session, media } = splitSdp(sdp);
    const out = media.map(section => {
        if (attr(section, 'mid') !== mid || section.some(l => l.startsWith('a=ssrc-group:SIM'))) return section;
        if (!(section.includes('a=sendrecv') || section.includes('a=sendonly'))) return section;
        const fid = attrs(section, 'ssrc-group').find(g => g.startsWith('FID '));
        const ssrcLines = attrs(section, 'ssrc');
        if (!ssrcLines.length) return section;
        const primary = fid ? Number(fid.split(' ')[1]) : Number(ssrcLines[0].split(' ')[0]);
        const rtx = fid ? Number(fid.split(' ')[2]) : null;
        const cname = ssrcLines.find(l => l.startsWith(`${primary} cname:`))?.split('cname:')[1] || 'jitsi';
        const msid = ssrcLines.find(l => l.startsWith(`${primary} msid:`))?.split('msid:')[1] || attr(section, 'msid');
        let extra = memory.get(primary);
        if (!extra) {
            extra = Array.from({ length: layers - 1 }, () => [randomSsrc(), randomSsrc()]);
            memory.set(primary, extra);
        }
        const kept = section.filter(l => !l.startsWith('a=ssrc'));
        const sims = [primary, ...extra.map(e => e[0])];
        const add = [`a=ssrc-group:SIM ${sims.join(' ')}`];
        const pairs = [[primary, rtx], ...extra];
        for (const [p, r] of pairs) if (r) add.push(`a=ssrc-group:FID ${p} ${r}`);
        for (const [p, r] of pairs) {
            for (const s of r ? [p, r] : [p]) {
                add.push(`a=ssrc:${s} cname:${cname}`);
                if (msid) add.push(`a=ssrc:${s} msid:${msid}`);
            }
        }
        return [...kept, ...add];
    });
    return [...session, ...out.flat()].join('\r\n') + '\r\n';
}

// ---- stanzas ----

export function sessionAccept({ sid, initiator, responder, contents, lastN }) {
    const jingle = el('jingle', { xmlns: 'urn:xmpp:jingle:1', action: 'session-accept', sid, initiator, responder });
    for (const content of contents) {
        if (lastN !== undefined && content.attrs.name === 'video') {
            content.append(el('initial-last-n', { xmlns: NS_COLIBRI2, value: String(lastN) }));
        }
        jingle.append(content);
    }
    jingle.append(el('group', { xmlns: NS_GROUP, semantics: 'BUNDLE' },
        contents.map(c => el('content', { name: c.attrs.name }))));
    return jingle;
}

export function transportInfo({ sid, initiator, contentName, ufrag, pwd, candidate }) {
    const transport = el('transport', { xmlns: NS_ICE, ufrag, pwd },
        el('candidate', sdpCandidateToJingle(candidate, `c${Math.random().toString(36).slice(2, 8)}`)));
    return el('jingle', { xmlns: 'urn:xmpp:jingle:1', action: 'transport-info', sid, initiator },
        el('content', { creator: 'initiator', name: contentName }, transport));
}

export function sourceAction(action, { sid, initiator }, sources) {
    return el('jingle', { xmlns: 'urn:xmpp:jingle:1', action, sid, initiator }, sourceContents(sources));
}

