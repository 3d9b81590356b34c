"""Text that is safe where it lands: a terminal, a strict JSON parser.

What we print or write often holds text from outside (published files, a
seller's listing id). Two places can be hurt by it (a third, a spreadsheet
opening a CSV, has its rule in :mod:`registry.core.spreadsheet`):

* a terminal: C0 and C1 controls (escape sequences can clear the screen or
  rewrite what was printed), DEL, and the bidirectional and invisible
  formatting characters that can reorder or hide text; U+2028 and U+2029,
  which many readers (Python's ``str.splitlines`` among them) take for line
  breaks, so that one JSON line would read as two;
* a strict JSON parser (RFC 8259): no NaN or Infinity, and no lone surrogate,
  which is not Unicode and cannot be written as UTF-8.
"""

from __future__ import annotations

import json
import re

_UNSAFE_CODES = [*range(0x20), *range(0x7F, 0xA0), 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2028, 0x2029,
                 *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF]
TERMINAL_UNSAFE = {c: f"\\u{c:04x}" for c in _UNSAFE_CODES}
"""Characters a terminal must never receive raw, and their ``\\uXXXX`` spelling."""

# In JSON text C0 controls are escaped already (and its line breaks are its
# own); a lone surrogate left in it becomes U+FFFD, the one thing a strict
# reader accepts in its place.
_JSON_TABLE: dict[int, str] = {**{c: e for c, e in TERMINAL_UNSAFE.items() if c >= 0x20},
                               **dict.fromkeys(range(0xD800, 0xE000), "\ufffd")}
_JSON_NEEDS = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_JSON_TABLE) if c < 0xD800)
                         + "\ud800-\udfff]")

_SURROGATES = re.compile("[\ud800-\udfff]")


def printable(value: object) -> str:
    """``value`` as text safe for a terminal: unsafe characters as ``\\uXXXX``."""
    return ("-" if value is None else str(value)).translate(TERMINAL_UNSAFE)


def json_safe(text: str) -> str:
    """JSON ``text`` (as :func:`json.dumps` writes it with ``ensure_ascii=False``)
    made safe for a terminal and a strict reader, with the same meaning: the
    characters :func:`printable` escapes written as ``\\uXXXX``, a lone
    surrogate as U+FFFD. Costs one scan when there is nothing to change."""
    if _JSON_NEEDS.search(text) is None:
        return text
    return text.translate(_JSON_TABLE)


def json_text(value: object) -> str:
    """``value`` as indented JSON for a terminal or a pipe: strict JSON
    (RFC 8259: ValueError on NaN or Infinity), made safe by :func:`json_safe`."""
    return json_safe(json.dumps(value, ensure_ascii=False, indent=1, allow_nan=False))


def json_line(value: object) -> str:
    """``value`` as one line of strict JSON (JSON Lines), made safe by :func:`json_safe`."""
    return json_safe(json.dumps(value, ensure_ascii=False, allow_nan=False))


def unicode_text(text: str) -> str:
    """``text`` with any lone surrogate (from bytes that were not UTF-8) as U+FFFD,
    so that it can be written as UTF-8."""
    return _SURROGATES.sub("\ufffd", text)
