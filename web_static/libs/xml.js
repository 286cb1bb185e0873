// A small XML element model for XMPP: parse one element (or a stream of them), build, serialise.
// Pure (no DOM), so the same code runs in the browser and under `node --test`.

export class XmlError extends Error {}

export class El {
    constructor(name, attrs = {}, children = []) {
        this.name = name;
        this.attrs = { ...attrs };
        this.children = [];
        this.parent = null;
        for (const child of children) {
            this.append(child);
        }
    }

    append(child) {
        if (child === null || child === undefined) {
            return this;
        }
        if (child instanceof El) {
            child.parent = this;
        }
        this.children.push(child instanceof El ? child : String(child));
        return this;
    }

    // Builder style: el.c('x', {...}) returns the new child.
    c(name, attrs = {}) {
        const child = new El(name, attrs);
        this.append(child);
        return child;
    }

    t(text) {
        this.append(String(text));
        return this;
    }

    up() {
        return this.parent;
    }

    root() {
        let el = this;
        while (el.parent) {
            el = el.parent;
        }
        return el;
    }

    get ns() {
        for (let el = this; el; el = el.parent) {
            if (el.attrs.xmlns !== undefined) {
                return el.attrs.xmlns;
            }
        }
        return '';
    }

    get text() {
        return this.children.filter(c => typeof c === 'string').join('');
    }

    elements(name, ns) {
        return this.children.filter(c => c instanceof El
            && (name === undefined || c.name === name)
            && (ns === undefined || c.ns === ns));
    }

    first(name, ns) {
        return this.elements(name, ns)[0] || null;
    }

    // Path of names, each optionally `name@ns`: el.find('x', 'item').
    find(...names) {
        let el = this;
        for (const step of names) {
            const [name, ns] = step.split('@');
            el = el && el.first(name, ns);
        }
        return el;
    }

    toString() {
        const attrs = Object.entries(this.attrs)
            .filter(([, v]) => v !== undefined && v !== null)
            .map(([k, v]) => ` ${k}="${escape(String(v), true)}"`).join('');
        if (!this.children.length) {
            return `<${this.name}${attrs}/>`;
        }
        const inner = this.children.map(c => typeof c === 'string' ? escape(c, false) : c.toString()).join('');
        return `<${this.name}${attrs}>${inner}</${this.name}>`;
    }
}

export function el(name, attrs, ...children) {
    return new El(name, attrs, children.flat());
}

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

export function escape(text, attribute) {
    return text.replace(attribute ? /[&<>"']/g : /[&<>]/g, ch => ESCAPES[ch]);
}

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescape(text) {
    return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, body) => {
        if (body[0] === '#') {
            const code = body[1] === 'x' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
            return String.fromCodePoint(code);
        }
        if (!(body in ENTITIES)) {
            throw new XmlError(`unknown entity ${whole}`);
        }
        return ENTITIES[body];
    });
}

const TAG = /<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[A-Za-z_][\w.:-]*\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/y;
const ATTR = /([A-Za-z_][\w.:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

// Parse a sequence of top-level elements (text between them is ignored). `<?xml ?>` and comments
// are skipped; anything else malformed throws XmlError.
export function parseAll(text) {
    const out = [];
    const stack = [];
    let i = 0;
    while (i < text.length) {
        const lt = text.indexOf('<', i);
        if (lt < 0) {
            if (stack.length && text.slice(i).trim()) {
                throw new XmlError('unterminated element');
            }
            break;
        }
        if (lt > i && stack.length) {
            stack[stack.length - 1].append(unescape(text.slice(i, lt)));
        }
        if (text.startsWith('<?', lt)) {
            i = text.indexOf('?>', lt) + 2;
            if (i < 2) throw new XmlError('unterminated processing instruction');
            continue;
        }
        if (text.startsWith('<!--', lt)) {
            i = text.indexOf('-->', lt) + 3;
            if (i < 3) throw new XmlError('unterminated comment');
            continue;
        }
        if (text.startsWith('<![CDATA[', lt)) {
            const end = text.indexOf(']]>', lt);
            if (end < 0 || !stack.length) throw new XmlError('bad CDATA');
            stack[stack.length - 1].append(text.slice(lt + 9, end));
            i = end + 3;
            continue;
        }
        TAG.lastIndex = lt;
        const m = TAG.exec(text);
        if (!m) {
            throw new XmlError(`malformed tag at ${lt}`);
        }
        i = TAG.lastIndex;
        const [, closing, name, rawAttrs, selfClosing] = m;
        if (closing) {
            const open = stack.pop();
            if (!open || open.name !== name) {
                throw new XmlError(`mismatched </${name}>`);
            }
            if (!stack.length) out.push(open);
            continue;
        }
        const attrs = {};
        for (const a of rawAttrs.matchAll(ATTR)) {
            attrs[a[1]] = unescape(a[2] ?? a[3]);
        }
        const node = new El(name, attrs);
        if (stack.length) {
            stack[stack.length - 1].append(node);
        }
        if (selfClosing) {
            if (!stack.length) out.push(node);
        } else {
            stack.push(node);
        }
    }
    if (stack.length) {
        throw new XmlError(`unclosed <${stack[stack.length - 1].name}>`);
    }
    return out;
}

export function parse(text) {
    const all = parseAll(text);
    if (all.length !== 1) {
        throw new XmlError(`expected one element, got ${all.length}`);
    }
    return all[0];
}
