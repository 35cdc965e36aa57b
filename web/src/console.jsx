// console.jsx: a VM's serial console: xterm.js over the agent's WebSocket (the session token as
// a subprotocol, never in the URL), the scrollback first, then live output; typing goes to the VM
// while this viewer is the writer. Console bytes only ever reach xterm, never the DOM as markup.
// xterm.js (most of the app's script) is fetched when a console is first opened, not with the
// first view; its stylesheet is small and stays in the main one.
import '@xterm/xterm/css/xterm.css';
import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from './api.js';
import { ErrorLine, useLoad } from './ui.jsx';

let xterm = null;
const loadXterm = () =>
    (xterm ??= Promise.all([import('./cspstyles.js'), import('@xterm/xterm'), import('@xterm/addon-fit')]).then(
        ([, x, f]) => ({ Terminal: x.Terminal, FitAddon: f.FitAddon }),
        (e) => {
            xterm = null; // a later visit tries again
            throw e;
        },
    ));

const vmFromHash = () => new URLSearchParams(location.hash.split('?')[1] || '').get('vm');

function describe(n) {
    if (n.event === 'skipped')
        return n.reason === 'ring'
            ? `${n.bytes} bytes lost: the VM printed faster than they could be read`
            : `${n.bytes} bytes skipped: this browser fell behind`;
    if (n.event === 'input-dropped') return `${n.bytes} typed bytes dropped (${n.reason})`;
    return '';
}

export function Console() {
    const { data: systems, err } = useLoad(async () => {
        const list = await api.get('/redfish/v1/Systems');
        return Promise.all(list.Members.map((m) => api.get(m['@odata.id'])));
    });
    const [vm, setVm] = useState(vmFromHash() || 'guest');
    const [mode, setMode] = useState('auto');
    const [attempt, setAttempt] = useState(0); // a new connection on each change
    const [state, setState] = useState({ phase: 'connecting' });
    const box = useRef(null);
    const sys = systems?.find((s) => s.Id === vm);
    const uri = sys?.SerialConsole?.WebSocket?.ConsoleURI;

    useEffect(() => {
        if (!uri) return undefined;
        let gone = false;
        let stop = () => {};
        loadXterm().then(
            (lib) => {
                if (!gone) stop = attach(lib);
            },
            (e) => setState({ phase: 'closed', why: `the terminal did not load: ${e.message}` }),
        );
        return () => {
            gone = true;
            stop();
        };
    }, [uri, mode, attempt]);

    // The terminal on the box, the WebSocket to the VM; returns what undoes both.
    function attach({ Terminal, FitAddon }) {
        // convertEol: hv's guests end lines with a bare \n, as most serial consoles do.
        const term = new Terminal({ scrollback: 10000, cursorBlink: true, fontSize: 14, convertEol: true });
        const fit = new FitAddon();
        term.loadAddon(fit);
        term.open(box.current);
        fit.fit();
        const onResize = () => fit.fit();
        addEventListener('resize', onResize);
        const url = `wss://${location.host}${uri}?mode=${mode}`;
        const ws = new WebSocket(url, ['vigil.console.v1', api.session().token]);
        ws.binaryType = 'arraybuffer';
        const enc = new TextEncoder();
        ws.onopen = () => setState({ phase: 'attached' });
        ws.onmessage = (e) => {
            if (typeof e.data !== 'string') return term.write(new Uint8Array(e.data));
            const n = JSON.parse(e.data);
            if (n.event === 'attached' || n.event === 'writer')
                setState((s) => ({ ...s, phase: 'attached', writer: n.writer, canWrite: n.can_write ?? s.canWrite }));
            const text = describe(n);
            if (text) term.write(`\r\n\x1b[2m[${text}]\x1b[0m\r\n`);
        };
        ws.onclose = (e) => setState({ phase: 'closed', why: `${e.code}${e.reason ? ` ${e.reason}` : ''}` });
        const typing = term.onData((d) => ws.readyState === WebSocket.OPEN && ws.send(enc.encode(d)));
        term.focus();
        return () => {
            typing.dispose();
            removeEventListener('resize', onResize);
            ws.onclose = null;
            ws.close(1000);
            term.dispose();
        };
    }

    const label = state.phase !== 'attached'
        ? state.phase === 'closed' ? `closed (${state.why})` : 'connecting'
        : state.writer ? 'writer: your keys go to the VM' : state.canWrite ? 'viewing: another viewer types' : 'view only';
    return (
        <div>
            <div class="toolbar">
                <h2>Console</h2>
                <select data-testid="console-vm" value={vm} onChange={(e) => setVm(e.target.value)}>
                    {(systems || []).map((s) => <option value={s.Id}>{s.Id}</option>)}
                </select>
                <span data-testid="console-state" class="hint">{label}</span>
                {state.phase === 'attached' && state.canWrite && !state.writer && (
                    <button data-testid="takeover" onClick={() => (setMode('takeover'), setAttempt(attempt + 1))}>
                        Take over typing
                    </button>
                )}
                {state.phase === 'closed' && (
                    <button data-testid="reconnect" onClick={() => setAttempt(attempt + 1)}>Reconnect</button>
                )}
            </div>
            <ErrorLine err={err} />
            <div class="console" data-testid="console" ref={box} />
        </div>
    );
}
