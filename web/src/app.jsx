// app.jsx: the shell: login form, navigation between views (the URL's hash), logout, and the
// return to the login form when the session expires.
import { useEffect, useState } from 'preact/hooks';
import * as api from './api.js';
import { liveStatus, onLiveStatus, startLive, stopLive } from './live.js';
import { Overview } from './overview.jsx';
import { Crashes } from './crashes.jsx';
import { Events } from './events.jsx';
import { Sensors } from './sensors.jsx';
import { Policy } from './policy.jsx';
import { Console } from './console.jsx';

const VIEWS = { overview: Overview, crashes: Crashes, events: Events, sensors: Sensors, console: Console, policy: Policy };
const TITLES = { overview: 'Overview', crashes: 'Crashes', events: 'Event log', sensors: 'Sensors', console: 'Console', policy: 'Policy' };

const viewFromHash = () => {
    const v = location.hash.replace(/^#\/?/, '').split('?')[0];
    return VIEWS[v] ? v : 'overview';
};

function Login({ notice }) {
    const [user, setUser] = useState('');
    const [pw, setPw] = useState('');
    const [err, setErr] = useState(notice || '');
    const [busy, setBusy] = useState(false);
    const submit = async (e) => {
        e.preventDefault();
        setBusy(true);
        setErr('');
        try {
            await api.login(user, pw);
            location.reload(); // a clean start with the new session
        } catch (x) {
            setErr(x.message);
            setBusy(false);
        }
    };
    return (
        <form class="login" onSubmit={submit}>
            <h1>Vigil</h1>
            <label>
                User <input name="user" autocomplete="username" value={user} onInput={(e) => setUser(e.target.value)} />
            </label>
            <label>
                Password{' '}
                <input name="password" type="password" autocomplete="current-password" value={pw}
                    onInput={(e) => setPw(e.target.value)} />
            </label>
            <button type="submit" disabled={busy}>Log in</button>
            {err && <p class="error" role="alert">{err}</p>}
        </form>
    );
}

export function App() {
    const [sess, setSess] = useState(api.session());
    const [notice, setNotice] = useState('');
    const [view, setView] = useState(viewFromHash());
    useEffect(() => {
        api.setOnExpired(() => {
            setNotice('Your session has expired; log in again.');
            setSess(null);
        });
        const onHash = () => setView(viewFromHash());
        addEventListener('hashchange', onHash);
        return () => removeEventListener('hashchange', onHash);
    }, []);
    const [live, setLive] = useState(liveStatus());
    useEffect(() => {
        if (!sess) return undefined;
        const off = onLiveStatus(setLive);
        startLive(); // one stream for every view, for as long as the session lasts
        return () => {
            off();
            stopLive();
        };
    }, [sess]);
    if (!sess) return <Login notice={notice} />;
    const View = VIEWS[view];
    const logout = async () => {
        stopLive(); // before the session ends, so the stream does not see a 401
        await api.logout();
        setNotice('');
        setSess(null);
    };
    return (
        <div class="shell">
            <header>
                <span class="brand">Vigil</span>
                <nav>
                    {Object.keys(VIEWS).map((v) => (
                        <a href={`#/${v}`} class={v === view ? 'active' : ''}>{TITLES[v]}</a>
                    ))}
                </nav>
                <span class={`live ${live}`} data-testid="live" title="the event stream">{live === 'live' ? '● live' : live}</span>
                <span class="who" data-testid="who">{sess.user} ({sess.role})</span>
                <button data-testid="logout" onClick={logout}>Log out</button>
            </header>
            <main>
                <View key={view} />
            </main>
        </div>
    );
}
