"""The registry's SQLite schema, its version, and forward migrations.

``open_registry(path)`` opens (and if needed creates or migrates) a registry
database. Each migration is a function applied once, in order, inside a
transaction; ``meta.schema_version`` records how far a file has come. A file
newer than this code is refused rather than guessed at. Migrations change
tables with sqlite-utils (``create``, ``add_column``, ``transform``), whose
own work runs as savepoints inside that transaction: a migration that fails
half-way leaves the file as it was (``tests/store/test_schema.py``).

Public vs operator-only: tables and columns listed in ``OPERATOR_ONLY`` never
leave the operators' database (the publish step drops them); private keys are
never in any table at all.
"""

import contextlib
import os
import sqlite3
from pathlib import Path

import sqlite_utils

from registry.core.exceptions import SchemaError

SCHEMA_VERSION = 2

# Operator-only data: never published.
OPERATOR_ONLY_TABLES = ("enterprise_contacts", "applications", "counters", "row_changes")


def _migration_1(db):
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["bodies"].create(
        {
            "code": str, "name_zh": str, "name_en": str, "approval_no": str,
            "website": str, "joined": str, "status": str,
        },
        pk="code", not_null={"name_zh", "name_en", "approval_no", "joined", "status"},
    )
    db["keys"].create(
        {
            "key_id": str, "public_key": str, "owner_type": str, "owner": str,
            "valid_from": str, "valid_to": str, "status": str, "status_date": str,
            "endorsed_in": int,
        },
        pk="key_id", not_null={"public_key", "owner_type", "valid_from", "status"},
    )
    db["trust_lists"].create(
        {"version": int, "issued": str, "envelope": str}, pk="version",
        not_null={"issued", "envelope"},
    )
    db["standards"].create(
        {
            "code": str, "title_zh": str, "title_en": str, "kind": str,
            "issuer": str, "published": str, "effective": str, "status": str,
        },
        pk="code", not_null={"title_zh", "kind", "status"},
    )
    db["enterprises"].create(
        {
            "uscc": str, "name_zh": str, "name_en": str, "district": str,
            "industry": str, "tier": str, "website": str,
        },
        pk="uscc", not_null={"name_zh", "district", "industry"},
    )
    db["enterprise_contacts"].create(
        {"uscc": str, "contact_name": str, "phone": str, "email": str, "address": str},
        pk="uscc", foreign_keys=[("uscc", "enterprises", "uscc")],
    )
    db["products"].create(
        {
            "id": int, "enterprise": str, "name_zh": str, "name_en": str,
            "models": str, "gtin": str, "category": str, "description": str,
            "image": str,
        },
        pk="id", not_null={"enterprise", "name_zh"},
        foreign_keys=[("enterprise", "enterprises", "uscc")],
    )
    db["certificates"].create(
        {
            "cert_no": str, "product": int, "body": str, "programme": str,
            "scope": str, "issued": str, "expires": str, "status": str,
            "status_date": str, "mark_authorised": int, "evaluation": str,
            "revision": int, "key_id": str, "record": str, "signature": str,
            "digest": str, "mark_payload": str, "last_seq": int,
        },
        pk="cert_no",
        not_null={"product", "body", "programme", "issued", "expires", "status",
                  "revision", "key_id", "record", "signature", "digest"},
        foreign_keys=[("product", "products", "id"), ("body", "bodies", "code")],
    )
    db["certificate_standards"].create(
        {"cert_no": str, "standard": str}, pk=("cert_no", "standard"),
        foreign_keys=[("cert_no", "certificates", "cert_no"),
                      ("standard", "standards", "code")],
    )
    db["certificate_revisions"].create(
        {
            "cert_no": str, "revision": int, "reason": str, "date": str,
            "key_id": str, "record": str, "signature": str, "digest": str,
            "mark_payload": str, "seq": int,
        },
        pk=("cert_no", "revision"),
        foreign_keys=[("cert_no", "certificates", "cert_no")],
    )
    db["applications"].create(
        {
            "id": int, "uscc": str, "product_name": str, "programme": str,
            "body": str, "received": str, "status": str, "decided": str,
            "note": str,
        },
        pk="id",
    )
    db["events"].create(
        {
            "seq": int, "type": str, "cert_no": str, "subject": str, "date": str,
            "actor": str, "reason": str, "notice": str, "key_id": str,
            "payload": str, "signature": str,
        },
        pk="seq", not_null={"type", "date", "actor", "key_id", "payload", "signature"},
    )
    db["notices"].create(
        {
            "id": int, "date": str, "kind": str, "title_zh": str, "title_en": str,
            "text_zh": str, "text_en": str, "cert_no": str, "body": str,
            "event_seq": int,
        },
        pk="id", not_null={"date", "kind", "title_zh", "text_zh"},
    )
    db["counters"].create({"name": str, "value": int}, pk="name")
    db["certificates"].create_index(["body"])
    db["certificates"].create_index(["product"])
    db["certificates"].create_index(["status"])
    db["certificates"].create_index(["expires"])
    db["products"].create_index(["enterprise"])
    db["events"].create_index(["cert_no", "seq"])
    db["keys"].create_index(["owner"])
    # Append-only: the event history is never rewritten (rule: every status
    # change is a signed event that is never erased).
    db.executescript(
        """
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        CREATE TRIGGER revisions_no_update BEFORE UPDATE ON certificate_revisions
        BEGIN SELECT RAISE(ABORT, 'certificate revisions are append-only'); END;
        CREATE TRIGGER revisions_no_delete BEFORE DELETE ON certificate_revisions
        BEGIN SELECT RAISE(ABORT, 'certificate revisions are append-only'); END;
        """
    )


