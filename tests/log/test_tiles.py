"""C2SP tlog-tiles writing and reading (registry.tiles)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.core.exceptions import ProofError, TileError
from registry.log import merkle, tiles


def entries(n, start=0):
    return [f"entry {i}".encode() * (1 + i % 3) for i in range(start, start + n)]


def files(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in d.rglob("*") if p.is_file()}


# --- paths (tlog-tiles examples)

@pytest.mark.parametrize(("args", "path"), [
    ((0, 0), "tile/0/000"),
    ((1, 1234067, 1), "tile/1/x001/x234/067.p/1"),
    ((0, 273, 112), "tile/0/273.p/112"),
    ((2, 1000), "tile/2/x001/000"),
    ((3, 999), "tile/3/999"),
])
def test_tile_path(args, path):
    assert tiles.tile_path(*args) == path


def test_entries_path():
    assert tiles.entries_path(1234067) == "tile/entries/x001/x234/067"
    assert tiles.entries_path(273, 112) == "tile/entries/273.p/112"


@pytest.mark.parametrize("bad", [(0, 0, 0), (0, 0, 257), (64, 0), (0, -1)])
def test_tile_path_rejects_out_of_range(bad):
    with pytest.raises(TileError):
        tiles.tile_path(*bad)


def test_tiles_for_size_70000_spec_example():
    ts = tiles.tiles_for_size(70_000)
    full0 = [t for t in ts if t.level == 0 and t.width == 256]
    assert len(full0) == 273 and full0[-1].path == "tile/0/272"
    assert [t.path for t in ts if not (t.level == 0 and t.width == 256)] == [
        "tile/0/273.p/112", "tile/1/000", "tile/1/001.p/17", "tile/2/000.p/1"]


def test_tiles_for_small_sizes():
    assert tiles.tiles_for_size(0) == []
    assert [t.path for t in tiles.tiles_for_size(256)] == ["tile/0/000", "tile/1/000.p/1"]
    assert [t.path for t in tiles.new_tiles(256, 300)] == ["tile/0/001.p/44"]


# --- writing

def test_write_log_layout_and_root(tmp_path):
    es = entries(600)
    root = tiles.write_log(tmp_path, es)
    assert root == merkle.root_hash([merkle.leaf_hash(e) for e in es])
    got = files(tmp_path)
    assert sorted(got) == sorted(["tile/0/000", "tile/0/001", "tile/0/002.p/88", "tile/1/000.p/2",
                                  "tile/entries/000", "tile/entries/001", "tile/entries/002.p/88"])
    assert got["tile/0/000"][:32] == merkle.leaf_hash(es[0]) and len(got["tile/0/000"]) == 8192
    # Level-1 hash 1 is MTH of entries 256..511.
    assert got["tile/1/000.p/2"][32:] == merkle.root_hash([merkle.leaf_hash(e) for e in es[256:512]])
    # Bundle: uint16be length ‖ entry, no compression.
    assert got["tile/entries/002.p/88"][:2] == len(es[512]).to_bytes(2, "big")
    assert tiles.decode_bundle(got["tile/entries/002.p/88"], 88) == es[512:]


def test_incremental_equals_from_scratch_byte_for_byte(tmp_path):
    rng = random.Random(6962)
    es = entries(70_500)
    scratch, inc = tmp_path / "scratch", tmp_path / "inc"
    root = tiles.write_log(scratch, es)
    size, sizes = 0, []
    while size < len(es):
        k = min(len(es) - size, rng.choice([1, 2, 255, 256, 257, 511, 4000, 20000]))
        old_root = merkle.root_hash([merkle.leaf_hash(e) for e in es[:size]]) if size else None
        size, r = tiles.append_entries(inc, size, es[size:size + k], old_root=old_root)
        sizes.append(size)
    assert r == root
    a, b = files(scratch), files(inc)
    assert set(a) <= set(b)
    for name, data in a.items():
        assert b[name] == data, f"{name} differs between incremental and from-scratch writes"
    # Extra files are only the partial tiles of earlier sizes, kept for old checkpoints.
    extra = set(b) - set(a)
    assert all(".p/" in name for name in extra)
    assert extra <= {t.path for s in sizes for t in tiles.tiles_for_size(s)} | {
        tiles.entries_path(t.index, t.width) for s in sizes for t in tiles.tiles_for_size(s) if t.level == 0}


def test_full_tiles_are_never_rewritten(tmp_path):
    tiles.write_log(tmp_path, entries(300))
    full = tmp_path / "tile/0/000"
    before = full.stat().st_mtime_ns
    tiles.append_entries(tmp_path, 300, entries(10, 300))
    assert full.stat().st_mtime_ns == before


def test_refuses_to_overwrite_a_differing_full_tile(tmp_path):
    tiles.write_log(tmp_path, entries(200))
    (tmp_path / "tile/0/000").write_bytes(b"\0" * 8192)  # left over by a fork
    with pytest.raises(TileError, match="immutable tile/0/000"):
        tiles.append_entries(tmp_path, 200, entries(100, 200))


def test_append_checks_old_root(tmp_path):
    tiles.write_log(tmp_path, entries(10))
    with pytest.raises(TileError, match="expected"):
        tiles.append_entries(tmp_path, 10, entries(1, 10), old_root=b"\0" * 32)


def test_append_needs_the_old_partial_tiles(tmp_path):
    with pytest.raises(TileError, match=r"missing tile/entries/000\.p/5"):
        tiles.append_entries(tmp_path, 5, entries(1))


def test_entry_size_limit(tmp_path):
    with pytest.raises(TileError, match="at most 65535"):
        tiles.write_log(tmp_path, [b"x" * 65536])
    assert tiles.write_log(tmp_path, [b"x" * 65535]) == merkle.leaf_hash(b"x" * 65535)


@pytest.mark.slow
def test_a_one_million_entry_log_has_the_in_memory_root_and_proofs(tmp_path):
    """At the size the issue names (three tile levels, level-2 tiles full):
    the tiled tree's root is the in-memory RFC 6962 root, and a proof read
    from tiles verifies. How fast it is, bench/log_bench.py measures."""
    es = [b"%040d" % i for i in range(1_000_000)]
    root = tiles.write_log(tmp_path, es)
    assert root == merkle.root_hash([merkle.leaf_hash(e) for e in es])
    r = tiles.TileHashReader(1_000_000, tmp_path)
    i = 765_432
    merkle.verify_inclusion(i, 1_000_000, merkle.leaf_hash(es[i]), r.inclusion_proof(i), root)
    assert r.entry(i) == es[i]


# --- reading and proofs from tiles

class _Log(tuple):
    def __repr__(self):  # keep hypothesis' failure reports short
        return f"<tiled log of {len(self[1])} entries at {self[0]}>"


@pytest.fixture(scope="module")
def log70k(tmp_path_factory):
    d = tmp_path_factory.mktemp("log70k")
    es = entries(70_000)
    leaves = [merkle.leaf_hash(e) for e in es]
    # Written in two steps so the tree contains partial tiles of an old size.
    tiles.append_entries(d, 0, es[:65_537])
    tiles.append_entries(d, 65_537, es[65_537:])
    return _Log((d, es, leaves))


def test_reader_tree_hash_for_every_published_size(log70k):
    d, _es, leaves = log70k
    for size in (70_000, 65_537):
        assert tiles.TileHashReader(size, d).tree_hash() == merkle.root_hash(leaves[:size])
    r = tiles.TileHashReader(65_537, d)
    assert r.tree_hash(1000) == merkle.root_hash(leaves[:1000])
    with pytest.raises(TileError, match="beyond the tiles read"):
        r.tree_hash(65_538)


def test_reader_fetches_only_needed_tiles(log70k):
    d, _es, leaves = log70k
    fetched = []

    def fetch(rel):
        fetched.append(rel)
        return (d / rel).read_bytes()

    r = tiles.TileHashReader(70_000, fetch)
    proof = r.inclusion_proof(12_345)
    merkle.verify_inclusion(12_345, 70_000, leaves[12_345], proof, merkle.root_hash(leaves))
    assert len(fetched) == len(set(fetched)) <= 6, fetched
    n = len(fetched)
    r.inclusion_proof(12_346)  # same tiles: all cached
    assert len(fetched) == n


def test_reader_rejects_bad_tile_length(tmp_path):
    tiles.write_log(tmp_path, entries(3))
    (tmp_path / "tile/0/000.p/3").write_bytes(b"\0" * 95)
    with pytest.raises(TileError, match="95 bytes, expected 96"):
        tiles.TileHashReader(3, tmp_path).tree_hash()


def test_reader_entries(log70k):
    d, es, _ = log70k
    r = tiles.TileHashReader(70_000, d)
    assert r.entries(250, 700) == es[250:700]
    assert r.entry(69_999) == es[69_999]
    with pytest.raises(TileError):
        r.entry(70_000)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_property_tile_proofs_verify_and_detect_flipped_bits(log70k, data):
    d, _es, leaves = log70k
    size = data.draw(st.integers(1, 70_000), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(1, size), label="old")
    r = tiles.TileHashReader(70_000, d)
    root = r.tree_hash(size)
    assert root == merkle.root_hash(leaves[:size])
    proof = r.inclusion_proof(index, size)
    merkle.verify_inclusion(index, size, leaves[index], proof, root)
    cproof = r.consistency_proof(old, size)
    old_root = r.tree_hash(old)
    merkle.verify_consistency(old, size, cproof, old_root, root)
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        bad = list(proof)
        bad[j] = bytes(b ^ (1 << bit % 8) if k == bit // 8 else b for k, b in enumerate(bad[j]))
        with pytest.raises(ProofError):
            merkle.verify_inclusion(index, size, leaves[index], bad, root)
    if cproof:
        j = data.draw(st.integers(0, len(cproof) - 1))
        bad = list(cproof)
        bad[j] = bytes([bad[j][0] ^ 0x80]) + bad[j][1:]
        with pytest.raises(ProofError):
            merkle.verify_consistency(old, size, bad, old_root, root)


def test_tiles_are_readable_by_the_web_server(tmp_path):
    """Every tile and bundle is mode 0644, like every published file: nginx
    serving the build as another user answered 403 for tiles of mode 0600."""
    tiles.write_log(tmp_path, entries(300))
    tiles.append_entries(tmp_path, 300, entries(10, 300))
    modes = {p.relative_to(tmp_path).as_posix(): p.stat().st_mode & 0o777
             for p in tmp_path.rglob("*") if p.is_file()}
    assert modes and set(modes.values()) == {0o644}, modes
