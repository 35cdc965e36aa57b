// crash_detail.js: what the Crashes view shows of one snapshot besides its entry: the frozen
// vCPUs' registers, read from the ELF core's notes with two Range requests (a few KiB, never the
// core: docs/coredump.md gives the layout), and the SEL entries around the crash's time.
import * as api from './api.js';

const SEL = '/redfish/v1/Managers/hv/LogServices/SEL/Entries';
const NOTES_MAX = 64 * 1024; // CORE and QEMU notes per vCPU, VMCOREINFO up to 1 MiB: enough
const PR_REGS = ['r15', 'r14', 'r13', 'r12', 'rbp', 'rbx', 'r11', 'r10', 'r9', 'r8', 'rax', 'rcx', 'rdx',
    'rsi', 'rdi', 'orig_rax', 'rip', 'cs', 'eflags', 'rsp', 'ss', 'fs_base', 'gs_base', 'ds', 'es', 'fs', 'gs'];
const SHOWN = ['rip', 'rsp', 'rbp', 'eflags', 'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'r8', 'r9', 'r10',
    'r11', 'r12', 'r13', 'r14', 'r15', 'cs', 'ss', 'fs_base', 'gs_base'];

// Bytes [from, from + len) of the core; a server that ignores Range is not read on (no 200 body).
async function range(uri, from, len) {
    const r = await api.request('GET', uri, undefined, { Range: `bytes=${from}-${from + len - 1}`, Accept: '*/*' });
    if (r.status !== 206) {
        r.body?.cancel();
        throw new Error(`the core's server answered ${r.status} to a Range request`);
    }
    return new DataView(await r.arrayBuffer());
}

const hex = (v) => `0x${v.toString(16).padStart(16, '0')}`;
const bad = (why) => {
    throw new Error(`the core is not as expected: ${why}`);
};

// Every vCPU's registers: [{vcpu, regs: [[name, '0x...'], ...]}], with cr0/cr2/cr3/cr4 from the
// QEMU note when it is there.
export async function coreRegisters(uri) {
    const h = await range(uri, 0, 128);
    if (h.getUint32(0) !== 0x7f454c46 || h.getUint8(4) !== 2 || h.getUint16(16, true) !== 4) bad('not a 64-bit ELF core');
    const phoff = Number(h.getBigUint64(32, true));
    const ph = await range(uri, phoff, 56);
    if (ph.getUint32(0, true) !== 4) bad('its first program header is not PT_NOTE');
    const off = Number(ph.getBigUint64(8, true));
    const size = Math.min(Number(ph.getBigUint64(32, true)), NOTES_MAX);
    const n = await range(uri, off, size);
    const cpus = [];
    let qemu = 0;
    for (let p = 0; p + 12 <= size;) {
        const namesz = n.getUint32(p, true), descsz = n.getUint32(p + 4, true), type = n.getUint32(p + 8, true);
        const name = new TextDecoder().decode(new Uint8Array(n.buffer, n.byteOffset + p + 12, Math.max(namesz - 1, 0)));
        const desc = p + 12 + ((namesz + 3) & ~3);
        if (desc + descsz > size) break; // cut at NOTES_MAX: what came before stands
        if (name === 'CORE' && type === 1 && descsz >= 336) {
            const regs = Object.fromEntries(PR_REGS.map((r, i) => [r, n.getBigUint64(desc + 112 + 8 * i, true)]));
            cpus.push({ vcpu: n.getInt32(desc + 32, true) - 1, regs: SHOWN.map((r) => [r, hex(regs[r])]) });
        } else if (name === 'QEMU' && descsz >= 432 && cpus[qemu]) {
            const cr = [0, 2, 3, 4].map((i) => [`cr${i}`, hex(n.getBigUint64(desc + 392 + 8 * i, true))]);
            cpus[qemu++].regs.push(...cr);
        }
        p = desc + ((descsz + 3) & ~3);
    }
    if (!cpus.length) bad('no NT_PRSTATUS note');
    return cpus;
}

// The SEL entries around a time: the first at or after it found by bisection over $skip (one
// entry per request, log2 of the count of them), then `before` entries before it and `after`
// from it on.
export async function selAround(when, before = 10, after = 5) {
    const t = Date.parse(when);
    const at = async (k) => (await api.get(`${SEL}?$skip=${k}&$top=1`)).Members?.[0];
    const first = await api.get(`${SEL}?$top=1`);
    let lo = 0, hi = first['Members@odata.count'] || 0;
    while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const e = await at(mid);
        if (e && Date.parse(e.Created) < t) lo = mid + 1;
        else hi = mid;
    }
    const skip = Math.max(0, lo - before);
    return (await api.get(`${SEL}?$skip=${skip}&$top=${lo - skip + after}`)).Members || [];
}
