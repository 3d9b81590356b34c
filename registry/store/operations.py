"""Operations on the registry: every change is one transaction and one signed event.

:class:`Registry` is what the CLI, the importer and the demo call. Each public
method that writes runs inside one ``schema.write_transaction`` (``BEGIN
IMMEDIATE``), so two operators acting at the same moment are serialised:
certificate serials (``counters``) and event sequence numbers (``events.seq``,
global and contiguous from 1) are allocated inside the transaction, and a
failure leaves nothing behind. Inside :meth:`Registry.batch` (used by the
demo for speed) each operation runs in a SAVEPOINT of the one outer
transaction — the same code path, only fewer commits.

What is signed (layouts in ``docs/design.md``, bytes in
``docs/canonical-encoding.md``):

* a certificate *revision* (``szzz/certificate/v1``) by the issuing body's
  key, on ``issued``, ``renewed``, ``scope_changed`` and ``rekeyed``, each with
  a freshly signed mark payload (``payload.sign``) when the mark is authorised;
* every certificate *event* (``szzz/event/v1``) by the issuing body's key,
  chained per certificate through ``prev``;
* key events and notices by the root key, and each trust-list change
  (``trust.publish``) in the same transaction as its key event.

A body signs with its active key that is endorsed in the trust list and valid
on the date of the act (:meth:`Registry.body_signer`); there is no fallback.
"""

import contextlib
import datetime
import json
import os
from pathlib import Path

from registry.core import canonical, clock, keys, lifecycle, payload, reference
from registry.core.exceptions import (
    ConfigError,
    InvalidValueError,
    KeyStoreError,
    LifecycleError,
    NotFoundError,
    SchemaError,
    ValidationError,
)
from registry.store import schema, trust, validation

REASON_MAX = 2000
MAX_SERIAL = 99999
APPLICATION_TRANSITIONS = {
    "received": ("under_evaluation", "rejected"),
    "under_evaluation": ("approved", "rejected"),
    "approved": (),
    "rejected": (),
}
# Certificate events whose reason must be given (supervision acts are public
# and must say why; rule: every status change carries its reason).
REASON_REQUIRED = frozenset(
    {"suspended", "reinstated", "revoked", "withdrawn", "scope_changed", "surveillance_failed"}
)


def _field(check, value, *, record, field):
    """Run one of ``validation``'s field checks and raise a ValidationError.

    ``validation``'s field checks signal failure with InvalidValueError;
    this is the one place that translates it.
    """
    try:
        return check(value)
    except InvalidValueError as bad:
        raise ValidationError(bad.message, record=record, field=field) from None


def _text(value, *, record, field, required=False, max_len=REASON_MAX):
    out = _field(
        lambda v: validation.text(v, max_len=max_len, multiline=True), value,
        record=record, field=field,
    )
    if required and not out:
        raise ValidationError(f"{field} is empty, expected a text", record=record, field=field)
    return out


def _day_after(date_text):
    return (datetime.date.fromisoformat(date_text) + datetime.timedelta(days=1)).isoformat()


@contextlib.contextmanager
def undone_on_failure(db_path, keys_dir):
    """Making a new registry at ``db_path`` with keys in ``keys_dir``: if the block
    fails, whatever it made is removed -- the database file (closed by then) and
    its journals when there was no file at ``db_path`` before (an existing
    registry is never touched), every key file that appeared in ``keys_dir``,
    and ``keys_dir`` itself when it was not there before.

    Rule: a refused act writes nothing. ``szzz init --date 2024-02-30`` and
    ``szzz demo --today garbage`` left a half-made registry behind
    (tests/fuzz/test_fuzz_cli.py).
    """
    keys_dir = Path(keys_dir)
    existed = keys_dir.exists()
    before = set(keys_dir.iterdir()) if keys_dir.is_dir() else set()
    new_database = not os.path.lexists(db_path)
    try:
        yield
    except BaseException:
        # Best effort: what could not be removed must not hide why the block failed.
        with contextlib.suppress(OSError):
            if new_database:
                schema.remove_database(db_path)
            if keys_dir.is_dir():
                for path in set(keys_dir.iterdir()) - before:
                    path.unlink(missing_ok=True)
                if not existed:
                    keys_dir.rmdir()
        raise


