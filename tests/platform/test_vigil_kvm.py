"""test_vigil_kvm.py: the nested KVM machine as users meet it: exit status, output channels, the terminal, forwards, cleanup."""
import os
import pty
import select
import signal
import socket
import subprocess
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
VIGIL_KVM = str(ROOT / "scripts" / "vigil-kvm")


def vm_env(tmp_path):
    """Forces the nested machine; its run folder (named on QEMU's command line) goes under tmp_path."""
    return dict(os.environ, VIGIL_KVM="vm", VIGIL_KVM_RUNDIR=str(tmp_path))


def qemu_pids(tmp_path):
    """The QEMU processes of this test's machines (other machines may run beside us)."""
    out = subprocess.run(["pgrep", "-f", f"qemu-system-x86_64.*path={tmp_path}/vigil-kvm"],
                         capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def test_the_command_runs_under_real_svm_and_its_status_and_streams_come_back(tmp_path):
    shared = tmp_path / "shared"  # under /tmp, where the machine has a fresh tmpfs: must not be hidden
    shared.mkdir()
    script = ("grep -qw svm /proc/cpuinfo && test -c /dev/kvm && echo kvm-ok; "
              "echo to-stderr >&2; echo written > " + str(ROOT / "build" / "platform-rw-probe") + "; "
              f"echo also > {shared}/probe; "
              "touch /etc/vigil-ro-probe 2>/dev/null && echo root-writable; exit 7")
    p = subprocess.run([VIGIL_KVM, "--share", str(shared), "--", "sh", "-c", script], env=vm_env(tmp_path),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 7, p.stderr
    assert p.stdout.splitlines() == ["kvm-ok"], (p.stdout, p.stderr)  # the host's / is read-only inside
    assert "to-stderr" in p.stderr and "to-stderr" not in p.stdout
    probe = ROOT / "build" / "platform-rw-probe"
    assert probe.read_text() == "written\n"  # the work tree is writable, and synced before power-off
    probe.unlink()
    assert (shared / "probe").read_text() == "also\n"
    assert not qemu_pids(tmp_path)


def test_the_terminal_reaches_hv_untouched_through_the_machine(tmp_path):
    """make run's way: Ctrl-A s switches VMs and Ctrl-A x stops hv, through QEMU's stdio."""
    hv = ROOT / "build" / "hv"
    guests = ROOT / "build" / "guests"
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(vm_env(tmp_path))
        os.execv(VIGIL_KVM, [VIGIL_KVM, "--interactive", "--", str(hv), "--service", str(guests / "service-stub.elf"),
                             "--guest", str(guests / "demo.elf"), "--autostart-guest",
                             "--control", "/tmp/hv.sock", "--state-dir", "/tmp/state"])
    seen = b""

    def read_until(text, timeout):
        nonlocal seen
        deadline = time.time() + timeout
        while time.time() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
            if text in seen:
                return
        raise AssertionError(f"{text!r} never appeared; the terminal showed:\n{seen.decode(errors='replace')}")

    try:
        read_until(b"demo>", 240)
        os.write(fd, b"\x01s")
        read_until(b"service is now in the foreground", 60)  # the hotkey reached hv: its console switched
        os.write(fd, b"\x01x")
        deadline = time.time() + 120
        while time.time() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.2)
        assert done, f"hv did not stop on Ctrl-A x:\n{seen.decode(errors='replace')}"
        pid = 0
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, seen.decode(errors="replace")
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert not qemu_pids(tmp_path)


def test_a_forwarded_host_port_reaches_the_machine(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = subprocess.Popen([VIGIL_KVM, "--forward", f"127.0.0.1:{port}-:7777", "--", "/usr/bin/python3", "-c",
                          "import socket; s = socket.socket(); s.bind(('0.0.0.0', 7777)); s.listen(); "
                          "print('listening', flush=True); c, _ = s.accept(); c.sendall(b'hello from inside')"],
                         env=vm_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"listening\n"
        data = b""
        deadline = time.time() + 30
        while not data and time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                    data = c.recv(100)
            except OSError:
                time.sleep(0.5)
        assert data == b"hello from inside"
        assert p.wait(60) == 0
    finally:
        p.kill()
        p.wait()


def test_every_byte_arrives_and_a_closed_reader_does_not_hang_the_run(tmp_path):
    big = subprocess.run([VIGIL_KVM, "--", "sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x; echo; echo last"],
                         env=vm_env(tmp_path), capture_output=True, timeout=300)
    assert big.returncode == 0 and big.stdout == b"x" * 3000000 + b"\nlast\n", big.stderr[-300:]
    p = subprocess.Popen([VIGIL_KVM, "--", "sh", "-c", "yes | head -c 5000000; echo done >&2"],
                         env=vm_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.read(10)
    p.stdout.close()  # like `| head -c 10`
    assert p.wait(300) == 141  # the shell's SIGPIPE status, as without the machine
    assert b"done" in p.stderr.read()


def test_ctrl_c_leaves_no_qemu_behind(tmp_path):
    p = subprocess.Popen([VIGIL_KVM, "--", "sh", "-c", "echo up; sleep 600"], env=vm_env(tmp_path),
                         stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"up\n"
        assert qemu_pids(tmp_path)
        p.send_signal(signal.SIGINT)
        assert p.wait(30) == 128 + signal.SIGINT
    finally:
        p.kill()
        p.wait()
    deadline = time.time() + 10
    while qemu_pids(tmp_path) and time.time() < deadline:
        time.sleep(0.2)
    assert not qemu_pids(tmp_path)


def test_missing_pieces_fail_fast_with_one_clear_line(tmp_path):
    env = dict(vm_env(tmp_path), PATH=str(tmp_path))  # no qemu-system-x86_64 on PATH
    t0 = time.time()
    p = subprocess.run(["/usr/bin/python3", VIGIL_KVM, "--", "true"], env=env, capture_output=True, text=True)
    assert p.returncode != 0 and time.time() - t0 < 10
    assert "qemu-system-x86_64 is missing" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    p = subprocess.run([VIGIL_KVM, "--", "true"], env=dict(os.environ, VIGIL_KVM="sideways"),
                       capture_output=True, text=True)
    assert p.returncode != 0 and "VIGIL_KVM=sideways" in p.stderr
