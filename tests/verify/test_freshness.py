"""Freshness that survives a quiet registry, and the log is never silently skipped.

Rule (docs/verification.md §6): a status statement is current when its
``as_of`` is within the maximum age, OR when a verified, freshly cosigned
checkpoint has exactly the statement's ``log_size`` (no event since it was
signed). A larger checkpoint does not refresh it. When an origin is pinned,
or the trust list has a timestamp key, a missing log is status_unknown.
Revision reasons come from the signed events, never from the file's
``revision_reasons`` array.
"""

from __future__ import annotations

import base64
import datetime
import json
import shutil
import time

import builders
import pytest
from click.testing import CliRunner
from helpers import REPO_ROOT

from registry import verify
from registry.cli import cli
from registry.core import canonical, keys, rules
from registry.log import checkpoint
from registry.publish import api
from registry.publish import log as publish_log
from registry.store import schema
from registry.verify import batch, sources

VECTORS = json.loads((REPO_ROOT / "docs/vectors/mark-conformance.json").read_text(encoding="utf-8"))
LOG_SITE = VECTORS["log_site"]
DAY = builders.DAY


def log_site_files() -> dict:
    """The vector log site as a FilesSource mapping (hash tiles as bytes)."""
    files = dict(LOG_SITE["files"])
    files.update({k: base64.b64decode(v) for k, v in LOG_SITE["binary_files"].items()})
    return files


def write_log_site(root):
    for name, value in log_site_files().items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(value if isinstance(value, bytes) else value.encode("utf-8"))
    return root


def run(text, source, today=VECTORS["today"], **kw):
    return verify.verification_result(text, source, root_public_key=VECTORS["root_public_key"],
                                      max_age=VECTORS["max_age_days"], today=today, **kw)


# ------------------------------------------------------------ vector log site

@pytest.mark.parametrize("vector", LOG_SITE["vectors"], ids=lambda v: v["name"])
def test_log_site_vectors(vector, tmp_path):
    for source in (sources.FilesSource(log_site_files()), write_log_site(tmp_path)):
        r = run(vector["input"], source)
        assert r.verdict == vector["expected_verdict"], (vector["name"], r.reason)
        if r.verdict == "valid":
            assert all(r.checks.values()) and r.details["log"]["tree_size"] == LOG_SITE["log_size"]


def test_quiet_vector_is_refreshed_by_the_log_and_the_larger_one_names_both_sizes():
    quiet, larger = LOG_SITE["vectors"][1], LOG_SITE["vectors"][2]
    r = run(quiet["input"], sources.FilesSource(log_site_files()))
    assert r.details.get("refreshed_by_log") is True and r.status_as_of.startswith("2025-05-01")
    r = run(larger["input"], sources.FilesSource(log_site_files()))
    size = LOG_SITE["log_size"]
    assert "is stale" in r.reason and f"size {size}" in r.reason and f"size {size - 1}" in r.reason
    assert r.checks["fresh"] is False


def test_log_site_without_its_log_is_status_unknown(tmp_path):
    """The trust list has a timestamp key: deleting api/log.json (or the whole log)
    must not turn the check off (a hostile host could otherwise hide a rollback)."""
    good = LOG_SITE["vectors"][0]
    files = log_site_files()
    del files[checkpoint.LOG_JSON]
    r = run(good["input"], sources.FilesSource(files))
    assert r.verdict == "status_unknown" and "must publish its log" in r.reason
    # The same files with the origin pinned: api/log.json is not needed.
    r = run(good["input"], sources.FilesSource(files), log_origin=LOG_SITE["origin"])
    assert r.verdict == "valid", r.reason
    files = {k: v for k, v in files.items() if not k.startswith("log/")}
    r = run(good["input"], sources.FilesSource(files), log_origin=LOG_SITE["origin"])
    assert r.verdict == "status_unknown" and "transparency log" in r.reason


def test_pinned_origin_without_a_log_is_status_unknown_even_without_timestamp_key():
    """The main vector site publishes no log and lists no timestamp key: valid
    unless an origin is pinned (argument or SZZZ_LOG_ORIGIN)."""
    vector = next(v for v in VECTORS["vectors"] if v["name"] == "valid-current-key")
    source = sources.FilesSource(VECTORS["files"])
    assert run(vector["input"], source).verdict == "valid"
    r = run(vector["input"], source, log_origin="szzz.example.cn/log")
    assert r.verdict == "status_unknown" and r.checks["fresh"] is False


def test_wrong_pinned_origin_is_status_unknown():
    r = run(LOG_SITE["vectors"][0]["input"], sources.FilesSource(log_site_files()),
            log_origin="evil.example/log")
    assert r.verdict == "status_unknown"


