"""``szzz`` end to end: CliRunner over real registries, one real subprocess,
stable JSON interfaces, one-line errors, and every command documented."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from builders import EVALUATION, make_uscc
from click.testing import CliRunner

from registry.cli import cli
from registry.core import canonical, keys

ROOT = Path(__file__).resolve().parents[2]
PASS = "cli-test-passphrase"
SITE = "https://example.org"  # what `szzz init --site-url` is given


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    runner = CliRunner(env={"SZZZ_PASSPHRASE": PASS})
    result = runner.invoke(cli, ["demo", "--db", str(tmp / "r.db"), "--keys", str(tmp / "keys"),
                                 "--certificates", "60", "--seed", "3", "--today", "2025-06-01",
                                 "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["demo"] is True and summary["passphrase"] == "SZZZ_PASSPHRASE"
    return tmp, summary


def run(*args, env=None, stdin=None):
    runner = CliRunner(env={"SZZZ_PASSPHRASE": PASS, "SZZZ_TODAY": "2025-06-01", **(env or {})})
    return runner.invoke(cli, [str(a) for a in args], input=stdin)


def test_cert_list_and_show_json_interfaces(demo_db):
    tmp, _ = demo_db
    db = tmp / "r.db"
    rows = json.loads(run("cert", "list", "--db", db, "--json").output)
    assert len(rows) == 60 and all({"cert_no", "status"} <= set(r) for r in rows)
    valid = json.loads(run("cert", "list", "--db", db, "--json", "--status", "valid").output)
    assert valid and {r["status"] for r in valid} == {"valid"}
    no = valid[0]["cert_no"]
    shown = json.loads(run("cert", "show", no, "--db", db, "--json").output)
    assert shown["cert_no"] == no and shown["status"] == "valid"
    assert re.fullmatch(r"[0-9a-f]{16}", shown["key_id"])
    assert len(canonical.unb64url(shown["signature"])) == 64
    assert shown["history"][0]["type"] == "issued"
    seqs = [e["seq"] for e in shown["history"]]
    assert seqs == sorted(seqs)
    assert all({"type", "date", "signature"} <= set(e) for e in shown["history"])


def test_revoke_adds_signed_event_and_reinstate_fails_clearly(demo_db):
    tmp, _ = demo_db
    db, keys_dir = tmp / "r.db", tmp / "keys"
    no = json.loads(run("cert", "list", "--db", db, "--json", "--status", "valid").output)[1]["cert_no"]
    before = json.loads(run("cert", "show", no, "--db", db, "--json").output)
    result = run("cert", "revoke", no, "--db", db, "--keys", keys_dir, "--reason", "冒用认证标志")
    assert result.exit_code == 0, result.output
    after = json.loads(run("cert", "show", no, "--db", db, "--json").output)
    assert after["status"] == "revoked"
    assert len(after["history"]) == len(before["history"]) + 1
    event = after["history"][-1]
    assert event["type"] == "revoked" and event["reason"] == "冒用认证标志"
    key = next(k for k in json.loads(run("key", "list", "--db", db, "--json").output)
               if k["key_id"] == event["key_id"])
    assert key["body"] == after["body"]
    keys.verify_envelope(event["envelope"], canonical.EVENT, canonical.unb64url(key["public_key"]))

    failed = run("cert", "reinstate", no, "--db", db, "--keys", keys_dir, "--reason", "申诉")
    assert failed.exit_code == 1
    assert failed.output == (f"Error: certificate {no} is revoked: cannot apply reinstated "
                             "(revoked is final)\n")
    assert "Traceback" not in failed.output
    again = json.loads(run("cert", "show", no, "--db", db, "--json").output)
    assert len(again["history"]) == len(after["history"])


def test_errors_are_one_line_with_exit_1(demo_db, tmp_path):
    tmp, _ = demo_db
    cases = [
        (("cert", "show", "SZZZ-2021-CQC-99999", "--db", tmp / "r.db"),
         "Error: certificate SZZZ-2021-CQC-99999 is not in the registry\n"),
        (("cert", "list", "--db", tmp_path / "missing.db"),
         f"Error: {tmp_path / 'missing.db'}: no such registry database (run `szzz init`)\n"),
        (("cert", "suspend", "SZZZ-2021-CQC-00001", "--db", tmp / "r.db", "--keys",
          tmp_path / "nokeys", "--reason", "x"), None),
    ]
    for args, expected in cases:
        result = run(*args)
        assert result.exit_code == 1, result.output
        assert result.output.startswith("Error: ") and result.output.count("\n") == 1
        if expected:
            assert result.output == expected


def test_wrong_passphrase_is_a_one_line_error(demo_db):
    tmp, _ = demo_db
    no = json.loads(run("cert", "list", "--db", tmp / "r.db", "--json", "--status",
                        "valid").output)[2]["cert_no"]
    result = run("cert", "suspend", no, "--db", tmp / "r.db", "--keys", tmp / "keys",
                 "--reason", "x", env={"SZZZ_PASSPHRASE": "wrong"})
    assert result.exit_code == 1
    assert "cannot decrypt key" in result.output and result.output.count("\n") == 1


def test_full_operator_session(tmp_path):
    db, keys_dir = tmp_path / "r.db", tmp_path / "keys"
    uscc = make_uscc(42)
    steps = [
        ("init", "--db", db, "--keys", keys_dir, "--site-url", SITE, "--date", "2024-01-01"),
        ("body", "add", "--db", db, "--code", "CQC", "--name-zh", "中国质量认证中心", "--name-en",
         "China Quality Certification Centre", "--approval-no", "CNCA-R-2002-001",
         "--joined", "2024-01-01"),
    ]
    for args in steps:
        r = run(*args)
        assert r.exit_code == 0, r.output
    key_id = json.loads(run("key", "generate", "--db", db, "--keys", keys_dir, "--body", "CQC",
                            "--valid-from", "2024-01-01", "--json").output)["key_id"]
    for args in [
        ("key", "endorse", key_id, "--db", db, "--keys", keys_dir, "--date", "2024-01-01"),
        ("standard", "add", "--db", db, "--code", "DB3205/T 1001-2021", "--title-zh",
         "“苏州制造”品牌认证通用要求", "--kind", "general"),
        ("enterprise", "add", "--db", db, "--uscc", uscc, "--name-zh", "苏州示例精密机械有限公司",
         "--district", "苏州高新区", "--industry", "3421", "--phone", "0512-68688888"),
        ("product", "add", "--db", db, "--enterprise", uscc, "--name-zh", "数控车床", "--model",
         "CK-6150", "--model", "CK-6180"),
    ]:
        r = run(*args)
        assert r.exit_code == 0, r.output
    issued = run("cert", "issue", "--db", db, "--keys", keys_dir, "--product", "1", "--body", "CQC",
                 "--standard", "DB3205/T 1001-2021", "--scope", "数控车床的设计和生产",
                 "--issued", "2024-03-01", "--expires", "2025-02-28",
                 "--evaluation", json.dumps(EVALUATION))
    assert issued.exit_code == 0, issued.output
    no = issued.output.strip()
    assert no == "SZZZ-2024-CQC-00001"
    for args in [
        ("cert", "surveil", no, "--db", db, "--keys", keys_dir, "--passed", "--date", "2024-09-01"),
        ("cert", "scope", no, "--db", db, "--keys", keys_dir, "--scope", "数控车床及附件",
         "--reason", "扩项", "--date", "2024-10-01"),
        ("expire-due", "--db", db, "--keys", keys_dir),
        ("cert", "renew", no, "--db", db, "--keys", keys_dir, "--expires", "2028-02-28"),
        ("notice", "add", "--db", db, "--keys", keys_dir, "--kind", "counterfeit_alert",
         "--title-zh", "假冒标志警示", "--text-zh", "发现假冒标志", "--cert", no),
        ("application", "add", "--db", db, "--uscc", uscc, "--product-name", "新型数控车床"),
        ("application", "decide", "1", "--db", db, "--status", "under_evaluation"),
        ("check", "--db", db),
    ]:
        r = run(*args)
        assert r.exit_code == 0, (args, r.output)
    history = json.loads(run("cert", "history", no, "--db", db, "--json").output)
    assert [e["type"] for e in history] == ["issued", "surveillance_passed", "scope_changed",
                                            "expired", "renewed"]
    enterprise = json.loads(run("enterprise", "list", "--db", db, "--json").output)[0]
    assert enterprise["district"] == "虎丘区" and enterprise["industry"] == "C3421"
    assert "0512" not in run("enterprise", "list", "--db", db, "--json").output


def test_import_reports_every_bad_row_and_writes_nothing(tmp_path):
    db, keys_dir = tmp_path / "r.db", tmp_path / "keys"
    assert run("init", "--db", db, "--keys", keys_dir, "--site-url", SITE).exit_code == 0
    good, bad = make_uscc(1), make_uscc(2)[:-1] + ("0" if make_uscc(2)[-1] != "0" else "1")
    csv = tmp_path / "企业.csv"
    csv.write_text("统一社会信用代码,企业名称,所在地区,行业代码\n"
                   f"{good},苏州甲有限公司,吴中区,C3421\n{bad},苏州乙有限公司,昆山市,C3421\n",
                   encoding="gbk")
    r = run("import", "enterprises", csv, "--db", db)
    assert r.exit_code == 1
    assert "企业.csv:3" in r.output and "uscc" in r.output.lower()
    assert json.loads(run("enterprise", "list", "--db", db, "--json").output) == []
    csv.write_text("统一社会信用代码,企业名称,所在地区,行业代码\n"
                   f"{good},苏州甲有限公司,吴中区,C3421\n", encoding="gbk")
    r = run("import", "enterprises", csv, "--db", db, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["keys"] == [good]


def test_import_progress_bar_goes_to_stderr(tmp_path):
    db, keys_dir = tmp_path / "r.db", tmp_path / "keys"
    assert run("init", "--db", db, "--keys", keys_dir, "--site-url", SITE).exit_code == 0
    csv = tmp_path / "ents.csv"
    csv.write_text("uscc,name_zh,district,industry\n"
                   f"{make_uscc(1)},苏州甲有限公司,吴中区,C3421\n", encoding="utf-8")
    runner = CliRunner(env={"SZZZ_PASSPHRASE": PASS, "SZZZ_TODAY": "2025-06-01"})
    r = runner.invoke(cli, ["import", "enterprises", str(csv), "--db", str(db), "--progress",
                            "--json"])
    assert r.exit_code == 0, r.output
    # The bar is on stderr only, so --json output stays parseable.
    assert "1/1" in r.stderr
    assert json.loads(r.stdout)["rows"] == 1


def test_python_m_registry_subprocess(demo_db):
    tmp, summary = demo_db
    no = summary["sample"][0]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("SZZZ_PASSPHRASE", None)
    proc = subprocess.run([sys.executable, "-m", "registry", "cert", "show", no,
                           "--db", str(tmp / "r.db"), "--json"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["cert_no"] == no
    proc = subprocess.run([sys.executable, "-m", "registry", "cert", "revoke", no, "--db",
                           str(tmp / "r.db"), "--keys", str(tmp / "keys"), "--reason", "x"],
                          capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL,
                          check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("Error: ") and proc.stderr.count("\n") == 1


def _command_paths(group, prefix=("szzz",)):
    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, click.Group):
            yield from _command_paths(command, path)
        else:
            yield " ".join(path)


def test_every_command_is_documented():
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    documented = set()
    for path in _command_paths(cli):
        parts = path.split(" ")
        # "szzz cert suspend" or a documented alternation "szzz cert suspend|reinstate"
        pattern = re.escape(" ".join(parts[:-1])) + r" (?:[\w-]+\|)*" + re.escape(parts[-1]) + r"\b"
        assert re.search(pattern, text), f"{path} is not documented in docs/cli.md"
        documented.add(path)
    assert {"szzz cert revoke", "szzz demo", "szzz import", "szzz key endorse"} <= documented


def test_exit_status_policy(demo_db, tmp_path):
    """docs/cli.md "Exit status": 0 done, 1 an error, 2 usage or configuration;
    ``szzz verify``: 0 valid, 1 any other verdict, 2 could not verify at all."""
    tmp, _ = demo_db
    db = tmp / "r.db"
    rows = json.loads(run("cert", "list", "--db", db, "--json").output)
    valid = next(r["cert_no"] for r in rows if r["status"] == "valid")
    revoked = next(r["cert_no"] for r in rows if r["status"] == "revoked")
    mark = {no: json.loads(run("cert", "show", no, "--db", db, "--json").output)["mark_payload"]
            for no in (valid, revoked)}
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(os.urandom(8192))
    cases = [
        (("verify", mark[valid], "--db", db), 0),
        (("verify", mark[revoked], "--db", db), 1),
        (("verify", mark[valid][:-1] + ("1" if mark[valid].endswith("0") else "0"), "--db", db), 1),  # a verdict
        (("verify", mark[valid], "--db", tmp_path / "missing.db"), 2),
        (("verify", mark[valid], "--db", tmp_path), 2),            # a directory
        (("verify", mark[valid], "--db", garbage), 2),             # not SQLite
        (("verify", mark[valid], "--site", tmp_path / "no-site", "--root-key", db), 2),
        (("verify", mark[valid], "--site", tmp_path / "no-site"), 2),   # no root key pinned
        (("verify", mark[valid]), 2),                                  # neither --site nor --db
        (("cert", "list", "--db", db, "--no-such-option"), 2),
        (("cert", "list", "--db", garbage), 1),
        (("mark", revoked, "--db", tmp_path / "missing.db", "--out", tmp_path / "m"), 1),
        (("snapshot", "--db", db, "--keys", tmp_path / "no-keys", "--out", tmp_path / "s"), 1),
        (("cert", "list", "--db", db), 0),
    ]
    for args, status in cases:
        result = run(*args, env={"SZZZ_ROOT_KEY": ""})   # empty: no key pinned
        assert result.exit_code == status, (args, result.output)
        assert "Traceback" not in result.output
        if status == 2 or (status == 1 and args[0] != "verify"):
            assert "Error: " in result.output, (args, result.output)
