"""checksum_guest.py: drives the checksum test guest in epochs, so its work fits any machine's speed."""
import re

from vigil import SLOWDOWN, guest, run_alone

IMAGE = guest("test-checksum.elf")

# About 0.3 s per epoch (the loop does some 5e8 rounds/s natively): long enough that nearly every
# switch lands inside the register-held loop, not at an epoch boundary.  Slower machines get fewer
# rounds, so the wait for a 'stop' to take effect stays short; the answer does not depend on it.
ROUNDS = max(1_000_000, int(150_000_000 / SLOWDOWN))

DONE = re.compile(r"checksum: done ([0-9a-f]{16}) after (\d+) epochs")


def cmdline(epochs):
    """The guest's command line: `epochs` epochs of ROUNDS, or with 0, epochs until a 'stop' line."""
    return f"rounds={ROUNDS} epochs={epochs}"


def done(text):
    """(checksum, epochs) once the guest has printed its result, else None."""
    m = DONE.search(text)
    return m and (m.group(1), int(m.group(2)))


def stop(hv):
    """Stops a guest started with cmdline(0) after its current epoch; returns (checksum, epochs)."""
    hv.type("guest", "stop\n")
    return hv.wait_for(lambda: done(hv.console("guest")), what="the checksum after 'stop'")


def reference(tmp_path, epochs, *args):
    """The checksum of the same number of epochs computed alone, with nothing interrupting it."""
    status, out = run_alone(tmp_path, IMAGE, *args, "--cmdline", cmdline(epochs), timeout=60 + epochs)
    result = done(out)
    assert status == 0 and result and result[1] == epochs, out
    return result[0]
