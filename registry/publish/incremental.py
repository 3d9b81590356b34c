"""Incremental builds: what changed in the registry since the build ``OUT`` points at.

A build records, in its build directory (``.build-state.json``, beside
``site/`` and ``data/``, never deployed), what it was made from:

* ``inputs`` — SHA-256 of everything that shapes every page and file besides
  the records themselves: the code, templates and settings (the caller's
  :func:`code_digest`), the build's options (site URL, Datasette URL,
  ``SOURCE_DATE_EPOCH``) and the registry-wide tables (:data:`WIDE_TABLES`:
  trust lists, keys, bodies, standards, notices, meta);
* ``last_seq`` and the SHA-256 of that event's payload — where the signed
  event sequence stood;
* ``row_changes`` — how far the registry's journal of product and enterprise
  writes stood (rows that change without an event: an operator adds them
  before issuing, corrects a name; ``schema.JOURNALED_TABLES``, written by
  triggers, so no writer can forget it);
* in an incremental build, ``public_db``: the :func:`state_id` of the build
  it was made from and the rows its public database rewrote
  (:func:`record_public_db`), which Datasette's live copy reads to compare
  only those (:func:`public_db_rows`, :mod:`registry.publish.livedb`).

The next build compares (:func:`changes_since`): different ``inputs``, a
registry whose event ``last_seq`` is no longer the recorded one (replaced,
restored from a backup), or no state at all → a full build. Otherwise the
changes are the certificates named by the events after ``last_seq`` (a
certificate row, its revisions and standards change only together with a
signed event of it: the store is the one writer, and validation replays
every status before anything is signed) and the products and enterprises
journaled after ``row_changes`` (a deleted or re-keyed row: a full build).
Both are read by index from where the previous build stood: no step 0 reads
the whole registry. Which outputs each change feeds is the
dependency map in ``docs/publishing.md`` ("Incremental builds").
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

from registry.core import fs
from registry.store import schema

STATE_FILE = ".build-state.json"
# The site generator's registry-wide figures (list sizes, statistics), beside
# site/ like the state: the next incremental build updates them.
SITE_FIGURES = ".site-figures.json"
FORMAT = "szzz/build-state/v2"  # v2: the row journal instead of row digests
# Tables every page may show a part of (a body's name is on each of its
# certificates' pages, a notice on the notices page and its certificate's):
# a change to any of them makes a full build.
WIDE_TABLES = ("meta", "trust_lists", "keys", "bodies", "standards", "notices")


@dataclasses.dataclass(frozen=True)
class Changes:
    """The records that changed since the previous build (sorted)."""

    since_seq: int
    certificates: tuple[str, ...]
    products: tuple[int, ...]
    enterprises: tuple[str, ...]

    def as_settings(self, previous_site: Path, *, take: bool = False) -> dict:
        """The Pelican generator's ``SZZZ["incremental"]`` setting: ``previous_site``
        is the site of the build these changes are counted from (its figures are
        beside it, :data:`SITE_FIGURES`); ``take``, whether its pages may be moved
        (a spare build nobody serves) rather than hard-linked."""
        return {"previous": str(previous_site), "take": take, "since_seq": self.since_seq,
                "figures": str(Path(previous_site).parent / SITE_FIGURES),
                "certificates": list(self.certificates), "products": list(self.products),
                "enterprises": list(self.enterprises)}


def code_digest(paths) -> str:
    """SHA-256 of the files under ``paths`` (files or directories), by relative name
    and content; caches, bytecode and hidden files (editors' and tools' scratch)
    left out, so that only a real change makes the next build a full one."""
    digest = hashlib.sha256()
    for root in map(Path, paths):
        files = [root] if root.is_file() else sorted(
            p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            and p.suffix not in (".pyc", ".pyo")
            and not any(part.startswith(".") for part in p.relative_to(root).parts))
        for path in files:
            name = path.name if path == root else str(path.relative_to(root))
            digest.update(f"{root.name}/{name}".encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _rows_digest(db, sql) -> str:
    digest = hashlib.sha256()
    for row in db.execute(sql):
        digest.update(json.dumps(row, ensure_ascii=False, default=bytes.hex).encode() + b"\n")
    return digest.hexdigest()


def inputs_digest(db, *, code: str, options: dict) -> str:
    """The ``inputs`` of a build of registry ``db`` (see the module docstring)."""
    parts = {"code": code, "options": options,
             "source_date_epoch": os.environ.get("SOURCE_DATE_EPOCH")}
    for table in WIDE_TABLES:
        parts[table] = _rows_digest(db, f"select * from {table} order by rowid")
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _last_event(db) -> tuple[int, str | None]:
    row = db.execute("select seq, payload from events order by seq desc limit 1").fetchone()
    if row is None:
        return 0, None
    return row[0], hashlib.sha256(row[1].encode("utf-8")).hexdigest()


def state_of(db, inputs: str) -> dict:
    """The state a build of ``db`` records (deterministic: same registry, same bytes)."""
    last_seq, last_digest = _last_event(db)
    journaled = db.execute("select coalesce(max(id), 0) from row_changes").fetchone()[0]
    return {"format": FORMAT, "inputs": inputs, "last_seq": last_seq, "last_event": last_digest,
            "row_changes": journaled}


def state_id(state: dict) -> str:
    """SHA-256 (hex) of what a build was made from: its state without ``public_db``
    (the record of how its public database was made). Builds with equal ids
    published equal content."""
    made_from = {k: v for k, v in state.items() if k != "public_db"}
    return hashlib.sha256(json.dumps(made_from, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode()).hexdigest()


def record_public_db(state: dict, previous: dict, rows: dict) -> None:
    """Record in ``state`` that its build's public database is the ``previous``
    build's with the rows ``rows`` (``{table: keys}``) rewritten."""
    state["public_db"] = {"previous": state_id(previous), "rows": rows}


