// policy.jsx: the trap policy (Managers/hv/Oem/Vigil/Policy) as a form: an action per event and
// the traps' parameters. Saving PATCHes with If-Match (someone else's change in between gives 412,
// never a silent overwrite); a refusal is shown next to the field the agent names. Read-only for
// roles without ConfigureManager (the agent refuses their PATCH anyway).
import { useEffect, useState } from 'preact/hooks';
import * as api from './api.js';
import { ErrorLine, Toolbar } from './ui.jsx';

const URI = '/redfish/v1/Managers/hv/Oem/Vigil/Policy';
const ACTIONS = ['log', 'freeze', 'notify', 'reset', 'nmi', 'resume'];
const NUMBERS = [
    ['WatchdogMs', 'Watchdog (ms, 0 = off)'],
    ['PrebootPromptSeconds', 'Pre-boot prompt (s, 0 = none)'],
];
const LISTS = [
    ['ProtectedRanges', 'Protected ranges', '[{"gpa": "0x100000", "len": 4096}]'],
    ['ForbiddenPorts', 'Forbidden ports', '[{"first": "0x60", "last": "0x64"}]'],
    ['ForbiddenMsrs', 'Forbidden MSRs', '["0x1b"]'],
];

// The form's values from the resource: numbers and lists as the text their inputs hold.
function toForm(p) {
    const f = { Events: { ...p.Events } };
    for (const [k] of NUMBERS) f[k] = String(p[k] ?? 0);
    for (const [k] of LISTS) f[k] = JSON.stringify(p[k] ?? []);
    return f;
}

// The field a refusal's JSON pointer names: "Events/<event>" or a top-level property.
function fieldOf(pointer) {
    const parts = (pointer || '').replace(/^#\//, '').split('/');
    return parts[0] === 'Events' && parts[1] ? `Events/${parts[1]}` : parts[0];
}

const FieldError = ({ errs, k }) =>
    errs[k] ? <div class="error field-error" role="alert" data-testid={`error-${k}`}>{errs[k]}</div> : null;

export function Policy() {
    const [etag, setEtag] = useState('');
    const [form, setForm] = useState(null);
    const [errs, setErrs] = useState({});
    const [err, setErr] = useState('');
    const [note, setNote] = useState('');
    const [busy, setBusy] = useState(false);
    const writable = api.can('ConfigureManager');

    const load = async () => {
        setBusy(true);
        try {
            const { etag: t, body } = await api.getTagged(URI);
            setEtag(t);
            setForm(toForm(body));
            setErrs({});
            setErr('');
        } catch (e) {
            setErr(e.message);
        }
        setBusy(false);
    };
    useEffect(() => {
        load();
    }, []);

    const set = (k, v) => setForm({ ...form, [k]: v });
    const setEvent = (ev, v) => setForm({ ...form, Events: { ...form.Events, [ev]: v } });

    const save = async (e) => {
        e.preventDefault();
        setNote('');
        setErr('');
        const body = { Events: form.Events };
        const bad = {};
        // Decimal stays a number; anything else goes as text for the agent to judge (and name).
        for (const [k] of NUMBERS) body[k] = /^\d+$/.test(form[k].trim()) ? Number(form[k]) : form[k];
        for (const [k] of LISTS) {
            try {
                body[k] = JSON.parse(form[k]);
            } catch {
                bad[k] = 'not valid JSON: a list such as the example';
            }
        }
        setErrs(bad);
        if (Object.keys(bad).length) return;
        setBusy(true);
        try {
            const { etag: t, body: p } = await api.patchTagged(URI, body, etag);
            setEtag(t);
            setForm(toForm(p));
            setNote(p.Note || 'Saved.');
        } catch (x) {
            if (x.status === 412) setErr('The policy was changed elsewhere since you loaded it: Refresh to see it, then edit again.');
            else if (x.status === 400 && x.related) setErrs({ [fieldOf(x.related)]: x.message });
            else setErr(x.message);
        }
        setBusy(false);
    };

    return (
        <section>
            <Toolbar title="Trap policy" busy={busy} reload={load} />
            <ErrorLine err={err} />
            {!writable && <p class="hint" data-testid="readonly">Read-only: changing the policy needs the ConfigureManager privilege.</p>}
            {form && (
                <form class="policy" data-testid="policy" onSubmit={save}>
                    <fieldset disabled={!writable || busy}>
                        <legend>What hv does about each guest event</legend>
                        <table>
                            <tbody>
                                {Object.keys(form.Events).map((ev) => (
                                    <tr>
                                        <td class="mono">{ev}</td>
                                        <td>
                                            <select data-testid={`event-${ev}`} value={form.Events[ev]}
                                                onChange={(e) => setEvent(ev, e.target.value)}>
                                                {ACTIONS.map((a) => <option value={a}>{a}</option>)}
                                            </select>
                                            <FieldError errs={errs} k={`Events/${ev}`} />
                                        </td>
                                    </tr>
                                ))}
                            </tbody>
                        </table>
                    </fieldset>
                    <fieldset disabled={!writable || busy}>
                        <legend>Parameters</legend>
                        {NUMBERS.map(([k, label]) => (
                            <label>
                                {label}
                                <input data-testid={`field-${k}`} value={form[k]} onInput={(e) => set(k, e.target.value)} />
                                <FieldError errs={errs} k={k} />
                            </label>
                        ))}
                        {LISTS.map(([k, label, example]) => (
                            <label>
                                {label} <span class="hint">e.g. {example}</span>
                                <input class="mono" data-testid={`field-${k}`} value={form[k]} onInput={(e) => set(k, e.target.value)} />
                                <FieldError errs={errs} k={k} />
                            </label>
                        ))}
                    </fieldset>
                    {writable && (
                        <p>
                            <button type="submit" data-testid="save" disabled={busy}>Save</button>
                            {note && <span class="ok" data-testid="saved">{note}</span>}
                        </p>
                    )}
                </form>
            )}
        </section>
    );
}
