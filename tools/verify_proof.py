#!/usr/bin/env python3
"""Check, offline, that a decision is under a day's Merkle root.

    python3 tools/verify_proof.py PROOF.json [--root HEX]

PROOF.json is what `benefits audit proof DECISION_ID` prints. The script needs nothing but
Python 3: it recomputes the root from the proof's leaf (the decision's recorded hash), its index,
the tree's size and the sibling hashes, as RFC 6962 / RFC 9162 (section 2.1.3.2) define them:
leaf hash SHA-256(0x00 || leaf), node hash SHA-256(0x01 || left || right). Give --root with the
root you hold from elsewhere (the day's root as it was handed to you); without it the proof's
own "root" is used. Exit 0 when the path leads to the root, 1 when it does not, 2 when the
proof cannot be read.
"""

import hashlib
import json
import sys


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_path(leaf: bytes, index: int, size: int, path: list) -> bytes:
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    fn, sn, r = index, size - 1, leaf_hash(leaf)
    for sibling in path:
        if sn == 0:
            raise ValueError("the path is longer than the tree")
        if fn % 2 == 1 or fn == sn:
            r = node_hash(sibling, r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("the path is shorter than the tree")
    return r


def main(argv: list) -> int:
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--root"):
        print("usage: verify_proof.py PROOF.json [--root HEX]", file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as handle:
            proof = json.load(handle)
        expected = bytes.fromhex(argv[3] if len(argv) == 4 else proof["root"])
        computed = root_from_path(
            bytes.fromhex(proof["leaf"]),
            int(proof["leaf_index"]),
            int(proof["tree_size"]),
            [bytes.fromhex(p) for p in proof["path"]],
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: cannot check the proof: {exc}", file=sys.stderr)
        return 2
    if computed != expected:
        print(f"NOT PROVEN: the path leads to {computed.hex()}, not to {expected.hex()}")
        return 1
    print(
        f"proven: decision {proof.get('decision_id')} is event {proof['leaf_index'] + 1} of"
        f" {proof['tree_size']} under the root of {proof.get('day')}: {expected.hex()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