# The rows of these tables feed published pages but change without a signed
# event (an operator corrects a name); ``row_changes`` journals every write to
# them, so an incremental build reads what changed since the previous one
# instead of comparing every row (registry/publish/incremental.py).
JOURNALED_TABLES = {"products": "id", "enterprises": "uscc"}


def _migration_2(db):
    db.execute("CREATE TABLE row_changes (id INTEGER PRIMARY KEY AUTOINCREMENT, "
               "tbl TEXT NOT NULL, key NOT NULL, op TEXT NOT NULL)")
    # One statement per execute: executescript would commit the migration's
    # transaction half-way.
    for table, key in JOURNALED_TABLES.items():
        db.execute(f"CREATE TRIGGER {table}_journal_insert AFTER INSERT ON {table} BEGIN "
                   f"INSERT INTO row_changes (tbl, key, op) VALUES ('{table}', new.{key}, 'insert'); END")
        db.execute(f"CREATE TRIGGER {table}_journal_update AFTER UPDATE ON {table} BEGIN "
                   f"INSERT INTO row_changes (tbl, key, op) VALUES ('{table}', new.{key}, 'update'); "
                   f"INSERT INTO row_changes (tbl, key, op) SELECT '{table}', old.{key}, 'delete' "
                   f"WHERE old.{key} IS NOT new.{key}; END")
        db.execute(f"CREATE TRIGGER {table}_journal_delete AFTER DELETE ON {table} BEGIN "
                   f"INSERT INTO row_changes (tbl, key, op) VALUES ('{table}', old.{key}, 'delete'); END")


MIGRATIONS = {1: _migration_1, 2: _migration_2}


