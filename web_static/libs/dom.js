// Tiny DOM helpers: h('div', {attrs}, ...children) and clear(node).

const PROPERTIES = new Set(['hidden', 'autoplay', 'muted', 'autofocus', 'playsinline', 'value', 'disabled']);

export function h(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
        if (value === undefined || value === null || value === false && !PROPERTIES.has(key)) continue;
        if (key.startsWith('on') && typeof value === 'function') {
            node.addEventListener(key.slice(2), value);
        } else if (PROPERTIES.has(key)) {
            node[key === 'playsinline' ? 'playsInline' : key === 'autofocus' ? 'autofocus' : key] = value;
            if (key === 'muted' || key === 'playsinline') node.setAttribute(key, '');
        } else {
            node.setAttribute(key, value === true ? '' : String(value));
        }
    }
    for (const child of children.flat()) {
        if (child === null || child === undefined || child === false) continue;
        node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
}

export function clear(node) {
    while (node.firstChild) node.firstChild.remove();
    return node;
}
