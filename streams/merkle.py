"""Merkle trees as RFC 6962 (Certificate Transparency, section 2.1) defines them, so that a day's
root can be handed to an outside party and any one event shown to be under it.

Leaf hash ``SHA-256(0x00 || data)``, node hash ``SHA-256(0x01 || left || right)``; a tree of n
leaves splits at the largest power of two below n. ``tools/verify_proof.py`` checks a proof with
nothing but the standard library.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of ``leaves`` (each leaf's data, not yet hashed)."""
    level = [leaf_hash(data) for data in leaves]
    if not level:
        return hashlib.sha256(b"").digest()
    # Level by level, pairing left to right and carrying an odd last node up unchanged: the
    # same tree as the RFC's recursive split at the largest power of two below n.
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _subtree(hashes: Sequence[bytes], start: int, end: int) -> bytes:
    # Bottom-up over whole power-of-two blocks would be faster; a day's tree is small enough.
    if end - start == 1:
        return hashes[start]
    k = _split(end - start)
    return node_hash(_subtree(hashes, start, start + k), _subtree(hashes, start + k, end))


def audit_path(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The inclusion proof of leaf ``index``: the sibling hashes from the leaf up to the root."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is not in a tree of {len(leaves)}")
    hashes = [leaf_hash(data) for data in leaves]
    path: list[bytes] = []
    start, end = 0, len(hashes)
    trail: list[bytes] = []
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            trail.append(_subtree(hashes, start + k, end))
            end = start + k
        else:
            trail.append(_subtree(hashes, start, start + k))
            start = start + k
    path.extend(reversed(trail))
    return path


def root_from_path(data: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """The root that leaf ``data`` at ``index`` of a ``size``-leaf tree and its ``path`` lead to
    (RFC 9162, section 2.1.3.2)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    fn, sn = index, size - 1
    r = leaf_hash(data)
    for p in path:
        if sn == 0:
            raise ValueError("the path is longer than the tree")
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("the path is shorter than the tree")
    return r
