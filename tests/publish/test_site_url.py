"""One registry, one site URL (issue 11): ``szzz init --site-url`` stores it, and
``szzz mark``, the published marks, the pages' absolute links and the log's
origin and verifier keys all carry it; a build or mark option that differs is
an error, never a second truth."""

from __future__ import annotations

import json
import os

import builders
import pytest
import zxingcpp
from click.testing import CliRunner
from PIL import Image

import publish
from registry.cli import cli
from registry.log import checkpoint, note
from registry.marks import qr

SITE = "https://example.org"


def szzz(*args, env=None):
    runner = CliRunner(env={"SZZZ_PASSPHRASE": builders.PASSPHRASE.decode(), "SZZZ_TODAY": builders.TODAY,
                            **(env or {})})
    return runner.invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def published(make_registry, tmp_path_factory):
    """A registry made with its site URL, a mark printed by the operator, and a build."""
    registry = make_registry(certificates=2, site_url=SITE)
    base = tmp_path_factory.mktemp("site-url")
    no = registry.cert_nos[0]
    printed = szzz("mark", no, "--db", registry.db, "--out", base / "printed")
    assert printed.exit_code == 0, printed.output
    summary = publish.build(registry.db, base / "out", keys_dir=registry.keys, passphrase=builders.PASSPHRASE)
    return {"registry": registry, "no": no, "printed": printed.output.strip(), "summary": summary,
            "site": base / "out" / "site", "base": base}


def qr_text(png) -> str:
    with Image.open(png) as image:
        codes = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(codes) == 1
    return codes[0].text


def test_mark_and_published_mark_carry_the_registry_url(published):
    printed, no, site = published["printed"], published["no"], published["site"]
    assert printed.startswith(SITE + "/v/#"), printed
    assert qr_text(published["base"] / "printed" / f"{no}.png") == printed
    # The mark the build publishes for the same certificate scans to the same URL.
    assert qr_text(site / "marks" / f"{no}.png") == printed
    assert published["summary"]["site_url"] == SITE
    assert f"<loc>{SITE}/" in (site / "sitemap.xml").read_text(encoding="utf-8")


def test_log_is_named_after_the_registry_url(published):
    site = published["site"]
    text = (site / "log" / "checkpoint").read_text(encoding="utf-8")
    assert text.split("\n")[0] == "example.org/log"
    assert json.loads((site / "api" / "log.json").read_text())["origin"] == "example.org/log"
    record = json.loads(json.loads((site / "api" / "trust-list.json").read_text())["payload"])
    listed = {e["role"]: e["vkey"] for e in record["keys"] if e["role"] in ("log", "timestamp")}
    vkeys = (site / "log" / "vkey").read_text(encoding="utf-8").splitlines()
    # log/vkey is the trust list's log key, and it opens the checkpoint; the
    # timestamp vkey is the 0x04 key under the timestamp name.
    assert vkeys == [listed["log"]] and vkeys[0].startswith("example.org/log+")
    assert listed["timestamp"].startswith("example.org/timestamp+")
    opened = note.open_note(text, [listed["log"], listed["timestamp"]])
    assert {s.kind for s in opened.verified} == {"ed25519", "cosignature"}
    names = checkpoint.names_for(SITE)
    assert checkpoint.open_checkpoint(text, record, names).size == published["summary"]["log"]["size"]


def test_a_build_option_that_differs_is_an_error(published, tmp_path):
    registry = published["registry"]
    result = CliRunner().invoke(publish.cli, ["build", "--db", str(registry.db), "--keys", str(registry.keys),
                                              "--out", str(tmp_path / "out"), "--site-url", "https://other.example"],
                                env={"SZZZ_PASSPHRASE": builders.PASSPHRASE.decode()})
    assert result.exit_code == 1
    assert ("--site-url 'https://other.example' differs from the registry's site URL 'https://example.org'"
            in result.output), result.output
    assert not (tmp_path / "out").exists()
    mark = szzz("mark", published["no"], "--db", registry.db, "--out", tmp_path / "m",
                "--site-url", "https://other.example")
    assert mark.exit_code == 1 and "differs from the registry's site URL" in mark.output
    # Repeating the registry's own URL is no conflict.
    same = szzz("mark", published["no"], "--db", registry.db, "--out", tmp_path / "m2", "--site-url", SITE + "/")
    assert same.exit_code == 0 and same.output.strip() == published["printed"]


def test_init_requires_a_real_site_url_and_says_what_to_pass(tmp_path):
    db, keys_dir = tmp_path / "r.db", tmp_path / "keys"
    missing = szzz("init", "--db", db, "--keys", keys_dir)
    assert missing.exit_code == 2
    assert "needs --site-url URL" in missing.output and f"at most {qr.max_site_url_length()} characters" \
        in missing.output and "szzz demo" in missing.output
    placeholder = szzz("init", "--db", db, "--keys", keys_dir, "--site-url", "https://szzz.example.cn/")
    assert placeholder.exit_code == 2 and "placeholder" in placeholder.output
    too_long = szzz("init", "--db", db, "--keys", keys_dir, "--site-url", "https://" + "a" * 19 + ".cn")
    assert too_long.exit_code == 2 and "too long" in too_long.output and "QR mark" in too_long.output
    assert not db.exists() and not keys_dir.exists()
    made = szzz("init", "--db", db, "--keys", keys_dir, "--site-url", "https://szzz.suzhou.gov.cn/")
    assert made.exit_code == 0, made.output
    assert "https://szzz.suzhou.gov.cn/" in made.output and "szzz.suzhou.gov.cn/log" in made.output
    assert os.path.exists(db)
