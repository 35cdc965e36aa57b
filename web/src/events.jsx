// events.jsx: the SEL: pages fetched by following Members@odata.nextLink (so no count limits
// what can be seen), filtered by severity and text in the browser, exported as CSV.
import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from './api.js';
import { useLive } from './live.js';
import { ErrorLine, Toolbar } from './ui.jsx';

const SEL = '/redfish/v1/Managers/hv/LogServices/SEL/Entries';
const SEVERITIES = ['', 'OK', 'Warning', 'Critical'];

// RFC 4180 quoting; a leading = + - @ is prefixed with ' so a spreadsheet does not run it.
const cell = (v) => {
    let s = v == null ? '' : String(v);
    if (/^[=+\-@]/.test(s)) s = `'${s}`;
    return `"${s.replace(/"/g, '""')}"`;
};

function exportCsv(rows) {
    const cols = ['Id', 'Created', 'Severity', 'EntryType', 'Message'];
    const text = [cols.join(','), ...rows.map((e) => cols.map((c) => cell(e[c])).join(','))].join('\r\n');
    const url = URL.createObjectURL(new Blob([text + '\r\n'], { type: 'text/csv' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = 'vigil-sel.csv';
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
}

export function Events() {
    const [pageSize, setPageSize] = useState(50);
    const [entries, setEntries] = useState([]);
    const [total, setTotal] = useState(null);
    const [next, setNext] = useState(null);
    const [busy, setBusy] = useState(false);
    const [err, setErr] = useState('');
    const [sev, setSev] = useState('');
    const [text, setText] = useState('');

    // Loads from url (a first page or a nextLink); all=true follows nextLink to the end.
    const load = async (url, keep, all) => {
        setBusy(true);
        try {
            let got = keep ? entries : [];
            let link = url;
            do {
                const page = await api.get(link);
                got = got.concat(page.Members || []);
                setTotal(page['Members@odata.count']);
                link = page['Members@odata.nextLink'] || null;
            } while (all && link);
            setEntries(got);
            setNext(link);
            setErr('');
        } catch (e) {
            setErr(e.message);
        }
        setBusy(false);
    };
    const first = (n = pageSize) => load(`${SEL}?$top=${n}`, false, false);
    // New SEL entries arrive as events (their LogEntry link): once the last page is loaded they
    // are appended; before that, "Load more" reaches them. A resync reloads the first page.
    const atEnd = useRef(false);
    atEnd.current = !next && !busy;
    useLive(async (rec) => {
        if (rec.resync) return first();
        const uri = rec.LogEntry?.['@odata.id'];
        if (!uri) return;
        setTotal((t) => (t == null ? t : t + 1));
        if (!atEnd.current) return;
        try {
            const e = await api.get(uri);
            setEntries((list) => (list.some((x) => x.Id === e.Id) ? list : list.concat(e)));
        } catch {
            /* cleared meanwhile: nothing to add */
        }
    });
    useEffect(() => {
        first();
    }, []);
    const needle = text.toLowerCase();
    const shown = entries.filter(
        (e) => (!sev || e.Severity === sev) && (!needle || JSON.stringify([e.Id, e.Message, e.Created]).toLowerCase().includes(needle)),
    );
    return (
        <section>
            <Toolbar title="Event log" busy={busy} reload={() => first()}>
                <label>
                    Severity{' '}
                    <select data-testid="severity" value={sev} onChange={(e) => setSev(e.target.value)}>
                        {SEVERITIES.map((s) => <option value={s}>{s || 'any'}</option>)}
                    </select>
                </label>
                <label>
                    Text <input data-testid="filter" value={text} onInput={(e) => setText(e.target.value)} />
                </label>
                <label>
                    Page{' '}
                    <select data-testid="page-size" value={pageSize}
                        onChange={(e) => { const n = +e.target.value; setPageSize(n); first(n); }}>
                        {[10, 50, 200, 1000].map((n) => <option value={n}>{n}</option>)}
                    </select>
                </label>
                <button data-testid="csv" onClick={() => exportCsv(shown)}>Export CSV</button>
            </Toolbar>
            <ErrorLine err={err} />
            <p class="hint" data-testid="count">
                {shown.length} shown, {entries.length} loaded of {total ?? '?'}
            </p>
            <table data-testid="sel">
                <thead><tr><th>Id</th><th>Time</th><th>Severity</th><th>Message</th></tr></thead>
                <tbody>
                    {shown.map((e) => (
                        <tr data-testid="sel-row" class={`sev-${e.Severity}`}>
                            <td>{e.Id}</td>
                            <td>{e.Created}</td>
                            <td>{e.Severity}</td>
                            <td class="msg">{e.Message}</td>
                        </tr>
                    ))}
                </tbody>
            </table>
            {next && (
                <p>
                    <button data-testid="more" disabled={busy} onClick={() => load(next, true, false)}>Load more</button>{' '}
                    <button data-testid="all" disabled={busy} onClick={() => load(next, true, true)}>Load all</button>
                </p>
            )}
        </section>
    );
}
