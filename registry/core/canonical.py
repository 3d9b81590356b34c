"""Canonical, deterministic byte encoding of signed records, and envelopes.

Every signed thing in the registry (certificate revisions, events, the trust
list, status statements) is a JSON object encoded canonically (see
``docs/canonical-encoding.md``):

* UTF-8, no BOM, no insignificant whitespace (``,`` and ``:`` separators);
* object keys are ASCII and sorted by code point; no duplicate keys;
* strings are Unicode NFC (rule: text is normalised *before* signing, so the
  encoder refuses non-NFC input instead of silently changing signed text);
  lone surrogates are refused;
* numbers are integers in the JavaScript safe range; floats are refused;
* ``true``, ``false``, ``null``, arrays and objects as usual.

What is signed is never the JSON alone but the *signing input*::

    <domain> 0x0A <canonical bytes>

where ``<domain>`` names the record type and its format version, e.g.
``szzz/certificate/v1``. The domain prefix keeps a signature over one kind of
record from ever being valid for another kind.

An *envelope* carries the exact signed text, so that verifiers (including the
browser) hash and check the bytes that were signed and never re-serialise::

    {"type": "szzz/event/v1", "payload": "<canonical JSON text>",
     "key_id": "<16 hex>", "signature": "<base64url, no padding>"}
"""

from __future__ import annotations

import base64
import hashlib
import json
import unicodedata
from typing import Any, NoReturn, Protocol, TypeAlias

from registry.core.exceptions import CanonicalEncodingError, SignatureError

JSON: TypeAlias = Any
"""A value as ``json.loads`` (or :func:`decode`) returns it: a dict, list, str,
int, float, bool or None. Published files and signed payloads are untrusted
input whose shape the code checks as it reads it (``isinstance``, ``.get``,
and ``except (KeyError, TypeError, AttributeError)`` around the reads), so
the alias stays ``Any``: it marks the JSON boundaries and nothing else."""

JSONObject: TypeAlias = dict[str, JSON]
"""A JSON object (``{...}``) once the code knows it is one."""


Envelope: TypeAlias = dict[str, str]
"""A signed record as made and stored here: ``type``, ``payload``, ``key_id`` and
``signature``, all text (see the module docstring). A plain dict, not a
TypedDict: callers keep envelopes in ``dict`` and ``list`` fields. Envelopes
read from published files are untrusted :data:`JSON` until checked."""


# Domains: one per kind of signed record. Changing a record's layout means a
# new version here, never a silent change of an existing one.
CERTIFICATE = "szzz/certificate/v1"
EVENT = "szzz/event/v1"
TRUST_LIST = "szzz/trust-list/v1"
# v2: one statement per bucket of certificates (v1 was one per certificate).
STATUS = "szzz/status/v2"
STATUS_SNAPSHOT = "szzz/status-snapshot/v1"
MARK = "szzz/mark/v1"

DOMAINS = (CERTIFICATE, EVENT, TRUST_LIST, STATUS, STATUS_SNAPSHOT, MARK)

MAX_SAFE_INTEGER = 2**53 - 1