def test_batch_stale_snapshot_is_refreshed_only_by_a_checkpoint_of_its_size(tmp_path):
    """Batch mode, same rule: the snapshot (as of 2025-06-10) is 10 days old on
    2025-06-20; the checkpoint cosigned 2025-06-14 is 6 days old."""
    site = write_log_site(tmp_path / "site")
    good = LOG_SITE["vectors"][0]
    rows = [(1, {"id": "a", "payload": good["input"]})]

    def run_batch(today):
        out = tmp_path / "out.jsonl"
        with open(out, "w") as f:
            batch.verify_batch(rows, site, root_public_key=VECTORS["root_public_key"], out=f,
                               workers=1, today=today, max_age=7)
        return json.loads(out.read_text().splitlines()[0])

    assert run_batch("2025-06-20")["verdict"] == "valid"
    assert run_batch("2025-06-22")["verdict"] == "status_unknown"  # checkpoint 8 days old
    # A snapshot signed at a smaller tree than the checkpoint's is not refreshed.
    env = json.loads((site / "api/status.json").read_text())
    record = json.loads(env["payload"])
    record["log_size"] -= 1
    log_key = keys.signer_from_seed(VECTORS["seeds"]["log"].encode())  # documented vector seed
    (site / "api/status.json").write_text(api.dumps(
        canonical.make_envelope(canonical.STATUS_SNAPSHOT, record, log_key)))
    r = run_batch("2025-06-20")
    assert r["verdict"] == "status_unknown" and "stale" in r["reason"]
    assert single_on(site, good["input"], "2025-06-20").verdict == "valid"  # single mode: its statement


def test_batch_with_a_pinned_origin_requires_the_log(tmp_path):
    """Rule 7 in batch mode: a pinned origin requires the log to verify under it
    (fresh, at least the snapshot's tree), as in single mode; on 2025-06-15 the
    snapshot (2025-06-10) is fresh on its own and the checkpoint (2025-06-14) too."""
    site = write_log_site(tmp_path / "site")
    rows = [(1, {"id": "a", "payload": LOG_SITE["vectors"][0]["input"]})]

    def run_batch(**kw):
        out = tmp_path / "out.jsonl"
        with open(out, "w") as f:
            batch.verify_batch(rows, site, root_public_key=VECTORS["root_public_key"], out=f,
                               workers=1, today="2025-06-15", max_age=7, **kw)
        return json.loads(out.read_text().splitlines()[0])

    assert run_batch()["verdict"] == "valid"
    assert run_batch(log_origin="szzz.example.cn/log")["verdict"] == "valid"
    wrong = run_batch(log_origin="evil.example/log")
    assert wrong["verdict"] == "status_unknown" and "pinned origin evil.example/log" in wrong["reason"], wrong
    assert wrong["checks"]["fresh"] is False
    # The CLI passes --log-origin (or SZZZ_LOG_ORIGIN) to batch mode too.
    listings = tmp_path / "listings.jsonl"
    listings.write_text(json.dumps(rows[0][1]) + "\n")
    args = ["verify", "--batch", str(listings), "--site", str(site), "--root-key", VECTORS["root_public_key"],
            "--no-progress", "--workers", "1"]
    env = {"SZZZ_TODAY": "2025-06-15"}
    for extra, extra_env, verdict in (([], {}, "valid"), (["--log-origin", "evil.example/log"], {}, "status_unknown"),
                                      ([], {"SZZZ_LOG_ORIGIN": "evil.example/log"}, "status_unknown")):
        out = CliRunner().invoke(cli, args + extra, env={**env, **extra_env})
        assert out.exit_code == (0 if verdict == "valid" else 1), out.output   # 0 only if every row is valid
        assert json.loads(out.stdout.splitlines()[0])["verdict"] == verdict, out.output
    # A site that stops publishing its checkpoint: unpinned, the fresh snapshot
    # alone decides; pinned, the missing log is status_unknown, never skipped.
    (site / "log" / "checkpoint").unlink()
    assert run_batch()["verdict"] == "valid"
    assert run_batch(log_origin="szzz.example.cn/log")["verdict"] == "status_unknown"


def single_on(site, text, today):
    return run(text, site, today=today)


# ------------------------------------------------- a real quiet registry, end to end

@pytest.fixture(scope="module")
def quiet(make_registry):
    return builders.published(make_registry(**builders.LOG_REGISTRY))


def day_after(days):
    return datetime.datetime.fromtimestamp(builders.NOW + days * DAY, checkpoint.clock.CST).date()


def check(q, site, days, **kw):
    return verify.verification_result(q["mark"], site, root_public_key=q["root"], today=day_after(days), **kw)