class Registry:
    """One open registry database, plus (for signing) a key directory.

    Open with :meth:`open` (an existing registry) or :meth:`init` (a new one).
    Read-only use needs no keys. Private keys are loaded on demand from
    ``keys_dir`` with ``passphrase`` and cached by key id for the life of the
    object; they never touch the database.
    """

    def __init__(self, db, path, keys_dir=None, passphrase=None):
        self.db = db
        self._tables = {}
        self.path = Path(path)
        self.keys_dir = Path(keys_dir) if keys_dir else None
        self._passphrase = passphrase
        self._signers = {}
        self._depth = 0
        # Pinned "today" (the demo builds a registry as of a given date);
        # otherwise ``clock.today()`` (SZZZ_TODAY or Suzhou's calendar).
        self.today_override = None

    # ------------------------------------------------------------------ open
    @classmethod
    def open(cls, db_path, keys_dir=None, passphrase=None):
        """Open an existing registry (``SchemaError`` when there is none)."""
        db = schema.connect(db_path)
        return cls(db, db_path, keys_dir, passphrase)

    @classmethod
    def init(cls, db_path, keys_dir, passphrase, *, date=None, site_url=None):
        """Create a registry: schema, root/log/timestamp keys, trust list v1.

        Refuses an existing file (never overwrites a registry). The three key
        files are written to ``keys_dir``; only public keys enter the database.
        ``site_url`` (checked by the caller: ``registry.publish.site.registry_site_url``)
        is stored as ``meta.site_url`` before trust list v1 is signed, since it
        names the log whose verifier keys the list carries.
        """
        db_path = Path(db_path)
        if db_path.exists():
            raise ConfigError(f"{db_path}: already exists; refusing to overwrite a registry")
        if not keys_dir:
            raise ConfigError("init needs a keys directory for the root, log and timestamp keys")
        if not passphrase:
            raise ConfigError("init needs a key passphrase (SZZZ_PASSPHRASE or a prompt)")
        with undone_on_failure(db_path, keys_dir):
            db = schema.connect(db_path, create=True)
            try:
                reg = cls(db, db_path, keys_dir, passphrase)
                day = reg._date(date, "init")
                signers = {role: keys.generate(keys_dir, passphrase) for role in ("root", "log", "timestamp")}
                for signer in signers.values():
                    reg._signers[signer.key_id] = signer
                with reg._transaction():
                    reg.table("keys").insert_all(
                        {"key_id": signer.key_id, "public_key": signer.public_b64, "owner_type": role,
                         "owner": None, "valid_from": day, "valid_to": None, "status": "active",
                         "status_date": day, "endorsed_in": 1}
                        for role, signer in signers.items())
                    schema.set_meta(db, "root_key_id", signers["root"].key_id)
                    if site_url:
                        schema.set_meta(db, "site_url", site_url)
                    trust.publish(db, signers["root"], day)
                    for role in ("log", "timestamp"):
                        reg._key_event("key_endorsed", signers[role].key_id, day,
                                       f"{role} key endorsed at registry creation")
            except BaseException:
                db.conn.close()
                raise
        return reg

    def close(self):
        self.db.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # ------------------------------------------------------------ machinery
    def today(self) -> str:
        """Today as YYYY-MM-DD (``today_override`` or :func:`clock.today`)."""
        day = self.today_override or clock.today()
        return day if isinstance(day, str) else day.isoformat()

    def _date(self, value, record, field="date", label=None):
        """An act's date: given or today; never in the future (rule: no backdating
        into the future — an act is recorded when it happened)."""
        if value is None:
            return self.today()
        day = _field(validation.iso_date, value, record=record, field=field)
        if day is None:  # an empty --date is no date: today
            return self.today()
        return validation.not_after_today(day, self.today(), record=record, field=field,
                                          label=label or ("date" if field == "date" else f"{field} date"))

    @contextlib.contextmanager
    def _transaction(self):
        """One write transaction, or a savepoint inside :meth:`batch`."""
        conn = self.db.conn
        if self._depth == 0:
            with schema.write_transaction(self.db):
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
            return
        name = f"op{self._depth}"
        conn.execute(f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield
        except BaseException:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
            raise
        else:
            conn.execute(f"RELEASE {name}")
        finally:
            self._depth -= 1

    @contextlib.contextmanager
    def batch(self):
        """Run many operations in one outer transaction (each still atomic in
        its own savepoint). All or nothing for the whole batch."""
        with self._transaction():
            yield self

    def commit_batch(self):
        """Inside :meth:`batch`, between operations: make the work so far
        durable and go on in a fresh transaction (keeps the WAL small when the
        demo writes a million certificates)."""
        if self._depth != 1:
            raise ConfigError("commit_batch() is only allowed directly inside batch()")
        self.db.conn.execute("COMMIT")
        self.db.conn.execute("BEGIN IMMEDIATE")

    def signer(self, key_id) -> keys.Signer:
        """The private key ``key_id`` from the key directory (cached)."""
        if key_id in self._signers:
            return self._signers[key_id]
        if self.keys_dir is None:
            raise KeyStoreError(f"signing with key {key_id} needs a keys directory (--keys DIR)")
        if not self._passphrase:
            self._passphrase = keys.passphrase_from_env(None)
        signer = keys.load(self.keys_dir, key_id, self._passphrase)
        self._signers[key_id] = signer
        return signer

    def root_signer(self):
        return self.signer(trust.root_key_id(self.db))

    def body_signer(self, body, date) -> keys.Signer:
        """The body's signing key on ``date`` (:func:`trust.signing_key_id`);
        there is no fallback."""
        return self.signer(trust.signing_key_id(self.db, "event", date=date, body=body))

    def _append_event(self, signer, *, event_type, date, actor, cert_no=None, status=None,
                      revision=None, record_digest=None, prev=None, reason=None,
                      notice=None, subject=None, details=None):
        """Sign and append one event; return ``(seq, payload_text)``."""
        seq = self._next_seq()
        record = {
            "seq": seq, "type": event_type, "date": date, "actor": actor, "cert_no": cert_no,
            "status": status, "revision": revision, "record_digest": record_digest,
            "prev": prev, "reason": reason, "notice": notice, "subject": subject,
            "details": details if details is not None else {},
        }
        env = canonical.make_envelope(canonical.EVENT, record, signer)
        self.table("events").insert({
            "seq": seq, "type": event_type, "cert_no": cert_no, "subject": subject, "date": date,
            "actor": actor, "reason": reason, "notice": notice, "key_id": env["key_id"],
            "payload": env["payload"], "signature": env["signature"]})
        return seq, env["payload"]

    def table(self, name):
        """The sqlite-utils table ``name`` (made once: ``db[name]`` looks the name up each time)."""
        if name not in self._tables:
            self._tables[name] = self.db.table(name)
        return self._tables[name]

    def _next_id(self, table) -> int:
        """The next id of ``table`` (allocated inside the write transaction)."""
        return (self.db.execute(f"select max(id) from [{table}]").fetchone()[0] or 0) + 1

    def _next_seq(self) -> int:
        """The next event sequence number (allocated inside the write transaction: contiguous)."""
        return (self.db.execute("select max(seq) from events").fetchone()[0] or 0) + 1

    # ---------------------------------------------------------------- keys
    def _key_event(self, event_type, key_id, date, reason):
        row = trust.key_row(self.db, key_id)
        return self._append_event(
            self.root_signer(), event_type=event_type, date=date, actor=trust.ROOT_ACTOR,
            reason=reason, subject=key_id, details=trust.entry(self.db, row),
        )[0]

    def _key(self, key_id):
        row = trust.key_row(self.db, key_id)
        if row["owner_type"] == "root":
            raise ConfigError(
                f"key {key_id} is the root key; it is changed only by a new registry root, "
                "not by key commands")
        return row

    def generate_key(self, role="body", body=None, valid_from=None, valid_to=None):
        """Create a key pair (file in the key directory) and register its public
        half; it signs nothing until :meth:`endorse_key` lists it. Returns the id."""
        record = f"new {role} key"
        if role not in ("body", "log", "timestamp"):
            raise ValidationError(f"key role {role!r} is unknown, expected body, log or timestamp",
                                  record=record, field="role")
        if role == "body":
            body = _field(validation.body_code, body, record=record, field="body")
            if not body:
                raise ValidationError("a body key needs --body CODE", record=record, field="body")
            found = next(self.db.query("select joined from bodies where code = ?", [body]), None)
            if found is None:
                raise ValidationError(f"certification body {body} is not in the registry",
                                      record=record, field="body")
            default_from = found["joined"]
        elif body:
            raise ValidationError(f"a {role} key has no body, observed {body!r}",
                                  record=record, field="body")
        else:
            default_from = None
        valid_from = _field(validation.iso_date, valid_from, record=record, field="valid_from") \
            or default_from or self.today()
        valid_to = _field(validation.iso_date, valid_to, record=record, field="valid_to")
        if valid_to and valid_to <= valid_from:
            raise ValidationError(f"valid_to {valid_to} is not after valid_from {valid_from}",
                                  record=record, field="valid_to")
        if self.keys_dir is None:
            raise KeyStoreError("generating a key needs a keys directory (--keys DIR)")
        self.check_passphrase()
        with self._transaction():
            # The file is written once the registry is known to be intact (the
            # transaction's check); a failure below leaves an unlisted file, never a row.
            signer = keys.generate(self.keys_dir, self._passphrase)
            self._signers[signer.key_id] = signer
            self.table("keys").insert({
                "key_id": signer.key_id, "public_key": signer.public_b64, "owner_type": role,
                "owner": body, "valid_from": valid_from, "valid_to": valid_to, "status": "active",
                "status_date": valid_from, "endorsed_in": None})
        return signer.key_id

    def check_passphrase(self):
        """Refuse a passphrase that opens none of the registry's key files in the key directory.

        Rule (issue 10): a new key is locked with this passphrase, and every
        later command must open it with the passphrase it is given; a key
        locked with a typo could never sign, so its body could not revoke.
        The registry's keys whose files are in ``keys_dir`` are tried, root
        key first, until one opens (one decryption in the usual case). A
        directory with none of them (a new body's own directory) has nothing
        to check against: then the CLI asks twice on a terminal, and
        :meth:`endorse_key` refuses a key that the passphrase cannot open.
        """
        if self.keys_dir is None:
            raise KeyStoreError("a key passphrase is checked against a keys directory (--keys DIR)")
        if not self._passphrase:
            self._passphrase = keys.passphrase_from_env(None)
        if self._signers:
            return  # each was opened, or made, with this very passphrase
        root = schema.get_meta(self.db, "root_key_id")
        listed = sorted((r["key_id"] for r in self.db.query("select key_id from keys")),
                        key=lambda k: (k != root, k))
        present = [k for k in listed if keys.key_path(self.keys_dir, k).is_file()]
        for key_id in present:
            try:
                self.signer(key_id)
                return
            except KeyStoreError:
                continue
        if present:
            raise KeyStoreError(
                f"wrong key passphrase? It opens none of the registry's {len(present)} key file(s) in "
                f"{self.keys_dir} (e.g. {keys.key_path(self.keys_dir, present[0])}), expected the "
                "passphrase they are locked with: a new key locked with another could not be "
                "opened by the commands that must sign with it; no key was generated")

    def endorse_key(self, key_id, valid_from=None, valid_to=None, *, date=None):
        """The root lists ``key_id`` in a new trust list; returns its version.

        Refused when the key's file does not open with the passphrase in use
        (rule, issue 10: an endorsed key that nobody can open would block
        every act of its body, revocations included, until it is replaced)."""
        row = self._key(key_id)
        record = f"key {key_id}"
        day = self._date(date, record)
        if row["status"] != "active":
            raise LifecycleError(f"key {key_id} is {row['status']}: only an active key can be endorsed")
        try:
            self.signer(key_id)
        except KeyStoreError as e:
            raise KeyStoreError(
                f"key {key_id} cannot be endorsed: {e}; a key the signing commands cannot open "
                "could never sign (generate a new one with the registry's passphrase)") from None
        valid_from = _field(validation.iso_date, valid_from, record=record,
                            field="valid_from") or row["valid_from"]
        valid_to = _field(validation.iso_date, valid_to, record=record,
                          field="valid_to") or row["valid_to"]
        if valid_to and valid_to <= valid_from:
            raise ValidationError(f"valid_to {valid_to} is not after valid_from {valid_from}",
                                  record=record, field="valid_to")
        with self._transaction():
            version = trust.latest_version(self.db) + 1
            self.table("keys").update(key_id, {"valid_from": valid_from, "valid_to": valid_to,
                                            "endorsed_in": version})
            trust.publish(self.db, self.root_signer(), day)
            self._key_event("key_endorsed", key_id, day, None)
        return version

    def _end_key(self, key_id, status, date, reason, allowed):
        row = self._key(key_id)
        record = f"key {key_id}"
        day = self._date(date, record)
        reason = _text(reason, record=record, field="reason", required=True)
        if row["status"] not in allowed:
            raise LifecycleError(
                f"key {key_id} is {row['status']}: cannot mark it {status} "
                f"(allowed from {', '.join(allowed)})")
        with self._transaction():
            self.table("keys").update(key_id, {"status": status, "status_date": day})
            if row["endorsed_in"] is not None:
                trust.publish(self.db, self.root_signer(), day)
            self._key_event("key_" + status, key_id, day, reason)

    def retire_key(self, key_id, date=None, reason="key retired (rollover)"):
        """Stop using a key: signatures made up to ``date`` stay valid."""
        self._end_key(key_id, "retired", date, reason, ("active",))

    def compromise_key(self, key_id, date=None, reason="key compromised"):
        """Mark a key compromised; return the live certificates that must be
        re-signed (:meth:`rekey`) because their current revision used it."""
        self._end_key(key_id, "compromised", date, reason, ("active", "retired"))
        return [r["cert_no"] for r in self.db.query(
            "select cert_no from certificates where key_id = ? and status not in "
            "('revoked', 'withdrawn') order by cert_no", [key_id])]

    # ------------------------------------------------------- reference data
    def add_body(self, row):
        """Register a certification body (an alliance member)."""
        row = validation.validate_body(row, self.today())
        with self._transaction():
            validation.check_duplicates(self.db, "body", row)
            self.table("bodies").insert(row)
        return row["code"]

    def add_standard(self, row):
        """Register a standard (the general requirement or a technical standard)."""
        row = validation.validate_standard(row)
        with self._transaction():
            validation.check_duplicates(self.db, "standard", row)
            self.table("standards").insert(row)
        return row["code"]

    def add_enterprise(self, row, contact=None):
        """Register an enterprise; ``contact`` (operator-only) is kept apart."""
        row = validation.validate_enterprise(row)
        if contact:
            contact = validation.validate_contact({**contact, "uscc": row["uscc"]})
        with self._transaction():
            validation.check_references(self.db, "enterprise", row)
            validation.check_duplicates(self.db, "enterprise", row)
            self.table("enterprises").insert(row)
            if contact:
                self.table("enterprise_contacts").insert(contact)
        return row["uscc"]

    def add_product(self, row) -> int:
        """Register a product of a registered enterprise; returns its id."""
        row = validation.validate_product(row)
        with self._transaction():
            validation.check_references(self.db, "product", row)
            validation.check_duplicates(self.db, "product", row)
            row = dict(row)
            row["models"] = json.dumps(row.get("models") or [], ensure_ascii=False)
            if row.get("id") is None:
                row["id"] = self._next_id("products")
            elif self.table("products").count_where("id = ?", [row["id"]]):
                raise ValidationError(f"product id {row['id']} is already taken",
                                      record=f"product {row['id']}", field="id")
            self.table("products").insert(row)
        return row["id"]

    # --------------------------------------------------------- certificates
    def _allocate(self, programme, year, body, cert_no=None):
        """The next serial of ``programme-year-body`` (or honour a given number)."""
        name = f"{programme}-{year}-{body}"
        counters = self.table("counters")
        # Read and written inside the write transaction (BEGIN IMMEDIATE): no
        # two operators can be given the same serial.
        used = next(self.db.query("select value from counters where name = ?", [name]), {"value": 0})["value"]
        if cert_no is None:
            value = used + 1
            counters.upsert({"name": name, "value": value}, pk="name")
            if value > MAX_SERIAL:
                raise ValidationError(
                    f"serial {value} exceeds the 5-digit range for {name}-NNNNN",
                    record=f"certificate {name}", field="cert_no")
            return f"{name}-{value:05d}"
        counters.upsert({"name": name, "value": max(used, int(cert_no.rsplit("-", 1)[1]))}, pk="name")
        return cert_no

    def _product_snapshot(self, product_id):
        r = next(self.db.query(
            "select p.id, p.name_zh, p.name_en, p.models, p.gtin, e.uscc, e.name_zh as enterprise_zh, "
            "e.name_en as enterprise_en, e.district from products p join enterprises e on e.uscc = p.enterprise "
            "where p.id = ?", [product_id]), None)
        if r is None:
            raise NotFoundError(f"product {product_id} is not in the registry")
        return (
            {"uscc": r["uscc"], "name_zh": r["enterprise_zh"], "name_en": r["enterprise_en"],
             "district": r["district"]},
            {"id": r["id"], "name_zh": r["name_zh"], "name_en": r["name_en"],
             "models": json.loads(r["models"] or "[]"), "gtin": r["gtin"]},
        )

    def _store_revision(self, record, signer, *, reason, date, seq_hint):
        """Sign a revision record; return the columns it sets on ``certificates``."""
        env = canonical.make_envelope(canonical.CERTIFICATE, record, signer)
        digest = canonical.envelope_digest(env)
        mark = None
        if record["mark_authorised"]:
            mark = payload.sign(signer, signed_on=record["signed_on"], expires=record["expires"],
                                record_digest=digest, cert_no=record["cert_no"]).to_text()
        self.table("certificate_revisions").insert({
            "cert_no": record["cert_no"], "revision": record["revision"], "reason": reason, "date": date,
            "key_id": env["key_id"], "record": env["payload"], "signature": env["signature"],
            "digest": digest, "mark_payload": mark, "seq": seq_hint})
        return {"revision": record["revision"], "key_id": env["key_id"], "record": env["payload"],
                "signature": env["signature"], "digest": digest, "mark_payload": mark}

    def issue(self, *, product, body, standards, scope, expires, evaluation, issued=None,
              programme=reference.DEFAULT_PROGRAMME, mark_authorised=True, cert_no=None):
        """Issue a certificate: revision 1, its mark payload, an ``issued`` event.

        The number ``<programme>-<year>-<body>-<serial>`` is allocated in the
        transaction (or ``cert_no`` is honoured, for imports of existing
        certificates, after checking it is free and matches).
        """
        row = {"product": product, "body": body, "standards": standards, "scope": scope,
               "expires": expires, "evaluation": evaluation, "issued": issued,
               "programme": programme, "mark_authorised": mark_authorised}
        if cert_no is not None:
            row["cert_no"] = cert_no
        row = validation.validate_certificate(row, self.today())
        with self._transaction():
            validation.check_references(self.db, "certificate", row)
            validation.check_duplicates(self.db, "certificate", row)
            day = row["issued"]
            signer = self.body_signer(row["body"], day)
            number = self._allocate(row["programme"], day[:4], row["body"], row.get("cert_no"))
            enterprise, product_snap = self._product_snapshot(row["product"])
            record = {
                "cert_no": number, "revision": 1, "previous": None,
                "programme": row["programme"], "body": row["body"], "key_id": signer.key_id,
                "enterprise": enterprise, "product": product_snap,
                "standards": row["standards"], "scope": row["scope"],
                "issued": day, "signed_on": day, "expires": row["expires"],
                "mark_authorised": bool(row["mark_authorised"]),
                "evaluation": row["evaluation"],
            }
            seq_next = self._next_seq()
            # The row first (the revision and the standards refer to it); the
            # signed columns are filled once the revision is signed, below.
            self.table("certificates").insert({
                "cert_no": number, "product": row["product"], "body": row["body"],
                "programme": row["programme"], "scope": row["scope"], "issued": day,
                "expires": row["expires"], "status": lifecycle.VALID, "status_date": day,
                "mark_authorised": int(bool(row["mark_authorised"])),
                "evaluation": json.dumps(row["evaluation"], sort_keys=True), "revision": 0,
                "key_id": signer.key_id, "record": "", "signature": "", "digest": ""})
            self.table("certificate_standards").insert_all(
                {"cert_no": number, "standard": code} for code in row["standards"])
            cols = self._store_revision(record, signer, reason="issued", date=day,
                                        seq_hint=seq_next)
            seq, _ = self._append_event(
                signer, event_type="issued", date=day, actor=row["body"], cert_no=number,
                status=lifecycle.VALID, revision=1, record_digest=cols["digest"], prev=None)
            self.table("certificates").update(number, {**cols, "last_seq": seq})
        return number

    def _certificate(self, cert_no):
        row = next(self.db.query("select * from certificates where cert_no = ?", [cert_no]), None)
        if row is None:
            raise NotFoundError(f"certificate {cert_no} is not in the registry")
        return row

    def _certificate_event(self, cert_no, event_type, *, date=None, reason=None, notice=None,
                           details=None, changes=None):
        """Apply one lifecycle event (and, for revising events, a new revision).

        Checks, in order: the certificate exists; the lifecycle allows the
        event in its current status (``lifecycle.next_status``); the date is
        not before the certificate's previous event nor in the future; the
        body has a signing key for that date.
        """
        cert_no = _field(validation.cert_no, cert_no, record="certificate", field="cert_no")
        record_name = f"certificate {cert_no}"
        reason = _text(reason, record=record_name, field="reason",
                       required=event_type in REASON_REQUIRED)
        notice = _text(notice, record=record_name, field="notice")
        day = self._date(date, record_name)
        with self._transaction():
            cert = self._certificate(cert_no)
            new_status = lifecycle.next_status(cert["status"], event_type, cert_no=cert_no)
            last = self.db.execute("select date, payload from events where seq = ?",
                                   [cert["last_seq"]]).fetchone()
            if last is None:
                raise SchemaError(f"{record_name}: its last event {cert['last_seq']} is missing")
            if day < last[0]:
                raise ValidationError(
                    f"date {day} is before the certificate's previous event ({last[0]}); "
                    "expected events in date order", record=record_name, field="date")
            signer = self.body_signer(cert["body"], day)
            cols = {}
            if event_type in lifecycle.REVISING_EVENTS:
                if event_type == "rekeyed" and signer.key_id == cert["key_id"]:
                    raise LifecycleError(
                        f"{record_name} is already signed with key {signer.key_id}, the body's "
                        "current key; rekey needs another active, endorsed key")
                record = canonical.decode(cert["record"].encode("utf-8"))
                record.update(changes or {})
                record.update({"revision": cert["revision"] + 1, "previous": cert["digest"],
                               "key_id": signer.key_id, "signed_on": day})
                seq_next = self._next_seq()
                cols = self._store_revision(record, signer, reason=event_type, date=day,
                                            seq_hint=seq_next)
            seq, _ = self._append_event(
                signer, event_type=event_type, date=day, actor=cert["body"], cert_no=cert_no,
                status=new_status, revision=cols.get("revision", cert["revision"]),
                record_digest=cols.get("digest", cert["digest"]),
                prev=canonical.sha256_hex(last[1].encode("utf-8")),
                reason=reason, notice=notice, details=details)
            update = dict(cols)
            for key in ("scope", "expires"):
                if changes and key in changes:
                    update[key] = changes[key]
            if changes and "evaluation" in changes:
                update["evaluation"] = json.dumps(changes["evaluation"], sort_keys=True)
            update["last_seq"] = seq
            if new_status != cert["status"]:
                update["status"] = new_status
                update["status_date"] = day
            self.table("certificates").update(cert_no, update)
        return seq

    def record_surveillance(self, cert_no, passed, date=None, reason=None, notice=None):
        """Record a surveillance audit; a failed one suspends the certificate."""
        if not passed and not reason:
            reason = "监督审核未通过 surveillance audit failed"
        return self._certificate_event(
            cert_no, "surveillance_passed" if passed else "surveillance_failed",
            date=date, reason=reason, notice=notice)

    def suspend(self, cert_no, reason, date=None, notice=None):
        return self._certificate_event(cert_no, "suspended", date=date, reason=reason, notice=notice)

    def reinstate(self, cert_no, reason, date=None, notice=None):
        return self._certificate_event(cert_no, "reinstated", date=date, reason=reason, notice=notice)

    def revoke(self, cert_no, reason, date=None, notice=None):
        return self._certificate_event(cert_no, "revoked", date=date, reason=reason, notice=notice)

    def withdraw(self, cert_no, reason, date=None, notice=None):
        return self._certificate_event(cert_no, "withdrawn", date=date, reason=reason, notice=notice)

    def _revalidate(self, cert_no, **fields):
        """Validate changed certificate fields with the same rules as at issue."""
        cert = self._certificate(cert_no)
        record = canonical.decode(cert["record"].encode("utf-8"))
        row = {"product": cert["product"], "body": cert["body"],
               "programme": cert["programme"], "standards": record["standards"],
               "scope": record["scope"], "issued": fields.pop("issued", record["issued"]),
               "expires": record["expires"], "evaluation": record["evaluation"],
               "mark_authorised": record["mark_authorised"]}
        row.update(fields)
        return validation.validate_certificate(row, self.today())

    def change_scope(self, cert_no, scope, reason, date=None):
        """A new revision with a new scope text (e.g. models added or removed)."""
        day = self._date(date, f"certificate {cert_no}")
        row = self._revalidate(cert_no, scope=scope, issued=day)
        return self._certificate_event(cert_no, "scope_changed", date=day, reason=reason,
                                       changes={"scope": row["scope"]})

    def renew(self, cert_no, expires, date=None, reason=None, evaluation=None):
        """Renewal (再认证): a new revision with a later expiry, from valid or expired."""
        day = self._date(date, f"certificate {cert_no}")
        fields = {"expires": expires, "issued": day}
        if evaluation is not None:
            fields["evaluation"] = evaluation
        row = self._revalidate(cert_no, **fields)
        changes = {"expires": row["expires"]}
        if evaluation is not None:
            changes["evaluation"] = row["evaluation"]
        return self._certificate_event(cert_no, "renewed", date=day, reason=reason,
                                       changes=changes)

    def rekey(self, cert_no, date=None, reason="re-signed with the body's current key"):
        """Re-sign the current revision with the body's current key (after a
        key compromise): a new revision and a new mark payload."""
        return self._certificate_event(cert_no, "rekeyed", date=date, reason=reason)

    def expire_due(self, today=None):
        """Move every valid/suspended certificate past its expiry to ``expired``.

        The event is dated the day after the expiry date (a certificate is
        valid through its expiry date), or the certificate's last event date
        if that is later. One transaction for all. Returns the numbers.
        """
        day = self._date(today, "expire-due", field="today", label="the day to expire as of")
        done = []
        with self._transaction():
            due = list(self.db.query(
                "select c.cert_no, c.expires, e.date from certificates c "
                "join events e on e.seq = c.last_seq "
                "where c.status in ('valid', 'suspended') and c.expires < ? "
                "order by c.expires, c.cert_no", [day]))
            for row in due:
                self.expire_one(row["cert_no"], row["expires"], row["date"])
                done.append(row["cert_no"])
        return done

    def expire_one(self, cert_no, expires, last_date):
        """The ``expired`` event of one certificate (what :meth:`expire_due`
        does per certificate; the demo calls it at each expiry in its timeline
        instead of sweeping the whole table every simulated day)."""
        when = max(_day_after(expires), last_date)
        return self._certificate_event(cert_no, "expired", date=when,
                                       reason=f"expired after {expires}")

    # -------------------------------------------------------------- notices
    def publish_notice(self, kind, title_zh, text_zh, title_en=None, text_en=None,
                       cert_no=None, date=None):
        """Publish a public notice (信息通报), signed by the root key; returns its id."""
        record_name = "notice"
        if kind not in reference.NOTICE_KINDS:
            raise ValidationError(f"notice kind {kind!r} is unknown, expected one of "
                                  + ", ".join(reference.NOTICE_KINDS), record=record_name, field="kind")
        notice = {
            "kind": kind,
            "title_zh": _text(title_zh, record=record_name, field="title_zh", required=True,
                              max_len=validation.TITLE_MAX),
            "title_en": _text(title_en, record=record_name, field="title_en",
                              max_len=validation.TITLE_MAX),
            "text_zh": _text(text_zh, record=record_name, field="text_zh", required=True,
                             max_len=validation.DESCRIPTION_MAX),
            "text_en": _text(text_en, record=record_name, field="text_en",
                             max_len=validation.DESCRIPTION_MAX),
            "cert_no": _field(validation.cert_no, cert_no, record=record_name, field="cert_no"),
            "date": self._date(date, record_name),
        }
        with self._transaction():
            if notice["cert_no"]:
                self._certificate(notice["cert_no"])
            notice["id"] = self._next_id("notices")
            seq, _ = self._append_event(
                self.root_signer(), event_type="notice_published", date=notice["date"],
                actor=trust.ROOT_ACTOR, subject=str(notice["id"]), details=notice)
            self.table("notices").insert({**notice, "body": None, "event_seq": seq})
        return notice["id"]

    # --------------------------------------------------------- applications
    def add_application(self, uscc, product_name, programme=reference.DEFAULT_PROGRAMME,
                        body=None, received=None, note=None):
        """Record an enterprise's voluntary application (企业自愿申报); operator-only."""
        record_name = "application"
        row = {
            "uscc": _field(validation.uscc, uscc, record=record_name, field="uscc"),
            "product_name": _text(product_name, record=record_name, field="product_name",
                                  required=True, max_len=validation.NAME_MAX),
            "programme": _field(validation.programme, programme, record=record_name,
                                field="programme") or reference.DEFAULT_PROGRAMME,
            "body": _field(validation.body_code, body, record=record_name, field="body"),
            "received": self._date(received, record_name, "received"),
            "status": "received", "decided": None,
            "note": _text(note, record=record_name, field="note"),
        }
        if not row["uscc"]:
            raise ValidationError("uscc is empty, expected a USCC", record=record_name, field="uscc")
        with self._transaction():
            if row["body"] and not self.table("bodies").count_where("code = ?", [row["body"]]):
                raise ValidationError(f"certification body {row['body']} is not in the registry",
                                      record=record_name, field="body")
            row["id"] = self._next_id("applications")
            self.table("applications").insert(row)
        return row["id"]

    def decide_application(self, app_id, status, date=None, note=None):
        """Move an application along received → under_evaluation → approved/rejected."""
        record_name = f"application {app_id}"
        day = self._date(date, record_name)
        note = _text(note, record=record_name, field="note")
        with self._transaction():
            found = next(self.db.query("select status, received from applications where id = ?",
                                       [app_id]), None)
            if found is None:
                raise NotFoundError(f"application {app_id} is not in the registry")
            current, received = found["status"], found["received"]
            if status not in APPLICATION_TRANSITIONS.get(current, ()):
                allowed = ", ".join(APPLICATION_TRANSITIONS.get(current, ())) or "nothing (final)"
                raise LifecycleError(
                    f"{record_name} is {current}: cannot move to {status!r}; allowed: {allowed}")
            if day < received:
                raise ValidationError(f"date {day} is before the application was received "
                                      f"({received})", record=record_name, field="date")
            changes = {"status": status, "decided": day if status in ("approved", "rejected") else None}
            if note is not None:
                changes["note"] = note
            self.table("applications").update(app_id, changes)
        return status
