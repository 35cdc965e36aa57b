"""test_agent_tickets.py: download tickets for <a download> links: a POST makes a single-use,
short-lived URL for one dump entry's attachment that works once with no credentials."""
import hashlib
import time

import pytest

from agent import agent_on_hv, message_id
from vigil import scaled

ENTRIES = "/redfish/v1/Managers/hv/LogServices/Dump/Entries"
TTL = 3  # --ticket-ttl for this test; 60 s by default


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("tickets")
    with agent_on_hv(d, args=["--ticket-ttl", str(TTL)]) as (hv, agent):
        hv.ok("switch", target="guest")
        snaps = [hv.snapshot("guest")["snapshot"]["id"] for _ in range(2)]
        for s in snaps:
            hv.wait_for(lambda: len(hv.ok("snapshot.show", id=s)["snapshot"]["sha256"]) == 64,
                        scaled(30), "the core's digest")
        agent.add_account("viewer", "viewer-pass-1", "ReadOnly")
        yield hv, agent, snaps


def ticket(a, entry, user=("viewer", "viewer-pass-1")):
    entry_json = a.get(f"{ENTRIES}/{entry}", user=user)
    target = entry_json["Actions"]["Oem"]["#Vigil.DownloadTicket"]["target"]
    status, _, body = a.curl(target, method="POST", data={}, user=user)
    assert status == 200, body
    assert body["ExpiresInSeconds"] == TTL and len(body["Ticket"]) == 64
    return body["AttachmentURI"]


def fetch(a, uri):
    return a.curl(uri, user=None)


def test_a_ticket_works_once_without_credentials(setup):
    hv, a, (one, _) = setup
    uri = ticket(a, one)  # a ReadOnly account may make one: it may read the core anyway
    assert uri.startswith(f"{ENTRIES}/{one}/attachment?ticket=")
    status, hd, core = fetch(a, uri)
    assert status == 200, core
    want = hv.ok("snapshot.show", id=one)["snapshot"]
    assert len(core) == want["core_bytes"] and hashlib.sha256(core).hexdigest() == want["sha256"]
    status, hd, body = fetch(a, uri)  # used
    assert status == 401 and message_id(body) == "NoValidSession" and "www-authenticate" in hd


def test_a_ticket_is_for_its_entry_and_its_attachment_only(setup):
    _, a, (one, two) = setup
    uri = ticket(a, one)
    token = uri.split("ticket=", 1)[1]
    status, _, body = fetch(a, f"{ENTRIES}/{two}/attachment?ticket={token}")
    assert status == 401 and "another dump entry" in body["error"]["message"]
    for path in (f"{ENTRIES}/{one}", "/redfish/v1/Systems", f"{ENTRIES}"):
        status, _, body = fetch(a, f"{path}?ticket={token}")
        assert status == 401 and message_id(body) == "NoValidSession", path
    status, _, body = a.curl(f"{ENTRIES}/{one}/attachment?ticket={token}", user=None, method="DELETE")
    assert status in (401, 405), body
    # Not spent by the refusals: its own entry still gets it, once.
    assert fetch(a, uri)[0] == 200
    status, _, _ = fetch(a, f"{ENTRIES}/{one}/attachment?ticket={'0' * 64}")
    assert status == 401


def test_a_ticket_expires(setup):
    _, a, (one, _) = setup
    uri = ticket(a, one)
    time.sleep(TTL + 1.2)
    status, _, body = fetch(a, uri)
    assert status == 401 and "expired" in body["error"]["message"]


def test_making_one_needs_login_and_an_existing_entry(setup):
    _, a, (one, _) = setup
    status, _, body = a.curl(f"{ENTRIES}/{one}/Actions/Oem/Vigil.DownloadTicket", method="POST",
                             data={}, user=None)
    assert status == 401
    status, _, body = a.curl(f"{ENTRIES}/no-such-core/Actions/Oem/Vigil.DownloadTicket",
                             method="POST", data={})
    assert status == 404 and message_id(body) == "ResourceNotFound"
