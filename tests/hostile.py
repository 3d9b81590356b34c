"""Hostile input for the fuzz properties (``tests/fuzz/``, docs/fuzzing.md): the
values every property draws from, the example budget of the Hypothesis profiles,
and the strict readers the outputs must satisfy.

A value here is something a seller, an operator or a script could really
give: text with terminal controls, bidirectional overrides, line separators
and lone surrogates (what Python makes of a byte of ``argv`` or a file name
that is not UTF-8), numbers SQLite or JSON cannot hold, NaN and infinities,
JSON nested beyond any parser's limit, dates that do not exist, formulas.
Not here: NUL inside a command-line argument, which ``execve`` cannot pass.
"""

from __future__ import annotations

import csv
import io
import json

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from registry.core import payload
from registry.core.exceptions import PayloadError


def examples(ci: int) -> int:
    """The examples a property tries: ``ci`` in the ``ci`` profile, scaled by the
    active profile's ``max_examples`` over Hypothesis' default 100 (the ``fuzz``
    profile: 50 times as many; tests/conftest.py)."""
    return max(1, ci * settings.default.max_examples // 100)


def fuzz_settings(ci: int) -> settings:
    """Settings of a fuzz property: :func:`examples` ``(ci)`` examples, no
    deadline (an example may start a process or a pool), and no health check
    about slow or large generation (files of hostile rows are both by design)."""
    return settings(max_examples=examples(ci), deadline=None, suppress_health_check=[
        HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture])


HUGE_INTEGERS = ("9223372036854775807", "9223372036854775808", "-9223372036854775809", "1" * 30, "9" * 400)
NUMBERS = ("0", "-0", "-1", "1", "2", "007", "1.5", "1e3", "1e999", "-1e999", "NaN", "nan", "inf", "-inf",
           "Infinity", "0x10", "٣", "１", " 1", "1 ", *HUGE_INTEGERS)
NESTED_JSON = ("[" * 50_000 + "]" * 50_000, '{"a":' * 2_000 + "1" + "}" * 2_000)
JSON_TEXTS = ('{"innovation": 88, "quality": 91, "service": 85, "reputation": 90, "recognition": 86}',
              '{"innovation": 1e999, "quality": NaN}', '{"innovation": 88}', "{}", "[]", "null", '"x"', "{",
              '{"innovation": "88", "quality": true, "service": -1, "reputation": 101, "recognition": 1e2}',
              '{"innovation": 18446744073709551616}', *NESTED_JSON)
DATES = ("2024-03-01", "2099-01-01", "2024-02-30", "0001-01-01", "9999-12-31", "2024-1-1", "2024/03/01",
         "20240301", "1969-12-31", "2025-06-01T00:00:00", "-2024-01-01", "２０２４-０３-０１")
CONTROL_TEXT = ("", " ", "\t", "\n", "\r\n", "-", "--", "--help", "=1+1", "+1", "@SUM(A1)", "'", '"', "\\",
                "\x1b[2J\x1b[31mred", "\u202eevil", "\u2028", "\u2029", "\x85", "\x7f", "\ufeff", "\u200b",
                "\udcff", "a\ud800b", "\udc80\udc81", "中文 名称", "苏州", "ＣＱＣ", "𝟘𝟙", "e\u0301",
                "%31%32", "NUL", "null", "true", "x" * 5000, "中" * 40_000)
HOSTILE_TEXT = (*CONTROL_TEXT, *NUMBERS, *DATES, *JSON_TEXTS)
"""Every hostile text value, for any text a user types."""


def hostile_text(extra: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    """A hostile value, one of ``extra`` (plausible values that reach deeper), or
    arbitrary text (any code point, lone surrogates included, no NUL)."""
    pools = [st.sampled_from(HOSTILE_TEXT),
             st.text(st.characters(exclude_characters="\x00"), max_size=40)]
    if extra:
        pools.insert(0, st.sampled_from(extra))
    return st.one_of(pools)


# ------------------------------------------------------------------- strict readers

TERMINAL_CONTROLS = ("\x1b", "\u202e", "\u2028", "\u2029", "\x85", "\x9b")


def _reject_constant(name: str) -> object:
    raise ValueError(f"not strict JSON (RFC 8259): {name}")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate keys in {keys}")
    return dict(pairs)


def strict_json_lines(text: str) -> list[dict]:
    """JSON Lines ``text`` parsed as a strict reader would (RFC 8259 and I-JSON,
    RFC 7493): UTF-8 (no lone surrogate), every line an object, no NaN or
    Infinity, no duplicate keys, no raw terminal control; the text ends with
    a line break unless it is empty."""
    text.encode("utf-8")                                   # a lone surrogate cannot be encoded
    assert not any(c in text for c in TERMINAL_CONTROLS), text[:200]
    assert text == "" or text.endswith("\n"), text[-200:]
    rows = [json.loads(line, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
            for line in text.split("\n")[:-1]]
    assert all(isinstance(r, dict) for r in rows)
    return rows


def csv_records(text: str) -> list[list[str]]:
    """The records of CSV ``text`` as Python's ``csv`` reads them (strict)."""
    return list(csv.reader(io.StringIO(text, newline=""), strict=True))


# ------------------------------------------------------------------- marks

SITE_URL = "https://szzz.example.cn"
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@st.composite
def mutated_marks(draw: st.DrawFn, genuine: tuple[str, ...]) -> str:
    """A genuine mark (payload digits, from ``genuine``) as a scanner might
    hand it over -- bare or as a URL -- with none, one or a few edits: a byte
    of the binary form changed at any field, digits substituted, inserted,
    deleted or swapped, the text cut or extended, and the URL edits a copy,
    paste or a hostile printer makes (white space and controls the input rule
    strips or keeps, a second ``#``, percent-encoding, full-width digits,
    another host, upper case, a query)."""
    text = draw(st.sampled_from(genuine))
    for _ in range(draw(st.integers(0, 3))):
        edit = draw(st.sampled_from(("byte", "digit", "insert", "delete", "swap", "cut", "extend")))
        if edit == "byte":
            raw = bytearray(_bytes_of(text))
            if raw:
                i = draw(st.integers(0, len(raw) - 1))
                raw[i] = draw(st.integers(0, 255))
                text = payload.bytes_to_digits(bytes(raw))
            continue
        i = draw(st.integers(0, len(text)))
        digit = draw(st.sampled_from("0123456789"))
        if edit == "digit" and i < len(text):
            text = text[:i] + digit + text[i + 1:]
        elif edit == "insert":
            text = text[:i] + digit + text[i:]
        elif edit == "delete" and i < len(text):
            text = text[:i] + text[i + 1:]
        elif edit == "swap" and i + 1 < len(text):
            text = text[:i] + text[i + 1] + text[i] + text[i + 2:]
        elif edit == "cut":
            text = text[:i]
        elif edit == "extend":
            text += draw(st.text("0123456789", min_size=1, max_size=20))
    form = draw(st.sampled_from(("bare", "url", "url", "hostile-url")))
    if form == "bare":
        return text
    url = f"{SITE_URL}/v/#{text}"
    if form == "url":
        return url
    edit = draw(st.sampled_from((
        "lead", "trail", "inner-break", "inner-space", "hash", "percent", "fullwidth", "host", "upper", "query",
        "fragment-only", "no-hash")))
    if edit == "lead":
        return draw(st.text(st.sampled_from(" \t\n\r\x00\x01\x1f\x0b\xa0\u3000\ufeff"), min_size=1, max_size=4)) + url
    if edit == "trail":
        return url + draw(st.text(st.sampled_from(" \t\n\r\x1f\x7f\xa0\u3000"), min_size=1, max_size=4))
    i = draw(st.integers(0, len(text)))
    if edit == "inner-break":
        return f"{SITE_URL}/v/#{text[:i]}{draw(st.sampled_from(chr(9) + chr(10) + chr(13)))}{text[i:]}"
    if edit == "inner-space":
        return f"{SITE_URL}/v/#{text[:i]}{draw(st.sampled_from((' ', '%20', chr(0xa0), chr(0x200b))))}{text[i:]}"
    if edit == "hash":
        return f"{SITE_URL}/v/#{text[:i]}#{text[i:]}"
    if edit == "percent":
        return f"{SITE_URL}/v/#{text[:i]}" + "".join(f"%{ord(c):02X}" for c in text[i:i + 2]) + text[i + 2:]
    if edit == "fullwidth":
        return f"{SITE_URL}/v/#{text[:i]}{text[i:].translate(FULLWIDTH)}"
    if edit == "host":
        return f"{draw(st.sampled_from(('http://evil.example', 'https://szzz.example.cn.evil', '', 'x')))}/v/#{text}"
    if edit == "upper":
        return url.upper()
    if edit == "query":
        return f"{SITE_URL}/v/?p={text[:i]}#{text[i:]}"
    if edit == "fragment-only":
        return "#" + text
    return f"{SITE_URL}/v/{text}"


def _bytes_of(text: str) -> bytes:
    """The binary form of payload digits, or b"" when they do not decode."""
    try:
        return payload.digits_to_bytes(text)
    except PayloadError:
        return b""
