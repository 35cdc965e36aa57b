"""conftest.py: fixtures that start real hv processes on /dev/kvm and clean them up."""
import os

import pytest

from vigil import HV, Hv

if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    raise pytest.UsageError("/dev/kvm is missing or not accessible: these tests boot real VMs")
if not HV.exists():
    raise pytest.UsageError(f"{HV} is not built: run make first")


@pytest.fixture
def start_hv(tmp_path):
    started = []

    def start(*args, **kw):
        d = tmp_path / f"hv{len(started)}"
        d.mkdir()
        h = Hv(d, list(args), **kw)
        started.append(h)
        return h

    yield start
    for h in started:
        h.stop()


def pytest_report_header(config):
    from vigil import SLOWDOWN
    return f"vigil: timeouts scaled x{SLOWDOWN:.1f} for this machine's speed (VIGIL_TEST_SLOWDOWN overrides)"
