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
    constructor(status, message, related = '') {
        super(message);
        this.status = status;
        this.related = related; // the property a refusal names (RelatedProperties), "#/Events/x"
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
    let related = '';
    try {
        const j = await r.json();
        const info = j?.error?.['@Message.ExtendedInfo']?.[0];
        msg = info?.Message || j?.error?.message || msg;
        related = info?.RelatedProperties?.[0] || '';
    } catch {
        /* not JSON */
    }
    return new ApiError(r.status, msg, related);
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
// A resource with its ETag, and a PATCH guarded by it (If-Match: 412 when it changed meanwhile).
export async function getTagged(path) {
    const r = await request('GET', path);
    return { etag: r.headers.get('ETag'), body: await r.json() };
}
export async function patchTagged(path, body, etag) {
    const r = await request('PATCH', path, body, { 'If-Match': etag });
    return { etag: r.headers.get('ETag'), body: await r.json() };
}

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
