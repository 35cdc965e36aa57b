"""test_agent_console.py: the serial console of a VM over the agent's WebSocket (RFC 6455), with a
real hv and the native agent: authentication (token in Sec-WebSocket-Protocol, Basic), scrollback,
input and its echo, several viewers with one writer, a stalled viewer, logout, bad frames."""
import re
import subprocess
import time

import pytest

from agent import PASSWORD, agent_on_hv, message_id
from vigil import ROOT, SLOWDOWN, scaled
from wsclient import BINARY, CONT, PING, PONG, TEXT, WsClient

URI = "/redfish/v1/Systems/guest/SerialConsole/WebSocket"
RO_USER, RO_PASSWORD = "watcher", "read-only-password-1"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("console")
    # The chatter guest echoes typed lines and prints numbered lines at a pace we set.
    with agent_on_hv(d, guest_image="test-chatter.elf") as (hv, agent):
        hv.ok("switch", target="guest")
        hv.wait_console("guest", "chatter: ready")
        agent.add_account(RO_USER, RO_PASSWORD, "ReadOnly")
        yield hv, agent


def login(agent, user="admin", password=PASSWORD):
    status, hd, body = agent.curl("/redfish/v1/SessionService/Sessions", user=None,
                                  data={"UserName": user, "Password": password})
    assert status == 201, body
    return hd["x-auth-token"], hd["location"]


def attach(port, path=URI, **kw):
    ws = WsClient(port, path, timeout=scaled(10), **kw)
    assert ws.status == 101, (ws.status, ws.body)
    _, notices = ws.read(lambda d, n: n, timeout=scaled(10))
    assert notices[0]["event"] == "attached", notices
    return ws, notices[0]


def basic(user, password):
    import base64
    return [f"Authorization: Basic {base64.b64encode(f'{user}:{password}'.encode()).decode()}"]


def test_system_names_its_console(setup):
    _, a = setup
    sc = a.get("/redfish/v1/Systems/guest")["SerialConsole"]
    assert sc["MaxConcurrentSessions"] == 8
    assert sc["WebSocket"] == {"ServiceEnabled": True, "ConsoleURI": URI, "Interactive": True}
    assert a.get("/redfish/v1/Systems/service")["SerialConsole"]["WebSocket"]["ConsoleURI"] == \
        "/redfish/v1/Systems/service/SerialConsole/WebSocket"


def test_upgrade_needs_credentials(setup):
    _, a = setup
    ws = WsClient(a.port, URI)
    assert ws.status == 401 and message_id(ws.body) == "NoValidSession"
    ws = WsClient(a.port, URI, protocols=["0" * 64])
    assert ws.status == 401 and "Sec-WebSocket-Protocol" in ws.body["error"]["message"]
    ws = WsClient(a.port, "/redfish/v1/Systems/nosuchvm/SerialConsole/WebSocket", headers=basic("admin", PASSWORD))
    assert ws.status == 404 and message_id(ws.body) == "ResourceNotFound"
    # A plain GET (no upgrade) is refused with a reason, not served.
    status, _, body = a.curl(URI)
    assert status == 400 and "WebSocket" in body["error"]["message"]
    ws = WsClient(a.port, URI + "?mode=sideways", headers=basic("admin", PASSWORD))
    assert ws.status == 400 and message_id(ws.body) == "QueryParameterValueError"


def test_token_in_subprotocol_scrollback_then_typed_line_echoes(setup):
    hv, a = setup
    token, _ = login(a)
    # A browser's way: the token as the only subprotocol, echoed back (bmcweb does the same).
    ws, hello = attach(a.port, protocols=[token])
    assert ws.headers["sec-websocket-protocol"] == token
    assert hello == {"event": "attached", "vm": "guest", "writer": True, "can_write": True,
                     "scrollback": hello["scrollback"]}
    data, _ = ws.read(lambda d, n: len(d) >= hello["scrollback"])
    ring = hv.console("guest").encode()
    assert b"chatter: ready" in data and ring.startswith(data[:hello["scrollback"]])
    ws.send("hello-console\n")
    data, _ = ws.read(lambda d, n: b"echo: hello-console\n" in d, timeout=scaled(10))
    ws.close()
    assert ws.closed[0] == 1000
    # With our subprotocol offered too, that one is echoed (the token is not reflected).
    ws, _ = attach(a.port, protocols=["vigil.console.v1", token])
    assert ws.headers["sec-websocket-protocol"] == "vigil.console.v1"
    ws.close()
    # Non-browser clients: the X-Auth-Token header (no subprotocol offered, none answered).
    ws, hello = attach(a.port, headers=[f"X-Auth-Token: {token}"], path=URI + "?mode=view")
    assert "sec-websocket-protocol" not in ws.headers and hello["writer"] is False
    ws.close()


