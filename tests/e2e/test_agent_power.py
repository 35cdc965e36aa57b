"""test_agent_power.py: ComputerSystem.Reset through the native agent: each ResetType changes
what Systems reports, and the guest's console shows the reboot."""
import pytest

from agent import Agent, message_id
from vigil import Hv, guest, scaled

BANNER = "Vigil demo guest:"
RESET = "/redfish/v1/Systems/{}/Actions/ComputerSystem.Reset"


@pytest.fixture
def setup(tmp_path):
    (tmp_path / "hv").mkdir()
    hv = Hv(tmp_path / "hv", ["--service", guest("service-stub.elf"), "--guest", guest("demo.elf"),
                              "--mem", "16"])
    agent = Agent(hv, tmp_path / "agent")
    yield hv, agent
    assert agent.stop() == 0, agent.output()
    hv.stop()


def reset(a, vm, kind):
    status, _, body = a.curl(RESET.format(vm), method="POST", data={"ResetType": kind})
    return status, body


def power(a):
    g = a.get("/redfish/v1/Systems/guest")
    return g["PowerState"], g["Status"]["State"]


def boots(hv):
    return hv.console("guest").count(BANNER)


def test_each_reset_type_changes_the_system(setup):
    hv, a = setup
    assert power(a)[0] == "Off"  # never booted
    assert reset(a, "guest", "On")[0] == 204  # boots it, in the foreground
    hv.wait_console("guest", "demo> ", scaled(10))
    assert power(a) == ("On", "Enabled") and hv.status()["foreground"] == "guest"
    assert reset(a, "guest", "On")[0] == 204  # on already: nothing to do
    assert boots(hv) == 1

    assert reset(a, "guest", "ForceRestart")[0] == 204
    hv.wait_for(lambda: boots(hv) == 2, scaled(10), "the guest's console showing a reboot")
    assert power(a)[0] == "On"

    assert reset(a, "guest", "Pause")[0] == 204
    assert power(a) == ("Paused", "Quiesced")
    assert reset(a, "guest", "Resume")[0] == 204
    assert power(a)[0] == "On"

    assert reset(a, "guest", "ForceOff")[0] == 204
    assert power(a) == ("Off", "StandbyOffline")
    g = a.get("/redfish/v1/Systems/guest")
    assert g["Oem"]["Vigil"]["StopReason"] == "powered off by an operator"
    assert a.get("/redfish/v1/Systems/service")["Oem"]["Vigil"]["Foreground"] is True
    status, body = reset(a, "guest", "Nmi")  # an NMI needs a running guest
    assert status == 409 and message_id(body)

    assert reset(a, "guest", "On")[0] == 204
    hv.wait_for(lambda: boots(hv) == 3, scaled(10), "the guest booted again")
    assert power(a)[0] == "On" and hv.status()["foreground"] == "guest"

    # Nmi: the guest's own handler reports it; the policy (guest_panic: freeze) stops it.
    assert reset(a, "guest", "Nmi")[0] == 204
    hv.wait_for(lambda: power(a)[1] == "UnavailableOffline", scaled(10), "the NMI reported")
    assert "NMI" in a.get("/redfish/v1/Systems/guest")["Oem"]["Vigil"]["StopReason"]
    # hv writes the crash's snapshot from its RAM first; meanwhile On is refused (409).
    hv.wait_for(lambda: not a.get("/redfish/v1/Systems/guest")["Oem"]["Vigil"]["SnapshotWriting"],
                scaled(30), "the crash snapshot written")
    assert reset(a, "guest", "On")[0] == 204  # a crashed guest is powered on afresh
    hv.wait_for(lambda: boots(hv) == 4, scaled(10), "the guest booted after its crash")


def test_the_service_systems_force_restart(setup):
    hv, a = setup
    before = hv.status()["service_restarts"]
    for kind in ("ForceOff", "On", "Nmi", "Pause"):
        status, body = reset(a, "service", kind)
        assert status == 400 and message_id(body) == "ActionParameterValueNotInList", kind
    assert reset(a, "service", "ForceRestart")[0] == 204
    hv.wait_for(lambda: hv.status()["service_restarts"] == before + 1, scaled(10),
                "hv restarting the service VM")
    hv.wait_for(lambda: hv.vm("service")["state"] == "running", scaled(10), "the service VM again")