def test_quiet_registry_stays_valid_with_daily_refresh(quiet, tmp_path):
    site = builders.copy_site(quiet["site"], tmp_path / "site")
    assert check(quiet, site, 0).verdict == "valid"
    r = check(quiet, site, 10)
    assert r.verdict == "status_unknown" and "is stale" in r.reason  # nothing refreshed it
    # `publish.py refresh` (publish_log.refresh_site): re-cosign with a new time, no rebuild.
    registry = schema.connect(quiet["db"])
    try:
        publish_log.refresh_site(site, quiet["keys"], builders.PASSPHRASE, registry_db=registry,
                          timestamp=builders.NOW + 10 * DAY)
    finally:
        registry.conn.close()
    r = check(quiet, site, 10)
    assert r.verdict == "valid" and r.details["refreshed_by_log"] is True, r.reason
    statement = json.loads(json.loads((site / "api/status" / f"{rules.status_bucket(quiet['certs']['valid'])}.json")
                                      .read_text())["payload"])
    assert statement["log_size"] == r.details["log"]["tree_size"]
    # The CLI: the same verdict; a wrong pinned origin (flag or env) -> status_unknown.
    args = ["verify", quiet["mark"], "--site", str(site), "--root-key", quiet["root"], "--json"]
    env = {"SZZZ_TODAY": day_after(10).isoformat()}
    out = CliRunner().invoke(cli, args, env=env)
    assert out.exit_code == 0 and json.loads(out.output)["verdict"] == "valid", out.output
    out = CliRunner().invoke(cli, args, env={**env, "SZZZ_LOG_ORIGIN": "evil.example/log"})
    assert out.exit_code == 1 and json.loads(out.output)["verdict"] == "status_unknown"
    out = CliRunner().invoke(cli, [*args, "--log-origin", "szzz.example.cn/log"], env=env)
    assert out.exit_code == 0, out.output


def test_events_since_the_statement_are_not_hidden_by_a_fresh_checkpoint(quiet, tmp_path):
    """The host serves old statements with a newer (larger) checkpoint: status_unknown."""
    db = tmp_path / "registry.db"
    builders.copy_registry(quiet["db"], db)
    site = builders.copy_site(quiet["site"], tmp_path / "site")
    builders.add_events(db, quiet["keys"], quiet["certs"]["valid"])  # the host keeps serving the old file
    log_signer, ts_signer = builders.signers(db, quiet["keys"])
    conn = schema.connect(db)
    try:  # the log is rebuilt (one more entry) and cosigned today; statements are not
        shutil.rmtree(site / "log")
        publish_log.publish_log(conn, site, log_signer, ts_signer, timestamp=builders.NOW + 10 * DAY)
    finally:
        conn.conn.close()
    r = check(quiet, site, 10)
    assert r.verdict == "status_unknown" and "is stale" in r.reason, r.reason
    bucket = rules.status_bucket(quiet["certs"]["valid"])
    statement_size = json.loads(json.loads((site / "api/status" / f"{bucket}.json").read_text())["payload"])["log_size"]
    assert f"log checkpoint of size {statement_size + 1}" in r.reason


# --------------------------------------------- revision reasons from signed events

def _files_with(cert_no, change):
    files = dict(VECTORS["files"])
    name = f"api/certificates/{cert_no}.json"
    doc = json.loads(files[name])
    change(doc)
    files[name] = api.dumps(doc)
    return sources.FilesSource(files)


def test_revision_reasons_are_not_needed():
    vector = next(v for v in VECTORS["vectors"] if v["name"] == "valid-printed-before-renewal")
    source = _files_with("SZZZ-2021-CQC-00003", lambda d: d.pop("revision_reasons"))
    r = run(vector["input"], source)
    assert r.verdict == "valid" and "renewal" in r.reason


def test_a_revision_no_signed_event_created_is_status_unknown():
    vector = next(v for v in VECTORS["vectors"] if v["name"] == "valid-printed-before-renewal")

    def add_revision(doc):
        extra = dict(doc["revisions"][-1])
        extra["payload"] = extra["payload"].replace("2027-04-14", "2099-04-14")
        doc["revisions"].append(extra)
        doc["revision_reasons"].append("renewed")

    r = run(vector["input"], _files_with("SZZZ-2021-CQC-00003", add_revision))
    assert r.verdict == "status_unknown" and "no signed event created revision 3" in r.reason


# ------------------------------------------------------- publish.py serve refreshes

def test_serve_refresh_makes_an_old_registry_current_today(quiet, tmp_path):
    """`publish.py serve` cosigns the served checkpoint with the wall clock, so an
    old registry (statements dated 2025-06-02) verifies today as valid."""
    out = tmp_path / "output"
    shutil.copytree(quiet["site"], tmp_path / "build" / "site")
    out.symlink_to(tmp_path / "build")
    today = checkpoint.clock.today()
    assert check_today(quiet, out / "site", today).verdict == "status_unknown"
    result = publish_log.refresh_served(out, quiet["db"], quiet["keys"], builders.PASSPHRASE)
    assert result is not None and abs(result["timestamp"] - time.time()) < 600
    r = check_today(quiet, out / "site", today)
    assert r.verdict == "valid" and r.details["refreshed_by_log"] is True, r.reason


def check_today(q, site, today):
    return verify.verification_result(q["mark"], site, root_public_key=q["root"], today=today)