def schema_version(db) -> int:
    if "meta" not in db.table_names():
        return 0
    row = db.execute("select value from meta where key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(db) -> int:
    """Apply pending migrations, each in its own transaction; return the version."""
    current = schema_version(db)
    if current > SCHEMA_VERSION:
        raise SchemaError(
            f"database schema version is {current}, this code knows up to "
            f"{SCHEMA_VERSION}: upgrade the software"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        with write_transaction(db):
            MIGRATIONS[version](db)
            set_meta(db, "schema_version", version)
    return SCHEMA_VERSION


def connect(path, *, create=False, readonly=False) -> sqlite_utils.Database:
    """Open a registry database; create and migrate it when ``create``.

    Connections use WAL and a generous busy timeout so that two operators'
    processes can work at the same moment; every write goes through
    :func:`write_transaction`. ``readonly`` opens a file that must not change
    (a build's snapshot, :func:`snapshot_to`): no migration, no writes.
    """
    path = Path(path)
    if not create and not path.exists():
        raise SchemaError(f"{path}: no such registry database (run `szzz init`)")
    if path.exists() and not path.is_file():
        raise SchemaError(f"{path}: not a file, expected a registry database")
    return _open(path, create=create, readonly=readonly)


def remove_database(path) -> None:
    """Remove the database file ``path`` and the journal files SQLite keeps beside
    it (``-wal``, ``-shm``, ``-journal``); what is not there is skipped. Only for
    a database this process has just made and closed (``Registry.init`` undone)."""
    path = Path(path)
    for name in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            name.unlink()


def _version(db, path: Path) -> int:
    """:func:`schema_version`, the first read of a file: a file that is not
    SQLite, or is damaged where the schema lives, is named here, never a bare
    "file is not a database" from deep inside a command."""
    try:
        return schema_version(db)
    except sqlite3.DatabaseError as e:
        raise SchemaError(f"{path}: cannot read it as a registry database ({e})") from None


def _open(path: Path, *, create: bool, readonly: bool) -> sqlite_utils.Database:
    try:
        if readonly:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=60,
                                   isolation_level=None)
        else:
            conn = sqlite3.connect(str(path), timeout=60, isolation_level=None)
    except sqlite3.OperationalError as e:  # e.g. a new registry's path under a file
        raise SchemaError(f"{path}: cannot open a database there ({e})") from None
    try:
        db = sqlite_utils.Database(conn)
        if readonly:
            version = _version(db, path)
            if version != SCHEMA_VERSION:
                raise SchemaError(f"{path}: schema version {version}, expected {SCHEMA_VERSION} "
                                  "(run any szzz command on the registry to migrate it)")
            return db
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 60000")
        if create:
            conn.execute("PRAGMA journal_mode = WAL")
            migrate(db)
            return db
        version = _version(db, path)
        if version == 0:
            raise SchemaError(f"{path}: not a registry database (no schema version)")
        if version != SCHEMA_VERSION:
            migrate(db)
        return db
    except BaseException:
        conn.close()
        raise


def database_file(db) -> str:
    """The file of ``db``'s main database (what messages name)."""
    row = next((r for r in db.conn.execute("PRAGMA database_list") if r[1] == "main"), None)
    return row[2] if row and row[2] else ":memory:"


READ_AHEAD_CHUNK = 8 << 20


def read_ahead(path) -> None:
    """Read ``path`` once, sequentially, into the OS page cache.

    quick_check reads pages in b-tree order, i.e. at scattered offsets: on a
    cold cache a 604 MB registry (100k certificates) took 9.2 s page by page,
    and 0.7 s read ahead first, quick_check included (``bench/write_check_bench.py``,
    ``docs/cli.md``). Nothing is decided here: a file that cannot be read is
    quick_check's to report.

    The descriptor is opened once per file and process and never closed:
    closing *any* descriptor of a database file drops every POSIX lock this
    process holds on it, SQLite's included (sqlite.org/howtocorrupt.html
    §2.2) — a write lock or WAL's shared lock lost in the middle of a
    transaction lets another process corrupt the file (seen in
    ``tests/publish/test_one_truth.py``'s concurrent writers)."""
    try:
        key = os.path.realpath(path)
        fd = _READ_AHEAD_FDS.get(key)
        if fd is None:
            fd = _READ_AHEAD_FDS[key] = os.open(key, os.O_RDONLY | os.O_CLOEXEC)
        offset, chunk = 0, bytearray(READ_AHEAD_CHUNK)
        while (n := os.preadv(fd, [chunk], offset)) > 0:
            offset += n
    except OSError:
        pass


# realpath -> a read-only descriptor kept open for the process's life (read_ahead).
_READ_AHEAD_FDS: dict[str, int] = {}


def check_intact(db, *, name=None, consequence="nothing was written") -> None:
    """Refuse a damaged database file: ``PRAGMA quick_check`` (SchemaError naming the file).

    Rule (issue 10): nothing is ever written into a damaged registry, and a
    build never publishes one: an act recorded in a file that must then be
    restored from a backup would be lost with it. quick_check reads every
    page of every table and index and checks the b-tree structure (not index
    contents against their tables, which ``integrity_check`` adds at twice
    the cost); random bytes over pages anywhere in the file and a truncated
    file are caught (``tests/store/test_damaged.py``). The file is read ahead
    sequentially first (:func:`read_ahead`): the same check, in a tenth of
    the time on a cold cache. Figures: ``docs/cli.md`` ("Damaged registries").
    """
    path = database_file(db)
    if path != ":memory:":
        read_ahead(path)
    try:
        rows = [r[0] for r in db.conn.execute("PRAGMA quick_check(1)")]
    except sqlite3.DatabaseError as e:
        rows = [str(e)]
    if rows != ["ok"]:
        # "*** in database main ***\nPage 62: btreeInitPage() returns error code 11" → its one fact
        found = "; ".join(line for line in str(rows[0]).splitlines() if not line.startswith("*** in database"))
        raise SchemaError(
            f"{name or path}: the registry database is damaged (SQLite quick_check: "
            f"observed {found!r}, expected 'ok'); {consequence}: restore it from a backup")


class write_transaction:
    """``with write_transaction(db):`` — BEGIN IMMEDIATE, check, ... COMMIT/ROLLBACK.

    IMMEDIATE takes the write lock at the start, so two processes allocating
    certificate numbers or event sequence numbers are serialised instead of
    both reading the same maximum. Then :func:`check_intact`, under that
    lock: a damaged file is refused before the first byte is written
    (nobody can damage it meanwhile through SQLite, which holds the lock).
    """

    def __init__(self, db):
        self.conn = db.conn
        self.db = db

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            check_intact(self.db)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
        return False


class read_transaction:
    """``with read_transaction(db):`` — every read inside sees one committed
    state of the registry, whatever other processes commit meanwhile (a WAL
    read transaction), so a check never mistakes a write in progress for
    corruption."""

    def __init__(self, db):
        self.conn = db.conn

    def __enter__(self):
        self.conn.execute("BEGIN")
        self.conn.execute("select count(*) from meta").fetchone()  # the snapshot starts here
        return self

    def __exit__(self, exc_type, exc, tb):
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        return False


def pin(db) -> None:
    """Start a read transaction on the registry connection ``db`` (its
    database is in WAL mode): until it ends, every read through ``db`` sees
    the registry as it was committed at this moment, while operators keep
    committing. How an incremental build reads one state without copying it."""
    db.conn.execute("BEGIN")
    db.conn.execute("select count(*) from sqlite_master").fetchone()  # the snapshot starts at a read


def snapshot_to(source_path, target_path, *, pinned=None) -> Path:
    """Copy the registry at ``source_path`` to ``target_path`` as it is at one
    moment (SQLite's online backup in a single step, i.e. one read
    transaction; or, with ``pinned``, a connection to it in a read
    transaction (:func:`pin`), the state that transaction sees): writes
    committed meanwhile are either wholly in the copy or wholly absent.
    Operators keep writing; the copy (mode 0600: it holds operator-only
    data) is what a build reads, every step of it."""
    source_path, target_path = Path(source_path), Path(target_path)
    if not source_path.is_file():
        raise SchemaError(f"{source_path}: no such registry database")
    fd = os.open(target_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    source = pinned.conn if pinned is not None else sqlite3.connect(str(source_path), timeout=60)
    try:
        target = sqlite3.connect(str(target_path))
        try:
            source.backup(target)  # pages=-1: the whole file in one step
            target.execute("PRAGMA journal_mode = DELETE")  # a plain file, readable read-only
        finally:
            target.close()
    except sqlite3.DatabaseError as e:
        target_path.unlink(missing_ok=True)
        raise SchemaError(f"{source_path}: cannot read the registry ({e})") from None
    finally:
        if pinned is None:
            source.close()
    return target_path


def data_version(db) -> int:
    """SQLite's ``PRAGMA data_version`` of connection ``db``: it changes when another
    connection commits to the file (and only then), so a watcher sees every
    committed change, at once, without reading a row."""
    return db.execute("PRAGMA data_version").fetchone()[0]


def get_meta(db, key, default=None):
    row = next(db.query("select value from meta where key = ?", [key]), None)
    return row["value"] if row else default


def set_meta(db, key, value):
    """Set ``meta.key`` (an upsert; inside the caller's write transaction)."""
    db["meta"].upsert({"key": key, "value": str(value)}, pk="key")
