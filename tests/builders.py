"""The one registry builder of the test suite, and helpers around a built registry.

:func:`build_registry` makes a real registry through the code operators use
(``registry.store.operations.Registry``, or ``registry.store.demo`` for the
demo registry), so everything in it is validated and signed as production
data is. Keys are generated at run time (passphrase-protected files in
``keys/`` next to ``registry.db``, never committed); dates are pinned
(``Registry.today_override``) so the content is predictable.

Tests get registries from the ``make_registry`` fixture (tests/conftest.py):
``make_registry(**options)`` builds once per session for each set of options
and hands every caller its own copy (:meth:`Built.copy_to`). Presets used by
several areas: :data:`LOG_REGISTRY`, :data:`PORTAL_REGISTRY`, :data:`MARKS_REGISTRY`.

The rest publishes and attacks a registry the way the log and audit tests
need: :func:`publish_api` runs the publishing steps the log depends on (the
library calls publish.py makes: snapshot, change feed, log) without Pelican;
:func:`tamper` and :func:`resign_event` change a copy as an attacker would.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import random
import shutil
import sqlite3
from pathlib import Path

from stdnum.cn import uscc as stdnum_uscc

from registry.core import canonical, clock, keys
from registry.publish import api, changefeed, export
from registry.publish import log as publish_log
from registry.store import demo as demo_registry
from registry.store import schema
from registry.store.operations import Registry

PASSPHRASE = b"registry-test-passphrase"
INIT_DATE = "2021-01-01"
TODAY = "2025-06-01"
#: When the log tests publish (Unix time): the day after :data:`TODAY`, Suzhou afternoon.
NOW = int(datetime.datetime(2025, 6, 2, 12, tzinfo=datetime.UTC).timestamp())
DAY = 86400

GENERAL = "DB3205/T 1001-2021"
GROUP = "T/SZS 001-2021"
EVALUATION = {"innovation": 88, "quality": 91, "service": 85, "reputation": 90, "recognition": 86}
BODIES = (("CQC", "中国质量认证中心", "China Quality Certification Centre"),
          ("TUVSUD", "南德认证检测（中国）有限公司", "TUV SUD China"))
SCOPE = "数控机床的设计和制造"


@dataclasses.dataclass(frozen=True)
class Change:
    """A status change made once the registry is built: its date, reason and
    (optionally) the text of the notice published with it."""

    date: str
    reason: str
    notice: str | None = None


REVOKED = Change("2025-05-20", "监督抽查不合格 failed market surveillance", notice="市场监管局通报 2025-01")
SUSPENDED = Change("2025-05-21", "监督审核未通过 surveillance audit failed")
WITHDRAWN = Change("2025-05-22", "企业申请注销 withdrawn at the holder's request")

#: Three certificates, each with a passed surveillance, then one revoked (with a notice)
#: and one suspended: the log and audit tests.
LOG_REGISTRY = {"certificates": 3, "surveillance": "2023-03-01", "revoke": True, "suspend": True}
#: The 30-certificate demo with one certificate revoked and one suspended, so every
#: status page and query has rows: what the publishing tests build and serve.
PORTAL_REGISTRY = {"demo": 30, "revoke": True, "suspend": True}
#: Four valid certificates, one per programme: the marks tests.
MARKS_REGISTRY = {"certificates": 4, "programmes": ("SZZZ", "SZSC", "SSHM", "SUXIU")}


def make_uscc(n: int) -> str:
    """A valid USCC (check character computed by python-stdnum) for number ``n``."""
    head = f"91320506MA{n:07d}"
    return head + stdnum_uscc.calc_check_digit(head)


@dataclasses.dataclass(frozen=True)
class Built:
    """A registry on disk: ``base/registry.db`` and its keys in ``base/keys``.

    ``cert_nos`` are in issue order; ``revoked`` / ``suspended`` / ``withdrawn``
    name the certificates :func:`build_registry` changed (None when not asked);
    ``valid`` lists the certificates still valid, in certificate-number order.
    """

    base: Path
    passphrase: bytes = PASSPHRASE
    today: str = TODAY
    products: tuple[int, ...] = ()
    cert_nos: tuple[str, ...] = ()
    revoked: str | None = None
    suspended: str | None = None
    withdrawn: str | None = None
    valid: tuple[str, ...] = ()

    @property
    def db(self) -> Path:
        return self.base / "registry.db"

    @property
    def keys(self) -> Path:
        return self.base / "keys"

    def open(self) -> Registry:
        """The registry, open for operations dated :attr:`today` (close it, or use ``with``)."""
        reg = Registry.open(self.db, self.keys, self.passphrase)
        reg.today_override = self.today
        return reg

    def copy_to(self, base) -> Built:
        """A copy of the registry (database and key files) under ``base``."""
        base = Path(base)
        base.mkdir(parents=True, exist_ok=True)
        copy_registry(self.db, base / "registry.db")
        shutil.copytree(self.keys, base / "keys")
        return dataclasses.replace(self, base=base)


def build_registry(base, *, demo: int = 0, seed: int = 1, products: int | None = None,
                   certificates: int = 0, programmes: tuple[str, ...] = ("SZZZ",),
                   issued: str = "2022-03-01", expires: str = "2027-02-28",
                   surveillance: str | None = None, revoke: Change | bool = False,
                   suspend: Change | bool = False, withdraw: Change | bool = False,
                   today: str = TODAY, passphrase: bytes = PASSPHRASE, site_url: str | None = None) -> Built:
    """Build a registry under ``base`` (``registry.db``, ``keys/``).

    ``demo=N``: the demo registry of N certificates (``registry.store.demo``,
    ``seed``). Otherwise a small registry initialised on :data:`INIT_DATE`:
    bodies CQC and TUVSUD (one endorsed key each), standards :data:`GENERAL`
    and :data:`GROUP`, ``products`` products (default ``certificates``) of
    distinct enterprises (``make_uscc(1)``, ``make_uscc(2)``, ...; product
    *i* is ``数控机床{i}``), and a certificate for each of the first
    ``certificates`` products: bodies CQC and TUVSUD in turn, ``programmes``
    in turn, ``issued`` / ``expires``, and a passed surveillance on
    ``surveillance`` when given.

    Then, in this order, the first valid certificate (by number) is revoked,
    the next suspended, the next withdrawn, as asked: ``True`` for
    :data:`REVOKED` / :data:`SUSPENDED` / :data:`WITHDRAWN`, or a :class:`Change`.
    ``site_url``: stored as the registry's site URL (``szzz init --site-url``);
    by default none, like the demo's (a build's ``--site-url`` then decides).
    """
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    built = Built(base, passphrase=passphrase, today=today)
    if demo:
        demo_registry.build(built.db, built.keys, certificates=demo, seed=seed, today=today,
                            passphrase=passphrase)
        ids, cert_nos = (), ()
    else:
        ids, cert_nos = _build_small(built, products=certificates if products is None else products,
                                     certificates=certificates, programmes=programmes, issued=issued,
                                     expires=expires, surveillance=surveillance, site_url=site_url)
    changed = {}
    with built.open() as reg:
        valid = [r[0] for r in reg.db.execute(
            "select cert_no from certificates where status = 'valid' order by cert_no")]
        for name, wanted, default, act in (("revoked", revoke, REVOKED, reg.revoke),
                                           ("suspended", suspend, SUSPENDED, reg.suspend),
                                           ("withdrawn", withdraw, WITHDRAWN, reg.withdraw)):
            if wanted:
                change = default if wanted is True else wanted
                changed[name] = valid.pop(0)
                act(changed[name], change.reason, date=change.date, notice=change.notice)
    return dataclasses.replace(built, products=tuple(ids), cert_nos=tuple(cert_nos), valid=tuple(valid),
                               **changed)


def _build_small(built, *, products, certificates, programmes, issued, expires, surveillance, site_url=None):
    if certificates > products:
        raise ValueError(f"{certificates} certificates need as many products, not {products}")
    with Registry.init(built.db, built.keys, built.passphrase, date=INIT_DATE, site_url=site_url) as reg:
        reg.today_override = built.today
        for code, zh, en in BODIES:
            reg.add_body({"code": code, "name_zh": zh, "name_en": en,
                          "approval_no": f"CNCA-R-2002-{code}", "joined": INIT_DATE})
            reg.endorse_key(reg.generate_key("body", body=code), date=INIT_DATE)
        reg.add_standard({"code": GENERAL, "title_zh": "“苏州制造”品牌认证通用要求", "kind": "local"})
        reg.add_standard({"code": GROUP, "title_zh": "数控机床 技术要求", "kind": "group"})
        ids, cert_nos = [], []
        for i in range(products):
            uscc = make_uscc(i + 1)
            reg.add_enterprise({"uscc": uscc, "name_zh": f"苏州测试精密机械{i}有限公司",
                                "district": "吴中区", "industry": "C3562"})
            ids.append(reg.add_product({"enterprise": uscc, "name_zh": f"数控机床{i}",
                                        "models": ["SZ-100"]}))
        for i in range(certificates):
            cert_nos.append(issue(reg, ids[i], body=BODIES[i % len(BODIES)][0], issued=issued,
                                  expires=expires, programme=programmes[i % len(programmes)]))
            if surveillance:
                reg.record_surveillance(cert_nos[-1], True, date=surveillance)
    return ids, cert_nos


def issue(reg, product, body="CQC", issued="2022-03-01", expires="2025-02-28", **kw) -> str:
    """Issue a certificate for ``product`` under both standards; its number."""
    return reg.issue(product=product, body=body, standards=[GENERAL, GROUP], scope=SCOPE,
                     issued=issued, expires=expires, evaluation=EVALUATION, **kw)


# ------------------------------------------------------------ copies and attacks

def copy_registry(src_db, dst_db) -> Path:
    """A consistent copy of a registry database (SQLite's backup: WAL and all)."""
    src, dst = sqlite3.connect(src_db), sqlite3.connect(dst_db)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return Path(dst_db)


def damage(db_path, *, at: float = 0.5, size: int = 8192, seed: int = 10) -> bytes:
    """Overwrite ``size`` bytes of ``db_path`` with random bytes at fraction ``at``
    of the file (not page-aligned), as a failing disk or a stray write would; the
    registry must be closed. Returns the damaged file's bytes."""
    data = bytearray(Path(db_path).read_bytes())
    start = int(len(data) * at) + 123
    data[start:start + size] = random.Random(seed).randbytes(size)
    Path(db_path).write_bytes(bytes(data))
    return bytes(data)


def export_public(registry_db, path) -> Path:
    """The public database of registry ``registry_db`` (a full export) at ``path``."""
    db = schema.connect(registry_db, readonly=True)
    try:
        export.export_public_db(db, path)
    finally:
        db.conn.close()
    return Path(path)


def copy_site(src, dst) -> Path:
    shutil.copytree(src, dst)
    return Path(dst)


def tamper(db_path, sql, params=()) -> None:
    """Run ``sql`` on a registry copy as an attacker would: append-only triggers dropped."""
    conn = sqlite3.connect(db_path)
    conn.executescript("DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete;"
                       "DROP TRIGGER IF EXISTS revisions_no_update; DROP TRIGGER IF EXISTS revisions_no_delete;")
    conn.execute(sql, params)
    conn.commit()
    conn.close()


def resign_event(db_path, keys_dir, seq, changes, passphrase=PASSPHRASE) -> None:
    """Rewrite event ``seq``'s payload with ``changes`` and re-sign it with its own key
    (an insider holding the body key), so only the log can tell."""
    conn = sqlite3.connect(db_path)
    key_id, payload = conn.execute("select key_id, payload from events where seq = ?", [seq]).fetchone()
    conn.close()
    record = json.loads(payload)
    record.update(changes)
    signer = keys.load(keys_dir, key_id, passphrase)
    env = canonical.make_envelope(canonical.EVENT, record, signer)
    tamper(db_path, "update events set seq = ?, payload = ?, signature = ? where seq = ?",
           [record["seq"], env["payload"], env["signature"], seq])


def add_events(db_path, keys_dir, cert_no, n=1, passphrase=PASSPHRASE) -> None:
    """Append ``n`` signed surveillance events to ``cert_no`` (a registry growing)."""
    with Registry.open(db_path, keys_dir, passphrase) as reg:
        reg.today_override = TODAY
        with reg.batch():  # one transaction: the same code path, fewer commits
            for _ in range(n):
                reg.record_surveillance(cert_no, True, date="2025-05-01")


# ------------------------------------------------------------------ publishing

@contextlib.contextmanager
def signed_on(day: str):
    """Publish as if on ``day`` (noon in Suzhou): ``SOURCE_DATE_EPOCH`` for what
    runs inside. The log's cosignature carries the time it is signed
    (docs/transparency-log.md §5), so a test whose verifiers are pinned to
    ``day`` must publish on that day too, or its log is from their future."""
    before = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(clock.noon(datetime.date.fromisoformat(day)))
    try:
        yield
    finally:
        if before is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = before


def signers(db_path, keys_dir, passphrase=PASSPHRASE):
    """(log signer, timestamp signer) of the registry."""
    db = schema.connect(db_path)
    try:
        return (api.load_log_signer(db, keys_dir, passphrase),
                publish_log.load_timestamp_signer(db, keys_dir, passphrase))
    finally:
        db.conn.close()


def publish_api(db_path, keys_dir, site_dir, *, previous_site=None, state_file=None, timestamp=NOW,
                passphrase=PASSPHRASE):
    """Write api/ (snapshot, change feed) and log/ for the registry into ``site_dir``;
    what ``publish_log.publish_log`` returns."""
    log_signer, ts_signer = signers(db_path, keys_dir, passphrase)
    db = schema.connect(db_path)
    try:
        as_of = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
        api.write_snapshot(db, site_dir, log_signer, as_of=as_of)
        changefeed.write_change_feed(db, site_dir, as_of=as_of)
        return publish_log.publish_log(db, site_dir, log_signer, ts_signer, previous_site=previous_site,
                                       state_file=state_file, timestamp=timestamp)
    finally:
        db.conn.close()


def roles(built: Built) -> dict:
    """``{"valid", "revoked", "suspended"}`` certificate numbers of a :data:`LOG_REGISTRY`."""
    return {"valid": built.valid[0], "revoked": built.revoked, "suspended": built.suspended}


def published(built: Built) -> dict:
    """``built`` (a :data:`LOG_REGISTRY`) with its api/ and log/ published into
    ``built.base / "site"`` (see :func:`publish_api`).

    Returns ``{"base", "db", "keys", "site", "certs", "mark", "root"}``: ``certs``
    is :func:`roles`, ``mark`` the valid certificate's payload text, ``root`` the
    root public key (base64url).
    """
    site = built.base / "site"
    publish_api(built.db, built.keys, site, passphrase=built.passphrase)
    certs = roles(built)
    conn = sqlite3.connect(built.db)
    mark = conn.execute("select mark_payload from certificates where cert_no = ?",
                        [certs["valid"]]).fetchone()[0]
    conn.close()
    root = json.loads((site / "api" / "root-key.json").read_text())["public_key"]
    return {"base": built.base, "db": built.db, "keys": built.keys, "site": site, "certs": certs,
            "mark": mark, "root": root}
