// The bridge channel (docs/bridge-media.md §5-6): JSON messages over the SCTP data channel or the
// colibri-ws WebSocket. Receiver constraints are computed by a pure function so they can be tested.

// Which layer each tile needs: the on-stage source in full, the others as thumbnails.
export function receiverConstraints({ sources, onStage, lastN = -1, stageHeight = 720, thumbHeight = 180 }) {
    const constraints = {};
    for (const name of sources) {
        constraints[name] = { maxHeight: name === onStage ? stageHeight : thumbHeight };
    }
    return {
        colibriClass: 'ReceiverVideoConstraints',
        lastN,
        onStageSources: onStage ? [onStage] : [],
        selectedSources: [],
        defaultConstraints: { maxHeight: thumbHeight },
        constraints,
    };
}

export function parseMessage(text) {
    const message = JSON.parse(text);
    if (typeof message !== 'object' || message === null || typeof message.colibriClass !== 'string') {
        throw new Error('bridge channel message without colibriClass');
    }
    return message;
}

const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 60000;

export class BridgeChannel {
    constructor({ onMessage, onOpen = () => {}, onClose = () => {} }) {
        this.onMessage = onMessage;
        this.onOpen = onOpen;
        this.onClose = onClose;
        this.sources = [];
        this.onStage = null;
        this.extra = {};
        this.closed = false;
        this.channel = null;
    }

    attach(channel) {
        this.channel = channel;
        channel.onopen = () => {
            this.retryMs = RECONNECT_MIN_MS;
            this.onOpen();
            this.sendConstraints();
        };
        channel.onmessage = event => {
            let message;
            try {
                message = parseMessage(typeof event.data === 'string' ? event.data : new TextDecoder().decode(event.data));
            } catch (e) {
                return;
            }
            this.onMessage(message);
        };
        channel.onclose = () => {
            this.onClose();
            if (this.url && !this.closed) {
                setTimeout(() => !this.closed && this.useWebSocket(this.url), this.retryMs);
                this.retryMs = Math.min(this.retryMs * 2, RECONNECT_MAX_MS);
            }
        };
    }

    useDataChannel(channel) {
        this.attach(channel);
    }

    useWebSocket(url) {
        this.url = url;
        this.retryMs = this.retryMs || RECONNECT_MIN_MS;
        this.attach(new WebSocket(url));
    }

    get isOpen() {
        return this.channel?.readyState === 'open' || this.channel?.readyState === 1;
    }

    send(message) {
        if (this.isOpen) this.channel.send(JSON.stringify(message));
    }

    setSources(sources) {
        this.sources = sources;
        this.sendConstraints();
    }

    setOnStage(sourceName) {
        this.onStage = sourceName;
        this.sendConstraints();
    }

    setConstraints(extra) {
        this.extra = extra;
        this.sendConstraints();
    }

    sendConstraints() {
        const onStage = this.extra.onStage !== undefined ? this.extra.onStage
            : this.onStage && this.sources.includes(this.onStage) ? this.onStage : this.sources[0] || null;
        this.send(receiverConstraints({ sources: this.sources, ...this.extra, onStage }));
    }

    close() {
        this.closed = true;
        try {
            this.channel?.close();
        } catch (e) { /* already closed */ }
    }
}
