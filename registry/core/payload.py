"""The mark payload: what a certification mark's QR code carries.

Binary layout, format version 1 (all integers big-endian)::

    offset  size  field
    0       1     version            = 0x01
    1       8     key_id             first 8 bytes of SHA-256(body public key)
    9       2     signed_on          days since 1970-01-01 (revision date)
    11      2     expires            days since 1970-01-01
    13      16    record_digest      SHA-256(certificate revision payload)[:16]
    29      1     n                  length of cert_no, 1..32
    30      n     cert_no            ASCII [A-Z0-9-]
    30+n    64    signature          Ed25519 over "szzz/mark/v1" LF bytes[0:30+n]

The text form is decimal digits, so that the QR code can use numeric mode
(3.33 bits per character instead of 8): the bytes are cut into groups of 7
(the last may be shorter) and each group, read as an unsigned big-endian
integer, is written with a fixed number of digits: 7 bytes -> 17 digits,
and for a final group of k bytes ``DIGITS_FOR_BYTES[k]`` digits. A group
whose value does not fit in its byte count is malformed.

The mark URL is ``<site>/v/#<digits>``: the fragment never reaches a server.
See ``docs/mark-payload.md`` for test vectors.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from registry.core import canonical, keys
from registry.core.exceptions import PayloadError

VERSION = 1
DIGEST_BYTES = 16
MAX_CERT_NO = 32
CERT_NO_PATTERN = "^[A-Z0-9-]{1,32}$"
# Use CERT_NO_RE.fullmatch, never .match: Python's ``$`` also matches before a
# final LF, so .match took "SZZZ-2024-CQC-00012\n" for a certificate number
# that the browser's RegExp (the same pattern) refuses (tests/fuzz/test_fuzz_payload.py).
CERT_NO_RE = re.compile(CERT_NO_PATTERN)
EPOCH = datetime.date(1970, 1, 1)
GROUP_BYTES = 7
DIGITS_FOR_BYTES = (0, 3, 5, 8, 10, 13, 15, 17)
BYTES_FOR_DIGITS = {d: b for b, d in enumerate(DIGITS_FOR_BYTES) if b}
# Offsets of the binary layout above (the browser gets them as generated
# constants, registry/publish/webverifier.py).
AT_VERSION, AT_KEY_ID, AT_SIGNED_ON, AT_EXPIRES, AT_DIGEST, AT_LENGTH = 0, 1, 9, 11, 13, 29
HEADER_BYTES = 30
SIGNATURE_BYTES = 64
# Longest text form we will even look at: a fragment far beyond any real
# payload is refused before any work is done on it.
MAX_TEXT = 400
# Longest input (a scanned or pasted URL) normalised at all.
MAX_INPUT = 4096
# What the WHATWG URL parser strips from both ends of a URL (C0 controls and
# space) and removes everywhere (tab, LF, CR) before a page sees its fragment.
_URL_STRIP = "".join(map(chr, range(0x21)))
_URL_REMOVE = {ord("\t"): None, ord("\n"): None, ord("\r"): None}


@dataclass(frozen=True)
class MarkPayload:
    version: int
    key_id: str          # 16 hex chars
    signed_on: str       # YYYY-MM-DD
    expires: str         # YYYY-MM-DD
    record_digest: str   # 32 hex chars (16 bytes)
    cert_no: str
    signature: bytes     # 64 bytes
    signed_bytes: bytes  # bytes[0:30+n], what the signature covers (without domain)

    @property
    def signing_input(self) -> bytes:
        return canonical.signing_input(canonical.MARK, self.signed_bytes)

    def verify_signature(self, public_raw: bytes) -> bool:
        return keys.verify(public_raw, self.signature, self.signing_input)

    def to_bytes(self) -> bytes:
        return self.signed_bytes + self.signature

    def to_text(self) -> str:
        return bytes_to_digits(self.to_bytes())


def _days(date_text: str) -> int:
    days = (datetime.date.fromisoformat(date_text) - EPOCH).days
    if not 0 <= days < 65536:
        raise PayloadError(f"date {date_text} outside the payload's range")
    return days


def _date(days: int) -> str:
    return (EPOCH + datetime.timedelta(days=days)).isoformat()


def unsigned_bytes(*, key_id: str, signed_on: str, expires: str, record_digest: str, cert_no: str) -> bytes:
    """The bytes a mark signature covers (after the domain prefix)."""
    if not CERT_NO_RE.fullmatch(cert_no):
        raise PayloadError(f"certificate number {cert_no!r} is not [A-Z0-9-]{{1,32}}")
    kid = bytes.fromhex(key_id)
    digest = bytes.fromhex(record_digest)[:DIGEST_BYTES]
    if len(kid) != keys.KEY_ID_BYTES or len(digest) != DIGEST_BYTES:
        raise PayloadError("key id must be 8 bytes and record digest at least 16 bytes")
    cert = cert_no.encode("ascii")
    return (
        bytes([VERSION]) + kid
        + _days(signed_on).to_bytes(2, "big") + _days(expires).to_bytes(2, "big")
        + digest + bytes([len(cert)]) + cert
    )


def sign(signer: keys.Signer, *, signed_on: str, expires: str, record_digest: str, cert_no: str) -> MarkPayload:
    """Make and sign a payload with ``signer`` (a :class:`keys.Signer`)."""
    body = unsigned_bytes(
        key_id=signer.key_id, signed_on=signed_on, expires=expires,
        record_digest=record_digest, cert_no=cert_no,
    )
    signature = signer.sign(canonical.signing_input(canonical.MARK, body))
    return parse_bytes(body + signature)


def unpack(data: bytes) -> tuple[bytes, int, int, bytes, str, bytes, bytes]:
    """The fields of the binary form, raw: ``(key_id bytes, signed_on days,
    expires days, record digest bytes, cert_no, signed bytes, signature)``;
    PayloadError naming the byte at fault. Batch verification unpacks millions
    of payloads with this; :func:`parse_bytes` builds on it."""
    if len(data) < HEADER_BYTES:
        raise PayloadError(f"payload is {len(data)} bytes, shorter than the {HEADER_BYTES}-byte header")
    if data[AT_VERSION] != VERSION:
        raise PayloadError(f"byte {AT_VERSION}: unknown payload version {data[AT_VERSION]}, expected {VERSION}")
    n = data[AT_LENGTH]
    if not 1 <= n <= MAX_CERT_NO:
        raise PayloadError(f"byte {AT_LENGTH}: certificate number length {n} outside 1..{MAX_CERT_NO}")
    end = HEADER_BYTES + n
    if len(data) != end + SIGNATURE_BYTES:
        raise PayloadError(f"payload is {len(data)} bytes, expected {end + SIGNATURE_BYTES} for n={n}")
    try:
        cert_no = data[HEADER_BYTES:end].decode("ascii")
    except UnicodeDecodeError:
        raise PayloadError(f"bytes {HEADER_BYTES}..: certificate number is not ASCII") from None
    if not CERT_NO_RE.fullmatch(cert_no):
        raise PayloadError(f"bytes {HEADER_BYTES}..: certificate number {cert_no!r} has characters "
                           "outside [A-Z0-9-]")
    return (data[AT_KEY_ID:AT_SIGNED_ON], (data[AT_SIGNED_ON] << 8) | data[AT_SIGNED_ON + 1],
            (data[AT_EXPIRES] << 8) | data[AT_EXPIRES + 1], data[AT_DIGEST:AT_LENGTH], cert_no,
            data[:end], data[end:])


def parse_bytes(data: bytes) -> MarkPayload:
    """Parse the binary form; raise PayloadError naming the byte at fault."""
    key_id, signed_on, expires, digest, cert_no, signed, signature = unpack(data)
    return MarkPayload(
        version=data[AT_VERSION], key_id=key_id.hex(), signed_on=_date(signed_on),
        expires=_date(expires), record_digest=digest.hex(), cert_no=cert_no,
        signature=bytes(signature), signed_bytes=bytes(signed),
    )


def bytes_to_digits(data: bytes) -> str:
    out = []
    for i in range(0, len(data), GROUP_BYTES):
        group = data[i:i + GROUP_BYTES]
        out.append(str(int.from_bytes(group, "big")).zfill(DIGITS_FOR_BYTES[len(group)]))
    return "".join(out)


def digits_to_bytes(text: str) -> bytes:
    if not text or len(text) > MAX_TEXT:
        raise PayloadError(f"payload text length {len(text)} outside 1..{MAX_TEXT}")
    if not text.isascii() or not text.isdigit():
        bad = next(i for i, c in enumerate(text) if not ("0" <= c <= "9"))
        raise PayloadError(f"character {bad}: payload must be decimal digits")
    full, rest = divmod(len(text), 17)
    if rest and rest not in BYTES_FOR_DIGITS:
        raise PayloadError(f"payload length {len(text)} digits is not a valid group length")
    # Full groups in one comprehension (batch verification decodes millions of
    # payloads; this is its largest cost after the signature check).
    end = full * 17
    values = [int(text[pos:pos + 17]) for pos in range(0, end, 17)]
    if rest:
        values.append(int(text[end:]))
    sizes = [GROUP_BYTES] * full + ([BYTES_FOR_DIGITS[rest]] if rest else [])
    try:
        return b"".join([v.to_bytes(size, "big") for v, size in zip(values, sizes, strict=True)])
    except OverflowError:
        pos = 0
        for value, size in zip(values, sizes, strict=True):
            width = DIGITS_FOR_BYTES[size]
            if value >= 256 ** size:
                raise PayloadError(
                    f"digits {pos}..{pos + width - 1}: group value exceeds {size} bytes") from None
            pos += width
        raise


def parse_text(text: str) -> MarkPayload:
    return parse_bytes(digits_to_bytes(text))


def mark_url(site_url: str, payload_text: str) -> str:
    return site_url.rstrip("/") + "/v/#" + payload_text


def _utf16_length(text: str) -> int:
    """The length of ``text`` as JavaScript's ``String.length`` gives it (UTF-16
    code units), so that the browser's verifier and this one refuse the same
    inputs as too long (tests/fuzz/test_fuzz_payload.py)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def payload_text(scanned: object) -> str:
    """The payload digits in what was scanned or pasted: a mark URL, a fragment
    or bare digits. The one input rule of every verifier, Python and browser
    (docs/verification.md, "Input"):

    1. at most :data:`MAX_INPUT` characters are looked at, counted as a
       browser counts a string's length: in UTF-16 code units (a character
       outside the Basic Multilingual Plane, such as an emoji, counts twice);
    2. as a browser's URL parser does before a page sees its fragment, C0
       controls and spaces are stripped from both ends, and tab, LF and CR
       removed everywhere;
    3. the text after the first ``#``, if there is one, else all of it;
    4. that text must be 1..:data:`MAX_TEXT` ASCII decimal digits: nothing is
       percent-decoded or trimmed further, so ``%31``, U+00A0, U+3000, U+FEFF
       or a ``%20`` the parser made of an inner space are not digits.

    Raises PayloadError naming the rule and the character at fault.
    """
    if not isinstance(scanned, str):
        raise PayloadError(f"input is {type(scanned).__name__}, not text")
    length = len(scanned)
    if length <= MAX_INPUT and not scanned.isascii():    # isascii is O(1): the common case costs nothing
        length = _utf16_length(scanned)
    if length > MAX_INPUT:
        raise PayloadError(f"input is {length} characters, longer than {MAX_INPUT}")
    text = scanned.strip(_URL_STRIP).translate(_URL_REMOVE)
    if "#" in text:
        text = text.split("#", 1)[1]
    if not text:
        raise PayloadError("the mark holds no payload (nothing after '#')")
    if len(text) > MAX_TEXT:
        raise PayloadError(f"payload is {len(text)} characters, longer than {MAX_TEXT}")
    if not (text.isascii() and text.isdigit()):
        bad = next(i for i, c in enumerate(text) if not "0" <= c <= "9")
        raise PayloadError(f"character {bad} ({text[bad]!r}) of the payload is not an ASCII decimal digit")
    return text
