"""RFC 6962 / RFC 9162 Merkle tree hashing, proof generation and verification.

The registry's transparency log is an append-only list of entries whose
Merkle tree head (MTH) is signed in a checkpoint (see :mod:`registry.log.note`).
This module is the pure hashing layer: it knows nothing about files, tiles or
signatures, so it can be checked against the transparency-dev/merkle test
vectors in isolation.

Proof *generation* works over a :data:`HashReader`, a callable that returns
the hashes of complete subtrees. :mod:`registry.log.tiles` provides one that reads
C2SP tlog-tiles, :func:`memory_reader` one over a list of leaf hashes. This
mirrors ``golang.org/x/mod/sumdb/tlog`` ``ProveRecord``/``ProveTree`` over a
``HashReader``.

Proof *verification* follows the loops of RFC 9162 §2.1.3.2 (inclusion) and
§2.1.4.2 (consistency) and raises :class:`~registry.core.exceptions.ProofError`
on any failure. Tiles and proofs are untrusted input: only a root hash taken
from a verified, signed checkpoint makes a verified proof meaningful.

Subtree coordinates: ``(level, index)`` names the complete subtree of
``2**level`` leaves starting at leaf ``index * 2**level``, i.e.
``MTH(D[index·2^level : (index+1)·2^level])``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from registry.core.exceptions import ProofError

HASH_SIZE = 32
"""Size in bytes of every hash in the tree (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH of the empty tree: SHA-256 of the empty string (RFC 6962 §2.1)."""

HashReader = Callable[[Sequence[tuple[int, int]]], Sequence[bytes]]
"""Given subtree coordinates ``[(level, index), ...]``, return their hashes
in the same order. Batched so that a tile reader can fetch each tile once."""


def leaf_hash(entry: bytes) -> bytes:
    """Return the leaf hash ``SHA-256(0x00 ‖ entry)`` (RFC 6962 §2.1).

    The 0x00 prefix separates leaves from interior nodes, so no leaf can be
    passed off as a node (second-preimage resistance).
    """
    return hashlib.sha256(b"\x00" + bytes(entry)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the interior node hash ``SHA-256(0x01 ‖ left ‖ right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """Largest power of two ``k`` with ``k < n`` (RFC 6962 §2.1), for n >= 2."""
    return 1 << ((n - 1).bit_length() - 1)


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return ``MTH`` of a tree given all its leaf hashes, in O(n) time.

    Reduces level by level, carrying an unpaired right-most node up
    unchanged, which yields exactly the RFC 6962 recursive definition.
    """
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def memory_reader(leaf_hashes: Sequence[bytes]) -> HashReader:
    """Return a :data:`HashReader` over an in-memory list of leaf hashes.

    All complete subtrees are computed up front (n - 1 node hashes).
    """
    levels = [list(leaf_hashes)]
    while len(levels[-1]) > 1:
        prev = levels[-1]
        levels.append([node_hash(prev[i], prev[i + 1]) for i in range(0, len(prev) - 1, 2)])

    def read(coords: Sequence[tuple[int, int]]) -> list[bytes]:
        out = []
        for level, index in coords:
            if level >= len(levels) or index >= len(levels[level]):
                raise ProofError(
                    f"subtree (level {level}, index {index}) is outside the tree; "
                    f"observed {len(leaf_hashes)} leaves"
                )
            out.append(levels[level][index])
        return out

    return read


def subtree_decomposition(start: int, end: int) -> list[tuple[int, int]]:
    """Split the leaf range ``[start, end)`` into maximal aligned complete subtrees.

    Returned left to right as ``(level, index)``. For every range that the
    RFC 6962 PATH/SUBPROOF recursions ask for, ``MTH(D[start:end])`` is the
    right fold ``node(h1, node(h2, ... hk))`` of these subtrees' hashes.
    """
    if not 0 <= start <= end:
        raise ValueError(f"bad leaf range [{start}, {end})")
    out = []
    while start < end:
        # Largest 2**k that is aligned at start and fits before end.
        k = (start & -start).bit_length() - 1 if start else (end - start).bit_length()
        while (1 << k) > end - start:
            k -= 1
        out.append((k, start >> k))
        start += 1 << k
    return out


def _range_hashes(ranges: Sequence[tuple[int, int]], read: HashReader) -> list[bytes]:
    """Return ``MTH(D[a:b])`` for each ``(a, b)`` using one batched read."""
    parts = [subtree_decomposition(a, b) for a, b in ranges]
    flat = [c for p in parts for c in p]
    hashes = list(read(flat)) if flat else []
    if len(hashes) != len(flat):
        raise ProofError(f"hash reader returned {len(hashes)} hashes, expected {len(flat)}")
    for h in hashes:
        _check_hash(h, "hash from reader")
    out, pos = [], 0
    for p in parts:
        chunk = hashes[pos : pos + len(p)]
        pos += len(p)
        acc = chunk[-1]
        for h in reversed(chunk[:-1]):
            acc = node_hash(h, acc)
        out.append(acc)
    return out


def tree_hash(size: int, read: HashReader) -> bytes:
    """Return ``MTH`` of the first ``size`` leaves, reading complete subtrees."""
    if size < 0:
        raise ProofError(f"tree size is negative: observed {size}")
    if size == 0:
        return EMPTY_ROOT
    return _range_hashes([(0, size)], read)[0]


def inclusion_proof(index: int, size: int, read: HashReader) -> list[bytes]:
    """Return the RFC 6962 §2.1.1 audit path ``PATH(index, D[0:size])``.

    Ordered from the leaf upward, as RFC 9162 §2.1.3.2 consumes it.
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    ranges = []
    lo, hi = 0, size
    while hi - lo > 1:
        # PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])  if m < k
        #              = PATH(m-k, D[k:n]) : MTH(D[0:k]) otherwise
        k = _largest_power_of_two_below(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo = lo + k
    ranges.reverse()
    return _range_hashes(ranges, read)


def consistency_proof(old_size: int, new_size: int, read: HashReader) -> list[bytes]:
    """Return the RFC 6962 §2.1.2 proof ``PROOF(old_size, D[0:new_size])``."""
    if not 0 < old_size <= new_size:
        raise ProofError(
            f"consistency proof needs 0 < old size <= new size; observed {old_size} and {new_size}"
        )
    ranges = []
    lo, hi, complete = 0, new_size, True
    while hi != old_size:
        # SUBPROOF(m, D[n], b), RFC 6962 §2.1.2, with D[n] = D[lo:hi]
        k = _largest_power_of_two_below(hi - lo)
        if old_size <= lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, complete = lo + k, False
    if not complete:
        # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        ranges.append((lo, hi))
    ranges.reverse()
    return _range_hashes(ranges, read)


def _check_hash(value: bytes, what: str) -> None:
    """Reject anything that is not a 32-byte hash (else ``b"" == b""`` passes)."""
    if not isinstance(value, (bytes, bytearray)) or len(value) != HASH_SIZE:
        got = len(value) if isinstance(value, (bytes, bytearray)) else type(value).__name__
        raise ProofError(f"{what}: observed {got} bytes, expected {HASH_SIZE}")


def root_from_inclusion_proof(
    leaf_index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes:
    """Run the RFC 9162 §2.1.3.2 loop and return the root it implies."""
    _check_hash(leaf, "leaf hash")
    for i, p in enumerate(proof):
        _check_hash(p, f"inclusion proof element {i}")
    # RFC 9162 §2.1.3.2 step 1: the index must be inside the tree.
    if not 0 <= leaf_index < tree_size:
        raise ProofError(f"leaf index {leaf_index} is not below tree size {tree_size}")
    # Step 2-3.
    fn, sn, r = leaf_index, tree_size - 1, bytes(leaf)
    for p in proof:
        # Step 4a: a proof longer than the path is invalid.
        if sn == 0:
            raise ProofError(f"inclusion proof is too long: observed {len(proof)} hashes")
        # Step 4b.
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        # Step 4c.
        fn >>= 1
        sn >>= 1
    # Step 5: the path must reach the root exactly.
    if sn != 0:
        raise ProofError(f"inclusion proof is too short: observed {len(proof)} hashes")
    return r


def verify_inclusion(
    leaf_index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf`` is entry ``leaf_index`` of the tree with ``root``.

    Raises :class:`ProofError`; returns ``None`` when the proof verifies.
    """
    _check_hash(root, "root hash")
    got = root_from_inclusion_proof(leaf_index, tree_size, leaf, proof)
    # RFC 9162 §2.1.3.2 step 5: compare with the signed root.
    if got != root:
        raise ProofError(
            f"inclusion proof does not match the root: observed {got.hex()}, expected {bytes(root).hex()}"
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree ``(size2, root2)`` extends ``(size1, root1)``.

    Raises :class:`ProofError`; returns ``None`` when the proof verifies.
    An old size of 0 is always an error: an empty tree proves nothing.
    """
    _check_hash(root1, "old root hash")
    _check_hash(root2, "new root hash")
    for i, p in enumerate(proof):
        _check_hash(p, f"consistency proof element {i}")
    if size1 < 0 or size2 < size1:
        raise ProofError(f"new size {size2} is smaller than old size {size1}")
    if size1 == 0:
        raise ProofError("old tree size is 0: a consistency proof from the empty tree is meaningless")
    if size1 == size2:
        # RFC 9162 §2.1.4.2: equal sizes need an empty proof and equal roots.
        if proof:
            raise ProofError(f"sizes are equal but the proof has {len(proof)} hashes, expected 0")
        if root1 != root2:
            raise ProofError(
                f"sizes are equal but roots differ: observed {bytes(root2).hex()}, "
                f"expected {bytes(root1).hex()}"
            )
        return
    # Step 1: an empty path cannot prove anything for different sizes.
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    # Step 2: if size1 is a power of two, the old root is the first node.
    if size1 & (size1 - 1) == 0:
        path.insert(0, bytes(root1))
    # Step 3-4.
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        # Step 6a.
        if sn == 0:
            raise ProofError(f"consistency proof is too long: observed {len(proof)} hashes")
        # Step 6b.
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        # Step 6c.
        fn >>= 1
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise ProofError(f"consistency proof is too short: observed {len(proof)} hashes")
    if fr != root1:
        raise ProofError(f"old root does not match: observed {fr.hex()}, expected {bytes(root1).hex()}")
    if sr != root2:
        raise ProofError(f"new root does not match: observed {sr.hex()}, expected {bytes(root2).hex()}")
