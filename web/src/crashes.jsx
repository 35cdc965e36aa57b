// crashes.jsx: the crash snapshots (the Dump log service): time, VM, trigger, size, digest;
// details (the frozen registers, the SEL around the crash); download of the ELF core (through a
// single-use ticket) and delete for roles that may.
import { useEffect, useState } from 'preact/hooks';
import * as api from './api.js';
import { coreRegisters, selAround } from './crash_detail.js';
import { coalesce, useLive } from './live.js';
import { ErrorLine, Toolbar, bytes, useConfirm, useLoad } from './ui.jsx';

const DUMPS = '/redfish/v1/Managers/hv/LogServices/Dump/Entries';

// The core is never read by this page: a single-use ticket (the agent's DownloadTicket action,
// made with the session's token) turns the attachment into a URL that needs no header, and the
// browser navigates to it as a download, streaming it to disk. A ticket works once: a download
// the browser resumes later gets a new one by another click.
async function download(e) {
    const target = e.Actions?.Oem?.['#Vigil.DownloadTicket']?.target;
    if (!target) throw new Error(`the agent offers no download ticket for ${e.Id}`);
    const t = await api.post(target, {});
    const a = document.createElement('a');
    a.href = t.AttachmentURI;
    a.download = `vigil-${e.Id}.core`;
    document.body.appendChild(a);
    a.click();
    a.remove();
}

// One snapshot's registers (from its core) and the SEL entries around it, loaded when opened.
function Detail({ e }) {
    const [cpus, setCpus] = useState(null);
    const [sel, setSel] = useState(null);
    const [err, setErr] = useState('');
    useEffect(() => {
        coreRegisters(e.AdditionalDataURI).then(setCpus, (x) => setErr(`registers: ${x.message}`));
        selAround(e.Created).then(setSel, (x) => setErr(`SEL: ${x.message}`));
    }, [e.Id]);
    return (
        <div class="detail" data-testid="detail">
            <ErrorLine err={err} />
            {cpus?.map(({ vcpu, regs }) => (
                <div>
                    <h4>vCPU {vcpu}: registers when it stopped</h4>
                    <dl class="regs" data-testid="regs">
                        {regs.map(([k, v]) => (
                            <div data-reg={k}><dt>{k}</dt><dd class="mono">{v}</dd></div>
                        ))}
                    </dl>
                </div>
            ))}
            <h4>The SEL around {e.Created}</h4>
            {sel && (
                <table data-testid="sel-around">
                    <tbody>
                        {sel.map((x) => (
                            <tr class={`sev-${x.Severity}`}>
                                <td>{x.Id}</td>
                                <td class="nowrap">{x.Created}</td>
                                <td>{x.Severity}</td>
                                <td class="msg">{x.Message}</td>
                            </tr>
                        ))}
                    </tbody>
                </table>
            )}
        </div>
    );
}

export function Crashes() {
    const { data, err, busy, reload, setErr } = useLoad(() => api.get(DUMPS));
    const [confirm, dialog] = useConfirm();
    const [working, setWorking] = useState('');
    const [open, setOpen] = useState('');
    const mayDelete = api.can('ConfigureManager');
    // A core written or hashed, or a crash (whose core follows): the list changes.
    const refresh = coalesce(reload);
    useLive((rec) => {
        if (rec.resync || /\.(SnapshotWritten|SnapshotHashed|GuestCrashed)$/.test(rec.MessageId)) refresh();
    });
    const remove = async (e) => {
        if (!(await confirm(`Delete crash snapshot ${e.Id}?`, 'Delete'))) return;
        try {
            await api.del(e['@odata.id']);
        } catch (x) {
            setErr(x.message);
        }
        reload();
    };
    const fetchCore = async (e) => {
        setWorking(e.Id);
        try {
            await download(e);
        } catch (x) {
            setErr(x.message);
        }
        setWorking('');
    };
    const entries = data?.Members || [];
    return (
        <section>
            <Toolbar title="Crashes" busy={busy} reload={reload} />
            <ErrorLine err={err} />
            {data && !entries.length && <p class="hint">No crash snapshots.</p>}
            <table data-testid="dumps">
                <thead>
                    <tr><th>Id</th><th>Time</th><th>VM</th><th>Trigger</th><th>RIP</th><th>Message</th><th>Size</th><th>SHA-256</th><th></th></tr>
                </thead>
                <tbody>
                    {entries.flatMap((e) => [
                        <tr data-testid={`dump-${e.Id}`}>
                            <td class="nowrap">{e.Id}</td>
                            <td class="nowrap">{e.Created}</td>
                            <td>{e.Oem?.Vigil?.VM}</td>
                            <td>{e.Oem?.Vigil?.Trigger}</td>
                            <td class="mono">{typeof e.Oem?.Vigil?.Rip === 'number' ? `0x${e.Oem.Vigil.Rip.toString(16)}` : e.Oem?.Vigil?.Rip}</td>
                            <td class="msg">{e.Message}</td>
                            <td class="num">{bytes(e.AdditionalDataSizeBytes)}</td>
                            <td class="digest" title={e.Oem?.Vigil?.Sha256}>{(e.Oem?.Vigil?.Sha256 || '').slice(0, 16)}</td>
                            <td class="actions">
                                <button data-testid="details" onClick={() => setOpen(open === e.Id ? '' : e.Id)}>
                                    {open === e.Id ? 'Hide' : 'Details'}
                                </button>
                                <button data-testid="download" disabled={working === e.Id} onClick={() => fetchCore(e)}>
                                    {working === e.Id ? 'Starting…' : 'Download'}
                                </button>
                                {mayDelete && (
                                    <button data-testid="delete" class="danger" onClick={() => remove(e)}>Delete</button>
                                )}
                            </td>
                        </tr>,
                        open === e.Id && (
                            <tr>
                                <td colspan="9"><Detail e={e} /></td>
                            </tr>
                        ),
                    ])}
                </tbody>
            </table>
            {dialog}
        </section>
    );
}