def public_db_rows(state: dict | None, mirrored: str | None) -> dict | None:
    """The rows (``{table: keys}``) in which the public database of the build
    with ``state`` differs from that of the build whose :func:`state_id` is
    ``mirrored``; None when not known (then every row may differ)."""
    delta = (state or {}).get("public_db")
    if not isinstance(delta, dict) or mirrored is None or delta.get("previous") != mirrored:
        return None
    rows = delta.get("rows")
    return rows if isinstance(rows, dict) else None


def read_state(build_dir) -> dict | None:
    """The state recorded in ``build_dir`` (None: no build, or made before states existed)."""
    if build_dir is None:
        return None
    try:
        state = json.loads((Path(build_dir) / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("format") == FORMAT else None


def write_state(build_dir, state: dict) -> None:
    fs.write_atomic(Path(build_dir) / STATE_FILE,
                    json.dumps(state, sort_keys=True, separators=(",", ":")) + "\n")


def changed_certificates(db, since_seq: int) -> list[str]:
    """The certificates with a signed event after ``since_seq``, by number: the
    rows of ``certificates`` (and their revisions, standards and events) that
    differ from the build that published ``since_seq``. The public database's
    incremental update reads this (:func:`registry.publish.dbdelta.changed_rows`)."""
    return [r[0] for r in db.execute(
        "select distinct cert_no from events where seq > ? and cert_no is not null "
        "order by cert_no", [since_seq])]


def changes_since(db, previous: dict | None, current: dict) -> Changes | None:
    """What changed between the ``previous`` build's state and ``current``
    (:func:`state_of`), or None when only a full build is right."""
    if previous is None or previous.get("inputs") != current["inputs"]:
        return None
    since = previous.get("last_seq")
    if not isinstance(since, int) or since > current["last_seq"]:
        return None
    if since == current["last_seq"]:
        if previous.get("last_event") != current["last_event"]:
            return None
    else:
        row = db.execute("select payload from events where seq = ?", [since]).fetchone()
        seen = hashlib.sha256(row[0].encode("utf-8")).hexdigest() if row else None
        if since and seen != previous.get("last_event"):
            return None
    since_row = previous.get("row_changes")
    if not isinstance(since_row, int) or since_row > current["row_changes"]:
        return None  # a journal behind the recorded one: another file, start afresh
    changed: dict[str, set] = {table: set() for table in schema.JOURNALED_TABLES}
    for table, key, op in db.execute("select tbl, key, op from row_changes where id > ? and id <= ?",
                                     [since_row, current["row_changes"]]):
        if op == "delete" or table not in changed:
            return None  # nothing removes rows: a removed one means start afresh
        changed[table].add(key)
    return Changes(since_seq=since, certificates=tuple(changed_certificates(db, since)),
                   products=tuple(sorted(int(p) for p in changed["products"])),
                   enterprises=tuple(sorted(str(e) for e in changed["enterprises"])))
