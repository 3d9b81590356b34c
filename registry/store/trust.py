"""The trust list: which keys are valid, for whom, and on which dates.

The scheme's root key signs a *trust list* (domain ``szzz/trust-list/v1``,
layout in ``docs/design.md``). Verifiers pin the root public key and learn
every other key from the latest trust list: a body key, the log key and the
timestamp key count only when they are listed. Every change of a key's
standing (endorsed, retired, compromised) makes a new trust list version in
the same transaction as the signed key event, so the list and the event
history never disagree.

Rules enforced here:

* a key is listed only after it was endorsed (``keys.endorsed_in`` is set);
* a retired or compromised key stays listed with its ``status`` and
  ``status_date`` so that verifiers can judge old signatures (valid up to
  that date) and name a compromise;
* versions are contiguous from 1 and each is signed by the root key.
"""

import json

from registry.core import canonical, keys, rules
from registry.core.exceptions import ConfigError, NoSigningKeyError, NotFoundError, SchemaError, SignatureError
from registry.log import checkpoint, note
from registry.store import schema

SCHEME_NAME = "苏州制造"
ROOT_ACTOR = "root"  # the actor of root-signed events; never a body code (upper case)


def root_key_id(db) -> str:
    value = schema.get_meta(db, "root_key_id")
    if not value:
        raise SchemaError("registry has no root key (run `szzz init`)")
    return value


def key_row(db, key_id) -> dict:
    """The ``keys`` row of ``key_id`` as a dict, or NotFoundError."""
    row = next(db.query("select * from keys where key_id = ?", [key_id]), None)
    if row is None:
        raise NotFoundError(f"key {key_id} is not in the registry")
    return row


def entry(db, row) -> dict:
    """The trust-list entry of one ``keys`` row (what key events carry too)."""
    name_zh = name_en = None
    if row["owner_type"] == "body" and row["owner"]:
        found = next(db.query("select name_zh, name_en from bodies where code = ?", [row["owner"]]), None)
        if found:
            name_zh, name_en = found["name_zh"], found["name_en"]
    return {
        "key_id": row["key_id"],
        "public_key": row["public_key"],
        "role": row["owner_type"],
        "body": row["owner"] if row["owner_type"] == "body" else None,
        "body_name_zh": name_zh,
        "body_name_en": name_en,
        "valid_from": row["valid_from"],
        "valid_to": row["valid_to"],
        "status": row["status"],
        "status_date": row["status_date"],
    }


def key_entries(db) -> dict:
    """Every key of the registry, ``{key_id: entry}``, in the trust list's shape
    plus ``endorsed`` (a key is listed only once endorsed): what
    :func:`registry.core.rules.key_problem` judges."""
    out = {}
    for row in db["keys"].rows:
        role = row["owner_type"]
        out[row["key_id"]] = {
            "key_id": row["key_id"], "public_key": row["public_key"], "role": role,
            "body": row["owner"] if role == "body" else None, "valid_from": row["valid_from"],
            "valid_to": row["valid_to"], "status": row["status"], "status_date": row["status_date"],
            "endorsed": row["endorsed_in"] is not None or role == "root"}
    return out


def signing_key_id(db, use: str, *, date=None, body=None) -> str:
    """The key that signs for ``use`` (a :data:`registry.core.rules.USES` name) on
    ``date``: an active key of the use's role (and ``body``) that the rules
    accept on that date; with several (a rollover in progress) the one valid
    from the latest date, so a new key takes over as soon as it is endorsed.
    NoSigningKeyError (a body) or ConfigError (the log and timestamp keys)."""
    role = rules.USES[use].role
    rows = db.query(
        "select key_id from keys where owner_type = ? and (? is null or owner = ?) "
        "and status = 'active' order by valid_from desc, key_id", [role, body, body])
    entries = key_entries(db)
    for row in rows:
        if rules.key_problem(entries[row["key_id"]], use, date=date, body=body) is None:
            return row["key_id"]
    on = f" on {date}" if date else ""
    if role == "body":
        raise NoSigningKeyError(
            f"body {body} has no active key endorsed in the trust list and valid{on}; expected one "
            f"(szzz key generate --body {body}, then szzz key endorse)")
    raise ConfigError(f"registry has no active, endorsed {role} key valid{on}")


