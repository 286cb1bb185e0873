// Our own line icons: 24x24, drawn with currentColor strokes, so they follow the text colour and
// need no icon font.

const SVG = 'http://www.w3.org/2000/svg';

const SLASH = 'M4 4l16 16';
const MIC = 'M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z M5.5 11a6.5 6.5 0 0 0 13 0 M12 17.5V21';
const CAMERA = 'M3 7h12v10H3z M15 10.5l6-3.5v10l-6-3.5';
const HAND = 'M8 13V6.5a1.5 1.5 0 0 1 3 0V11 M11 11V4.5a1.5 1.5 0 0 1 3 0V11 M14 11V6.5a1.5 1.5 0 0 1 3 0V14'
    + 'a7 7 0 0 1-7 7h-.5a5.5 5.5 0 0 1-4.4-2.2L3.6 16a1.5 1.5 0 0 1 2.3-1.9L8 16';

export const PATHS = {
    microphone: MIC,
    'microphone-off': `${MIC} ${SLASH}`,
    camera: CAMERA,
    'camera-off': `${CAMERA} ${SLASH}`,
    desktop: 'M3 4h18v12H3z M8 20h8 M12 16v4 M12 13V7.5 M9.5 10l2.5-2.5 2.5 2.5',
    chat: 'M4 5h16v11H9.5L4 20z M8 9.5h8 M8 12.5h5',
    raisehand: HAND,
    'participants-pane': 'M9 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6z M3 20a6 6 0 0 1 12 0 M16.5 11.5a2.5 2.5 0 1 0 0-5 M17 14.5a5 5 0 0 1 4 5.5',
    tileview: 'M4 4h7v7H4z M13 4h7v7h-7z M4 13h7v7H4z M13 13h7v7h-7z',
    stage: 'M3 5h13v14H3z M18 5h3v4h-3z M18 10.5h3v4h-3z M18 16h3v3h-3z',
    more: 'M5 12h.01 M12 12h.01 M19 12h.01',
    hangup: 'M3 14.5c5-5 13-5 18 0l-2.2 2.8-3.8-1.3v-3a11 11 0 0 0-6 0v3l-3.8 1.3z',
    security: 'M12 3l8 3v6c0 4.5-3.4 8.2-8 9-4.6-.8-8-4.5-8-9V6z M9 12l2 2 4-4',
    lock: 'M6 11h12v9H6z M8.5 11V8a3.5 3.5 0 0 1 7 0v3',
    settings: 'M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z M12 2.5v3 M12 18.5v3 M2.5 12h3 M18.5 12h3 M5.3 5.3l2.1 2.1 '
        + 'M16.6 16.6l2.1 2.1 M5.3 18.7l2.1-2.1 M16.6 7.4l2.1-2.1',
    invite: 'M9 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6z M3 20a6 6 0 0 1 12 0 M19 8v6 M16 11h6',
    shortcuts: 'M3 6h18v12H3z M7 10h.01 M11 10h.01 M15 10h.01 M8 14h8',
    fullscreen: 'M4 9V4h5 M15 4h5v5 M20 15v5h-5 M9 20H4v-5',
    etherpad: 'M6 3h9l4 4v14H6z M14 3v5h5 M9 13h7 M9 17h7',
    moderator: 'M12 3l2.7 5.6 6.1.8-4.5 4.2 1.1 6.1L12 16.8l-5.4 2.9 1.1-6.1-4.5-4.2 6.1-.8z',
    pin: 'M9 3h6l-1 6 3.5 3.5h-11L10 9z M12 12.5V21',
    quality: 'M5 19v-3 M10 19v-7 M15 19V9 M20 19V5',
    send: 'M4 12l16-8-6 16-2.5-6.5z M11.5 13.5L20 4',
    close: 'M6 6l12 12 M18 6L6 18',
    speaker: 'M4 9h4l5-4v14l-5-4H4z M16.5 9a4 4 0 0 1 0 6 M19 6.5a7.5 7.5 0 0 1 0 11',
    link: 'M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1 M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1',
    menu: 'M12 5h.01 M12 12h.01 M12 19h.01',
    poll: 'M5 20V10 M12 20V4 M19 20v-7',
    closedcaptions: 'M3 5h18v14H3z M10.5 10a2.3 2.3 0 1 0 0 4 M17 10a2.3 2.3 0 1 0 0 4',
    recording: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z',
    livestreaming: 'M12 14a2 2 0 1 0 0-4 2 2 0 0 0 0 4z M8.5 15.5a5 5 0 0 1 0-7 M15.5 8.5a5 5 0 0 1 0 7 M5.6 18.4a9 9 0 0 1 0-12.8 M18.4 5.6a9 9 0 0 1 0 12.8',
    phone: 'M6.5 3.5h3l1.5 4-2 1.5a10 10 0 0 0 6 6l1.5-2 4 1.5v3a2 2 0 0 1-2 2A15.5 15.5 0 0 1 4.5 5.5a2 2 0 0 1 2-2z',
    reactions: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z M8.5 14a4 4 0 0 0 7 0 M9 9.5h.01 M15 9.5h.01',
    like: 'M7 11v9H4v-9z M7 11l4-7a2 2 0 0 1 2 2.5L12.3 10H18a2 2 0 0 1 2 2.3l-1.2 6A2 2 0 0 1 16.8 20H7',
    boo: 'M7 13V4H4v9z M7 13l4 7a2 2 0 0 0 2-2.5l-.7-3.5H18a2 2 0 0 0 2-2.3l-1.2-6A2 2 0 0 0 16.8 4H7',
    love: 'M12 20s-7.5-4.6-8.6-9.3A4.6 4.6 0 0 1 12 6.6a4.6 4.6 0 0 1 8.6 4.1C19.5 15.4 12 20 12 20z',
    laugh: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z M7.5 13h9a4.5 4.5 0 0 1-9 0z M8 9l2 1-2 1 M16 9l-2 1 2 1',
    surprised: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z M12 17.5a2 2 0 1 0 0-4 2 2 0 0 0 0 4z M9 9.5h.01 M15 9.5h.01',
};

export function icon(name, { size = 22, title } = {}) {
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('width', String(size));
    svg.setAttribute('height', String(size));
    svg.setAttribute('fill', 'none');
    svg.setAttribute('stroke', 'currentColor');
    svg.setAttribute('stroke-width', '1.8');
    svg.setAttribute('stroke-linecap', 'round');
    svg.setAttribute('stroke-linejoin', 'round');
    svg.setAttribute('class', `icon icon-${name}`);
    if (title) {
        svg.setAttribute('role', 'img');
        svg.setAttribute('aria-label', title);
    } else {
        svg.setAttribute('aria-hidden', 'true');
    }
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', PATHS[name] || PATHS.more);
    svg.append(path);
    return svg;
}
