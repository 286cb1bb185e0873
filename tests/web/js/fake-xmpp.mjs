// A stand-in for the XMPP connection a Conference runs on, in node and in the browser loopback:
// what the conference sends is kept in `sent` (IQs too), `receive(stanza)` hands a stanza to its
// handler, and `answer(iq, timeout)` resolves or rejects each IQ.
export function fakeConnection(answer) {
    const connection = {
        sent: [],
        handler: null,
        core: { jid: 'aaaaaaaa-1111@meet.jitsi/web' },
        addHandler: h => { connection.handler = h; },
        send: s => connection.sent.push(s),
        iq: (s, timeout) => {
            connection.sent.push(s);
            return answer(s, timeout);
        },
        receive: stanza => connection.handler(stanza),
    };
    return connection;
}
