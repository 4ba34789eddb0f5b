"""Verify a checkpointed passgate decision with nothing but ``cryptography`` and ``rfc8785``.

An engine built with ``signing="checkpoint"`` does not sign each decision record: the record
(``{body, hash, kid, leaf}``) is a leaf of an RFC 9162 Merkle tree over the engine's chain, and a
signed ``checkpoint`` record (a tree head) covers it. Given the record, its inclusion proof
(``engine.inclusion_proof(evaluation_id)``) and the engine's did:key, this checks, without
passgate:

1. ``hash`` is SHA-256 of the RFC 8785 canonical JSON of ``body``;
2. ``leaf`` is SHA-256(0x00 ‖ those 32 digest bytes);
3. the head is signed: Ed25519 by the did:key over ``passgate-attestation-v1\\n`` ‖ its digest,
   its own hash checks, it is a ``checkpoint`` of the record's chain;
4. the inclusion path leads from the leaf (index ``seq - 1``) to the head's ``root``
   (RFC 9162 §2.1.3.2).

Usage: ``python verify_checkpoint.py record.json proof.json did:key:z6Mk...`` — exits 0 and
prints ``ok`` when everything holds, exits 1 with the reason otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

DOMAIN = b"passgate-attestation-v1\n"
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


class Invalid(Exception):
    """The record, the proof or the head does not verify."""


def did_key(did: str) -> Ed25519PublicKey:
    """The Ed25519 public key of a did:key (multicodec 0xed01, base58btc)."""
    if not did.startswith("did:key:z"):
        raise Invalid("not an Ed25519 did:key")
    n = 0
    for ch in did.removeprefix("did:key:z"):
        n = n * 58 + B58.index(ch)
    raw = n.to_bytes(34, "big")
    if raw[:2] != b"\xed\x01":
        raise Invalid("not an Ed25519 did:key")
    return Ed25519PublicKey.from_public_bytes(raw[2:])


def tagged(h: Any) -> bytes:
    """The 32 bytes of a ``"sha256:<hex>"`` string."""
    if not isinstance(h, str) or not h.startswith("sha256:") or len(h) != 71:
        raise Invalid(f"not a sha256 hash: {h!r}")
    return bytes.fromhex(h[7:])


def body_digest(record: dict[str, Any]) -> bytes:
    digest = hashlib.sha256(rfc8785.dumps(record["body"])).digest()
    if record.get("hash") != "sha256:" + digest.hex():
        raise Invalid("the record's hash is not its body's")
    return digest


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2, step by step."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify(record: dict[str, Any], proof: dict[str, Any], did: str) -> None:
    """Raises ``Invalid`` unless ``record`` is in the tree of the signed head in ``proof``."""
    if record.get("kid") != did:
        raise Invalid("the record names another key")
    digest = body_digest(record)
    leaf = hashlib.sha256(b"\x00" + digest).digest()
    if "leaf" in record and record["leaf"] != "sha256:" + leaf.hex():
        raise Invalid("the record's leaf is not its digest's")
    head = proof["head"]
    head_digest = body_digest(head)
    if head.get("kid") != did or "sig" not in head:
        raise Invalid("the head is not signed by the did:key")
    sig = base64.urlsafe_b64decode(head["sig"] + "=" * (-len(head["sig"]) % 4))
    try:
        did_key(did).verify(sig, DOMAIN + head_digest)
    except InvalidSignature:
        raise Invalid("the head's signature does not verify") from None
    hb = head["body"]
    if hb.get("kind") != "checkpoint" or hb.get("chain") != record["body"].get("chain"):
        raise Invalid("the head is not a checkpoint of the record's chain")
    size = hb["data"]["tree_size"]
    if size != hb["seq"] - 1:
        raise Invalid("the head's tree_size is not its seq - 1")
    path = [tagged(h) for h in proof["proof"]]
    index = record["body"]["seq"] - 1
    if not verify_inclusion(leaf, index, size, path, tagged(hb["data"]["root"])):
        raise Invalid(f"seq {index + 1} is not in the head's tree of {size} records")


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[-3], file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        record = json.load(f)
    with open(argv[2], encoding="utf-8") as f:
        proof = json.load(f)
    try:
        verify(record, proof, argv[3])
    except (Invalid, KeyError, TypeError, ValueError) as e:
        print(f"invalid: {e}", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
