// api.js: the Redfish client: session login and logout, the token (sessionStorage, sent as
// X-Auth-Token, never a cookie), the role's privileges, and 401 handled as an expired session.
const KEY = 'vigil.session';

let sess = null;
try {
    sess = JSON.parse(sessionStorage.getItem(KEY) || 'null');
} catch {
    sess = null;
}
let onExpired = () => {};

export class ApiError extends Error {
    constructor(status, message) {
        super(message);
        this.status = status;
    }
}

export const session = () => sess;
export const setOnExpired = (f) => (onExpired = f);
export const can = (priv) => !!sess && sess.privileges.includes(priv);

function forget() {
    sess = null;
    sessionStorage.removeItem(KEY);
}

// The Redfish error's own message when there is one (Base registry text), else the status.
async function failure(r) {
    let msg = `${r.status} ${r.statusText}`;
    try {
        const j = await r.json();
        msg = j?.error?.['@Message.ExtendedInfo']?.[0]?.Message || j?.error?.message || msg;
    } catch {
        /* not JSON */
    }
    return new ApiError(r.status, msg);
}

// credentials 'omit': no cookies either way, and no browser Basic-auth prompt on a 401.
// extra: more headers (the event stream's Accept and Last-Event-ID); signal: to abort it.
export async function request(method, path, body, extra = {}, signal = undefined) {
    const headers = { Accept: 'application/json', ...extra };
    if (sess) headers['X-Auth-Token'] = sess.token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'omit',
        cache: 'no-store',
        signal,
    });
    if (r.status === 401 && sess) {
        forget();
        onExpired();
        throw new ApiError(401, 'the session has expired; log in again');
    }
    if (!r.ok) throw await failure(r);
    return r;
}

export const get = async (path) => (await request('GET', path)).json();
export const post = async (path, body = {}) => {
    const r = await request('POST', path, body);
    return r.status === 204 ? null : r.json().catch(() => null);
};
export const del = (path) => request('DELETE', path);

export async function login(user, password) {
    const r = await fetch('/redfish/v1/SessionService/Sessions', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ UserName: user, Password: password }),
        credentials: 'omit',
    });
    if (!r.ok) throw await failure(r);
    sess = {
        token: r.headers.get('X-Auth-Token'),
        location: r.headers.get('Location'),
        user,
        role: '',
        privileges: [],
    };
    try {
        // The UI shows only what the role can do; the agent checks every request anyway.
        const acct = await get(`/redfish/v1/AccountService/Accounts/${encodeURIComponent(user)}`);
        const role = await get(`/redfish/v1/AccountService/Roles/${encodeURIComponent(acct.RoleId)}`);
        sess.role = acct.RoleId;
        sess.privileges = role.AssignedPrivileges || [];
    } catch (e) {
        await logout();
        throw e;
    }
    sessionStorage.setItem(KEY, JSON.stringify(sess));
}

export async function logout() {
    if (sess?.location) {
        try {
            await request('DELETE', sess.location);
        } catch {
            /* expired already: nothing to end */
        }
    }
    forget();
}
