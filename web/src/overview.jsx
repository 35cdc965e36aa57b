// overview.jsx: every VM (the Systems collection) with its state, the foreground, switch
// counts, uptime, and the actions the role may use (switch, pause, resume, power on, reset,
// NMI, power off, snapshot).
import { useEffect, useState } from 'preact/hooks';
import * as api from './api.js';
import { coalesce, liveStatus, useLive } from './live.js';
import { ErrorLine, Toolbar, bytes, useConfirm, useLoad } from './ui.jsx';

async function loadSystems() {
    const coll = await api.get('/redfish/v1/Systems');
    const list = await Promise.all(coll.Members.map((m) => api.get(m['@odata.id'])));
    const at = performance.now(); // UptimeSeconds was true about now
    return list.map((s) => ({ ...s, loadedAt: at }));
}

// The page's clock for uptimes: a re-render each second, no request (the agent's figure plus
// the time since it was read).
function useSecondTick() {
    const [, setTick] = useState(0);
    useEffect(() => {
        const t = setInterval(() => setTick((n) => n + 1), 1000);
        return () => clearInterval(t);
    }, []);
}

const duration = (sec) => {
    const s = Math.floor(sec);
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s} s`;
};

// Which resets disturb the guest (and so ask first), and how each is labelled.
const RESETS = [
    ['Pause', 'Pause', false],
    ['Resume', 'Resume', false],
    ['On', 'Power on', false],
    ['ForceRestart', 'Reset', true],
    ['Nmi', 'NMI', true],
    ['ForceOff', 'Power off', true],
];

// The VM states (hv's: created, running, paused, frozen, halted, crashed) in which each reset
// makes sense; a button for a state not listed is not shown (the agent would refuse it anyway).
const FITS = {
    Pause: ['running'],
    Resume: ['paused'],
    On: ['created', 'paused', 'halted', 'crashed'], // a halted or crashed VM boots afresh
    Nmi: ['running'],
    ForceOff: ['running', 'paused', 'frozen'],
};
const fits = (t, state) => !FITS[t] || FITS[t].includes(state);

function System({ s, act, mayAct }) {
    const v = s.Oem?.Vigil || {};
    const up = typeof v.UptimeSeconds === 'number' ? v.UptimeSeconds + (performance.now() - s.loadedAt) / 1000 : null;
    const allowed = s.Actions?.['#ComputerSystem.Reset']?.['ResetType@Redfish.AllowableValues'] || [];
    const resetTarget = s.Actions?.['#ComputerSystem.Reset']?.target;
    const switchTarget = s.Actions?.Oem?.['#Vigil.Switch']?.target;
    const snapTarget = s.Actions?.Oem?.['#Vigil.Snapshot']?.target;
    return (
        <tr data-testid={`system-${s.Id}`} class={v.Foreground ? 'fg' : ''}>
            <td class="name">{s.Name}</td>
            <td>{v.Role}</td>
            <td data-testid="state">{v.State}{v.StopReason ? ` (${v.StopReason})` : ''}</td>
            <td>{s.PowerState}</td>
            <td class={s.Status?.Health === 'OK' ? '' : 'bad'}>{s.Status?.Health}</td>
            <td data-testid="foreground">{v.Foreground ? 'foreground' : ''}</td>
            <td class="num" data-testid="uptime" data-seconds={up == null ? '' : Math.floor(up)}>{up == null ? '' : duration(up)}</td>
            <td class="num" data-testid="switches-in">{v.SwitchesIn}</td>
            <td class="num">{v.SwitchesOut}</td>
            <td class="num">{v.Heartbeats}</td>
            <td class="actions">
                {mayAct && switchTarget && !v.Foreground && (
                    <button data-testid="switch" onClick={() => act(`Switch to ${s.Name}`, switchTarget, {}, false)}>
                        Switch here
                    </button>
                )}
                {mayAct &&
                    RESETS.filter(([t]) => allowed.includes(t) && fits(t, v.State)).map(([t, label, disturbs]) => (
                        <button data-testid={`reset-${t}`} class={disturbs ? 'danger' : ''}
                            onClick={() => act(`${label} ${s.Name}`, resetTarget, { ResetType: t }, disturbs)}>
                            {label}
                        </button>
                    ))}
                {mayAct && snapTarget && (
                    <button data-testid="snapshot" onClick={() => act(`Snapshot ${s.Name}`, snapTarget, {}, true)}>
                        Snapshot
                    </button>
                )}
            </td>
        </tr>
    );
}

export function Overview() {
    const { data, err, busy, reload, setErr } = useLoad(loadSystems);
    const [confirm, dialog] = useConfirm();
    const [done, setDone] = useState('');
    const mayAct = api.can('ConfigureComponents');
    useSecondTick();
    // Switches, state changes, traps and crashes change what this view shows.
    const refresh = coalesce(reload);
    useLive((rec) => {
        if (rec.resync || /\.(ForegroundSwitched|SystemStateChanged|TrapRaised|GuestCrashed|GuestFrozen|WatchdogFired)$/.test(rec.MessageId))
            refresh();
    });
    const act = async (what, target, body, disturbs) => {
        if (disturbs && !(await confirm(`${what}? This disturbs the VM.`, what))) return;
        try {
            await api.post(target, body);
            setDone(`${what}: done`);
        } catch (e) {
            setErr(`${what}: ${e.message}`);
            return reload();
        }
        // Every action here makes hv emit an event (a switch, a state change, a crash) that
        // reloads the view; without the stream, reload now.
        if (liveStatus() !== 'live') reload();
    };
    return (
        <section>
            <Toolbar title="Overview" busy={busy} reload={reload} />
            <ErrorLine err={err} />
            {done && <p class="ok" data-testid="done">{done}</p>}
            <table>
                <thead>
                    <tr>
                        <th>VM</th><th>Role</th><th>State</th><th>Power</th><th>Health</th><th>Foreground</th><th>Uptime</th>
                        <th>Switches in</th><th>Switches out</th><th>Heartbeats</th><th></th>
                    </tr>
                </thead>
                <tbody>{(data || []).map((s) => <System s={s} act={act} mayAct={mayAct} />)}</tbody>
            </table>
            {data && <p class="hint">Memory: {data.map((s) => `${s.Name} ${bytes((s.MemorySummary?.TotalSystemMemoryGiB || 0) * 2 ** 30)}`).join(', ')}</p>}
            {dialog}
        </section>
    );
}
