// Logging in when the deployment has ENABLE_AUTH (docs/client-xmpp.md §10, docs/focus.md §1.4).
//
// internal/ldap: the main domain takes passwords only, and the meeting connection logs in there
// with SASL PLAIN. With guests (config.hosts.anonymousdomain) everyone first connects anonymously
// there; a guest who comes first waits for the host, retrying the conference request, until an
// authenticated user's request has started the meeting. The host says so, logs in, and carries on
// on the authenticated connection (as upstream's login does when it has no conference yet).
// Logging in leaves this browser a focus session (conference.js focusSession): back later, still
// as a guest, it presents that session and is recognised as the host without a password, for as
// long as the focus keeps it (ENABLE_AUTO_LOGIN). A guest already in the meeting logs in on a
// second connection and becomes a moderator (Conference.upgradeRole); logging out ends the focus
// session and leaves the meeting, as jitsi-meet does.
// jwt: the page's ?jwt= goes to the XMPP server as ?token=; without one, config.tokenAuthUrl is
// where a token is obtained.

import { h } from './dom.js';

export const WAIT_FOR_HOST_RETRY_MS = 5000;

export class LoginError extends Error {
    // kind: 'password-required' (the server wants a login) or 'credentials' (it refused ours)
    constructor(kind, message) {
        super(message);
        this.kind = kind;
    }
}

// The login's bare JID parts: a bare user name belongs to the auth-capable domain.
export function loginParts(username, hosts) {
    const at = username.lastIndexOf('@');
    if (at > 0) return { node: username.slice(0, at), domain: username.slice(at + 1) };
    return { node: username, domain: hosts.authdomain || hosts.domain };
}

// The domain a meeting connection opens its stream to. As lib-jitsi-meet does, a token or
// ?login=true in the page URL skips the guest domain.
export function connectionDomain(hosts, credentials, search = '') {
    if (credentials) return loginParts(credentials.username, hosts).domain;
    const params = new URLSearchParams(search);
    if (params.get('jwt') || params.get('login') === 'true') return hosts.domain;
    return hosts.anonymousdomain || hosts.domain;
}

// Connection failures that mean "log in" or "wrong login" become a LoginError; others pass.
export function loginErrorOf(error, withCredentials) {
    const condition = error?.condition;
    if (condition === 'password-required') {
        return new LoginError('password-required', 'This server requires you to log in.');
    }
    if (withCredentials && (condition === 'not-authorized' || condition === 'credentials-expired' || condition === 'account-disabled')) {
        return new LoginError('credentials', condition === 'not-authorized'
            ? 'The user name or password is wrong.' : `The server refused the login (${error.text || condition}).`);
    }
    if (withCredentials && condition === 'temporary-auth-failure') {
        return new LoginError('credentials', 'The login service is not available right now. Try again in a moment.');
    }
    if (withCredentials && condition === 'no-plain') {
        return new LoginError('credentials', 'The server does not accept passwords over this connection.');
    }
    return error;
}

// The JWT of the page URL (?jwt=) and the user it names (context.user); the signature is the
// server's business, the client only reads the name to show.
export function pageToken(search) {
    return new URLSearchParams(search).get('jwt') || undefined;
}

export function tokenUser(token) {
    try {
        const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
        const bytes = Uint8Array.from(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, '=')), c => c.charCodeAt(0));
        const user = JSON.parse(new TextDecoder().decode(bytes))?.context?.user;
        return user && typeof user === 'object' ? user : null;
    } catch (e) {
        return null;
    }
}

// config.tokenAuthUrl with {room} replaced by the room name, as upstream substitutes it.
export function tokenAuthUrl(config, room) {
    return config.tokenAuthUrl ? config.tokenAuthUrl.replace(/\{room\}/g, encodeURIComponent(room)) : null;
}

// The login prompt; resolves { username, password } or null when cancelled. `message` says why
// it is shown again (a refused password), `intro` what logging in does.
export function askCredentials(parent, message, intro = 'Log in to start the meeting as its host.') {
    return new Promise(resolve => {
        const username = h('input', { 'data-testid': 'login-username', placeholder: 'User name', 'aria-label': 'User name', autocomplete: 'username' });
        const password = h('input', { 'data-testid': 'login-password', type: 'password', placeholder: 'Password', 'aria-label': 'Password', autocomplete: 'current-password' });
        const done = value => {
            dialog.close();
            dialog.remove();
            resolve(value);
        };
        const submit = () => username.value.trim() && done({ username: username.value.trim(), password: password.value });
        password.addEventListener('keydown', e => e.key === 'Enter' && submit());
        const dialog = h('dialog', { 'data-testid': 'login-dialog' },
            h('h2', {}, 'Log in'),
            message ? h('p', { class: 'error', role: 'alert', 'data-testid': 'login-error' }, message) : h('p', {}, intro),
            username, password,
            h('div', { class: 'row' },
                h('button', { class: 'primary', 'data-testid': 'login-submit', onclick: submit }, 'Log in'),
                h('button', { 'data-testid': 'login-cancel', onclick: () => done(null) }, 'Cancel')));
        dialog.addEventListener('cancel', () => resolve(null));
        parent.append(dialog);
        dialog.showModal();
    });
}

// Logging out ends the meeting for this person: ask first. Resolves true to go ahead.
export function confirmLogout(parent) {
    return new Promise(resolve => {
        const done = value => {
            dialog.close();
            dialog.remove();
            resolve(value);
        };
        const dialog = h('dialog', { 'data-testid': 'logout-dialog' },
            h('h2', {}, 'Log out'),
            h('p', {}, 'Log out and leave the meeting? Next time you will be asked to log in again.'),
            h('div', { class: 'row' },
                h('button', { class: 'primary', 'data-testid': 'logout-confirm', onclick: () => done(true) }, 'Log out'),
                h('button', { 'data-testid': 'logout-cancel', onclick: () => done(false) }, 'Cancel')));
        dialog.addEventListener('cancel', () => resolve(false));
        parent.append(dialog);
        dialog.showModal();
    });
}

// A guest came first: say so, offer the host's login, and ask the focus again every few seconds.
// Resolves 'joined' once `join()` succeeds, 'login' when this person says they are the host.
export async function waitForHost({ view, join, isAuthRequired }) {
    let wake;
    const notice = h('div', { class: 'centered', 'data-testid': 'wait-for-host' },
        h('p', {}, 'Waiting for the host\u2026 The meeting has not started yet: it starts when its host logs in.'),
        h('button', { 'data-testid': 'wait-for-host-login', onclick: () => wake?.('login') }, 'I am the host'));
    view.status('Waiting for the host\u2026');
    view.root.dataset.auth = 'waiting-for-host';
    view.stage.prepend(notice);
    try {
        for (;;) {
            const why = await new Promise(resolve => {
                wake = resolve;
                setTimeout(() => resolve('retry'), WAIT_FOR_HOST_RETRY_MS);
            });
            wake = null;
            if (view.leaving || why === 'login') return why;
            try {
                await join();
                return 'joined';
            } catch (error) {
                if (!isAuthRequired(error)) throw error;
            }
        }
    } finally {
        notice.remove();
        delete view.root.dataset.auth;
    }
}
