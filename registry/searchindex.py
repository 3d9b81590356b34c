"""Make Pagefind's output byte-reproducible.

Pagefind 1.5 writes its filter files (``pagefind/filter/*.pf_filter``) from a
hash map, so the order of a filter's values — and with it the file's bytes,
its content-hash name, the ``.pf_meta`` that lists it and the hash in
``pagefind-entry.json`` — changes from one run to the next over the same
HTML (measured: two runs over identical 3,000 pages differ in exactly these
files; the word index and fragments are stable). Rule: two builds of one
registry are byte-identical, so :func:`normalise` rewrites those files in a
canonical order:

* each filter file: its values sorted by value text, renamed
  ``<lang>_<first 7 hex of SHA-256 of the decompressed bytes>``;
* the meta file: the filter list sorted by name with the new names, renamed
  ``pagefind.<lang>_<13 hex>.pf_meta``; ``pagefind-entry.json`` updated.

Files are ``gzip("pagefind_dcd" + CBOR)``. The small CBOR codec below covers
what Pagefind writes (unsigned integers, byte and text strings, arrays, maps);
every file is checked to re-encode to its original bytes before anything is
changed, so an unknown encoding stops the build instead of corrupting search.
"""

import gzip
import hashlib
import json
from pathlib import Path

from .exceptions import BuildError

MAGIC = b"pagefind_dcd"


# ------------------------------------------------------------------ CBOR

def _head(data, i):
    major, info = data[i] >> 5, data[i] & 31
    i += 1
    if info < 24:
        return major, info, i
    size = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if size is None:
        raise ValueError(f"byte {i - 1}: unsupported CBOR additional info {info}")
    return major, int.from_bytes(data[i:i + size], "big"), i + size


def _decode(data, i):
    major, arg, i = _head(data, i)
    if major == 0:
        return arg, i
    if major in (2, 3):
        raw = data[i:i + arg]
        return (bytes(raw) if major == 2 else raw.decode("utf-8")), i + arg
    if major == 4:
        items = []
        for _ in range(arg):
            item, i = _decode(data, i)
            items.append(item)
        return items, i
    if major == 5:
        pairs = []
        for _ in range(arg):
            k, i = _decode(data, i)
            v, i = _decode(data, i)
            pairs.append((k, v))
        return {"__map__": pairs}, i
    raise ValueError(f"unsupported CBOR major type {major}")


def _encode_head(major, arg):
    if arg < 24:
        return bytes([major << 5 | arg])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if arg < 256 ** size:
            return bytes([major << 5 | info]) + arg.to_bytes(size, "big")
    raise ValueError("integer too large")


def _encode(value):
    if isinstance(value, bool) or value is None:
        raise ValueError("unsupported value")
    if isinstance(value, int):
        return _encode_head(0, value)
    if isinstance(value, bytes):
        return _encode_head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _encode_head(3, len(raw)) + raw
    if isinstance(value, list):
        return _encode_head(4, len(value)) + b"".join(_encode(v) for v in value)
    if isinstance(value, dict):
        pairs = value["__map__"]
        return _encode_head(5, len(pairs)) + b"".join(_encode(k) + _encode(v) for k, v in pairs)
    raise ValueError(f"unsupported type {type(value).__name__}")


def _read(path: Path):
    data = gzip.decompress(path.read_bytes())
    if not data.startswith(MAGIC):
        raise BuildError(f"{path}: not a Pagefind file (no {MAGIC!r} header)")
    try:
        value, end = _decode(data, len(MAGIC))
        if end != len(data) or MAGIC + _encode(value) != data:
            raise ValueError("does not re-encode to the same bytes")
    except (ValueError, IndexError, UnicodeDecodeError) as e:
        raise BuildError(f"{path}: unexpected Pagefind encoding ({e}); "
                         "cannot make the search index reproducible") from None
    return value


def _write(path: Path, value) -> bytes:
    data = MAGIC + _encode(value)
    path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    return data


# ------------------------------------------------------------- normalise

def normalise(pagefind_dir) -> dict:
    """Rewrite the filter and meta files of ``pagefind_dir`` in canonical order."""
    root = Path(pagefind_dir)
    entry_path = root / "pagefind-entry.json"
    entry = json.loads(entry_path.read_text(encoding="utf-8"))
    renamed = {}
    for lang, info in sorted(entry["languages"].items()):
        meta_path = root / f"pagefind.{info['hash']}.pf_meta"
        meta = _read(meta_path)
        filters = _filters_of(meta, meta_path)
        for pair in filters:
            name, old = pair
            path = root / "filter" / f"{old}.pf_filter"
            value = _read(path)
            if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], list)):
                raise BuildError(f"{path}: unexpected filter layout")
            value[1].sort(key=lambda v: _encode(v[0]))
            data = MAGIC + _encode(value)
            new = f"{lang}_{hashlib.sha256(data).hexdigest()[:len(old) - len(lang) - 1]}"
            path.unlink()
            _write(root / "filter" / f"{new}.pf_filter", value)
            pair[1] = new
            renamed[old] = new
        filters.sort(key=lambda p: p[0])
        data = MAGIC + _encode(meta)
        new_hash = f"{lang}_{hashlib.sha256(data).hexdigest()[:len(info['hash']) - len(lang) - 1]}"
        meta_path.unlink()
        _write(root / f"pagefind.{new_hash}.pf_meta", meta)
        info["hash"] = new_hash
    # Same formatting as Pagefind's own (compact JSON, no trailing newline).
    entry_path.write_text(json.dumps(entry, ensure_ascii=False, separators=(",", ":")),
                          encoding="utf-8")
    return renamed


def _filters_of(meta, path):
    """The ``[[name, hash], ...]`` list of a meta file (the 5th field in 1.5)."""
    candidates = [v for v in meta if isinstance(v, list) and v
                  and all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
                          for p in v)
                  and all("_" in p[1] for p in v)] if isinstance(meta, list) else []
    if len(candidates) > 1:
        raise BuildError(f"{path}: cannot tell the filter list apart in the meta file")
    return candidates[0] if candidates else []
