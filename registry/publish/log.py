"""Publishing the transparency log: tiles, checkpoint, state file, refresh.

:func:`build_log` writes hash tiles and entry bundles under ``<site>/log/``
(:mod:`registry.log.tiles`) for every event of the registry
(:func:`registry.store.history.iter_entries`), then signs a checkpoint with the
log key and cosigns it with the timestamp key; ``checkpoint`` is written
last. It refuses (:class:`~registry.core.exceptions.LogForkError`) to sign a
tree that is not an extension of the last signed one, taken from the previous
output's ``log/checkpoint`` and from the state file kept beside the output
(``.<OUT>.state/checkpoint``), checked with a consistency proof built from
the new tiles. An incremental build (:class:`Incremental`) takes the
prefix from the previous log instead of the database and compares with it
only the older events it publishes anew (O(new events + changed
certificates)); a full build reads every event.
The state file is written *before* the published checkpoint:
it is the record of the last tree the log key signed (the compare-and-swap
record of tlog practice), so a publish that fails after signing still binds
every later one.

:func:`refresh` re-cosigns the current checkpoint with a new time (no new
events, no rebuild), after checking that the registry has no event the
published log lacks. Formats: ``docs/transparency-log.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from registry.core import canonical, clock, fs, keys, rules
from registry.core.exceptions import ConfigError, FreshnessError, LogForkError, NoteError, ProofError, TileError
from registry.log import merkle, note, tiles
from registry.log.checkpoint import (
    CHECKPOINT,
    DEFAULT_MAX_AGE_DAYS,
    LOG_DIR,
    LOG_JSON,
    VKEY,
    CheckedCheckpoint,
    LogNames,
    epoch,
    log_vkeys,
    names_for,
    note_signer,
    open_checkpoint,
)
from registry.publish import incremental as build_state
from registry.store import history, schema, trust


@dataclasses.dataclass(frozen=True)
class Incremental:
    """What an incremental build publishes anew from events the previous log
    already holds (docs/publishing.md, "Incremental builds"): the whole
    histories of ``certificates`` (their ``api/`` files and replayed
    statuses) and every event from seq ``events_from`` on (the change feed's
    rewritten pages, :func:`registry.publish.changefeed.first_written_seq`)."""

    certificates: tuple[str, ...]
    events_from: int


def _tile_files(size: int) -> list[str]:
    """Relative paths of every hash tile and entry bundle of a log of ``size``."""
    out = []
    for t in tiles.tiles_for_size(size):
        out.append(t.path)
        if t.level == 0:
            out.append(t.entries_path)
    return out


def _link_tiles(prev_dir: Path, log_dir: Path, old_size: int) -> int:
    """Hard-link the previous log's tiles of ``old_size`` into ``log_dir`` (copy
    across file systems); return how many. Full tiles are immutable, so sharing
    their inodes is safe (the tile writer replaces files by rename, never in place)."""
    n = 0
    for rel in _tile_files(old_size) if prev_dir.resolve() != log_dir.resolve() else ():
        src, dst = prev_dir / rel, log_dir / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except FileNotFoundError:
            raise TileError(f"previous log {prev_dir}: missing {rel}") from None
        except OSError:
            shutil.copyfile(src, dst)
        n += 1
    return n


def _check_reused(prev_dir: Path, log_dir: Path, old_size: int, entries, leaves) -> None:
    """A full build compares every reused level-0 tile and entry bundle with
    what the database gives, so a corrupted previous output is never carried forward."""
    for t in tiles.tiles_for_size(old_size):
        if t.level:
            continue
        lo = t.index * tiles.TILE_WIDTH
        if (log_dir / t.path).read_bytes() != b"".join(leaves[lo: lo + t.width]):
            raise TileError(f"previous log {prev_dir}: {t.path} differs from the database's leaf hashes")
        if (log_dir / t.entries_path).read_bytes() != tiles.encode_bundle(entries[lo: lo + t.width]):
            raise TileError(f"previous log {prev_dir}: {t.entries_path} differs from the database's events")


def _signed_bundle(reader: tiles.TileHashReader, prev_dir: Path, index: int, root: bytes) -> list[bytes]:
    """Entry bundle ``index`` of the previous log, proved part of its signed tree
    (``reader.size`` entries, ``root``): its entries hash to its level-0 tile,
    and an inclusion proof of its first entry — whose path covers every other
    hash of that tile — verifies against the signed root."""
    lo = index * tiles.TILE_WIDTH
    tile = tiles.Tile(0, index, min(tiles.TILE_WIDTH, reader.size - lo))
    try:
        bundle = reader.entries(lo, lo + tile.width)
        if b"".join(merkle.leaf_hash(e) for e in bundle) != reader.tile(tile):
            raise TileError(f"its entries do not hash to {tile.path}")
        merkle.verify_inclusion(lo, reader.size, merkle.leaf_hash(bundle[0]), reader.inclusion_proof(lo), root)
    except (TileError, ProofError, OSError) as e:
        raise TileError(f"previous log {prev_dir}: {tile.entries_path} is not part of the signed tree "
                        f"of {reader.size} entries ({e})") from None
    return bundle


def _check_published_events(db, prev_dir: Path, signed: note.Checkpoint, where: str,
                            incremental: Incremental) -> int:
    """Refuse unless every event this incremental build publishes again from
    the signed prefix is, byte for byte, the entry at its index in the
    previous log (rule: every output agrees with the signed log, and the log
    never forks). Those events are the whole histories of the changed
    certificates (and of those the events after the prefix name) and the
    events from ``incremental.events_from`` on; an altered event of any other
    certificate is left to the next full build (docs/publishing.md, "The
    log step of an incremental build"). Returns how many events were compared."""
    certificates = set(incremental.certificates) | set(build_state.changed_certificates(db, signed.size))
    events = history.entries_of(db, certificates, first_seq=max(incremental.events_from, 1),
                                up_to=signed.size)
    reader = tiles.TileHashReader(signed.size, prev_dir)
    bundles: dict[int, list[bytes]] = {}
    for seq, entry in events:
        index, pos = divmod(seq - 1, tiles.TILE_WIDTH)
        if index not in bundles:
            bundles[index] = _signed_bundle(reader, prev_dir, index, signed.root_hash)
        logged = bundles[index][pos]
        if entry != logged:
            raise LogForkError(
                f"{where}: event seq {seq} is not the log's entry {seq - 1}: observed entry SHA-256 "
                f"{hashlib.sha256(entry).hexdigest()} in the registry, expected "
                f"{hashlib.sha256(logged).hexdigest()} (the last signed tree of {signed.size} entries): "
                "an event was altered below the szzz commands; refusing to sign a fork")
    return len(events)


def _checkpointed_sizes(prev_dir: Path | None) -> set[int]:
    """Tree sizes that the previous log served partial tiles for: each
    partial hash tile ``L/N.p/W`` stands for a size of ``256N+W`` hashes at
    level ``L`` (:func:`tiles.size_of_partial`), which is all the retention
    rule needs to know of it (docs/transparency-log.md §2)."""
    sizes: set[int] = set()
    if prev_dir is None or not (prev_dir / "tile").is_dir():
        return sizes
    for path in (prev_dir / "tile").rglob("*"):
        if path.is_file() and path.parent.name.endswith(".p"):
            tile, is_bundle = tiles.parse_path(path.relative_to(prev_dir).as_posix())
            if not is_bundle:
                sizes.add(tiles.size_of_partial(tile))
    return sizes


def _prune(log_dir: Path, keep: set[str]) -> None:
    """Remove tile files not in ``keep``: partial tiles whose full tile now
    exists (C2SP tlog-tiles allows it) and anything a fresh log would not hold."""
    tile_dir = log_dir / "tile"
    if not tile_dir.exists():
        return
    for path in sorted(tile_dir.rglob("*"), reverse=True):
        rel = path.relative_to(log_dir).as_posix()
        if path.is_file() and rel not in keep:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _first_difference(prev_dir, prev_size, leaves) -> str:
    """Name the first entry whose leaf differs from the previous log's (best effort)."""
    if prev_dir is None:
        return ""
    try:
        old = tiles.TileHashReader(prev_size, prev_dir).stored_hashes(0, 0, prev_size)
    except (TileError, OSError):
        return ""
    for i, h in enumerate(old):
        if i >= len(leaves):
            return f"; entries from index {i} (seq {i + 1}) on are missing from the database"
        if h != leaves[i]:
            return f"; first difference at entry {i} (event seq {i + 1})"
    return ""


def previous_checkpoints(previous_site=None, state_file=None) -> list[tuple[str, str]]:
    """``(where, text)`` of the last signed checkpoints a previous publish left:
    the published ``<previous site>/log/checkpoint`` and the state file."""
    out = []
    paths = []
    if previous_site is not None:
        paths.append(Path(previous_site) / LOG_DIR / CHECKPOINT)
    if state_file is not None:
        paths.append(Path(state_file))
    for path in paths:
        if path.is_file():
            out.append((str(path), path.read_text(encoding="utf-8")))
    return out


def _open_previous(previous, trust_record: dict, names: LogNames, size: int, rolled_back_detail) -> list:
    """``(where, checkpoint)`` of each earlier signed checkpoint: it must verify
    with a log key of ``trust_record`` and be no larger than ``size``."""
    olds = []
    for where, text in previous:
        try:
            checked = open_checkpoint(text, trust_record, names)
        except NoteError as e:
            raise LogForkError(f"{where}: the last signed checkpoint does not verify ({e}); "
                               "refusing to sign without knowing what was signed before") from None
        old = checked.checkpoint
        if old.size > size:
            raise LogForkError(
                f"{where}: the last signed tree has {old.size} entries, the registry only {size}: "
                f"refusing to sign a rolled-back log{rolled_back_detail(old.size)}")
        olds.append((where, old))
    return olds


def _previous_checkpoint(previous_log_dir, trust_record: dict, names: LogNames) -> note.Checkpoint | None:
    """The previous log's checkpoint when it verifies (else None: its tiles are
    not reused; ``previous`` decides whether that is fatal)."""
    if previous_log_dir is None or not (Path(previous_log_dir) / CHECKPOINT).is_file():
        return None
    try:
        return open_checkpoint((Path(previous_log_dir) / CHECKPOINT).read_text(encoding="utf-8"),
                               trust_record, names).checkpoint
    except NoteError:
        return None


def build_log(db, log_dir, log_signer, timestamp_signer, *, names: LogNames, timestamp,
              trust_record: dict, previous=(), previous_log_dir=None, state_file=None,
              incremental: Incremental | None = None) -> dict:
    """Write the tiled log of every event in ``db`` into ``log_dir`` and sign it.

    ``previous`` holds ``(where, checkpoint text)`` pairs of earlier signed
    checkpoints (:func:`previous_checkpoints`); each must verify with a log
    key of ``trust_record`` and be a prefix of the new tree, else
    :class:`LogForkError` and nothing is signed. ``previous_log_dir`` (the
    published log of the last build) lets unchanged full tiles be reused.
    ``timestamp`` (Unix seconds or datetime) is the cosignature's time.
    The state file (if given) is written before ``log_dir/checkpoint``.

    A full build (``incremental`` None) reads, encodes and hashes every
    event: the registry's whole history must be the signed prefix. An
    incremental build (``incremental``: what it publishes anew) takes the
    prefix from the previous log, whose checkpoint verifies, and reads only
    the events after it and those :func:`_check_published_events` compares
    with the previous log's entries: O(new events + changed certificates).
    Returns ``{"size", "root", "timestamp", "checkpoint", "reused", "compared"}``.
    """
    started = time.perf_counter()
    log_dir = Path(log_dir)
    ts = epoch(timestamp)
    prev_dir = Path(previous_log_dir) if previous_log_dir is not None else None
    last = _previous_checkpoint(prev_dir, trust_record, names)
    entries = leaves = expected_root = None
    compared = None
    prev_cp: note.Checkpoint | None
    if incremental is not None and prev_dir is not None and last is not None:
        # 1. (incremental) The events after the signed prefix, read in seq
        #    order (contiguous, payload seq checked); the prefix's events are
        #    counted in SQL: with seq the integer key, count == max seq and
        #    min seq == 1 hold only while no event was removed or inserted.
        where = str(prev_dir / CHECKPOINT)
        count, low, size = history.event_span(db)
        olds = _open_previous(previous, trust_record, names, size, lambda _old_size: "")
        if last.size > size:
            raise LogForkError(f"{where}: the last signed tree has {last.size} entries, the registry "
                               f"only {size}: refusing to sign a rolled-back log")
        if count != size or low != 1:
            raise LogForkError(
                f"events: observed {count} events with seq {low}..{size}, expected {size} (seq contiguous "
                f"from 1), the first {last.size} of them the last signed tree ({where}): an event was "
                "removed or inserted below the szzz commands; refusing to sign a fork")
        new_entries = list(history.iter_entries(db, since=last.size))
        compared = _check_published_events(db, prev_dir, last, where, incremental)
        prev_cp = last
        # The previous log's tree is checked below (step 3) like every other signed one.
        if all(old != last for _, old in olds):
            olds.append((where, last))
    else:
        entries = history.read_entries(db)
        leaves = [merkle.leaf_hash(e) for e in entries]
        size = len(entries)
        if size == 0:
            raise ConfigError("the registry has no events: nothing to log")
        # Every subtree hashed once: the roots of the previous trees and of the
        # new one are read from it (one pass instead of one per tree).
        tree = merkle.memory_reader(leaves)
        expected_root = merkle.tree_hash(size, tree)

        # 1. Every previously signed tree must be a prefix of this one (rule: the
        #    log never forks; tlog-checkpoint "never sign two inconsistent trees").
        olds = _open_previous(previous, trust_record, names, size,
                              lambda old_size: _first_difference(previous_log_dir, old_size, leaves))
        for where, old in olds:
            got = merkle.tree_hash(old.size, tree)
            if got != old.root_hash:
                raise LogForkError(
                    f"{where}: the registry's first {old.size} events hash to {got.hex()}, the last signed "
                    f"tree to {old.root_hash.hex()}: an event was altered, removed or reordered; refusing "
                    f"to sign a fork{_first_difference(previous_log_dir, old.size, leaves)}")
        prev_cp = None
        if last is not None and last.size <= size and merkle.tree_hash(last.size, tree) == last.root_hash:
            prev_cp = last
        new_entries = entries[prev_cp.size:] if prev_cp is not None else entries

    # 2. Tiles: reuse the previous log's when it is one of the checked trees.
    reused, old_size, old_root = 0, 0, None
    same_dir = prev_dir is not None and prev_dir.resolve() == log_dir.resolve()
    if not same_dir and log_dir.exists() and any(log_dir.iterdir()):
        raise ConfigError(f"{log_dir}: not empty; the log is written into a fresh directory")
    log_dir.mkdir(parents=True, exist_ok=True)
    if prev_cp is not None and prev_dir is not None:
        old_size, old_root = prev_cp.size, prev_cp.root_hash
        reused = _link_tiles(prev_dir, log_dir, old_size)
        if entries is not None:
            _check_reused(prev_dir, log_dir, old_size, entries, leaves)
    elif same_dir:
        # In place but the old checkpoint is unknown: start the tiles afresh.
        shutil.rmtree(log_dir / "tile", ignore_errors=True)
    # The existing tiles must hash to the old root (append_entries checks it).
    new_size, root = tiles.append_entries(log_dir, old_size, new_entries, old_root=old_root)
    # Partial tiles of every size a checkpoint was signed for stay until their
    # full tile exists (C2SP tlog-tiles "Logs MUST serve partial tiles
    # corresponding to tree sizes for which a checkpoint was produced"): a
    # client holding an older checkpoint fetches exactly those. They are
    # rebuilt from the new tiles (a partial tile is a prefix of the tile now
    # at its place), so they are checked by the same root as the rest.
    checkpointed = {old.size for _, old in olds} | {old_size}
    checkpointed |= _checkpointed_sizes(prev_dir)
    partials = tiles.retained_partials(new_size, {s for s in checkpointed if 0 < s <= new_size})
    tiles.write_partials(log_dir, new_size, partials)
    keep = set(_tile_files(new_size))
    keep |= {t.path for t in partials} | {t.entries_path for t in partials if t.level == 0}
    _prune(log_dir, keep)
    if new_size != size or (expected_root is not None and root != expected_root):
        raise TileError(f"{log_dir}: tiles give size {new_size} root {root.hex()}, "
                        f"expected {size} {expected_root.hex() if expected_root else ''}".rstrip())

    # 3. The same check a client makes: a consistency proof from the new tiles.
    reader = tiles.TileHashReader(size, log_dir)
    for where, old in olds:
        try:
            merkle.verify_consistency(old.size, size, reader.consistency_proof(old.size),
                                      old.root_hash, root)
        except ProofError as e:
            raise LogForkError(f"{where}: new tree is not consistent with it: {e}") from None

    # 4. The verifier key(s) for C2SP clients (log/vkey), then sign, record in
    #    the state file, and publish the checkpoint last.
    fs.write_atomic(log_dir / VKEY, "".join(k + "\n" for k in log_vkeys(trust_record, names)))
    body = note.Checkpoint(names.origin, size, root).body()
    text = note.sign_note(body, [note_signer(log_signer, names.origin, note.KEY_TYPE_ED25519),
                                 note_signer(timestamp_signer, names.timestamp_name,
                                             note.KEY_TYPE_COSIGNATURE)], timestamp=ts)
    if state_file is not None:
        fs.write_atomic(Path(state_file), text, durable=True)
    fs.write_atomic(log_dir / CHECKPOINT, text)
    return {"size": size, "root": root.hex(), "timestamp": ts, "checkpoint": text,
            "reused": reused, "compared": compared, "seconds": round(time.perf_counter() - started, 3)}


def write_log_json(site_dir, names: LogNames, max_age_days=DEFAULT_MAX_AGE_DAYS) -> Path:
    """``api/log.json``: the note key names and the publisher's maximum age.

    Not signed: verifiers pin the origin themselves (the verify page's
    ``<meta name="szzz-log-origin">``, ``szzz audit --origin``); what this file
    claims is only trusted because the checkpoint must verify under it with
    a key from the root-signed trust list.
    """
    path = Path(site_dir) / LOG_JSON
    fs.write_atomic(path, json.dumps(names.to_json(max_age_days), sort_keys=True,
                                        separators=(",", ":")) + "\n")
    return path


def publish_log(db, site_dir, log_signer, timestamp_signer, *, names: LogNames | None = None,
                previous_site=None, state_file=None, timestamp=None,
                max_age_days=DEFAULT_MAX_AGE_DAYS, trust_record=None,
                incremental: Incremental | None = None) -> dict:
    """The publish step: :func:`build_log` into ``<site_dir>/log`` plus ``api/log.json``.

    ``site_dir`` is where this build's site is assembled (publish.py's
    staging build directory); ``previous_site`` the currently published site
    (its ``log/`` is reused and its checkpoint must be extended);
    ``state_file`` the record of the last signed checkpoint, kept outside
    the build directories. ``timestamp`` (the cosignature's time) defaults to
    :func:`clock.signing_time`: when it is signed, ``SOURCE_DATE_EPOCH`` for a
    reproducible build, never in the future. ``incremental`` (an incremental
    build: what it publishes anew, :class:`Incremental`) makes the step
    O(new events + changed certificates); None (a full build) checks every event.
    """
    if names is None:
        names = trust.log_names(db)
    if trust_record is None:
        trust_record = json.loads(trust.envelope(db)["payload"])
    if timestamp is None:
        timestamp = clock.signing_time()
    site_dir = Path(site_dir)
    prev_log = Path(previous_site) / LOG_DIR if previous_site is not None else None
    result = build_log(
        db, site_dir / LOG_DIR, log_signer, timestamp_signer, names=names, timestamp=timestamp,
        trust_record=trust_record, previous=previous_checkpoints(previous_site, state_file),
        previous_log_dir=prev_log if prev_log is not None and (prev_log / CHECKPOINT).is_file() else None,
        state_file=state_file, incremental=incremental)
    write_log_json(site_dir, names, max_age_days)
    result["origin"] = names.origin
    return result


def check_registry_unchanged(db, checked: CheckedCheckpoint, where) -> None:
    """Refuse unless the registry's events are exactly the tree of ``checked``.

    Rule (docs/transparency-log.md §6.4): a fresh cosignature vouches that
    the log had not grown by its time, which keeps older status statements
    current; re-cosigning a tree that lacks the registry's newest events
    (a revocation whose rebuild failed, say) would vouch for a status that
    is no longer true.
    """
    leaves = [merkle.leaf_hash(entry) for entry in history.iter_entries(db)]
    if len(leaves) != checked.size:
        raise FreshnessError(
            f"{where}: the published log has {checked.size} entries, the registry has {len(leaves)} "
            f"events; observed a log that is not the registry's whole history, expected the same "
            "(rebuild with `publish.py build` instead of refreshing)")
    root = merkle.root_hash(leaves)
    if root != checked.root:
        raise LogForkError(
            f"{where}: the registry's {len(leaves)} events give root {root.hex()}, "
            f"the published checkpoint has {checked.root.hex()} (an event was altered, or the "
            "database is not the one this site was built from)")


def refresh(site_dir, timestamp_signer, *, names: LogNames, trust_record: dict, registry_db,
            state_file=None, timestamp=None) -> dict:
    """Re-cosign ``<site_dir>/log/checkpoint`` with a new time; nothing else changes.

    The checkpoint must verify (log key of the trust list), match the state
    file's tree and be the whole history of ``registry_db`` (an open
    registry: :func:`check_registry_unchanged`); the new time must not go
    back (a clock gone wrong would otherwise un-freshen the log). Time:
    ``timestamp``, else ``SOURCE_DATE_EPOCH``, else the wall clock. State
    file first, then the published checkpoint, each replaced atomically (one
    rename each).
    """
    path = Path(site_dir) / LOG_DIR / CHECKPOINT
    if not path.is_file():
        raise ConfigError(f"{path}: no published checkpoint to refresh (run `publish.py build` first)")
    text = path.read_text(encoding="utf-8")
    checked = open_checkpoint(text, trust_record, names)
    check_registry_unchanged(registry_db, checked, path)
    state = Path(state_file) if state_file is not None else None
    if state is not None and state.is_file():
        state_cp = open_checkpoint(state.read_text(encoding="utf-8"), trust_record, names).checkpoint
        if state_cp != checked.checkpoint:
            raise LogForkError(f"{path}: tree {checked.size} differs from the last signed tree in {state} "
                               f"({state_cp.size}); rebuild instead of refreshing")
    if timestamp is None:
        timestamp = clock.signing_time()
    ts = epoch(timestamp)
    if checked.timestamp is not None and ts < checked.timestamp:
        raise ConfigError(f"refresh time {ts} is before the current cosignature's {checked.timestamp}; "
                          "refusing to move the log's time backwards")
    new = note.add_signatures(text, [note_signer(timestamp_signer, names.timestamp_name,
                                                 note.KEY_TYPE_COSIGNATURE)], timestamp=ts)
    if state is not None:
        fs.write_atomic(state, new, durable=True)
    fs.write_atomic(path, new)
    return {"size": checked.size, "timestamp": ts, "checkpoint": new}


def refresh_site(site_dir, keys_dir, passphrase, *, registry_db, state_file=None, timestamp=None) -> dict:
    """``publish.py refresh``: the published site, the key directory, and the
    registry (read only, to check that its events are the published tree).

    The trust list comes from ``api/trust-list.json``, checked against the
    site's own ``api/root-key.json`` (this is the publisher's own output);
    the names from ``api/log.json``; the timestamp key is the trust list's
    active one, loaded from ``keys_dir``. No rebuild.
    """
    site_dir = Path(site_dir)
    try:
        root = json.loads((site_dir / "api" / "root-key.json").read_text(encoding="utf-8"))
        envelope = json.loads((site_dir / "api" / "trust-list.json").read_text(encoding="utf-8"))
        info = json.loads((site_dir / LOG_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{site_dir}: not a published site with a log ({e})") from None
    record = keys.verify_envelope(envelope, canonical.TRUST_LIST, canonical.unb64url(root["public_key"]))
    names = names_for(origin=info["origin"], timestamp_name=info["timestamp_key_name"])
    active = [e["key_id"] for e in record["keys"]
              if e.get("status") == "active" and rules.key_problem(e, "cosignature") is None]
    if not active:
        raise ConfigError(f"{site_dir}/api/trust-list.json lists no active timestamp key")
    signer = keys.load(keys_dir, sorted(active)[-1] if len(active) > 1 else active[0], passphrase)
    return refresh(site_dir, signer, names=names, trust_record=record, registry_db=registry_db,
                   state_file=state_file, timestamp=timestamp)


def load_timestamp_signer(db, keys_dir, passphrase):
    """The registry's timestamp key (:func:`registry.store.trust.signing_key_id`) from ``keys_dir``."""
    return keys.load(keys_dir, trust.signing_key_id(db, "cosignature"), passphrase)


def state_file_for(out_link) -> Path:
    """Where publish.py keeps the last signed checkpoint: ``.<OUT>.state/checkpoint``
    beside the output link, outside every build directory (which come and go)."""
    out_link = Path(os.path.abspath(out_link))
    return out_link.parent / f".{out_link.name}.state" / CHECKPOINT




def refresh_output(site_dir, db_path, keys_dir, passphrase, *, state_file, timestamp=None) -> dict:
    """:func:`refresh_site` with the registry at ``db_path`` opened (read-only) for it."""
    db = schema.connect(db_path, readonly=True)
    try:
        return refresh_site(site_dir, keys_dir, passphrase, registry_db=db, state_file=state_file,
                            timestamp=timestamp)
    finally:
        db.conn.close()


def refresh_served(out_link, db_path, keys_dir, passphrase, *, now=None):
    """Cosign the served build's checkpoint with the wall clock (``publish.py serve``),
    so an old registry served today verifies as current: its statements are
    dated by its last event, and a fresh checkpoint of the same tree size keeps
    them current (docs/verification.md §6). Skipped (None) when the build's own
    cosignature is already newer than ``now`` (an event dated today); refused
    (FreshnessError) when registry ``db_path`` has events the build lacks."""
    now = int(time.time()) if now is None else int(now)
    site_dir = Path(out_link) / "site"
    if not (site_dir / LOG_DIR / CHECKPOINT).is_file():
        return None
    # The statements' as_of (end of the latest event's day, the same in every
    # status file of a build) dates them; while it is ahead of now they are
    # current without a new cosignature. Read from one bucket's statement: the
    # snapshot is 33 MB at 100k, and this runs as the new build is first served.
    bucket = None
    with contextlib.suppress(FileNotFoundError), os.scandir(site_dir / "api" / "status") as entries:
        bucket = next((Path(e.path) for e in entries if e.name.endswith(".json")), None)
    envelope = json.loads((bucket or site_dir / "api" / "status.json").read_text(encoding="utf-8"))
    as_of = json.loads(envelope["payload"])["as_of"]
    if epoch(datetime.datetime.fromisoformat(as_of.replace("Z", "+00:00"))) >= now:
        return None
    return refresh_output(site_dir, db_path, keys_dir, passphrase, state_file=state_file_for(out_link),
                          timestamp=now)
