"""``szzz verify --site`` checks the log too: a stale or forged checkpoint, or a
certificate whose latest event is not in the log, gives status_unknown, never valid."""

from __future__ import annotations

import datetime
import json

import builders
import pytest

from registry import verify
from registry.log import checkpoint, note

TODAY = datetime.datetime.fromtimestamp(builders.NOW, checkpoint.clock.CST).date()


@pytest.fixture(scope="module")
def world(make_registry):
    world = builders.published(make_registry(**builders.LOG_REGISTRY))
    return {**world, "cert": world["certs"]["valid"]}


def check(world, site, today=TODAY):
    return verify.verification_result(world["mark"], site, root_public_key=world["root"], today=today)


def test_valid_with_inclusion_proof(world):
    r = check(world, world["site"])
    assert r.verdict == "valid", r.reason
    log = r.details["log"]
    assert log["checks"] == {"log-signature": True, "log-fresh": True, "inclusion": True}
    seq = json.loads(json.loads((world["site"] / "api" / "certificates" / f"{world['cert']}.json")
                                .read_text())["events"][-1]["payload"])["seq"]
    assert log["leaf_index"] == seq - 1 and log["origin"] == "szzz.example.cn/log"


def test_stale_checkpoint_is_status_unknown_even_with_a_fresh_statement(world, tmp_path):
    site = builders.copy_site(world["site"], tmp_path / "site")
    _, ts_signer = builders.signers(world["db"], world["keys"])
    path = site / "log" / "checkpoint"
    old = builders.NOW - 10 * builders.DAY
    path.write_text(note.add_signatures(path.read_text(), [
        checkpoint.note_signer(ts_signer, "szzz.example.cn/timestamp", note.KEY_TYPE_COSIGNATURE)], timestamp=old))
    r = check(world, site)
    assert r.verdict == "status_unknown" and "is stale" in r.reason


def test_checkpoint_without_log_signature_is_status_unknown(world, tmp_path):
    site = builders.copy_site(world["site"], tmp_path / "site")
    path = site / "log" / "checkpoint"
    lines = path.read_text().split("\n")
    path.write_text("\n".join(lines[:4] + lines[5:]))  # drop the log key's line
    r = check(world, site)
    assert r.verdict == "status_unknown" and "not signed by the log key" in r.reason


def test_event_missing_from_the_log_is_status_unknown(world, tmp_path):
    site = builders.copy_site(world["site"], tmp_path / "site")
    tile = next(p for p in (site / "log" / "tile" / "0").rglob("*") if p.is_file())
    data = bytearray(tile.read_bytes())
    data[0] ^= 0x80  # every proof path crosses level-0 hashes of this only tile
    tile.write_bytes(bytes(data))
    r = check(world, site)
    assert r.verdict == "status_unknown" and "inclusion proof does not match the root" in r.reason
