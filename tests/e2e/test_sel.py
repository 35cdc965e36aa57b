"""test_sel.py: the system event log records switches, crashes and sensor alarms, and survives restarts."""
from vigil import Hv, guest


def entries(hv, after=0):
    return hv.ok("sel", after=after)["entries"]


def types(hv):
    return [e["Oem"]["Vigil"]["EventType"] for e in entries(hv)]


def test_sel_records_the_story_and_survives_a_restart(tmp_path):
    hv = Hv(tmp_path, ["--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--autostart-guest"])
    try:
        hv.wait_console("guest", "demo>")
        hv.ok("switch", target="service")
        hv.ok("switch", target="guest")
        hv.type("guest", "crash triple\n")
        hv.wait_for(lambda: "vm_crash" in types(hv), what="crash entry")
        t = types(hv)
        assert t[:2] == ["hv_start", "vm_boot"]
        assert t.count("vm_switch") >= 3 and "vm_crash" in t
        crash = next(e for e in entries(hv) if e["Oem"]["Vigil"]["EventType"] == "vm_crash")
        assert crash["Severity"] == "Critical" and "triple fault" in crash["Message"]
        assert crash["Oem"]["Vigil"]["VM"] == "guest"
        last = hv.ok("sel")["last_id"]
    finally:
        hv.stop()
    # hv_stop is logged; a new hv on the same state dir continues the same log
    hv2 = Hv(tmp_path, ["--service", guest("service-stub.elf")])
    try:
        got = entries(hv2)
        ids = [int(e["Id"]) for e in got]
        assert ids == sorted(ids) and ids[0] == 1
        assert any(e["Oem"]["Vigil"]["EventType"] == "hv_stop" and int(e["Id"]) > last for e in got)
        assert got[-2]["Oem"]["Vigil"]["EventType"] == "hv_start" or got[-1]["Oem"]["Vigil"]["EventType"] == "vm_boot"
        assert hv2.ok("sel")["overwrite_policy"] == "WrapsWhenFull"
    finally:
        hv2.stop()


def test_sensor_threshold_crossing_becomes_a_sel_entry(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"))
    sensors = hv.ok("sensors")["sensors"]
    assert sensors and all("Simulated" in s["Oem"]["Vigil"] for s in sensors)
    name = next(s["Id"] for s in sensors if s["ReadingUnits"] == "Cel")
    hv.ok("sensors.override", name=name, value=120)
    hv.wait_for(lambda: any(e["Severity"] == "Critical" and name in e["Message"].lower().replace(" ", "_")
                            or e["Severity"] == "Critical" for e in entries(hv)), what="sensor alarm")
    s = next(x for x in hv.ok("sensors")["sensors"] if x["Id"] == name)
    assert s["Status"]["Health"] == "Critical"
    hv.ok("sensors.override", name=name, value=None)
    assert not hv.call("sensors.override", name="no_such_sensor", value=1)["ok"]
    resp, text = hv.call("console.read", vm="service")  # unrelated op still fine
    assert resp["ok"]


def test_metrics_are_prometheus_text(start_hv):
    import socket
    from vigil import frame, read_response
    hv = start_hv("--service", guest("service-stub.elf"))
    hv.conn.sendall(frame({"op": "metrics"}))
    resp, data = read_response(hv.conn)
    text = data.decode()
    assert resp["ok"] and "# TYPE node_hwmon_temp_celsius gauge" in text
    assert "node_hwmon_fan_rpm{" in text and "node_hwmon_in_volts{" in text
