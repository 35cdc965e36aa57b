// ui.jsx: small shared pieces: the refresh bar, the error line, the confirmation dialog, and a
// loader hook (views reload after each action and on the refresh button; no polling).
import { useCallback, useEffect, useState } from 'preact/hooks';

export function useLoad(fn) {
    const [data, setData] = useState(null);
    const [err, setErr] = useState('');
    const [busy, setBusy] = useState(false);
    const reload = useCallback(async () => {
        setBusy(true);
        try {
            setData(await fn());
            setErr('');
        } catch (e) {
            setErr(e.message);
        }
        setBusy(false);
    }, []);
    useEffect(() => {
        reload();
    }, [reload]);
    return { data, err, busy, reload, setErr };
}

export function Toolbar({ title, busy, reload, children }) {
    return (
        <div class="toolbar">
            <h2>{title}</h2>
            {children}
            <button data-testid="refresh" onClick={reload} disabled={busy}>
                {busy ? 'Loading…' : 'Refresh'}
            </button>
        </div>
    );
}

export const ErrorLine = ({ err }) => (err ? <p class="error" role="alert">{err}</p> : null);

// An in-page confirmation rather than window.confirm: styled, and testable without dialogs.
export function Confirm({ ask, onDone }) {
    if (!ask) return null;
    return (
        <div class="modal" role="dialog" aria-modal="true">
            <div class="box">
                <p>{ask.text}</p>
                <button data-testid="confirm-yes" class="danger" onClick={() => onDone(true)}>
                    {ask.yes || 'Yes'}
                </button>
                <button data-testid="confirm-no" onClick={() => onDone(false)}>Cancel</button>
            </div>
        </div>
    );
}

export function useConfirm() {
    const [ask, setAsk] = useState(null);
    const confirm = (text, yes) =>
        new Promise((resolve) => setAsk({ text, yes, resolve }));
    const dialog = (
        <Confirm
            ask={ask}
            onDone={(ok) => {
                ask.resolve(ok);
                setAsk(null);
            }}
        />
    );
    return [confirm, dialog];
}

export const bytes = (n) =>
    n == null ? '' : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