def _representable(value: object) -> bool:
    """Whether :func:`_check` would pass ``value``: the same rules without
    building a path for every value (a status snapshot has millions), so
    :func:`encode` names the path only when there is something to name."""
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, str):
        return unicodedata.is_normalized("NFC", value) and not _has_surrogate(value)
    if isinstance(value, int):
        return abs(value) <= MAX_SAFE_INTEGER
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _representable(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_representable(item) for item in value)
    return False


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check(value: object, path: str) -> None:
    """Refuse anything the canonical form cannot represent exactly."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalEncodingError(
                f"{path}: integer {value} is outside ±(2^53-1)"
            )
        return
    if isinstance(value, float):
        raise CanonicalEncodingError(f"{path}: floats are not allowed ({value!r})")
    if isinstance(value, str):
        _check_text(value, path)
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key.isascii():
                raise CanonicalEncodingError(
                    f"{path}: object keys must be ASCII strings, observed {key!r}"
                )
            _check(item, f"{path}.{key}")
        return
    raise CanonicalEncodingError(
        f"{path}: type {type(value).__name__} cannot be encoded"
    )


def _check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise CanonicalEncodingError(f"{path}: lone surrogate in text") from e
    if not unicodedata.is_normalized("NFC", text):
        raise CanonicalEncodingError(
            f"{path}: text is not Unicode NFC; normalise it before signing"
        )


def encode(value: object) -> bytes:
    """Return the canonical bytes of ``value`` (a JSON-able object)."""
    if not _representable(value):
        _check(value, "$")  # raises, naming the path
        raise CanonicalEncodingError("$: cannot be encoded canonically")  # unreachable while both agree
    return json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
        allow_nan=False,
    ).encode("utf-8")


def decode(data: bytes) -> JSON:
    """Parse canonical bytes, refusing anything that is not canonical.

    Round trip: ``encode(decode(b)) == b`` for every accepted ``b``.
    """
    value = _decode_fast(data)
    if value is not _REFUSED:
        return value
    try:
        text = data.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        raise CanonicalEncodingError(f"not canonical JSON: {e}") from e
    if encode(value) != data:
        raise CanonicalEncodingError("bytes are valid JSON but not canonical")
    return value


class _Refused(Exception):
    pass


_REFUSED = object()


def _refuse(*_args: object) -> NoReturn:
    raise _Refused


def _safe_int(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise _Refused
    return value


def _fast_pairs(pairs: list[tuple[str, JSON]]) -> JSONObject:
    obj = dict(pairs)
    if len(obj) != len(pairs) or not all(key.isascii() for key in obj):
        raise _Refused
    return obj


def _decode_fast(data: bytes) -> JSON:
    """:func:`decode` without walking the value (a build decodes every record
    in the registry): the parser's hooks refuse floats, NaN, unsafe integers,
    duplicate and non-ASCII keys; one NFC test covers every string at once,
    because the JSON punctuation around strings is ASCII, which never
    composes or reorders with its neighbours (UAX #15); the round trip
    refuses lone surrogates and non-canonical layout. Anything refused here
    goes through the worded checks of :func:`decode`, so this path accepts a
    subset of what they accept and never words an error itself.
    """
    try:
        text = data.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_fast_pairs, parse_float=_refuse,
                           parse_int=_safe_int, parse_constant=_refuse)
        if not unicodedata.is_normalized("NFC", text):
            return _REFUSED
        canonical = json.dumps(value, ensure_ascii=False, sort_keys=True,
                               separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (_Refused, UnicodeError, ValueError, RecursionError):
        return _REFUSED
    return value if canonical == data else _REFUSED


def _no_duplicates(pairs: list[tuple[str, JSON]]) -> JSONObject:
    obj: JSONObject = {}
    for key, value in pairs:
        if key in obj:
            raise CanonicalEncodingError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def nfc(value: JSON) -> JSON:
    """Return ``value`` with every string (keys excepted) normalised to NFC."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [nfc(v) for v in value]
    if isinstance(value, tuple):
        return tuple(nfc(v) for v in value)
    if isinstance(value, dict):
        return {k: nfc(v) for k, v in value.items()}
    return value


def signing_input(domain: str, payload: bytes) -> bytes:
    """The exact bytes an Ed25519 signature covers: domain, LF, payload."""
    if domain not in DOMAINS:
        raise CanonicalEncodingError(f"unknown signing domain {domain!r}")
    return domain.encode("ascii") + b"\n" + payload


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 4648 §5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Inverse of :func:`b64url`; refuses padding and non-alphabet input."""
    if not isinstance(text, str) or "=" in text or not text.isascii():
        raise SignatureError(f"not unpadded base64url: {text!r:.40}")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as e:
        raise SignatureError(f"not base64url: {text!r:.40}") from e
    if b64url(raw) != text:
        raise SignatureError(f"non-canonical base64url: {text!r:.40}")
    return raw


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class EnvelopeSigner(Protocol):
    """What :func:`make_envelope` needs of a key (:class:`registry.core.keys.Signer`
    has it): its id and a signature over bytes, never the private key itself."""

    key_id: str

    def sign(self, message: bytes) -> bytes: ...


def make_envelope(domain: str, record: object, signer: EnvelopeSigner) -> Envelope:
    """Encode ``record`` canonically, sign it, and return the envelope.

    ``signer`` is a :class:`registry.core.keys.Signer` (it knows its key id).
    """
    return sign_payload(domain, encode(record), signer)


def sign_payload(domain: str, payload: bytes, signer: EnvelopeSigner) -> Envelope:
    """The envelope of ``payload``, canonical bytes that :func:`encode` gave
    (or an encoder that gives its bytes: :func:`encode_status`, the status
    snapshot spliced from the previous one, ``registry.publish.api``)."""
    signature = signer.sign(signing_input(domain, payload))
    return {
        "type": domain,
        "payload": payload.decode("utf-8"),
        "key_id": signer.key_id,
        "signature": b64url(signature),
    }


def envelope(domain: str, payload: str, key_id: str, signature: str) -> Envelope:
    """A stored signed record (its payload text, key id and signature) as an envelope."""
    return {"type": domain, "payload": payload, "key_id": key_id, "signature": signature}


def encode_envelope(domain: str, payload: str, key_id: str, signature: str) -> bytes:
    """:func:`encode` of :func:`envelope`, written out: the same bytes, without
    building the object and walking it (a log entry is one; the log encodes
    every event of the registry on every build)."""
    texts = (domain, payload, key_id, signature)
    if not all(isinstance(t, str) and _representable(t) for t in texts):
        return encode(envelope(domain, payload, key_id, signature))  # raises, naming the field
    # Keys in sorted order: key_id, payload, signature, type.
    return (f'{{"key_id":{_dumps(key_id)},"payload":{_dumps(payload)},'
            f'"signature":{_dumps(signature)},"type":{_dumps(domain)}}}').encode()


# json.dumps(text, ensure_ascii=False) of one string, without building an encoder.
_dumps = json.encoder.encode_basestring

_STATUS_KEYS = {"as_of", "bucket", "certificates", "log_size"}
_STATUS_ENTRY_KEYS = {"last_seq", "status"}


def encode_status(record: object) -> bytes:
    """:func:`encode` of a status statement (``szzz/status/v2``: ``{"as_of",
    "bucket", "certificates": {cert_no: {"last_seq", "status"}}, "log_size"}``),
    written out: the same bytes, without walking the value twice (a build
    signs 4,096 statements). Anything of another shape or type, and text that
    fails the checks, goes through :func:`encode`: the same bytes, or the same
    error naming the path.

    One NFC test covers the whole text, as in :func:`_decode_fast`: the JSON
    punctuation and escapes around and inside strings are ASCII that composes
    with no character after it, except an escaped control character's last
    hex digit (``\\u001a`` then U+0301): a text that is then not NFC goes
    through :func:`encode`, which decides on the strings themselves.
    """
    text = _status_text(record)
    if text is not None and unicodedata.is_normalized("NFC", text):
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: encode names it
    return encode(record)


def _status_text(record: object) -> str | None:
    """The canonical text of a status statement of exactly the expected types
    (``str``, ``int`` in the safe range, ``dict``: no subclasses, no ``bool``),
    its strings not yet checked; None for anything else."""
    if type(record) is not dict or record.keys() != _STATUS_KEYS:
        return None
    as_of, bucket, certificates, log_size = (record["as_of"], record["bucket"],
                                             record["certificates"], record["log_size"])
    if type(as_of) is not str or type(bucket) is not str or type(certificates) is not dict \
            or not _safe_integer(log_size) or not all(type(no) is str and no.isascii() for no in certificates):
        return None
    parts = []
    for no in sorted(certificates):
        entry = certificates[no]
        if type(entry) is not dict or entry.keys() != _STATUS_ENTRY_KEYS:
            return None
        status, last_seq = entry["status"], entry["last_seq"]
        if type(status) is not str or not _safe_integer(last_seq):
            return None
        parts.append(f'{_dumps(no)}:{{"last_seq":{last_seq},"status":{_dumps(status)}}}')
    # Keys in sorted order: as_of, bucket, certificates, log_size.
    return (f'{{"as_of":{_dumps(as_of)},"bucket":{_dumps(bucket)},'
            f'"certificates":{{{",".join(parts)}}},"log_size":{log_size}}}')


def _safe_integer(value: object) -> bool:
    return type(value) is int and abs(value) <= MAX_SAFE_INTEGER


def envelope_payload(envelope: JSON, domain: str) -> JSON:
    """Return the decoded record of ``envelope`` after checking its shape.

    This does *not* check the signature (see :func:`registry.core.keys.verify_envelope`).
    """
    if not isinstance(envelope, dict):
        raise SignatureError(f"envelope must be an object, observed {type(envelope).__name__}")
    if envelope.get("type") != domain:
        raise SignatureError(
            f"envelope type is {envelope.get('type')!r}, expected {domain!r}"
        )
    payload = envelope.get("payload")
    if not isinstance(payload, str):
        raise SignatureError("envelope payload must be a string of canonical JSON")
    return decode(payload.encode("utf-8"))


def envelope_digest(envelope: JSON) -> str:
    """SHA-256 (hex) of an envelope's payload bytes: what marks and events cite."""
    return sha256_hex(envelope["payload"].encode("utf-8"))
