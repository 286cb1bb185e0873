// Remote media sources as the focus signals them (docs/focus.md §4): the compact JSON form and the XML
// <source>/<ssrc-group> form, both turned into one model keyed by source name.
//
// A source: { name, owner, media: 'audio'|'video', videoType: 'camera'|'desktop'|undefined,
//             msid, ssrcs: [primary, ...], groups: [{ semantics, ssrcs }] }

import { el } from './xml.js';

export const NS_JINGLE = 'urn:xmpp:jingle:1';
export const NS_RTP = 'urn:xmpp:jingle:apps:rtp:1';
export const NS_SSMA = 'urn:xmpp:jingle:apps:rtp:ssma:0';
export const NS_JITMEET = 'http://jitsi.org/jitmeet';

function sourceKey(owner, name, media, msid, ssrc) {
    return name || (msid ? `${owner}:${media}:${msid}` : `${owner}:${media}:${ssrc}`);
}

function addSsrc(map, owner, media, entry) {
    const ssrc = Number(entry.s);
    if (!Number.isInteger(ssrc) || ssrc <= 0 || ssrc > 0xffffffff) {
        throw new Error(`bad ssrc ${JSON.stringify(entry.s)} for ${owner}`);
    }
    const key = sourceKey(owner, entry.n, media, entry.m, ssrc);
    let source = map.get(key);
    if (!source) {
        source = { name: entry.n || key, owner, media, msid: entry.m, ssrcs: [], groups: [] };
        if (media === 'video') {
            source.videoType = entry.v === 'd' ? 'desktop' : 'camera';
        }
        map.set(key, source);
    }
    if (!source.ssrcs.includes(ssrc)) {
        source.ssrcs.push(ssrc);
    }
}

function attachGroups(map, owner, groups) {
    for (const group of groups || []) {
        const [kind, ...ssrcs] = group;
        const semantics = { s: 'SIM', f: 'FID' }[kind] || String(kind).toUpperCase();
        const numbers = ssrcs.map(Number);
        const source = [...map.values()].find(s => s.owner === owner && s.ssrcs.includes(numbers[0]));
        if (source) {
            source.groups.push({ semantics, ssrcs: numbers });
        }
    }
}

// {"sources": {owner: [[videoSources], [videoGroups], [audioSources], [audioGroups]?]}} -> Map
export function parseJsonSources(text) {
    const body = JSON.parse(text);
    const map = new Map();
    for (const [owner, lists] of Object.entries(body.sources || {})) {
        const [video = [], videoGroups = [], audio = [], audioGroups = []] = lists;
        for (const entry of video) addSsrc(map, owner, 'video', entry);
        for (const entry of audio) addSsrc(map, owner, 'audio', entry);
        attachGroups(map, owner, videoGroups);
        attachGroups(map, owner, audioGroups);
    }
    return map;
}

// <description media=..> children in a Jingle content -> Map (owner from ssrc-info, else name prefix)
export function parseXmlSources(jingle) {
    const map = new Map();
    for (const content of jingle.elements('content')) {
        const description = content.first('description', NS_RTP);
        if (!description) continue;
        const media = description.attrs.media;
        for (const source of description.elements('source', NS_SSMA)) {
            const info = source.first('ssrc-info', NS_JITMEET);
            const name = source.attrs.name;
            const owner = info?.attrs.owner?.split('/').pop() || (name ? name.split('-')[0] : 'unknown');
            const msidParam = source.elements('parameter').find(p => p.attrs.name === 'msid');
            addSsrc(map, owner, media, {
                s: source.attrs.ssrc, n: name, m: msidParam?.attrs.value,
                v: source.attrs.videoType === 'desktop' ? 'd' : undefined,
            });
        }
        for (const group of description.elements('ssrc-group', NS_SSMA)) {
            const ssrcs = group.elements('source').map(s => Number(s.attrs.ssrc));
            const owner = [...map.values()].find(s => s.ssrcs.includes(ssrcs[0]))?.owner;
            if (owner) attachGroups(map, owner, [[group.attrs.semantics, ...ssrcs]]);
        }
    }
    return map;
}

// Sources carried by a session-initiate / source-add / source-remove: JSON when present, else XML.
export function sourcesOf(jingle) {
    const json = jingle.first('json-message', NS_JITMEET);
    return json ? parseJsonSources(json.text) : parseXmlSources(jingle);
}

// What a receiver needs of a sender's source when the bridge forwards one simulcast layer on the
// first SIM ssrc: the primary ssrc, its RTX partner, and the FID group between them.
export function receivedSsrcs(source) {
    const sim = source.groups.find(g => g.semantics === 'SIM');
    const primary = sim ? sim.ssrcs[0] : source.ssrcs[0];
    const fid = source.groups.find(g => g.semantics === 'FID' && g.ssrcs[0] === primary);
    return { ssrcs: fid ? fid.ssrcs : [primary], groups: fid ? [fid] : [] };
}

// Our own sources as Jingle XML (session-accept, source-add, source-remove): per media a
// <description> holding <source> and <ssrc-group> elements.
export function sourcesToDescriptions(sources) {
    const byMedia = new Map();
    for (const source of sources) {
        if (!byMedia.has(source.media)) {
            byMedia.set(source.media, el('description', { xmlns: NS_RTP, media: source.media }));
        }
        const description = byMedia.get(source.media);
        for (const ssrc of source.ssrcs) {
            const attrs = { xmlns: NS_SSMA, ssrc: String(ssrc), name: source.name };
            if (source.media === 'video') attrs.videoType = source.videoType || 'camera';
            description.append(el('source', attrs,
                el('parameter', { name: 'msid', value: source.msid })));
        }
        for (const group of source.groups) {
            description.append(el('ssrc-group', { xmlns: NS_SSMA, semantics: group.semantics },
                group.ssrcs.map(s => el('source', { ssrc: String(s) }))));
        }
    }
    return byMedia;
}
