"""test_svcchan.py: the service channel: a hostile service image and a guest reaching for it leave
hv running and are told why; the svcos client does real work through it; the events op."""
import json

import pytest

from vigil import ROOT, guest

HOSTILE = guest("test-svchostile.elf")
SELFTEST = ROOT / "build" / "svcos" / "selftest.elf"


def test_a_hostile_service_vm_gets_errors_and_hv_carries_on(start_hv):
    hv = start_hv("--service", HOSTILE, "--guest", guest("demo.elf"))
    hv.wait_console("service", "svchostile: 0 failure(s)", timeout=30)
    out = hv.console("service")
    assert "FAIL" not in out, out
    # Every malformed request was answered with its reason; hv logged what it rejected.
    assert "bad magic 0x" in out and "not granted to the service VM" in out
    log = hv.output()
    assert "SVC_CALL) rejected: EFAULT" in log and "SVC_CALL) rejected: E2BIG" in log, log
    assert hv.vm("service")["state"] == "running" and hv.status()["service_restarts"] == 0
    # ... and serves everyone else as before.
    hv.ok("switch", target="guest")
    hv.wait_console("guest", "demo>")
    assert hv.ok("nv.put", key="after", data=b"x")["size"] == 1


def test_a_guest_calling_the_channel_is_refused_and_recorded(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", HOSTILE, "--autostart-guest")
    hv.wait_for(lambda: hv.vm("guest")["state"] == "halted", what="the guest to finish")
    assert hv.vm("guest")["halt_status"] == 0, hv.console("guest")
    assert "svchostile: ok a guest's call: got -1" in hv.console("guest")
    entries = hv.ok("sel", max=1000)["entries"]
    refused = [e for e in entries if "hypercall SVC_CALL refused" in e["Message"]]
    assert refused and all(e["Severity"] == "Warning" for e in refused), entries
    assert hv.vm("service")["state"] == "running"


def test_events_op_reads_the_stream_after_a_sequence_number(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"))
    first = hv.ok("events")
    assert first["events"] and first["lost"] is False
    last = first["last_seq"]
    assert [e["seq"] for e in first["events"]] == list(range(first["first_seq"], last + 1))
    hv.ok("switch", target="guest")
    hv.wait_console("guest", "demo>")
    hv.ok("switch", target="service")
    new = hv.wait_for(lambda: [e for e in hv.ok("events", after=last)["events"] if e["kind"] == "switch"],
                      what="switch events")
    assert all(e["seq"] > last for e in new) and new[0]["type"] and new[0]["time"].endswith("Z")
    assert hv.ok("events", after=last, max=1)["events"][0]["seq"] == last + 1
    r = hv.call("events", after=-1)
    assert r["code"] == "EINVAL"


def test_svcos_client_in_the_service_vm(start_hv):
    if not SELFTEST.exists():
        pytest.skip("the svcos self-test is not built (needs the sysroot: make svcos-selftest)")
    hv = start_hv("--service", str(SELFTEST), "--mem", "128", "--cmdline", "--mode svcchan",
                  "--guest", guest("demo.elf"), "--mem", "64")
    line = hv.wait_for(lambda: [ln for ln in hv.console("service").splitlines() if ln.startswith("SVCCHAN ")],
                       timeout=60, what="the self-test's result")[0]
    res = json.loads(line[len("SVCCHAN "):])
    assert res["ok"] is True, hv.console("service")
    assert set(res["checks"]) == {"hello", "status", "nv", "snapshot_read", "refused", "malformed", "events"}
    snap = hv.ok("snapshot.list")["snapshots"][0]
    assert res["snapshot_bytes"] == (hv.state_dir / "snapshots" / f"{snap['id']}.core").stat().st_size
    print(f"snapshot.read through the channel: {res['read_mb_per_s']:.0f} MB/s (with SHA-256 in the VM)")
    assert hv.status()["service_restarts"] == 0
    assert hv.ok("nv.list")["records"] == []  # the self-test deleted its record
