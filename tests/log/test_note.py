"""C2SP signed notes, checkpoints and cosignatures (registry.note)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
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
    PETER_SIG,
    PETER_SKEY,
    PETER_VKEY,
)

from registry.core.exceptions import CheckpointError, NoteError, RegistryError
from registry.log import note


def key(seed: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


# --- verifier keys

def test_c2sp_vkey_round_trip():
    v = note.parse_vkey(C2SP_VKEY)
    assert (v.name, v.key_type, v.key_id.hex()) == ("example.com/foo", 0x01, "530d903a")
    assert v.vkey == C2SP_VKEY


def test_vkey_with_plus_in_base64_splits_on_first_two_plus_only():
    v = note.parse_vkey(CHECKPOINT_TS_VKEY)
    assert (v.name, v.kind, v.key_id.hex()) == ("registry.example/timestamp", "cosignature", "5d5544c7")
    assert v.vkey == CHECKPOINT_TS_VKEY


def test_key_id_formulas():
    pub = bytes(range(32))
    assert note.key_id("a", 1, pub) == __import__("hashlib").sha256(b"a\n\x01" + pub).digest()[:4]
    assert note.key_id("a", 4, pub) != note.key_id("a", 1, pub)


@pytest.mark.parametrize("bad", [
    "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key ID
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",   # truncated
    "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",  # x/mod: wrong length
    "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # x/mod: unknown algorithm
    "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in name
    "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # upper-case hex
    "PeterNeumann",
])
def test_bad_vkeys_rejected(bad):
    with pytest.raises(NoteError):
        note.parse_vkey(bad)


def test_every_single_character_mangling_of_a_vkey_is_rejected():
    # x/mod TestNewVerifier: bump each byte of the vkey.
    for i in range(len(PETER_VKEY)):
        mangled = PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1:]
        with pytest.raises(NoteError):
            note.parse_vkey(mangled)


# --- signed notes: published examples

def test_c2sp_worked_example_verifies():
    opened = note.open_note(C2SP_NOTE, [C2SP_VKEY])
    assert opened.text == "This is an example message.\n"
    assert [(s.name, s.key_id.hex(), s.kind) for s in opened.verified] == [
        ("example.com/foo", "530d903a", "ed25519")]


def test_go_sign_reproduces_the_x_mod_signature():
    signer = note.parse_skey(PETER_SKEY)
    assert signer.vkey == PETER_VKEY
    assert note.sign_note(GO_TEXT, [signer]) == GO_TEXT + "\n" + PETER_SIG


def test_go_open_one_known_one_unknown():
    opened = note.open_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, [PETER_VKEY])
    assert opened.text == GO_TEXT
    assert [s.name for s in opened.verified] == ["PeterNeumann"]
    assert opened.unverified == [("EnochRoot", bytes.fromhex("af0cfe78"))]
    both = note.open_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, [PETER_VKEY, ENOCH_VKEY])
    assert [s.name for s in both.verified] == ["PeterNeumann", "EnochRoot"] and both.unverified == []


def test_go_open_no_known_key():
    with pytest.raises(NoteError, match="no verifiable signatures"):
        note.open_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])


def test_go_open_invalid_signature_of_known_key_rejects():
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteError, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        note.open_note(GO_TEXT + "\n" + bad, [PETER_VKEY])
    # ...even when another signature by the same key is valid.
    with pytest.raises(NoteError):
        note.open_note(GO_TEXT + "\n" + PETER_SIG + bad, [PETER_VKEY])


def test_go_open_duplicates_counted_once():
    enoch_bad = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    opened = note.open_note(GO_TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_bad,
                            [PETER_VKEY])
    assert len(opened.verified) == 1 and len(opened.unverified) == 2


def test_go_too_many_signatures():
    with pytest.raises(NoteError, match="at most 100"):
        note.open_note(GO_TEXT + "\n" + PETER_SIG * 101, [PETER_VKEY])
    assert len(note.open_note(GO_TEXT + "\n" + PETER_SIG * 100, [PETER_VKEY]).verified) == 1


@pytest.mark.parametrize("msg", [*GO_BAD_NOTES, GO_BAD_NOTE_BYTES], ids=range(len(GO_BAD_NOTES) + 1))
def test_go_malformed_notes(msg):
    with pytest.raises(NoteError, match=r"malformed|not UTF-8"):
        note.open_note(msg, [PETER_VKEY])


def test_split_at_last_blank_line():
    signer = note.Signer("example.com/k", key(7))
    text = "para one\n\npara two\n"
    signed = note.sign_note(text, [signer])
    assert note.open_note(signed, [signer.vkey]).text == text


def test_tampered_text_rejected():
    with pytest.raises(NoteError, match="invalid signature"):
        note.open_note(C2SP_NOTE.replace("example", "exampel", 1), [C2SP_VKEY])


def test_note_errors_are_registry_errors():
    with pytest.raises(RegistryError):
        note.open_note("x", [C2SP_VKEY])


# --- checkpoints and cosignatures

def test_checkpoint_example_with_cosignature():
    cp, opened = note.open_checkpoint(CHECKPOINT_NOTE, [CHECKPOINT_LOG_VKEY, CHECKPOINT_TS_VKEY],
                                      "registry.example/log")
    assert (cp.origin, cp.size) == ("registry.example/log", 3)
    assert base64.b64encode(cp.root_hash).decode() == "kQycct4P5fttahfwBqz46QBY6hi4Xz2xxU89CLHMLBU="
    assert [(s.kind, s.timestamp) for s in opened.verified] == [("ed25519", None), ("cosignature", CHECKPOINT_TS)]


def test_checkpoint_with_only_the_cosigner_known_is_not_a_log_checkpoint():
    with pytest.raises(NoteError, match="not signed by the log key"):
        note.open_checkpoint(CHECKPOINT_NOTE, [CHECKPOINT_TS_VKEY], "registry.example/log")
    with pytest.raises(CheckpointError, match="origin"):
        note.open_checkpoint(CHECKPOINT_NOTE, [CHECKPOINT_LOG_VKEY], "other.example/log")


def test_cosignature_round_trip_and_tampered_timestamp():
    log = note.Signer("registry.test/log", key(1))
    ts = note.Signer("registry.test/ts", key(2), note.KEY_TYPE_COSIGNATURE)
    body = note.Checkpoint("registry.test/log", 42, bytes(range(32))).body()
    signed = note.sign_note(body, [log, ts], timestamp=1_700_000_000)
    opened = note.open_note(signed, [log.vkey, ts.vkey])
    assert [s.timestamp for s in opened.verified] == [None, 1_700_000_000]
    line = signed.splitlines()[-1]
    raw = bytearray(base64.b64decode(line.split(" ")[-1]))
    assert raw[:4] == ts.verifier.key_id and int.from_bytes(raw[4:12], "big") == 1_700_000_000
    raw[11] ^= 1  # claim a different time
    forged = signed.replace(line.split(" ")[-1], base64.b64encode(bytes(raw)).decode())
    with pytest.raises(NoteError, match=r"invalid signature for key registry\.test/ts"):
        note.open_note(forged, [log.vkey, ts.vkey])
    # Re-cosigning replaces the old cosignature line.
    again = note.add_signatures(signed, [ts], timestamp=1_700_000_060)
    assert again.count("registry.test/ts ") == 1
    assert note.open_note(again, [log.vkey, ts.vkey]).verified[-1].timestamp == 1_700_000_060


@pytest.mark.parametrize("body", [
    "o\n01\n" + "A" * 43 + "=\n",       # leading zero
    "o\n-1\n" + "A" * 43 + "=\n",       # negative
    "o\n1\n" + "A" * 42 + "==\n",       # 31-byte root
    "o\n1\nnot base64!\n",
    "\n1\n" + "A" * 43 + "=\n",         # empty origin
    "o\n1\n" + "A" * 43 + "=",          # no final newline
    "o\n1\n",                           # too few lines
    "o\n1\n" + "A" * 43 + "=\n\n",      # empty extension line
    "o\n18446744073709551616\n" + "A" * 43 + "=\n",  # > uint64
])
def test_bad_checkpoints(body):
    with pytest.raises(CheckpointError):
        note.parse_checkpoint(body)


def test_checkpoint_format_and_parse():
    cp = note.Checkpoint("registry.example/log", 0, b"\xe3" * 32, ("ext line",))
    assert note.parse_checkpoint(cp.body()) == cp
    assert cp.body().startswith("registry.example/log\n0\n")
