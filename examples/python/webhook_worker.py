"""Deliver passgate's decision events as webhooks, at least once.

passgate never makes a network call: each decision event (an escalation a human must see, an
approval's outcome, an expired hold, a policy change; denies if the policy records them) is
written to the store's outbox with the record that caused it. This worker, run by the host next
to the engines sharing that store, reads the outbox, POSTs each event's JSON to its target and
acknowledges it (``ack_event``) only after a 2xx answer. A crash between the POST and the ack
means the event is delivered again on the next run: receivers deduplicate on the event's ``id``
(also sent as the ``X-Passgate-Event-Id`` header) and verify its ``attestation`` with the
engine's did:key (``passgate.verify_attestation(event["attestation"], did)``).

    python examples/python/webhook_worker.py --store sqlite:///var/lib/passgate.db \\
        --url https://hooks.example.com/passgate --channel finance=https://hooks.example.com/fin

The target of an event:

- its ``notify`` channel name mapped with ``--channel name=url``;
- its ``notify`` URL, only if that URL's origin (scheme://host:port) is allowed with
  ``--allow-origin`` — a ``notify`` may come from a request an agent shaped, so the worker never
  calls an arbitrary URL;
- else ``--url`` (the default target). An event with no target stays in the outbox (reported).

Each pass walks the unacknowledged events oldest first (``--once``: one pass, then exit; else
every ``--interval`` seconds). An event whose delivery fails stays unacknowledged and is tried
again on the next pass; the pass goes on with the others.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from passgate import Engine

USER_AGENT = "passgate-webhook-worker/1"


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL (the default port spelled out), lowercased."""
    u = urllib.parse.urlsplit(url)
    port = u.port or {"http": 80, "https": 443}.get(u.scheme.lower(), 0)
    return f"{u.scheme.lower()}://{(u.hostname or '').lower()}:{port}"


def target(event: Mapping[str, Any], default: str | None, channels: Mapping[str, str], allowed: set[str]) -> str | None:
    """Where `event` goes (see the module docs), or None."""
    notify = event.get("notify")
    if isinstance(notify, str):
        if notify in channels:
            return channels[notify]
        if notify.lower().startswith(("http://", "https://")) and origin(notify) in allowed:
            return notify
    return default


def post(url: str, event: Mapping[str, Any], timeout: float) -> int:
    """POSTs the event's JSON; returns the HTTP status (0: no answer)."""
    body = json.dumps(event, separators=(",", ":")).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Passgate-Event-Id": str(event.get("id", "")),
            "X-Passgate-Event-Kind": str(event.get("kind", "")),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) only)
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except (urllib.error.URLError, OSError):
        return 0


def deliver_once(
    engine: Engine,
    *,
    default: str | None,
    channels: Mapping[str, str],
    allowed: set[str],
    kinds: Sequence[str] | None = None,
    timeout: float = 10.0,
    log: Any = sys.stderr,
) -> tuple[int, int]:
    """One pass over the outbox: returns (delivered and acknowledged, left for a later pass)."""
    delivered = left = 0
    since: str | None = None
    while True:
        page = engine.events(since=since, kinds=list(kinds) if kinds else None, limit=100)  # type: ignore[arg-type]
        events: list[dict[str, Any]] = page["events"]
        if not events:
            return delivered, left
        for event in events:
            url = target(event, default, channels, allowed)
            if url is None:
                print(f"webhook-worker: event {event['id']} ({event['kind']}) has no target; left in the outbox", file=log)
                left += 1
                continue
            if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
                left += 1
                continue
            status = post(url, event, timeout)
            if 200 <= status < 300:
                # Acknowledged only now: a crash before this line delivers the event again.
                engine.ack_event(event["id"])
                delivered += 1
            else:
                print(f"webhook-worker: event {event['id']} to {url}: status {status or 'no answer'}; retried later", file=log)
                left += 1
        since = page["cursor"]


def main(argv: Sequence[str] | None = None) -> int:
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--store", default=env("PASSGATE_STORE"), help="the engines' store URL (sqlite:///... or redis://...)")
    ap.add_argument("--url", default=env("PASSGATE_WEBHOOK_URL"), help="the default target")
    ap.add_argument("--channel", action="append", default=[], metavar="NAME=URL", help="a notify channel's target")
    ap.add_argument("--allow-origin", action="append", default=[], metavar="URL", help="an origin notify URLs may name")
    ap.add_argument("--kind", action="append", default=None, help="only these event kinds")
    ap.add_argument("--once", action="store_true", help="one pass, then exit")
    ap.add_argument("--interval", type=float, default=2.0, help="seconds between passes")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per POST")
    args = ap.parse_args(argv)
    if not args.store:
        ap.error("--store (or PASSGATE_STORE) is required: the outbox lives in the engines' store")
    channels: dict[str, str] = {}
    for c in args.channel:
        name, sep, url = c.partition("=")
        if not sep or not url:
            ap.error(f"--channel {c!r}: use NAME=URL")
        channels[name] = url
    allowed = {origin(o) for o in args.allow_origin}
    # An engine on the shared store, used only to read and acknowledge the outbox.
    engine = Engine(store=args.store)
    while True:
        delivered, left = deliver_once(
            engine, default=args.url, channels=channels, allowed=allowed, kinds=args.kind, timeout=args.timeout
        )
        if delivered or left:
            print(f"webhook-worker: delivered {delivered}, left {left}", file=sys.stderr)
        if args.once:
            return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
