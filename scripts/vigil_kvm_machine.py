"""vigil_kvm_machine.py: one boot of scripts/vigil-kvm's nested machine: QEMU's command line, the
output pumps of its virtio-serial ports, its stop.  A module of vigil-kvm, not a program."""
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

# What /init writes on each output port after the command: the pumps answer with an ack file.
FIRMWARE_DIRS = ("/usr/share/qemu", "/usr/share/seabios", "/usr/lib/ipxe/qemu")
END_MARKER = b"\0vigil-kvm: end of stream\0"


def qarg(path):
    """A path inside a QEMU option value: commas are doubled, QEMU's escape."""
    return str(path).replace(",", ",,")


LIBC = ctypes.CDLL(None, use_errno=True)  # looked up before any fork: the child only calls it
PARENT = os.getpid()


def set_pdeathsig():
    """QEMU dies with us, whatever kills us (SIGKILL included): no stray QEMU."""
    LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != PARENT:  # we died before the prctl took effect
        os._exit(1)


def marker_prefix_len(data):
    """How many bytes at the end of data could be the start of END_MARKER (held back until the
    next read says; anything else is passed on at once, so output streams)."""
    for n in range(min(len(data), len(END_MARKER) - 1), 0, -1):
        if data.endswith(END_MARKER[:n]):
            return n
    return 0


def wait_quietly(proc, timeout=None):
    """Waits for a child by polling, so a signal handler can interrupt us without leaving
    subprocess's wait lock held (Popen.wait inside a handler would then deadlock).
    Returns its status, or None if it still runs after `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while proc.poll() is None:
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(0.05)
    return proc.returncode


class Machine:
    """One boot of the nested machine, with its run folder and output streams."""

    def __init__(self, args, qemu, kit, run_dir, sock_dir, attempt):
        self.args, self.qemu, self.kit, self.run_dir, self.attempt = args, qemu, kit, run_dir, attempt
        self.sock_dir = sock_dir  # short: a Unix socket path must fit in 108 bytes
        self.console_log = run_dir / f"console-{attempt}.log"
        self.proc = None
        self.broken_pipe = False
        self.threads = []
        self.listeners = []

    def qemu_argv(self, shares):
        a = self.args
        # Debian's firmware folders (its QEMU's built-in search path), named for our own build of
        # it (scripts/kvm-machine/qemu.sh), which looks for them next to its binary.
        argv = [self.qemu] + [a for d in FIRMWARE_DIRS if Path(d).is_dir() for a in ("-L", d)]
        argv += ["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                "-machine", "q35", "-accel", f"tcg,thread={a.tcg_thread},tb-size=512",
                "-cpu", a.cpu_model, "-smp", str(a.cpus), "-m", str(a.mem),
                "-kernel", str(self.kit / "vmlinuz"), "-initrd", str(self.kit / "initramfs.gz"),
                "-append", "console=ttyS0 quiet loglevel=4 panic=-1 oops=panic rdinit=/init "
                           "tsc=reliable no_timer_check",
                "-serial", f"file:{qarg(self.console_log)}",
                "-device", "virtio-rng-pci",
                "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,multidevs=remap,readonly=on",
                "-virtfs", f"local,path={qarg(self.run_dir)},mount_tag=vk,security_model=none"]
        for i, p in enumerate(shares):
            argv += ["-virtfs", f"local,path={qarg(p)},mount_tag=rw{i},security_model=none,multidevs=remap"]
        if a.disk:
            argv += ["-drive", f"file={qarg(self.run_dir / 'scratch.img')},if=none,id=scratch,format=raw",
                     "-device", "virtio-blk-pci,drive=scratch"]
        fwd = "".join(f",hostfwd=tcp:{f}" for f in a.forward)
        argv += ["-netdev", f"user,id=net0{fwd}", "-device", "virtio-net-pci,netdev=net0"]
        argv += ["-device", "virtio-serial-pci,id=vser"]
        if a.interactive:
            argv += ["-chardev", "stdio,id=con,signal=off", "-device", "virtconsole,chardev=con"]
        else:
            for name in ("out", "err"):
                path = Path(self.sock_dir) / f"{name}{self.attempt}"
                ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                ls.bind(str(path))
                ls.listen(1)
                self.listeners.append((name, ls))
                argv += ["-chardev", f"socket,id={name},path={qarg(path)}",
                         "-device", f"virtserialport,chardev={name},name=vigil.{name}"]
        return argv

    def start(self, shares):
        argv = self.qemu_argv(shares)
        stdin = None if self.args.interactive else subprocess.DEVNULL
        self.proc = subprocess.Popen(argv, stdin=stdin, stdout=None if self.args.interactive else subprocess.DEVNULL,
                                     stderr=open(self.run_dir / f"qemu-{self.attempt}.err", "wb"),
                                     preexec_fn=set_pdeathsig)
        for name, ls in self.listeners:
            t = threading.Thread(target=self.pump, args=(name, ls), daemon=True)
            t.start()
            self.threads.append(t)

    def pump(self, name, ls):
        """Copies one virtio-serial port to our stdout or stderr as it arrives, until the end
        marker /init writes after the command; then acknowledges it, so that /init powers off
        only once every byte has reached us."""
        ls.settimeout(60)
        try:
            conn, _ = ls.accept()
        except OSError:
            return
        out = sys.stdout.buffer if name == "out" else sys.stderr.buffer
        held = b""  # a tail that may be the start of the marker
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                held += data
                end = held.find(END_MARKER)
                emit = held[:end] if end >= 0 else held[:len(held) - marker_prefix_len(held)]
                held = held[len(emit):]
                if out:
                    try:
                        out.write(emit)
                        out.flush()
                    except (OSError, ValueError):
                        out = None  # our reader went away: keep draining so the command can finish
                        self.broken_pipe = True
                if end >= 0:
                    (self.run_dir / f"ack-{name}").write_text("ok\n")
                    break

    def status(self):
        try:
            return (self.run_dir / "status").read_text().strip()
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            if wait_quietly(self.proc, 5) is None:
                self.proc.kill()
                wait_quietly(self.proc)
        for t in self.threads:
            t.join(2)
        for _, ls in self.listeners:
            ls.close()

    def console_has_output(self):
        try:
            return self.console_log.stat().st_size > 0
        except OSError:
            return False

    def console_tail(self, n=15):
        try:
            lines = self.console_log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no console output)"
        return "\n".join("    " + l for l in lines[-n:]) or "(no console output)"
