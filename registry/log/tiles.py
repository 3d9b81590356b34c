"""C2SP tlog-tiles: the log as static files (hash tiles and entry bundles).

A tiled log of size ``s`` is served as immutable files under a prefix:

* ``tile/<L>/<N>[.p/<W>]`` — hash tile ``N`` of tile level ``L``: up to 256
  hashes of 32 bytes. Item ``i`` is ``MTH(D[(256N+i)·256^L : (256N+i+1)·256^L])``,
  i.e. level-0 tiles hold leaf hashes and each tile level is 8 tree levels
  above the previous one. A partial tile (``.p/<W>``) holds the ``W < 256``
  hashes that exist so far; it is never hashed upward.
* ``tile/entries/<N>[.p/<W>]`` — entry bundle: the entries of level-0 tile
  ``N``, each as ``uint16be length ‖ entry`` (this writer never gzips).
* ``checkpoint`` — the signed tree head, written by the caller *last*, after
  every tile it commits to is in place (see :mod:`registry.log.note`).

``N`` is written in 3-digit groups, all but the last prefixed with ``x``:
1234067 → ``x001/x234/067``.

Writing is incremental: appending to a log of size ``n`` reads at most one
partial tile per level and hashes only new data, so 1M entries take seconds.
Full tiles are immutable and never rewritten. Reading (:class:`TileHashReader`)
works over a directory or any ``fetch(path) -> bytes`` callable; proofs built
from tiles are untrusted until verified against a signed root.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from registry.core import fs
from registry.core.exceptions import TileError
from registry.log import merkle

TILE_HEIGHT = 8
"""Tree levels per tile level (tlog-tiles fixes this to 8)."""

TILE_WIDTH = 1 << TILE_HEIGHT
"""Hashes in a full tile (256)."""

MAX_ENTRY_SIZE = 0xFFFF
"""Largest entry an entry bundle can hold (uint16 length prefix)."""

HS = merkle.HASH_SIZE


@dataclass(frozen=True, order=True)
class Tile:
    """One tile: tile level ``level``, index ``index``, ``width`` hashes (1..256)."""

    level: int
    index: int
    width: int = TILE_WIDTH

    @property
    def path(self) -> str:
        """Hash tile path, e.g. ``tile/1/x001/x234/067.p/1``."""
        return tile_path(self.level, self.index, self.width)

    @property
    def entries_path(self) -> str:
        """Entry bundle path of a level-0 tile, e.g. ``tile/entries/273.p/112``."""
        if self.level != 0:
            raise TileError(f"only level-0 tiles have entry bundles; observed level {self.level}")
        return entries_path(self.index, self.width)


def _encode_index(n: int) -> str:
    """tlog-tiles: N in zero-padded 3-digit groups, all but the last ``x``-prefixed."""
    if n < 0:
        raise TileError(f"tile index is negative: observed {n}")
    groups = []
    while True:
        groups.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    return "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])


def _check_width(width: int) -> None:
    # tlog-tiles: W is 1..255 for a partial tile; 256 means a full tile.
    if not 1 <= width <= TILE_WIDTH:
        raise TileError(f"tile width out of range: observed {width}, expected 1..{TILE_WIDTH}")


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """Return ``tile/<L>/<N>[.p/<W>]`` (tlog-tiles; L is 0..63)."""
    if not 0 <= level <= 63:
        raise TileError(f"tile level out of range: observed {level}, expected 0..63")
    _check_width(width)
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level}/{_encode_index(index)}{suffix}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """Return ``tile/entries/<N>[.p/<W>]`` (tlog-tiles entry bundle)."""
    _check_width(width)
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/entries/{_encode_index(index)}{suffix}"


def tiles_for_size(size: int) -> list[Tile]:
    """Every hash tile that a log of ``size`` entries publishes, level by level.

    Example (tlog-tiles): 70,000 → 273 full level-0 tiles, ``tile/0/273.p/112``,
    ``tile/1/000``, ``tile/1/001.p/17`` and ``tile/2/000.p/1``.
    """
    if size < 0:
        raise TileError(f"tree size is negative: observed {size}")
    out: list[Tile] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        count = size >> (TILE_HEIGHT * level)  # hashes stored at this tile level
        out.extend(Tile(level, n) for n in range(count // TILE_WIDTH))
        if count % TILE_WIDTH:
            out.append(Tile(level, count // TILE_WIDTH, count % TILE_WIDTH))
        level += 1
    return out


def parse_path(rel: str) -> tuple[Tile, bool]:
    """The tile named by ``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]``,
    and whether it is an entry bundle (the inverse of :func:`tile_path` and
    :func:`entries_path`; TileError for anything else)."""
    parts = rel.split("/")
    width = TILE_WIDTH
    if len(parts) >= 2 and parts[-2].endswith(".p") and parts[-1].isdigit() and parts[-1] == str(int(parts[-1])):
        width = int(parts[-1])
        parts = [*parts[:-2], parts[-2][:-2]]
    if len(parts) < 3 or parts[0] != "tile":
        raise TileError(f"{rel!r} is not a tile path, expected tile/<L>/<N>[.p/<W>]")
    groups = parts[2:]
    if not (all(len(g) == 4 and g[0] == "x" and g[1:].isdigit() for g in groups[:-1])
            and len(groups[-1]) == 3 and groups[-1].isdigit()):
        raise TileError(f"{rel!r}: tile index is not in x-prefixed 3-digit groups")
    index = int("".join(g.lstrip("x") for g in groups))
    entries = parts[1] == "entries"
    level = 0 if entries else int(parts[1]) if parts[1].isdigit() else -1
    tile = Tile(level, index, width)
    expected = tile.entries_path if entries else tile.path if level >= 0 else ""
    if expected != rel:
        raise TileError(f"{rel!r} is not a tile path, expected e.g. {tile_path(0, index, width)!r}")
    return tile, entries


def size_of_partial(tile: Tile) -> int:
    """The smallest tree size at which partial ``tile`` is published (its
    level's hash count is ``256·index + width``; lower levels empty)."""
    return (tile.index * TILE_WIDTH + tile.width) << (TILE_HEIGHT * tile.level)


def retained_partials(size: int, checkpointed: Iterable[int]) -> list[Tile]:
    """Partial tiles of the ``checkpointed`` sizes that a log now of ``size``
    entries must still serve: those whose full tile does not exist yet.

    C2SP tlog-tiles: "Logs MUST serve partial tiles corresponding to tree
    sizes for which a checkpoint was produced, but MAY delete any partial
    tile once the corresponding full tile is either available" — a client
    holding an older checkpoint fetches exactly these. Those of ``size``
    itself are included.
    """
    out = set()
    for old in set(checkpointed) | {size}:
        if not 0 <= old <= size:
            raise TileError(f"checkpointed size {old} is outside the log's size {size}")
        for t in tiles_for_size(old):
            count = size >> (TILE_HEIGHT * t.level)  # hashes at this level now
            if t.width < TILE_WIDTH and (t.index + 1) * TILE_WIDTH > count:
                out.add(t)
    return sorted(out)


def write_partials(directory: str | os.PathLike[str], size: int, partials: Iterable[Tile]) -> int:
    """Write (or, when present, check) older partial tiles and their bundles
    from the tiles of the log of ``size`` entries in ``directory``.

    A partial tile of width ``W`` holds the first ``W`` hashes of the
    (wider) tile now at its place, so it is read from the current tiles; an
    existing file with other bytes is a fork (TileError). Returns how many
    files were written.
    """
    root = Path(directory)
    reader = TileHashReader(size, root)
    written = 0
    for t in partials:
        lo = t.index * TILE_WIDTH
        files = [(t.path, b"".join(reader.stored_hashes(t.level, lo, lo + t.width)))]
        if t.level == 0:
            files.append((t.entries_path, encode_bundle(reader.entries(lo, lo + t.width))))
        for rel, data in files:
            written += not (root / rel).exists()
            # A published partial tile never changes: same rule as a full tile.
            _write_atomic(root, rel, data, immutable=True)
    return written


def new_tiles(old_size: int, new_size: int) -> list[Tile]:
    """Tiles of ``new_size`` that a log of ``old_size`` does not have yet."""
    if not 0 <= old_size <= new_size:
        raise TileError(f"new size {new_size} is smaller than old size {old_size}")
    old = set(tiles_for_size(old_size))
    return [t for t in tiles_for_size(new_size) if t not in old]


def _tile_for(level: int, index: int, size: int) -> Tile:
    """The tile of a ``size``-entry log that holds hash ``index`` of tile level ``level``."""
    count = size >> (TILE_HEIGHT * level)
    if index >= count:
        raise TileError(f"hash {index} of tile level {level} does not exist at tree size {size}")
    n = index // TILE_WIDTH
    return Tile(level, n, min(TILE_WIDTH, count - n * TILE_WIDTH))


def _subtree_root(hashes: Sequence[bytes]) -> bytes:
    """Root of a complete subtree given its 2**k bottom hashes."""
    level = list(hashes)
    while len(level) > 1:
        level = [merkle.node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    """Encode an entry bundle: ``uint16be length ‖ entry`` for each entry."""
    out = bytearray()
    for i, e in enumerate(entries):
        if len(e) > MAX_ENTRY_SIZE:
            raise TileError(f"entry {i} is {len(e)} bytes, expected at most {MAX_ENTRY_SIZE}")
        out += len(e).to_bytes(2, "big") + e
    return bytes(out)


def decode_bundle(data: bytes, width: int | None = None) -> list[bytes]:
    """Decode an entry bundle; if ``width`` is given, require that many entries."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise TileError(f"entry bundle truncated in a length prefix at byte {pos}")
        n = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + n > len(data):
            raise TileError(f"entry bundle truncated: entry {len(entries)} needs {n} bytes, "
                            f"observed {len(data) - pos}")
        entries.append(bytes(data[pos : pos + n]))
        pos += n
    if width is not None and len(entries) != width:
        raise TileError(f"entry bundle holds {len(entries)} entries, expected {width}")
    return entries


def _write_atomic(root: Path, rel: str, data: bytes, *, immutable: bool) -> None:
    """Write ``root/rel`` via rename; an existing immutable file must be identical."""
    path = root / rel
    if immutable and path.exists():
        if path.read_bytes() != data:
            # tlog-tiles: full tiles are immutable; a differing one means a fork.
            raise TileError(f"refusing to overwrite immutable {rel}: existing content differs")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # Mode 0644, as every published file: mkstemp's 0600 made a web server
    # running as another user answer 403 for every tile.
    fs.write_atomic(path, data)


def _read_local(root: Path, rel: str) -> bytes:
    try:
        return (root / rel).read_bytes()
    except FileNotFoundError:
        raise TileError(f"missing {rel} under {root}") from None


def append_entries(
    directory: str | os.PathLike[str],
    old_size: int,
    entries: Sequence[bytes],
    *,
    old_root: bytes | None = None,
) -> tuple[int, bytes]:
    """Append ``entries`` to the tiled log of ``old_size`` entries in ``directory``.

    Writes only new and changed tiles and bundles (full tiles are never
    rewritten) and returns ``(new_size, root_hash)`` for the caller to sign
    into a checkpoint, which it must write *after* this returns. If
    ``old_root`` is given, the existing tiles must hash to it first.
    """
    root = Path(directory)

    def read(rel: str) -> bytes:
        return _read_local(root, rel)

    if old_size and old_root is not None:
        got = TileHashReader(old_size, read).tree_hash()
        if got != old_root:
            raise TileError(f"existing tiles hash to {got.hex()}, expected {old_root.hex()}")
    new_size = old_size + len(entries)
    if not entries:
        return old_size, TileHashReader(old_size, read).tree_hash() if old_size else merkle.EMPTY_ROOT

    # Entry bundles: the old partial bundle is extended, then split by tile.
    first = old_size // TILE_WIDTH * TILE_WIDTH
    pending = list(entries)
    if old_size % TILE_WIDTH:
        pending = decode_bundle(read(entries_path(old_size // TILE_WIDTH, old_size % TILE_WIDTH)),
                                old_size % TILE_WIDTH) + pending
    for start in range(0, len(pending), TILE_WIDTH):
        chunk = pending[start : start + TILE_WIDTH]
        n = (first + start) // TILE_WIDTH
        _write_atomic(root, entries_path(n, len(chunk)), encode_bundle(chunk),
                      immutable=len(chunk) == TILE_WIDTH)

    # Hash tiles, level by level. `hashes` holds tile-level-L hashes from index
    # `first_l` (start of the old partial tile) to the end of the new tree.
    hashes = [merkle.leaf_hash(e) for e in entries]
    level = 0
    while new_size >> (TILE_HEIGHT * level):
        old_count = old_size >> (TILE_HEIGHT * level)
        new_count = new_size >> (TILE_HEIGHT * level)
        first_l = old_count // TILE_WIDTH * TILE_WIDTH
        if old_count % TILE_WIDTH:
            data = read(tile_path(level, old_count // TILE_WIDTH, old_count % TILE_WIDTH))
            if len(data) != (old_count % TILE_WIDTH) * HS:
                raise TileError(f"partial tile at level {level} is {len(data)} bytes, "
                                f"expected {(old_count % TILE_WIDTH) * HS}")
            hashes = [data[i : i + HS] for i in range(0, len(data), HS)] + hashes
        if len(hashes) != new_count - first_l:
            raise TileError(f"internal: level {level} has {len(hashes)} hashes, "
                            f"expected {new_count - first_l}")
        for start in range(0, len(hashes), TILE_WIDTH):
            chunk = hashes[start : start + TILE_WIDTH]
            _write_atomic(root, tile_path(level, (first_l + start) // TILE_WIDTH, len(chunk)),
                          b"".join(chunk), immutable=len(chunk) == TILE_WIDTH)
        # Next level: roots of the complete groups of 256 that are new
        # (every complete group from first_l on has index >= old count above).
        hashes = [_subtree_root(hashes[s : s + TILE_WIDTH])
                  for s in range(0, len(hashes) - TILE_WIDTH + 1, TILE_WIDTH)]
        level += 1
    return new_size, TileHashReader(new_size, read).tree_hash()


def write_log(directory: str | os.PathLike[str], entries: Sequence[bytes]) -> bytes:
    """Write every tile and bundle of a log holding ``entries``; return its root.

    Equivalent to :func:`append_entries` from an empty log. The checkpoint is
    the caller's to write, last.
    """
    return append_entries(directory, 0, entries)[1]


Fetch = Callable[[str], bytes]
"""``fetch(relative_path) -> bytes``; raises :class:`TileError` (or any error) if missing."""


class TileHashReader:
    """Reads hashes, proofs and entries from the tiles of a log of ``size`` entries.

    ``size`` is the size of the tiles to read (normally the latest verified
    checkpoint); proofs and tree hashes can be asked for any size up to it.

    ``source`` is a directory or a ``fetch(relative_path) -> bytes`` callable
    (for HTTP). Each tile is fetched at most once and cached in memory. Like
    x/mod ``tlog.TileHashReader`` it reads only the tiles a request needs.
    Everything it returns is untrusted until checked against a signed root
    (:func:`registry.log.merkle.verify_inclusion` / ``verify_consistency``).
    """

    def __init__(self, size: int, source: str | os.PathLike[str] | Fetch) -> None:
        if size < 0:
            raise TileError(f"tree size is negative: observed {size}")
        self.size = size
        self._fetch: Fetch
        if callable(source):
            self._fetch = source
        else:
            base = Path(source)
            self._fetch = lambda rel: _read_local(base, rel)
        self._cache: dict[str, bytes] = {}

    def _get(self, rel: str, expected_len: int | None = None) -> bytes:
        if rel not in self._cache:
            data = bytes(self._fetch(rel))
            if expected_len is not None and len(data) != expected_len:
                raise TileError(f"{rel} is {len(data)} bytes, expected {expected_len}")
            self._cache[rel] = data
        return self._cache[rel]

    def tile(self, tile: Tile) -> bytes:
        """Raw bytes of a hash tile (length checked: width × 32)."""
        return self._get(tile.path, tile.width * HS)

    def stored_hashes(self, level: int, start: int, end: int) -> list[bytes]:
        """Tile-level-``level`` hashes ``[start, end)`` (within this tree)."""
        out = []
        i = start
        while i < end:
            t = _tile_for(level, i, self.size)
            data = self.tile(t)
            stop = min(end, t.index * TILE_WIDTH + t.width)
            for j in range(i, stop):
                off = (j - t.index * TILE_WIDTH) * HS
                out.append(data[off : off + HS])
            i = stop
        return out

    def read_hashes(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
        """:data:`registry.log.merkle.HashReader`: hashes of complete subtrees.

        Subtree ``(k, n)`` is ``2**(k mod 8)`` consecutive hashes of tile level
        ``k // 8``, hashed pairwise up (tlog-tiles; x/mod ``tileHashes``).
        """
        out = []
        for k, n in coords:
            if (n + 1) << k > self.size:
                raise TileError(f"subtree (level {k}, index {n}) is outside tree size {self.size}")
            level, sub = divmod(k, TILE_HEIGHT)
            width = 1 << sub
            out.append(_subtree_root(self.stored_hashes(level, n * width, (n + 1) * width)))
        return out

    def _size(self, size: int | None) -> int:
        if size is None:
            return self.size
        if not 0 <= size <= self.size:
            raise TileError(f"tree size {size} is beyond the tiles read, of size {self.size}")
        return size

    def tree_hash(self, size: int | None = None) -> bytes:
        """``MTH`` of the first ``size`` entries (default: the whole tree), from tiles."""
        return merkle.tree_hash(self._size(size), self.read_hashes)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Audit path for entry ``index`` in the tree of ``size`` (x/mod ``ProveRecord``).

        Any ``size`` up to the reader's works: every hash a smaller tree needs
        is a complete subtree that the larger tree's tiles also hold.
        """
        return merkle.inclusion_proof(index, self._size(size), self.read_hashes)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Consistency proof from ``old_size`` to ``new_size`` (x/mod ``ProveTree``)."""
        return merkle.consistency_proof(old_size, self._size(new_size), self.read_hashes)

    def entry(self, index: int) -> bytes:
        """Entry ``index``, read from its entry bundle."""
        return self.entries(index, index + 1)[0]

    def entries(self, start: int, end: int) -> list[bytes]:
        """Entries ``[start, end)`` from their bundles (each bundle's count checked)."""
        if not 0 <= start <= end <= self.size:
            raise TileError(f"entry range [{start}, {end}) is outside tree size {self.size}")
        out = []
        i = start
        while i < end:
            t = _tile_for(0, i, self.size)
            bundle = decode_bundle(self._get(t.entries_path), t.width)
            stop = min(end, t.index * TILE_WIDTH + t.width)
            out.extend(bundle[i - t.index * TILE_WIDTH : stop - t.index * TILE_WIDTH])
            i = stop
        return out
