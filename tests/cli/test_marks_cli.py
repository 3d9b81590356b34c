"""`szzz mark`, `szzz snapshot`, `szzz verify` (single, --db, --site over http, --batch) end to end."""

import json

import pytest
from builders import TODAY
from click.testing import CliRunner

from registry.cli import cli


@pytest.fixture(scope="module")
def env(make_registry):
    """Two valid certificates (products 数控机床0 and 数控机床1)."""
    built = make_registry(certificates=2)
    mp = pytest.MonkeyPatch()
    mp.setenv("SZZZ_TODAY", TODAY)
    mp.setenv("SZZZ_PASSPHRASE", built.passphrase.decode())
    mp.delenv("SZZZ_ROOT_KEY", raising=False)
    mp.delenv("SOURCE_DATE_EPOCH", raising=False)
    yield {"tmp": built.base, "db": str(built.db), "keys": str(built.keys), "nos": list(built.cert_nos)}
    mp.undo()


def szzz(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_mark_snapshot_verify_then_revoke(env, serve_dir):
    tmp, db, no = env["tmp"], env["db"], env["nos"][0]
    out = szzz("mark", no, "--db", db, "--out", tmp / "marks", "--site-url", "http://127.0.0.1:8000")
    assert out.exit_code == 0, out.output
    url = out.output.strip()
    assert url.startswith("http://127.0.0.1:8000/v/#") and "Warning" not in out.output
    png = tmp / "marks" / f"{no}.png"
    assert png.exists() and (tmp / "marks" / f"{no}.svg").exists()

    out = szzz("snapshot", "--db", db, "--keys", env["keys"], "--out", tmp / "site")
    assert out.exit_code == 0, out.output
    root_file = tmp / "site/api/root-key.json"

    out = szzz("verify", png, "--site", tmp / "site", "--root-key", root_file)
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[0] == "valid"
    assert "标志真实，证书有效" in out.output

    out = szzz("verify", url, "--db", db, "--json")
    assert out.exit_code == 0
    result = json.loads(out.output)
    assert (result["verdict"], result["cert_no"], result["status_as_of"]) == ("valid", no, "registry")
    assert result["reason"] and result["reason_zh"] and all(result["checks"].values())

    out = szzz("cert", "revoke", no, "--db", db, "--keys", env["keys"], "--reason", "抽查不合格")
    assert out.exit_code == 0, out.output
    # The published snapshot still says valid until it is written again ...
    assert szzz("verify", png, "--site", tmp / "site", "--root-key", root_file).exit_code == 0
    assert szzz("snapshot", "--db", db, "--keys", env["keys"], "--out", tmp / "site").exit_code == 0
    out = szzz("verify", png, "--site", tmp / "site", "--root-key", root_file)
    assert out.exit_code == 1 and out.output.splitlines()[0] == "revoked"
    # ... and the registry itself knows at once; a site over HTTP gives the same verdict.
    assert json.loads(szzz("verify", url, "--db", db, "--json").output)["verdict"] == "revoked"
    base = serve_dir(tmp / "site")
    out = szzz("verify", url, "--site", base, "--root-key", root_file, "--json")
    assert out.exit_code == 1 and json.loads(out.output)["verdict"] == "revoked"

    out = szzz("mark", no, "--db", db, "--out", tmp / "marks")
    assert out.exit_code == 0 and "Warning" in out.output and "revoked" in out.output


def test_verify_needs_a_pinned_root_for_a_site(env):
    out = szzz("verify", "123", "--site", env["tmp"] / "site")
    assert out.exit_code == 2 and "no pinned root key" in out.output


def test_verify_garbage_and_non_qr_image(env, tmp_path):
    out = szzz("verify", "<script>alert(1)</script>", "--db", env["db"], "--json")
    assert out.exit_code == 1 and json.loads(out.output)["verdict"] == "malformed"
    from PIL import Image

    Image.new("RGB", (50, 50), "white").save(tmp_path / "blank.png")
    out = szzz("verify", tmp_path / "blank.png", "--db", env["db"])
    assert out.exit_code == 1 and out.output.splitlines()[0] == "malformed"


def test_batch_with_bad_rows(env, tmp_path):
    tmp, db = env["tmp"], env["db"]
    szzz("snapshot", "--db", db, "--keys", env["keys"], "--out", tmp / "site2")
    valid_no = env["nos"][1]
    szzz("mark", valid_no, "--db", db, "--out", tmp_path)
    url = szzz("mark", valid_no, "--db", db, "--out", tmp_path).output.strip()
    rows = tmp_path / "listings.csv"
    rows.write_text(
        "id,url,payload,cert_no,image\n"
        f"a,{url},,,\n"
        "b,,12345,,\n"
        "c,,,,\n"
        f"d,,,{valid_no},\n"
        f"e,,,,{tmp_path / (valid_no + '.png')}\n"
        f"f,,,,{tmp_path / 'missing.png'}\n"
        "g,,,SZZZ-2024-CQC-09999,\n", encoding="utf-8-sig")
    out_file = tmp_path / "verdicts.jsonl"
    out = szzz("verify", "--batch", rows, "--site", tmp / "site2", "--root-key",
               tmp / "site2/api/root-key.json", "--out", out_file, "--no-progress")
    assert out.exit_code == 1, out.output      # not every row is valid (docs/cli.md, "Exit status")
    got = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [(r["row"], r["id"], r["verdict"]) for r in got] == [
        (1, "a", "valid"), (2, "b", "malformed"), (3, "c", "malformed"), (4, "d", "valid"),
        (5, "e", "valid"), (6, "f", "malformed"), (7, "g", "not_found")]
    assert got[1]["reason"] and "cannot read image" in got[5]["reason"]

    jsonl = tmp_path / "listings.jsonl"
    jsonl.write_text(json.dumps({"id": 1, "url": url}) + "\n{not json\n" + json.dumps([1, 2]) + "\n"
                     + json.dumps({"id": 4, "payload": "0" * 10240}) + "\n", encoding="utf-8")
    out = szzz("verify", "--batch", jsonl, "--site", tmp / "site2", "--root-key",
               tmp / "site2/api/root-key.json", "--no-progress", "--workers", "1")
    assert out.exit_code == 1
    lines = [json.loads(line) for line in out.output.splitlines() if line.startswith("{")]
    assert [(r["row"], r["verdict"]) for r in lines] == [
        (1, "valid"), (2, "malformed"), (3, "malformed"), (4, "malformed")]


def test_verify_shows_only_signed_fields_and_escapes_terminal_controls(env, tmp_path, monkeypatch):
    """A host that edits a certificate file's unsigned ``summary`` cannot make
    ``szzz verify`` print its text: what is shown comes from the signed revision."""
    import shutil

    from registry import verify

    tmp, db, no = env["tmp"], env["db"], env["nos"][1]
    assert szzz("snapshot", "--db", db, "--keys", env["keys"], "--out", tmp / "site3").exit_code == 0
    site = tmp_path / "copy"
    shutil.copytree(tmp / "site3", site)
    path = site / "api" / "certificates" / f"{no}.json"
    doc = json.loads(path.read_text())
    doc["summary"]["product_name_zh"] = "伪造产品\x1b[2J\x1b]0;owned\x07"
    doc["summary"]["enterprise_name_zh"] = "FORGED ENTERPRISE \u202eevil"
    path.write_text(json.dumps(doc, ensure_ascii=False))
    mark = szzz("mark", no, "--db", db, "--out", tmp_path / "m", "--json")
    url = json.loads(mark.output)["url"]
    for args in ([], ["--json"]):
        out = szzz("verify", url, "--site", site, "--root-key", site / "api/root-key.json", *args)
        assert out.exit_code == 0, out.output
        assert "伪造产品" not in out.output and "FORGED" not in out.output
        assert "数控机床1" in out.output     # the signed product name
        assert not any(ch in out.output for ch in "\x1b\x07\u202e")
    # Text from a hostile file (an error's reason, say) reaches a terminal escaped.
    from registry.cli.verify import json_text, printable

    assert printable("a\x1b[2Jb\u202ec") == "a\\u001b[2Jb\\u202ec"
    result = verify.Verdict("status_unknown", reason="x\x1b]0;t\x07\u2066y", reason_zh="原因\x9b")
    text = json_text(result.to_dict())
    assert json.loads(text)["reason"] == "x\x1b]0;t\x07\u2066y" and "\x1b" not in text and "\x9b" not in text
    # What `szzz verify` prints of such a verdict, for people and as JSON.
    monkeypatch.setattr("registry.cli.verify.verification_result", lambda *_args, **_options: result)
    shown = szzz("verify", "123", "--db", db)
    assert shown.exit_code == 1 and shown.output.splitlines()[0] == "status_unknown"
    assert "\x1b" not in shown.output and "\x9b" not in shown.output
    assert "\\u001b]0;t\\u0007\\u2066y" in shown.output and "原因\\u009b" in shown.output
    shown = szzz("verify", "123", "--db", db, "--json")
    assert shown.exit_code == 1 and json.loads(shown.output)["reason"] == "x\x1b]0;t\x07\u2066y"
    assert "\x1b" not in shown.output and "\x9b" not in shown.output
