"""The webhook worker examples (examples/python/webhook_worker.py, examples/node/webhook-worker.mjs)
against a local HTTP receiver.

An escalation decided by one engine reaches the receiver, which verifies the event's attestation
with that engine's did:key; it is delivered exactly once after its ack; a worker killed after its
POST and before its ack delivers the event again when restarted; a failed delivery is retried;
a notify URL outside the allowed origins is never called.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import passgate

ROOT = Path(__file__).resolve().parents[2]
#: The two workers (same flags, same behaviour): each test runs against both.
WORKERS = {
    "python": [sys.executable, str(ROOT / "examples" / "python" / "webhook_worker.py")],
    "node": ["node", str(ROOT / "examples" / "node" / "webhook-worker.mjs")],
}

POLICY = {
    "version": 1,
    "gates": {
        "payments.send": {
            "require": ["pay"],
            "constraints": [
                {"id": "big", "type": "approval", "when": {"field": "/amount", "op": "gt", "value": 1000}},
            ],
        }
    },
}


class Receiver:
    """A local webhook receiver: records each POST, verifies it, answers `status`; with
    `kill_on_receive` set, kills that process before answering (a worker crash mid-delivery)."""

    def __init__(self, did: str) -> None:
        self.did = did
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.verified: list[bool] = []
        self.status = 200
        self.kill_on_receive: subprocess.Popen[bytes] | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", "0"))
                event = json.loads(self.rfile.read(length))
                try:
                    passgate.verify_attestation(event["attestation"], receiver.did)
                    ok = True
                except passgate.PassgateError:
                    ok = False
                receiver.received.append(event)
                receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                receiver.paths.append(self.path)
                receiver.verified.append(ok)
                victim = receiver.kill_on_receive
                if victim is not None:
                    receiver.kill_on_receive = None
                    victim.send_signal(signal.SIGKILL)
                    victim.wait(timeout=30)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def ids(self) -> list[str]:
        return [str(e["id"]) for e in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class World:
    def __init__(self, tmp: Path, worker: list[str]) -> None:
        self.command = worker
        self.store = f"sqlite://{tmp / 'pg.db'}"
        self.issuer = passgate.Issuer.generate()
        self.signer = passgate.Issuer.generate()
        self.engine = passgate.Engine(
            POLICY, trusted_issuers=[self.issuer], store=self.store, signing_key=self.signer
        )
        self.token = self.issuer.issue_passport("alice", permissions=["pay"]).token
        self.receiver = Receiver(self.engine.signer_did)

    def escalate(self, amount: int, notify: str | None = None) -> passgate.Decision:
        d = self.engine.enforce("payments.send", self.token, {"amount": amount}, notify=notify)
        assert d.decision == "escalate"
        return d

    def worker(self, *extra: str) -> subprocess.Popen[bytes]:
        args = [*self.command, "--store", self.store, "--once", "--timeout", "20", *extra]
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))

    def run_worker(self, *extra: str) -> str:
        p = self.worker(*extra)
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
        return err.decode()


@pytest.fixture(params=sorted(WORKERS))
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, WORKERS[request.param])
    yield w
    w.receiver.close()
    w.engine.close()


def test_an_escalation_reaches_the_receiver_once_after_its_ack(world: World) -> None:
    d = world.escalate(5000)
    world.run_worker("--url", world.receiver.url + "/hook")
    assert len(world.receiver.received) == 1
    event = world.receiver.received[0]
    assert event["kind"] == "escalation" and event["evaluation_id"] == d.evaluation_id
    assert world.receiver.verified == [True]
    assert world.receiver.paths == ["/hook"]
    assert world.receiver.headers[0]["x-passgate-event-id"] == event["id"]
    assert event["attestation"]["body"]["decision"] == "escalate"
    # Acknowledged: a second run delivers nothing.
    world.run_worker("--url", world.receiver.url + "/hook")
    assert len(world.receiver.received) == 1
    assert world.engine.events()["events"] == []
    # The approval's outcome is the next event.
    world.engine.approve(d.evaluation_id, "cfo")
    world.run_worker("--url", world.receiver.url + "/hook")
    kinds = [e["kind"] for e in world.receiver.received]
    assert kinds == ["escalation", "approval.resolved"]
    assert world.receiver.received[1]["outcome"] == "approved"
    assert world.receiver.verified == [True, True]


def test_a_crash_between_post_and_ack_delivers_again(world: World) -> None:
    world.escalate(5000)
    p = world.worker("--url", world.receiver.url)
    world.receiver.kill_on_receive = p
    p.communicate(timeout=120)
    assert p.returncode == -signal.SIGKILL
    assert len(world.receiver.received) == 1
    first = world.receiver.ids()
    # Not acknowledged: still in the outbox; the restarted worker delivers it again, then acks.
    assert [e["id"] for e in world.engine.events()["events"]] == first
    world.run_worker("--url", world.receiver.url)
    assert world.receiver.ids() == first * 2
    assert world.receiver.verified == [True, True]
    world.run_worker("--url", world.receiver.url)
    assert world.receiver.ids() == first * 2


def test_a_failed_delivery_is_retried(world: World) -> None:
    world.escalate(5000)
    world.receiver.status = 503
    err = world.run_worker("--url", world.receiver.url)
    assert "status 503" in err
    assert len(world.engine.events()["events"]) == 1
    world.receiver.status = 204
    world.run_worker("--url", world.receiver.url)
    assert len(world.receiver.received) == 2 and len(set(world.receiver.ids())) == 1
    assert world.engine.events()["events"] == []


def test_notify_urls_are_called_only_from_allowed_origins(world: World) -> None:
    # A notify naming the receiver is honoured only once its origin is allowed; a channel maps
    # to its URL; otherwise the default target gets the event.
    world.escalate(5000, notify=world.receiver.url + "/from-notify")
    world.escalate(6000, notify="finance")
    world.escalate(7000, notify="http://169.254.169.254/latest/meta-data")
    world.run_worker("--url", world.receiver.url + "/default", "--channel", f"finance={world.receiver.url}/fin")
    assert world.receiver.paths == ["/default", "/fin", "/default"]
    world.escalate(8000, notify=world.receiver.url + "/from-notify")
    world.run_worker("--allow-origin", world.receiver.url)
    assert world.receiver.paths[-1] == "/from-notify"
    # Without a default target, an event with no usable notify stays in the outbox.
    world.escalate(9000)
    err = world.run_worker()
    assert "no target" in err
    assert len(world.engine.events()["events"]) == 1
