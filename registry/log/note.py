"""C2SP signed-note, tlog-checkpoint and tlog-cosignature (Ed25519 forms).

A *note* is UTF-8 text ending in ``\\n``, a blank line, then one line per
signature: ``— <key name> <base64(keyID[4] ‖ signature)>``. The log signs its
checkpoint (origin, size, root hash) as a note with an Ed25519 key (type
0x01); a timestamp key adds a cosignature (type 0x04) that binds the same
body to a time, so clients can reject stale checkpoints.

Verification follows golang.org/x/mod/sumdb/note ``Open`` and C2SP
signed-note: split at the *last* blank line, reject control characters,
ignore signatures by unknown (name, key ID) pairs, reject the whole note if a
known key's signature fails, and require at least one verified signature.
Failures raise :class:`~registry.core.exceptions.NoteError` (or its subclass
:class:`~registry.core.exceptions.CheckpointError` for checkpoint bodies).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from registry.core import keys
from registry.core.exceptions import CheckpointError, NoteError

KEY_TYPE_ED25519 = 0x01
"""signed-note: plain Ed25519 signature over the note text."""

KEY_TYPE_COSIGNATURE = 0x04
"""tlog-cosignature: timestamped Ed25519 cosignature (cosignature/v1)."""

KINDS = {KEY_TYPE_ED25519: "ed25519", KEY_TYPE_COSIGNATURE: "cosignature"}

MAX_SIGNATURES = 100
"""More signature lines than this make a note malformed (Go's limit; spec: at least 16)."""

SIG_PREFIX = "\u2014 "  # "— " : EM DASH, space


def _valid_name(name: str) -> bool:
    # signed-note: key names are non-empty, contain no Unicode spaces and no "+".
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    """Key ID ``SHA-256(name ‖ 0x0A ‖ type ‖ pub)[:4]`` (signed-note, tlog-cosignature)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()[:4]


def _raw_public(key: Ed25519PublicKey | bytes) -> bytes:
    if isinstance(key, Ed25519PublicKey):
        return key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    key = bytes(key)
    if len(key) != 32:
        raise NoteError(f"Ed25519 public key: observed {len(key)} bytes, expected 32")
    return key


@dataclass(frozen=True, init=False)
class Verifier:
    """A verifier key: name, key type (0x01 or 0x04) and raw 32-byte Ed25519 key."""

    name: str
    key_type: int
    public_key: bytes

    def __init__(self, name: str, key_type: int, public_key: Ed25519PublicKey | bytes) -> None:
        """``public_key`` is an Ed25519 public key or its raw 32 bytes; it is kept raw."""
        if not _valid_name(name):
            raise NoteError(f"invalid key name {name!r}: must be non-empty, no spaces, no '+'")
        if key_type not in KINDS:
            raise NoteError(f"unsupported key type 0x{key_type:02x}, expected 0x01 or 0x04")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "key_type", key_type)
        object.__setattr__(self, "public_key", _raw_public(public_key))

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.key_type, self.public_key)

    @property
    def kind(self) -> str:
        return KINDS[self.key_type]

    @property
    def vkey(self) -> str:
        """``name+hex(keyID)+base64(type ‖ pub)``."""
        b64 = base64.b64encode(bytes([self.key_type]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{b64}"


def parse_vkey(vkey: str) -> Verifier:
    """Parse ``name+hex(keyID)+base64(type ‖ pub)``; the key ID must match."""
    # signed-note: split on the first two "+" only; base64 may contain "+".
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise NoteError(f"malformed verifier key {vkey!r}: expected name+keyid+key")
    name, hex_id, b64 = parts
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise NoteError(f"malformed verifier key: key ID {hex_id!r}, expected 8 lowercase hex digits")
    try:
        raw = base64.b64decode(b64, validate=True)
    except binascii.Error:
        raise NoteError(f"malformed verifier key: {b64!r} is not base64") from None
    if len(raw) != 33:
        raise NoteError(f"malformed verifier key: observed {len(raw)} key bytes, expected 33")
    v = Verifier(name, raw[0], raw[1:])
    if v.key_id.hex() != hex_id:
        raise NoteError(f"verifier key ID mismatch: observed {hex_id}, expected {v.key_id.hex()}")
    return v


def format_vkey(name: str, public_key: Ed25519PublicKey | bytes, key_type: int = KEY_TYPE_ED25519) -> str:
    """Return the vkey string of an Ed25519 public key."""
    return Verifier(name, key_type, public_key).vkey


class PrivateKey(Protocol):
    """What :class:`Signer` needs of a private key: an ``Ed25519PrivateKey``, or an
    adapter that keeps the key elsewhere (:mod:`registry.log.checkpoint`)."""

    def sign(self, data: bytes, /) -> bytes: ...

    def public_key(self) -> Ed25519PublicKey: ...


@dataclass(frozen=True)
class Signer:
    """A signing key: ``key_type`` 0x01 signs notes, 0x04 makes timestamped cosignatures."""

    name: str
    private_key: PrivateKey
    key_type: int = KEY_TYPE_ED25519

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.key_type, self.private_key.public_key())

    @property
    def vkey(self) -> str:
        return self.verifier.vkey

    def signature(self, text: str, timestamp: int | None = None) -> bytes:
        """Signature line payload: ``keyID ‖ sig`` or ``keyID ‖ u64be(ts) ‖ sig``."""
        kid = self.verifier.key_id
        if self.key_type == KEY_TYPE_ED25519:
            return kid + self.private_key.sign(text.encode())
        ts = int(time.time()) if timestamp is None else int(timestamp)
        if not 0 <= ts < 1 << 63:
            raise NoteError(f"cosignature timestamp out of range: observed {ts}")
        return kid + ts.to_bytes(8, "big") + self.private_key.sign(_cosigned_message(text, ts))


def parse_skey(skey: str) -> Signer:
    """Parse a Go ``PRIVATE+KEY+name+hex(keyID)+base64(type ‖ seed)`` signer key."""
    parts = skey.split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise NoteError("malformed signer key: expected PRIVATE+KEY+name+keyid+key")
    _, _, name, hex_id, b64 = parts
    try:
        raw = base64.b64decode(b64, validate=True)
    except binascii.Error:
        raise NoteError("malformed signer key: key is not base64") from None
    if len(raw) != 33 or raw[0] not in KINDS:
        raise NoteError(f"malformed signer key: observed {len(raw)} bytes of type {raw[:1].hex()}")
    s = Signer(name, Ed25519PrivateKey.from_private_bytes(raw[1:]), raw[0])
    if s.verifier.key_id.hex() != hex_id:
        raise NoteError(f"signer key ID mismatch: observed {hex_id}, expected {s.verifier.key_id.hex()}")
    return s


def _cosigned_message(text: str, timestamp: int) -> bytes:
    # tlog-cosignature: "cosignature/v1\ntime <ts>\n" ‖ checkpoint body.
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()


def _check_text(text: str) -> None:
    # signed-note: text is UTF-8 with no control characters except "\n".
    bad = re.search(r"[\x00-\x09\x0b-\x1f\x7f]", text)
    if bad:
        raise NoteError(f"malformed note: control character U+{ord(bad.group()):04X} at {bad.start()}")


def sign_note(text: str, signers: Sequence[Signer], *, timestamp: int | None = None) -> str:
    """Sign ``text`` (must end in ``\\n``) with every signer; return the note.

    Cosigners (type 0x04) sign ``timestamp`` (default: now, in Unix seconds).
    """
    return add_signatures(text + "\n", signers, timestamp=timestamp, _fresh=True)


def add_signatures(
    note: str, signers: Sequence[Signer], *, timestamp: int | None = None, _fresh: bool = False
) -> str:
    """Add (or replace) signatures of ``signers`` on an existing note.

    Existing lines of the same (name, key ID) are dropped, so re-cosigning
    a checkpoint with a new timestamp replaces the old cosignature.
    """
    lines: list[tuple[str, bytes, str]]
    if _fresh:
        text, lines = note[:-1], []
    else:
        text, lines = _split(note)
    if not text.endswith("\n") or not text.strip("\n"):
        raise NoteError("malformed note: text must be non-empty and end with a newline")
    _check_text(text)
    if not signers:
        raise NoteError("no signers given")
    ts = int(time.time()) if timestamp is None else timestamp
    replaced = {(s.name, s.verifier.key_id) for s in signers}
    keep = [f"{SIG_PREFIX}{n} {b}\n" for n, kid, b in lines if (n, kid) not in replaced]
    new = []
    for s in signers:
        if not _valid_name(s.name):
            raise NoteError(f"invalid key name {s.name!r}")
        b64 = base64.b64encode(s.signature(text, ts)).decode()
        new.append(f"{SIG_PREFIX}{s.name} {b64}\n")
    return text + "\n" + "".join(keep + new)


def _split(note: str | bytes) -> tuple[str, list[tuple[str, bytes, str]]]:
    """Split a note into text and ``(name, keyID, base64)`` signature lines."""
    if isinstance(note, (bytes, bytearray)):
        try:
            note = bytes(note).decode("utf-8")
        except UnicodeDecodeError as e:
            raise NoteError(f"malformed note: not UTF-8 at byte {e.start}") from None
    _check_text(note)
    # signed-note: text and signatures are split at the LAST blank line.
    i = note.rfind("\n\n")
    if i < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    text, sigs = note[: i + 1], note[i + 2 :]
    if not sigs or not sigs.endswith("\n"):
        raise NoteError("malformed note: signature block is empty or lacks a final newline")
    out = []
    for line in sigs[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise NoteError(f"malformed note: signature line {line!r} does not start with '— '")
        name, sep, b64 = line[len(SIG_PREFIX) :].partition(" ")
        if not sep or not _valid_name(name):
            raise NoteError(f"malformed note: bad key name in signature line {line!r}")
        try:
            raw = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise NoteError(f"malformed note: signature of {name} is not base64") from None
        if len(raw) < 5:
            raise NoteError(f"malformed note: signature of {name} is {len(raw)} bytes, expected > 4")
        out.append((name, raw[:4], b64))
    if len(out) > MAX_SIGNATURES:
        raise NoteError(f"malformed note: observed {len(out)} signatures, expected at most {MAX_SIGNATURES}")
    return text, out


@dataclass(frozen=True)
class VerifiedSignature:
    """A signature that verified: ``kind`` is 'ed25519' or 'cosignature'."""

    name: str
    key_id: bytes
    kind: str
    timestamp: int | None = None


@dataclass(frozen=True)
class OpenedNote:
    """Result of :func:`open_note`: the text, verified and unknown signatures."""

    text: str
    verified: list[VerifiedSignature]
    unverified: list[tuple[str, bytes]] = field(default_factory=list)


def _verify_one(v: Verifier, text: str, payload: bytes) -> int | None:
    """Verify one signature payload (after the key ID); return its timestamp."""
    if v.key_type == KEY_TYPE_ED25519:
        if len(payload) != 64:
            raise NoteError(f"invalid signature for key {v.name}+{v.key_id.hex()}: "
                            f"observed {len(payload)} bytes, expected 64")
        msg, sig, ts = text.encode(), payload, None
    else:
        # tlog-cosignature: u64be(timestamp) ‖ Ed25519 signature.
        if len(payload) != 72:
            raise NoteError(f"invalid cosignature for key {v.name}+{v.key_id.hex()}: "
                            f"observed {len(payload)} bytes, expected 72")
        ts = int.from_bytes(payload[:8], "big")
        if ts >= 1 << 63:
            raise NoteError(f"invalid cosignature for key {v.name}: timestamp {ts} out of range")
        msg, sig = _cosigned_message(text, ts), payload[8:]
    if not keys.verify(v.public_key, sig, msg):
        raise NoteError(f"invalid signature for key {v.name}+{v.key_id.hex()}")
    return ts


def open_note(note: str | bytes, verifiers: Iterable[Verifier | str]) -> OpenedNote:
    """Verify a signed note against known keys (``Verifier`` objects or vkey strings).

    Unknown (name, key ID) signatures are ignored (returned in ``unverified``);
    a known key whose signature fails rejects the note; at least one known
    signature must verify.
    """
    known: dict[tuple[str, bytes], Verifier] = {}
    for given in verifiers:
        v = parse_vkey(given) if isinstance(given, str) else given
        ident = (v.name, v.key_id)
        if ident in known and known[ident] != v:
            raise NoteError(f"ambiguous key {v.name}+{v.key_id.hex()}")
        known[ident] = v
    text, lines = _split(note)
    verified: list[VerifiedSignature] = []
    unverified: list[tuple[str, bytes]] = []
    seen: set[tuple[str, bytes, str] | tuple[str, bytes]] = set()
    for name, kid, b64 in lines:
        verifier = known.get((name, kid))
        if verifier is None:
            if (name, kid, b64) not in seen:
                unverified.append((name, kid))
                seen.add((name, kid, b64))
            continue
        ts = _verify_one(verifier, text, base64.b64decode(b64)[4:])
        if (name, kid) in seen:
            continue  # duplicate signature by the same key: count it once
        seen.add((name, kid))
        verified.append(VerifiedSignature(name, kid, verifier.kind, ts))
    if not verified:
        raise NoteError("note has no verifiable signatures: no signature by a known key")
    return OpenedNote(text, verified, unverified)


@dataclass(frozen=True)
class Checkpoint:
    """A tlog-checkpoint body: origin, tree size, root hash, optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        """The note text: ``origin\\nsize\\nbase64(root)\\n[extensions\\n]``."""
        return format_checkpoint(self)


def format_checkpoint(cp: Checkpoint) -> str:
    """Format a checkpoint body (checks the same rules :func:`parse_checkpoint` enforces)."""
    text = f"{cp.origin}\n{cp.size}\n{base64.b64encode(cp.root_hash).decode()}\n"
    text += "".join(e + "\n" for e in cp.extensions)
    parse_checkpoint(text)
    return text


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint body (the text of an opened note)."""
    # tlog-checkpoint: at least three lines, each ending in "\n".
    if not text.endswith("\n"):
        raise CheckpointError("malformed checkpoint: text does not end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError(f"malformed checkpoint: observed {len(lines)} lines, expected at least 3")
    origin, size_s, root_s, *ext = lines
    if not origin:
        raise CheckpointError("malformed checkpoint: empty origin line")
    _check_text(text)
    # tlog-checkpoint: tree size in ASCII decimal, no leading zeros.
    if not re.fullmatch(r"0|[1-9][0-9]*", size_s) or int(size_s) >= 1 << 64:
        raise CheckpointError(f"malformed checkpoint: tree size {size_s!r}, expected decimal without leading zeros")
    try:
        root = base64.b64decode(root_s, validate=True)
    except binascii.Error:
        raise CheckpointError(f"malformed checkpoint: root hash {root_s!r} is not base64") from None
    if len(root) != 32 or base64.b64encode(root).decode() != root_s:
        raise CheckpointError(f"malformed checkpoint: root hash is {len(root)} bytes, expected 32 (canonical base64)")
    if any(not e for e in ext):
        raise CheckpointError("malformed checkpoint: empty extension line")
    return Checkpoint(origin, int(size_s), root, tuple(ext))


def open_checkpoint(note: str | bytes, verifiers: Iterable[Verifier | str],
                    origin: str) -> tuple[Checkpoint, OpenedNote]:
    """Open a signed checkpoint: verify the note, parse the body, check the origin.

    The log's own key (named ``origin``, type 0x01) must be among the verified
    signatures; cosignatures alone do not make a checkpoint authentic.
    """
    opened = open_note(note, verifiers)
    cp = parse_checkpoint(opened.text)
    if cp.origin != origin:
        raise CheckpointError(f"checkpoint origin: observed {cp.origin!r}, expected {origin!r}")
    if not any(s.name == origin and s.kind == "ed25519" for s in opened.verified):
        raise NoteError(f"checkpoint is not signed by the log key {origin!r}")
    return cp, opened