def test_two_viewers_one_writer_and_takeover(setup):
    _, a = setup
    first, h1 = attach(a.port, headers=basic("admin", PASSWORD))
    second, h2 = attach(a.port, headers=basic("admin", PASSWORD))
    assert h1["writer"] and not h2["writer"] and h2["can_write"]
    first.send("both-see-this\n")
    for ws in (first, second):
        ws.read(lambda d, n: b"echo: both-see-this\n" in d, timeout=scaled(10))
    second.send("not-the-writer\n")
    _, notices = second.read(lambda d, n: any(x["event"] == "input-ignored" for x in n))
    assert {"event": "input-ignored", "reason": "not-writer"} in notices
    # An explicit take-over: the previous writer is told and only views from then on.
    third, h3 = attach(a.port, path=URI + "?mode=takeover", headers=basic("admin", PASSWORD))
    assert h3["writer"]
    _, notices = first.read(lambda d, n: any(x["event"] == "writer" for x in n))
    assert {"event": "writer", "writer": False, "by": "admin"} in notices
    third.send("third-writes\n")
    second.read(lambda d, n: b"echo: third-writes\n" in d, timeout=scaled(10))
    # The writer leaves: the oldest remaining viewer that may write takes over.
    third.close()
    _, notices = first.read(lambda d, n: any(x["event"] == "writer" for x in n), timeout=scaled(10))
    assert any(x["event"] == "writer" and x["writer"] for x in notices)
    first.send("first-again\n")
    second.read(lambda d, n: b"echo: first-again\n" in d, timeout=scaled(10))
    first.close()
    second.close()


def test_read_only_views_but_cannot_type(setup):
    hv, a = setup
    ws, hello = attach(a.port, headers=basic(RO_USER, RO_PASSWORD))
    assert hello["can_write"] is False and hello["writer"] is False
    ws.send("from-readonly\n")
    _, notices = ws.read(lambda d, n: any(x["event"] == "input-ignored" for x in n))
    assert {"event": "input-ignored", "reason": "read-only"} in notices
    hv.type("guest", "typed-locally\n")  # output still reaches the read-only viewer
    ws.read(lambda d, n: b"echo: typed-locally\n" in d, timeout=scaled(10))
    assert "from-readonly" not in hv.console("guest")
    ws.close()


def test_logout_closes_the_viewer(setup):
    _, a = setup
    token, location = login(a)
    ws, _ = attach(a.port, protocols=["vigil.console.v1", token])
    status, _, _ = a.curl(location, method="DELETE")
    assert status == 204
    code, reason = ws.wait_close(scaled(10))
    assert code == 1008 and "session" in reason
    ws.close()


@pytest.mark.parametrize("bad, code", [
    ("unmasked", 1002), ("oversized", 1009), ("reserved bits", 1002), ("long ping", 1002),
    ("stray continuation", 1002)])
def test_bad_frames_close_with_the_right_code(setup, bad, code):
    _, a = setup
    ws, _ = attach(a.port, headers=basic("admin", PASSWORD), path=URI + "?mode=view")
    if bad == "unmasked":
        ws.send_frame(BINARY, b"x", mask=False)
    elif bad == "oversized":
        ws.send_frame(BINARY, b"y" * (16 * 1024 + 1))
    elif bad == "reserved bits":
        ws.send_frame(TEXT, b"z", rsv=4)
    elif bad == "long ping":
        ws.send_frame(PING, b"p" * 126)
    else:
        ws.send_frame(CONT, b"c")
    assert ws.wait_close(scaled(10))[0] == code
    ws.sock.close()


def test_ping_pong_and_fragmented_input(setup):
    _, a = setup
    ws, hello = attach(a.port, path=URI + "?mode=takeover", headers=basic("admin", PASSWORD))
    assert hello["writer"]
    ws.send_frame(PING, b"are-you-there")
    while True:
        op, payload = ws.recv_frame(scaled(10))
        if op == PONG:
            break
    assert payload == b"are-you-there"
    ws.send_frame(TEXT, b"frag", fin=False)
    ws.send_frame(PING, b"between")  # control frames may come between fragments
    ws.send_frame(CONT, b"mented\n")
    ws.read(lambda d, n: b"echo: fragmented\n" in d, timeout=scaled(10))
    ws.close()


LINE = re.compile(rb"chatter (\d+) \.+\n")


def numbers(data):
    return [int(m.group(1)) for m in LINE.finditer(data)]


def test_stalled_viewer_slows_neither_the_guest_nor_other_viewers(setup):
    hv, a = setup
    reader, _ = attach(a.port, headers=basic("admin", PASSWORD), path=URI + "?mode=takeover")
    stalled, _ = attach(a.port, headers=basic("admin", PASSWORD), rcvbuf=4096, path=URI + "?mode=view")
    try:
        stalled_viewer_checks(hv, reader, stalled)
    finally:
        reader.send("pace 0\n")
        reader.close()
        stalled.close()