def log_names(db) -> checkpoint.LogNames:
    """The registry's note key names, the one place they are decided: ``meta.log_origin``
    if configured, else derived from ``meta.site_url`` (``szzz init --site-url``),
    else from the placeholder host (the demo; registries made by the library
    without a URL). Never from a per-build option: a new origin is a new log."""
    return checkpoint.names_for(schema.get_meta(db, "site_url"), origin=schema.get_meta(db, "log_origin"))


def vkey(names: checkpoint.LogNames, entry: dict) -> str | None:
    """The C2SP signed-note verifier key (``name+hash+base64``) of a log or
    timestamp key entry under ``names``; None for other roles."""
    kinds = {"log": (names.origin, note.KEY_TYPE_ED25519),
             "timestamp": (names.timestamp_name, note.KEY_TYPE_COSIGNATURE)}
    if entry["role"] not in kinds:
        return None
    name, key_type = kinds[entry["role"]]
    return note.format_vkey(name, canonical.unb64url(entry["public_key"]), key_type)


def latest_version(db) -> int:
    row = db.execute("select max(version) from trust_lists").fetchone()
    return row[0] or 0


def build(db, version: int, issued: str) -> dict:
    """The trust-list record for ``version`` from the current ``keys`` table."""
    root_id = root_key_id(db)
    root = key_row(db, root_id)
    entries = [entry(db, row) for row in db.query(
        "select * from keys where endorsed_in is not null and owner_type != 'root' "
        "order by owner_type, owner, valid_from, key_id")]
    # Log and timestamp keys carry their note verifier key, so a C2SP client
    # takes the key from the root-signed list as it is (docs/published-files.md).
    names = log_names(db)
    for e in entries:
        key = vkey(names, e)
        if key is not None:
            e["vkey"] = key
    return {
        "scheme": SCHEME_NAME,
        "version": version,
        "issued": issued,
        "root_key_id": root_id,
        "root_public_key": root["public_key"],
        "keys": entries,
    }


def publish(db, root_signer, issued: str) -> int:
    """Sign and store the next trust-list version; return its number.

    Call inside the caller's write transaction (the version is allocated
    there, so two operators cannot both publish version N).
    """
    if root_signer.key_id != root_key_id(db):
        raise SignatureError(
            f"trust list must be signed by the root key {root_key_id(db)}, "
            f"observed key {root_signer.key_id}"
        )
    version = latest_version(db) + 1
    record = build(db, version, issued)
    envelope = canonical.make_envelope(canonical.TRUST_LIST, record, root_signer)
    db["trust_lists"].insert({"version": version, "issued": issued,
                              "envelope": json.dumps(envelope, ensure_ascii=False, sort_keys=True)})
    return version


def envelope(db, version=None) -> dict:
    """The stored envelope of trust list ``version`` (default: the latest)."""
    if version is None:
        row = db.execute(
            "select envelope from trust_lists order by version desc limit 1"
        ).fetchone()
    else:
        row = db.execute(
            "select envelope from trust_lists where version = ?", [version]
        ).fetchone()
    if row is None:
        raise NotFoundError(
            f"trust list version {version} not found" if version else "registry has no trust list"
        )
    return json.loads(row[0])


def verify_all(db) -> list:
    """Problems with the stored trust lists (signature, contiguity, root key)."""
    problems = []
    try:
        root = key_row(db, root_key_id(db))
    except (SchemaError, NotFoundError) as e:
        return [str(e)]
    root_raw = canonical.unb64url(root["public_key"])
    expected = 1
    for version, text in db.execute(
        "select version, envelope from trust_lists order by version"
    ):
        if version != expected:
            problems.append(f"trust list version {version}: expected version {expected} (gap)")
        expected = version + 1
        try:
            record = keys.verify_envelope(json.loads(text), canonical.TRUST_LIST, root_raw)
        except (SignatureError, ValueError) as e:
            problems.append(f"trust list version {version}: {e}")
            continue
        if record.get("version") != version:
            problems.append(
                f"trust list version {version}: payload says version {record.get('version')}"
            )
    if expected == 1:
        problems.append("registry has no trust list")
    return problems
