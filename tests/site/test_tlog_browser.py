"""The same vectors through site/verify/tlog.js in headless Chromium.

One page load runs every case (tests/site/tlog_browser_driver.js) and leaves
the results in ``window.__results``; each test below asserts one group with
messages naming the failing vector.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers import assert_no_js_errors
from tlog_vectors import (
    C2SP_NOTE,
    C2SP_VKEY,
    CHECKPOINT_LOG_VKEY,
    CHECKPOINT_NOTE,
    CHECKPOINT_TS,
    CHECKPOINT_TS_VKEY,
    ENOCH_SIG,
    ENOCH_VKEY,
    GO_BAD_NOTE_BYTES,
    GO_BAD_NOTES,
    GO_TEXT,
    LEAF_HASHES,
    LEAF_INPUTS,
    PETER_SIG,
    PETER_VKEY,
    REPO,
    ROOT_HASHES,
    STRICT_LENGTH_DEVIATIONS,
    b64,
    have_vectors,
    load,
)

from registry.log import merkle, note, tiles

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not have_vectors(), reason="merkle-testdata absent")]

HERE = Path(__file__).resolve().parent
ORIGIN = "registry.test/log"
LOG_SIZE, LOG_STEP = 70_000, 65_537


def _hexcase(name, c, fields):
    out = {"name": name, "wantErr": c["wantErr"], "proof": [b64(p).hex() for p in c["proof"] or []]}
    for f in fields:
        out[f] = b64(c[f]).hex() if isinstance(c[f], str) else c[f]
    return out


def _build(tmp, base_url_placeholder="{BASE}"):
    """Write the served directory; return (cases, expectations)."""
    shutil.copy(REPO / "site" / "verify" / "tlog.js", tmp / "tlog.js")
    shutil.copy(HERE / "tlog_browser_driver.js", tmp / "driver.js")
    (tmp / "index.html").write_text(
        '<!doctype html><meta charset="utf-8"><title>tlog.js vectors</title>'
        '<script type="module" src="driver.js"></script>\n')

    # Constant tree as tiles.
    tiles.write_log(tmp / "log8", LEAF_INPUTS)

    # 70,000-entry log written in two steps, signed checkpoint with cosignature.
    entries = [b"szzz entry %d" % i for i in range(LOG_SIZE)]
    leaves = [merkle.leaf_hash(e) for e in entries]
    tiles.append_entries(tmp / "log", 0, entries[:LOG_STEP])
    _, root = tiles.append_entries(tmp / "log", LOG_STEP, entries[LOG_STEP:])
    log_key = note.Signer(ORIGIN, Ed25519PrivateKey.from_private_bytes(b"\x11" * 32))
    ts_key = note.Signer("registry.test/ts", Ed25519PrivateKey.from_private_bytes(b"\x22" * 32),
                         note.KEY_TYPE_COSIGNATURE)
    body = note.Checkpoint(ORIGIN, LOG_SIZE, root).body()
    (tmp / "log" / "checkpoint").write_text(note.sign_note(body, [log_key, ts_key], timestamp=1_767_225_600))
    reader = tiles.TileHashReader(LOG_SIZE, tmp / "log")
    incl = [(12_345, LOG_SIZE), (0, 1), (255, 256), (256, 257), (65_536, LOG_STEP), (69_999, LOG_SIZE),
            (1000, 4097)]
    cons = [(1, LOG_SIZE), (LOG_STEP, LOG_SIZE), (256, 65_536), (3, 7), (69_999, LOG_SIZE), (70_000, LOG_SIZE)]
    def root_of(n):
        return merkle.root_hash(leaves[:n])

    log_cases = {
        "url": "{BASE}/log/", "origin": ORIGIN, "size": LOG_SIZE, "vkeys": [log_key.vkey, ts_key.vkey],
        "inclusion": [{"index": i, "size": n, "root": root_of(n).hex()} for i, n in incl],
        "consistency": [{"old": m, "size": n, "oldRoot": root_of(m).hex(), "root": root_of(n).hex()}
                        for m, n in cons],
    }
    expect_log = {
        "root": root.hex(),
        "inclusion": [{"proof": [p.hex() for p in reader.inclusion_proof(i, n)], "entry": entries[i].hex()}
                      for i, n in incl],
        "consistency": [[p.hex() for p in reader.consistency_proof(m, n)] for m, n in cons],
    }

    # Tampered log: one bundle byte changed after the root was computed.
    small = [b"entry %d" % i for i in range(300)]
    troot = tiles.write_log(tmp / "tampered", small)
    bundle = tmp / "tampered" / "tile/entries/001.p/44"
    data = bytearray(bundle.read_bytes())
    data[-1] ^= 1  # last byte of entry 299
    bundle.write_bytes(bytes(data))

    # Sizes beyond 2^32 (synthetic paths): JS must not truncate to 32 bits.
    size, index = (1 << 40) + 12_345, (1 << 33) + 7
    leaf = merkle.leaf_hash(b"big")
    proof = [merkle.leaf_hash(bytes([i])) for i in range(41)]
    big_root = merkle.root_from_inclusion_proof(index, size, leaf, proof)
    x, y = merkle.leaf_hash(b"x"), merkle.leaf_hash(b"y")
    big_incl = [
        {"name": "index 2^33+7 of 2^40+12345", "index": str(index), "size": str(size), "wantErr": False},
        {"name": "index with bit 32 flipped", "index": str(index ^ (1 << 32)), "size": str(size), "wantErr": True},
        {"name": "index - 1", "index": str(index - 1), "size": str(size), "wantErr": True},
        {"name": "size equal to index", "index": str(index), "size": str(index), "wantErr": True},
        {"name": "size 2^42 (one hash too few)", "index": str(index), "size": str(1 << 42), "wantErr": True},
    ]
    for c in big_incl:
        c.update(leaf=leaf.hex(), proof=[p.hex() for p in proof], root=big_root.hex())
    big_cons = [
        {"name": "2^32 -> 2^32+1", "size1": str(1 << 32), "size2": str((1 << 32) + 1), "wantErr": False},
        {"name": "2^31 -> 2^31+1 with the 2^32 proof", "size1": str(1 << 31), "size2": str((1 << 31) + 1),
         "wantErr": False},
        {"name": "2^32+1 -> 2^32+2 (proof too short)", "size1": str((1 << 32) + 1), "size2": str((1 << 32) + 2),
         "wantErr": True},
    ]
    for c in big_cons:
        c.update(proof=[y.hex()], root1=x.hex(), root2=merkle.node_hash(x, y).hex())
    for c in big_incl:  # Python agrees on each of these
        try:
            merkle.verify_inclusion(int(c["index"]), int(c["size"]), leaf, proof, big_root)
            assert not c["wantErr"], c["name"]
        except merkle.ProofError:
            assert c["wantErr"], c["name"]
    for c in big_cons:
        try:
            merkle.verify_consistency(int(c["size1"]), int(c["size2"]), [y], x, merkle.node_hash(x, y))
            assert not c["wantErr"], c["name"]
        except merkle.ProofError:
            assert c["wantErr"], c["name"]

    bad_vkeys = {
        "wrong key id": "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "wrong length": "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "unknown algorithm": "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "no key": "PeterNeumann",
    }
    notes = [
        {"name": "c2sp example", "note": C2SP_NOTE, "vkeys": [C2SP_VKEY], "wantErr": False},
        {"name": "go one known", "note": GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, "vkeys": [PETER_VKEY],
         "wantErr": False},
        {"name": "go both known", "note": GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, "vkeys": [PETER_VKEY, ENOCH_VKEY],
         "wantErr": False},
        {"name": "go none known", "note": GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, "vkeys": [], "wantErr": True},
        {"name": "go invalid signature", "note": GO_TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:],
         "vkeys": [PETER_VKEY], "wantErr": True},
        {"name": "go 101 signatures", "note": GO_TEXT + "\n" + PETER_SIG * 101, "vkeys": [PETER_VKEY], "wantErr": True},
        {"name": "checkpoint with cosignature", "note": CHECKPOINT_NOTE,
         "vkeys": [CHECKPOINT_LOG_VKEY, CHECKPOINT_TS_VKEY], "wantErr": False},
        {"name": "tampered text", "note": C2SP_NOTE.replace("example", "exampel", 1), "vkeys": [C2SP_VKEY],
         "wantErr": True},
        {"name": "go malformed not UTF-8", "noteHex": GO_BAD_NOTE_BYTES.hex(), "vkeys": [PETER_VKEY], "wantErr": True},
    ] + [{"name": f"go malformed {i}", "note": m, "vkeys": [PETER_VKEY], "wantErr": True}
         for i, m in enumerate(GO_BAD_NOTES)]
    zero_root = "A" * 43 + "="
    checkpoints = [
        {"name": "good", "body": f"o\n70000\n{zero_root}\n", "wantErr": False},
        {"name": "extension", "body": f"o\n0\n{zero_root}\next\n", "wantErr": False},
        {"name": "leading zero", "body": f"o\n01\n{zero_root}\n", "wantErr": True},
        {"name": "short root", "body": "o\n1\n" + "A" * 42 + "==\n", "wantErr": True},
        {"name": "two lines", "body": "o\n1\n", "wantErr": True},
        {"name": "no final newline", "body": f"o\n1\n{zero_root}", "wantErr": True},
        {"name": "over uint64", "body": f"o\n18446744073709551616\n{zero_root}\n", "wantErr": True},
    ]
    paths = [["tile", 0, 0, 256], ["tile", 1, 1234067, 1], ["tile", 0, 273, 112], ["tile", 2, 1000, 256],
             ["entries", 1234067, 256], ["entries", 273, 112]]
    cases = {
        "inclusion": [_hexcase(n, c, ["leafIdx", "treeSize", "leafHash", "root"]) for n, c in load("inclusion")],
        "consistency": [_hexcase(n, c, ["size1", "size2", "root1", "root2"]) for n, c in load("consistency")],
        "bigInclusion": big_incl, "bigConsistency": big_cons,
        "leafInputs": [x.hex() for x in LEAF_INPUTS],
        "paths": paths,
        "vkeys": {"peter": PETER_VKEY, "timestamp": CHECKPOINT_TS_VKEY, **bad_vkeys},
        "notes": notes, "checkpoints": checkpoints,
        "log8": {"url": "{BASE}/log8/"}, "log": log_cases,
        "tampered": {"url": "{BASE}/tampered/", "size": 300, "root": troot.hex(), "goodIndex": 298,
                     "badIndex": 299},
    }
    expect = {"log": expect_log, "bad_vkeys": set(bad_vkeys), "paths": [
        tiles.tile_path(0, 0), tiles.tile_path(1, 1234067, 1), tiles.tile_path(0, 273, 112),
        tiles.tile_path(2, 1000), tiles.entries_path(1234067), tiles.entries_path(273, 112)]}
    return cases, expect


def _check(want_err: bool, got: dict, what: str, failures: list[str]) -> None:
    if want_err and got["ok"]:
        failures.append(f"{what}: JS accepted it, expected an error")
    elif not want_err and not got["ok"]:
        failures.append(f"{what}: JS rejected it with {got['error']!r}, expected success")


def test_tlog_js_runs_every_vector_in_chromium(page, serve_dir, tmp_path):
    cases, expect = _build(tmp_path)
    base = serve_dir(tmp_path)
    (tmp_path / "cases.json").write_text(json.dumps(cases).replace("{BASE}", base))
    page.goto(base + "/index.html")
    page.wait_for_function("window.__done === true", timeout=120_000)
    res = page.evaluate("window.__results")
    assert "fatal" not in res, res.get("fatal")
    assert_no_js_errors(page)
    failures: list[str] = []

    # transparency-dev/merkle vectors: every case, same verdict as Python.
    assert len(res["inclusion"]) == len(cases["inclusion"]) >= 98
    assert len(res["consistency"]) == len(cases["consistency"]) >= 98
    for c in cases["inclusion"]:
        _check(c["wantErr"], res["inclusion"][c["name"]], c["name"], failures)
    for c in cases["consistency"]:
        got = res["consistency"][c["name"]]
        if c["name"] in STRICT_LENGTH_DEVIATIONS:  # 12-byte roots: rejected, as in Python
            if got["ok"] or "observed 12 bytes, expected 32" not in got["error"]:
                failures.append(f"{c['name']}: expected the 32-byte hash rule to reject it, got {got}")
        else:
            _check(c["wantErr"], got, c["name"], failures)
    for name, got in res["big"].items():
        want = next(c for c in cases["bigInclusion"] + cases["bigConsistency"] if c["name"] == name)
        _check(want["wantErr"], got, f"beyond 32 bits: {name}", failures)

    # RFC 6962 constants.
    if res["leafHashes"] != [h.hex() for h in LEAF_HASHES]:
        failures.append(f"leaf hashes: observed {res['leafHashes']}, expected {[h.hex() for h in LEAF_HASHES]}")
    if res["nodeHash"] != "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb":
        failures.append(f"node(N123, N456): observed {res['nodeHash']}")
    for n, (got, want) in enumerate(zip(res["log8Roots"], ROOT_HASHES, strict=True)):
        if got != want.hex():
            failures.append(f"root of constant tree size {n} from tiles: observed {got}, expected {want.hex()}")

    # Paths.
    if res["paths"] != expect["paths"]:
        failures.append(f"tile paths: observed {res['paths']}, expected {expect['paths']}")

    # Verifier keys and notes.
    for name, got in res["vkeys"].items():
        _check(name in expect["bad_vkeys"], got, f"vkey {name}", failures)
    if res["vkeys"]["timestamp"].get("value") != {"name": "registry.example/timestamp", "keyId": "5d5544c7",
                                                  "kind": "cosignature"}:
        failures.append(f"timestamp vkey parsed as {res['vkeys']['timestamp']}")
    for c in cases["notes"]:
        _check(c["wantErr"], res["notes"][c["name"]], f"note {c['name']}", failures)
    expected_notes = {
        "c2sp example": [{"name": "example.com/foo", "keyId": "530d903a", "kind": "ed25519"}],
        "go one known": [{"name": "PeterNeumann", "keyId": "c74f20a3", "kind": "ed25519"}],
        "checkpoint with cosignature": [
            {"name": "registry.example/log", "keyId": "abf38e39", "kind": "ed25519"},
            {"name": "registry.example/timestamp", "keyId": "5d5544c7", "kind": "cosignature",
             "timestamp": CHECKPOINT_TS}],
    }
    for name, want in expected_notes.items():
        got = res["notes"][name].get("value", {}).get("verified")
        if got != want:
            failures.append(f"note {name}: verified {got}, expected {want}")
    unverified = res["notes"]["go one known"].get("value", {}).get("unverified")
    if unverified != [{"name": "EnochRoot", "keyId": "af0cfe78"}]:
        failures.append(f"note go one known: unverified {unverified}")
    for c in cases["checkpoints"]:
        _check(c["wantErr"], res["checkpoints"][c["name"]], f"checkpoint {c['name']}", failures)
    if res["checkpoints"]["good"].get("value", {}).get("size") != "70000":
        failures.append(f"checkpoint good: {res['checkpoints']['good']}")

    # The tiled log: checkpoint, proofs identical to Python's, entries, fetch economy.
    log, want = res["log"], expect["log"]
    cp = log["checkpoint"]
    if not cp["ok"] or cp["value"]["root"] != want["root"] or cp["value"]["size"] != str(LOG_SIZE):
        failures.append(f"log checkpoint: {cp}, expected size {LOG_SIZE} root {want['root']}")
    elif [s["kind"] for s in cp["value"]["verified"]] != ["ed25519", "cosignature"]:
        failures.append(f"log checkpoint signatures: {cp['value']['verified']}")
    for c, got, w in zip(cases["log"]["inclusion"], log["inclusion"], want["inclusion"], strict=True):
        what = f"tile inclusion proof of {c['index']} in {c['size']}"
        if not got["ok"]:
            failures.append(f"{what}: {got['error']}")
        elif got["value"] != w:
            failures.append(f"{what}: observed {got['value']}, expected {w} (Python)")
    for c, got, w in zip(cases["log"]["consistency"], log["consistency"], want["consistency"], strict=True):
        what = f"tile consistency proof {c['old']} -> {c['size']}"
        if not got["ok"]:
            failures.append(f"{what}: {got['error']}")
        elif got["value"] != w:
            failures.append(f"{what}: observed {got['value']}, expected {w} (Python)")
    fetches = log["firstProofFetches"]
    if not 1 <= len(fetches) <= 6 or len(set(fetches)) != len(fetches):
        failures.append(f"one inclusion proof fetched {log['firstProofFetches']}, expected at most 6 distinct tiles")
    if log["beyond"]["ok"] or "beyond the tiles" not in log["beyond"]["error"]:
        failures.append(f"proof beyond the checkpoint size: {log['beyond']}")
    if not res["tampered"]["good"]["ok"]:
        failures.append(f"untampered entry 298 rejected: {res['tampered']['good']}")
    if res["tampered"]["bad"]["ok"] or "ProofError" not in res["tampered"]["bad"]["error"]:
        failures.append(f"tampered entry 299: {res['tampered']['bad']}, expected ProofError")

    assert not failures, f"{len(failures)} vector(s) failed in Chromium:\n" + "\n".join(failures)
