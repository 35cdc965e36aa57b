"""test_watchdog.py: the watchdog catches a silent or stuck guest within its period, and leaves healthy ones be."""
import re
import time

import checksum_guest
from vigil import SLOWDOWN, guest, kickcheck_env, scaled

DEMO = guest("demo.elf")


def period_ms(native_ms):
    """A watchdog period for this machine's speed: an emulated CPU can hold up a healthy guest's
    heartbeats for longer than a native period, and that would be a false alarm, not a finding."""
    return round(scaled(native_ms))


def sel(hv):
    return hv.ok("sel")["entries"]


def watchdog_entries(hv):
    return [e for e in sel(hv) if e["Oem"]["Vigil"]["EventType"] == "watchdog"]


def start(start_hv, period, *extra):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", DEMO, "--cmdline", "heartbeat_ms=10",
                  "--autostart-guest", "--watchdog-ms", str(period), *extra)
    hv.wait_console("guest", "demo>")
    return hv


def test_no_heartbeat_is_detected_soon_after_the_period(start_hv):
    period = period_ms(100)
    hv = start(start_hv, period, "--policy-set", "watchdog_heartbeat=log")
    time.sleep(0.5)
    assert watchdog_entries(hv) == []  # a heartbeating guest is left alone
    hv.type("guest", "crash silence\n")
    hv.wait_for(lambda: watchdog_entries(hv), what="watchdog heartbeat entry")
    msg = watchdog_entries(hv)[0]["Message"]
    assert "watchdog_heartbeat" in msg
    silent_ms = float(re.search(r"no heartbeat for ([\d.]+) ms", msg).group(1))
    # The watchdog's thread notices within a tick (5 ms) on an idle host; the bound leaves room
    # for a loaded CI host (ASan and a second suite beside it) and an emulated CPU.
    assert period < silent_ms <= period + 50 * SLOWDOWN, msg
    assert hv.vm("guest")["state"] == "running"  # action log


def test_a_hung_guest_is_frozen_with_a_snapshot(start_hv):
    hv = start(start_hv, period_ms(50))
    hv.type("guest", "crash hang\n")
    hv.wait_for(lambda: hv.vm("guest")["state"] == "frozen", what="watchdog freeze")
    kinds = " ".join(e["Message"] for e in watchdog_entries(hv))
    assert "watchdog_heartbeat" in kinds or "watchdog_progress" in kinds
    hv.wait_for(lambda: hv.ok("snapshot.list")["snapshots"], what="snapshot")
    assert hv.status()["foreground"] == "service"


def test_no_progress_is_detected_even_with_heartbeats_off(start_hv):
    hv = start(start_hv, period_ms(50), "--policy-set", "watchdog_heartbeat=log",
               "--policy-set", "watchdog_progress=freeze")
    hv.type("guest", "crash hang\n")
    hv.wait_for(lambda: any("watchdog_progress" in e["Message"] for e in watchdog_entries(hv)),
                what="progress entry")
    hv.wait_for(lambda: hv.vm("guest")["state"] == "frozen", what="freeze on no progress")


def test_a_busy_computing_guest_is_not_a_hung_guest(start_hv):
    # Five epochs of about 0.3 s at this machine's speed: some 75 periods of computing with no
    # heartbeat, and no exit inside an epoch.  The period is not scaled: only a vCPU that did not
    # run between two samples looks unchanged, and a shorter period is the harder test.
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", checksum_guest.IMAGE,
                  "--cmdline", checksum_guest.cmdline(5), "--autostart-guest", "--watchdog-ms", "20",
                  "--policy-set", "watchdog_heartbeat=log")
    hv.wait_console("guest", "checksum: done", timeout=60)
    kinds = " ".join(e["Message"] for e in watchdog_entries(hv))
    assert "watchdog_heartbeat" in kinds, "the watchdog was not watching"
    assert "watchdog_progress" not in kinds


def test_watchdog_period_changes_at_runtime(start_hv):
    hv = start(start_hv, 0)
    hv.type("guest", "crash silence\n")
    time.sleep(0.3)
    assert watchdog_entries(hv) == []  # off
    hv.ok("policy.set", policy={"watchdog_ms": 30, "events": {"watchdog_heartbeat": "log"}})
    hv.wait_for(lambda: watchdog_entries(hv), what="watchdog after enabling")


def test_no_kick_reaches_a_vcpu_thread_that_a_reset_has_joined(start_hv, tmp_path):
    # The watchdog kicks vCPU 0 every tick while the main loop resets the guest over and over
    # (no heartbeats, action reset); kickcheck.so aborts hv on a pthread_kill of a joined thread,
    # and delays every kick so that one not ordered before the join by a lock lands after it.
    env = kickcheck_env(tmp_path)
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", DEMO, "--mem", "16", "--autostart-guest",
                  "--cmdline", "heartbeat_ms=0", "--watchdog-ms", "5", "--policy-set", "watchdog_heartbeat=reset",
                  env=env)
    # At least 10 resets (2-3 s on an idle host; a loaded one needs longer), hv alive throughout.
    deadline = time.time() + scaled(20)
    while time.time() < deadline and hv.proc.poll() is None and hv.output().count("reset by policy") < 10:
        time.sleep(0.05)
    out = hv.output()
    assert hv.proc.poll() is None and "kickcheck" not in out, out[-2000:]
    assert out.count("reset by policy") >= 10, out[-2000:]