def stalled_viewer_checks(hv, reader, stalled):
    def produced():
        return hv.call("console.read", vm="guest", max=1)[0]["next"]
    reader.read(lambda d, n: True)
    # 100 lines of 64 bytes every 10 ms: about 640 KB/s; a quarter of it on an emulated CPU,
    # where this Python client could not keep up with more.
    reader.send("pace 100\n" if SLOWDOWN < 5 else "pace 25\n")
    # The stalled viewer reads nothing; its queue in the agent (256 KiB) and the buffers on the
    # way (64 KiB socket buffers, TLS) fill within about half a megabyte, and then it must skip
    # rather than hold anything up.
    start = produced()
    got, notices, t0 = b"", [], time.time()
    while produced() - start < 3 << 19 and time.time() - t0 < scaled(30):
        d, n = reader.read(lambda d, n: len(d) > 65536, timeout=scaled(10))
        got += d
        notices += n
    reader.send("pace 0\nstall-done\n")
    rate = (produced() - start) / (time.time() - t0)
    assert produced() - start >= 3 << 19, f"the guest slowed down: {rate:.0f} B/s"
    # The reader was never skipped for being slow, and every line between its first and its last
    # reached it, unless hv's 64 KiB ring wrapped before the agent read it (the agent got no CPU
    # for 100 ms, as on a loaded machine): then every viewer misses the same bytes, each gap told
    # by a "ring" notice with its size.
    seq = numbers(got)
    ring = [x for x in notices if x["event"] == "skipped" and x["reason"] == "ring"]
    assert not [x for x in notices if x["event"] == "skipped" and x not in ring], notices
    assert seq, "the reading viewer got no lines"
    gaps = sum(1 for x, y in zip(seq, seq[1:]) if y != x + 1)
    missing = 64 * (seq[-1] - seq[0] + 1 - len(seq))
    assert gaps <= 2 * len(ring), f"the reading viewer missed lines: {gaps} gaps, {ring}"
    assert missing <= sum(x["bytes"] for x in ring), (missing, ring)
    # The stalled viewer now reads: a notice marks where it fell behind and how much it missed.
    data, notices = stalled.read(lambda d, n: b"echo: stall-done\n" in d, timeout=scaled(30))
    skips = [x for x in notices if x["event"] == "skipped"]
    assert any(x["reason"] == "slow-viewer" for x in skips), notices
    seq = numbers(data)
    gaps = sum(1 for x, y in zip(seq, seq[1:]) if y != x + 1)
    assert 1 <= gaps <= 2 * len(skips), (gaps, skips)  # a cut mid-line can read as two gaps
    assert sum(x["bytes"] for x in skips) >= 64 * (seq[-1] - seq[0] + 1 - len(seq)) - 128


def test_readme_console_recipe(setup):
    """The README's recipe as written: the script attaches, types stdin, prints the guest's echo."""
    _, a = setup
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- console-recipe -->")[1].split("<!-- /console-recipe -->")[0]
    cmd = block.split("```sh")[1].split("```")[0].strip()
    p = subprocess.run(["bash", "-c", cmd], input=b"from-the-readme\n", capture_output=True,
                       cwd=ROOT, timeout=scaled(30),
                       env={"H": f"https://127.0.0.1:{a.port}", "PASS": PASSWORD, "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr
    assert b"echo: from-the-readme" in p.stdout


def test_vigil_console_script(setup):
    """The README's recipe: scripts/vigil-console attaches, types stdin's lines, prints output."""
    _, a = setup
    p = subprocess.run([str(ROOT / "scripts" / "vigil-console"), "--insecure", "--user", "admin",
                        "--password-env", "VIGIL_PASSWORD", "--exit-after", "echo: from-the-script",
                        f"https://127.0.0.1:{a.port}", "guest"],
                       input=b"from-the-script\n", capture_output=True, timeout=scaled(30),
                       env={"VIGIL_PASSWORD": PASSWORD, "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr
    assert b"echo: from-the-script" in p.stdout
    assert b"writer" in p.stderr  # the attach notice goes to stderr, the console to stdout


def test_console_through_the_service_vm(tmp_path):
    """The same WebSocket from the agent as the service VM (MHD's upgrade in the sysroot build,
    the hv link over the service channel): scrollback, and the demo guest answering a command."""
    from agent import AGENT_ELF, free_port, service_vm_password, serving, start_service_vm
    if not AGENT_ELF.exists():
        pytest.skip("build/mgmt-agent/agent.elf is not built (make all)")
    port = free_port()
    hv = start_service_vm(tmp_path, port)
    try:
        serving(hv, port)
        pw = service_vm_password(hv)
        hv.ok("switch", target="guest")
        hv.wait_console("guest", "demo> ")
        ws, hello = attach(port, headers=basic("admin", pw))
        assert hello["writer"]
        ws.read(lambda d, n: b"Vigil demo guest" in d, timeout=scaled(20))
        ws.send("status\r")
        ws.read(lambda d, n: b"demo: heartbeats" in d, timeout=scaled(20))
        ws.close()
        assert ws.closed[0] == 1000
    finally:
        hv.stop()
