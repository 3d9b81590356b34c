"""The static site-search index, format ``szzz-search/v2`` (docs/site-search.md).

Built from the rows the site's pages are rendered from (no HTML parsing):
every two adjacent Han characters are a term, so a two-character Chinese
search finds any page whose text contains it; other words are whole terms,
the query's last word also as a prefix. Terms are sharded by their first two
characters so a query fetches a few small files.

A query that is a certificate number, a USCC or a GTIN is not a search but an
exact lookup (:func:`identifier`, :func:`find`): it returns the record with
that identifier first, or nothing, never a record that merely shares words
with it (issue 14: ``SSHM-2022-BV-00001`` must not "find" ``SSHM-2021-BV-00001``).

:func:`find` (and :func:`search`, :func:`lookup` under it) is the reference
implementation of the query rules; ``site/theme/static/js/sitesearch.js``
implements the same rules in the browser, and both are checked against
``docs/vectors/site-search.json``.
"""

import bisect
import itertools
import json
import operator
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from registry.core.exceptions import BuildError
from registry.store import validation

FORMAT = "szzz-search/v2"
FACETS = ("kind", "status", "district", "body", "programme")
CHUNK = 200                 # documents per docs-<j>.json
POSTINGS_PER_SHARD = 16_000
KEYS_PER_SHARD = 2_000
MAX_SHARDS = 1024

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Python's \w (str patterns) is str.isalnum() plus "_": [^\W_] is a letter or
# digit (Unicode L* and N*), here minus the Han ranges.
_RUN = re.compile(f"([{_HAN}]+)|([^\\W_{_HAN}]+)")
FNV_OFFSET, FNV_PRIME = 0x811C9DC5, 0x01000193


def normalize(text: str) -> str:
    """NFKC, then lower case (full-width ``ＳＺＺＺ`` → ``szzz``)."""
    return unicodedata.normalize("NFKC", text).lower()


def _han_terms(run: str):
    yield from run
    for i in range(len(run) - 1):
        yield run[i:i + 2]


def terms(text: str) -> set:
    """The terms of ``text``: Han characters and pairs, and words."""
    out = set()
    for match in _RUN.finditer(normalize(text)):
        han, word = match.groups()
        if han:
            out.update(_han_terms(han))
        else:
            out.add(word)
    return out


def query_terms(query: str):
    """``(terms, prefix)`` of a query: every term must match; ``prefix`` (or
    None) is the last word when it has 2+ characters and only spaces (U+0020;
    NFKC has made ideographic and no-break spaces into them) follow."""
    text = normalize(query)
    found, prefix = [], None
    matches = list(_RUN.finditer(text))
    for i, match in enumerate(matches):
        han, word = match.groups()
        if han:
            pairs = [han[j:j + 2] for j in range(len(han) - 1)] or [han]
            found += [t for t in pairs if t not in found]
        elif (i == len(matches) - 1 and len(word) >= 2 and not text[match.end():].strip(" ")):
            prefix = word
        elif word not in found:
            found.append(word)
    return found, prefix


def _fnv1a(text: str) -> int:
    h = FNV_OFFSET
    for char in text:
        h = ((h ^ ord(char)) * FNV_PRIME) & 0xFFFFFFFF
    return h


def shard_of(term: str, shards: int) -> int:
    """FNV-1a (32-bit) over the code points of the term's first two characters, mod S."""
    return _fnv1a(term[:2]) % shards


def key_shard_of(key: str, shards: int) -> int:
    """FNV-1a (32-bit) over every code point of an exact-lookup key, mod K."""
    return _fnv1a(key) % shards


def shard_count(items: int, per_shard: int = POSTINGS_PER_SHARD) -> int:
    """A power of two giving ~``per_shard`` items a shard, 1..MAX_SHARDS."""
    shards = 1
    while shards < MAX_SHARDS and shards * per_shard < items:
        shards *= 2
    return shards


# ------------------------------------------------------------- exact lookups
# The shapes of the registry's identifiers (store.validation checks the real
# ones when they are written), after normalize(): lower case, ASCII digits.
# A dash may be typed as any hyphen or dash, or as spaces (docs/site-search.md,
# "Exact lookups").
_DASHES = "\\-\u2010-\u2015\u2212 "
_CERT_NO = re.compile(f"([a-z]{{4,5}})[{_DASHES}]+([0-9]{{4}})[{_DASHES}]+([a-z0-9]{{2,8}})"
                      f"[{_DASHES}]+([0-9]{{5}})")
# GB 32100-2015: 8 digits, then 10 digits or capital letters other than I, O, S, V, Z.
_USCC = re.compile("[0-9]{8}[0-9a-hj-npqrtuwxy]{10}")
_GTIN = re.compile("[0-9]{8}|[0-9]{12,14}")
IDENTIFIER_KINDS = ("cert", "uscc", "gtin")


def identifier(text: str) -> tuple[str, str] | None:
    """``(kind, key)`` when the whole of ``text`` (normalised, spaces around it
    ignored) is a certificate number (``cert``), a USCC (``uscc``) or a GTIN
    (``gtin``); else None. The key is ``kind:value``: the number in lower case
    with ``-`` between its parts, the USCC in lower case, the GTIN as 14 digits
    (validation.gtin_key: GTIN-8/12/13 and their GTIN-14 form are one key)."""
    text = normalize(text).strip(" ")
    match = _CERT_NO.fullmatch(text)
    if match:
        return "cert", "cert:" + "-".join(match.groups())
    if _USCC.fullmatch(text):
        return "uscc", "uscc:" + text
    if _GTIN.fullmatch(text):
        return "gtin", "gtin:" + validation.gtin_key(text)
    return None


def key_of(kind: str, value: str) -> str:
    """The exact-lookup key of a record's identifier (BuildError when the
    registry's value does not have the shape of a ``kind``)."""
    found = identifier(value)
    if found is None or found[0] != kind:
        raise BuildError(f"site search: {value!r} does not have the shape of a {kind} identifier "
                         "(docs/site-search.md, Exact lookups)")
    return found[1]


@dataclass
class Document:
    url: str                 # site-relative, no leading slash
    title: str
    sub: str = ""
    text: str = ""
    facets: dict = field(default_factory=dict)   # facet name -> value (kind required)
    keys: tuple = ()      # exact-lookup keys (key_of) of the record this document is
    related: tuple = ()   # keys of records this document is about (shown after the record)


def index_json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def encode_postings(ids):
    """Ascending numbers as differences (the first number, then each step); at C
    speed (map, operator), as a term of 870,000 documents is at 1M certificates."""
    ids = list(ids)
    return ids[:1] + list(map(operator.sub, ids[1:], ids[:-1]))


def _check_shards(shards: int, what: str) -> int:
    if shards < 1 or shards & (shards - 1) or shards > MAX_SHARDS:
        raise BuildError(f"site search: {shards} {what}, expected a power of two ≤ {MAX_SHARDS}")
    return shards


def _facet_values(labels: dict) -> dict:
    out = {}
    for name in FACETS:
        if name not in labels:
            raise BuildError(f"site search: no labels for facet {name!r}")
        out[name] = {value: i for i, value in enumerate(labels[name])}
    return out


def _facet_row(number: int, doc: Document, facet_values: dict) -> list:
    """The document's row of ``facets.json`` (BuildError for an unlabelled value)."""
    if doc.url.startswith("/") or not doc.title:
        raise BuildError(f"site search: document {number} ({doc.url!r}): expected a "
                         "site-relative URL and a title")
    row = []
    for name in FACETS:
        value = doc.facets.get(name)
        if value is None:
            if name == "kind":
                raise BuildError(f"site search: document {doc.url!r} has no kind")
            row.append(-1)
        elif value not in facet_values[name]:
            raise BuildError(f"site search: document {doc.url!r}: {name} {value!r} "
                             f"is not one of the labelled values {sorted(facet_values[name])}")
        else:
            row.append(facet_values[name][value])
    return row


def _meta(docs: int, shards: int, key_shards: int, labels: dict, postings: int) -> str:
    return index_json({
        "chunk": CHUNK, "docs": docs, "format": FORMAT, "shards": shards, "keys": key_shards,
        "postings": postings,
        "facets": {name: [[v, *labels[name][v]] for v in labels[name]] for name in FACETS},
    })


def build_files(documents, labels: dict, *, shards: int | None = None,
                key_shards: int | None = None) -> dict:
    """``{file name: text}`` of the index of ``documents`` (numbered in order).

    ``labels`` maps each facet of :data:`FACETS` to ``{value: (zh, en)}`` in
    the order the page lists them; a document's facet value that is not
    there is refused (it would be a filter nobody can name). ``shards`` and
    ``key_shards`` override :func:`shard_count` (test vectors use several
    shards on few documents).
    """
    facet_values = _facet_values(labels)
    postings: dict[str, list[int]] = {}
    records: dict[str, list[int]] = {}
    about: dict[str, list[int]] = {}
    facets, docs = [], []
    for number, doc in enumerate(documents):
        facets.append(_facet_row(number, doc, facet_values))
        docs.append([doc.url, doc.title, doc.sub, doc.text])
        for term in terms(doc.title + " " + doc.text):
            postings.setdefault(term, []).append(number)
        for key in doc.keys:
            records.setdefault(key, []).append(number)
        for key in doc.related:
            about.setdefault(key, []).append(number)
    if shards is None:
        shards = shard_count(sum(len(v) for v in postings.values()))
    _check_shards(shards, "shards")
    by_shard: list[dict[str, list[int]]] = [{} for _ in range(shards)]
    for term, ids in postings.items():
        by_shard[shard_of(term, shards)][term] = encode_postings(ids)
    # Exact lookups: the record(s) a key names, then the documents about it,
    # each group in document order; a document is listed once.
    lookups = {}
    for key in sorted(set(records) | set(about)):
        named = records.get(key, [])
        lookups[key] = named + [n for n in about.get(key, []) if n not in named]
    if key_shards is None:
        key_shards = shard_count(len(lookups), KEYS_PER_SHARD)
    _check_shards(key_shards, "key shards")
    by_key_shard: list[dict[str, list[int]]] = [{} for _ in range(key_shards)]
    for key, ids in lookups.items():
        by_key_shard[key_shard_of(key, key_shards)][key] = ids
    files = {
        "meta.json": _meta(len(docs), shards, key_shards, labels,
                           sum(len(ids) for ids in postings.values())),
        "facets.json": index_json(facets),
    }
    for k, shard in enumerate(by_shard):
        files[f"terms-{k}.json"] = index_json(shard)
    for k, table in enumerate(by_key_shard):
        files[f"keys-{k}.json"] = index_json(table)
    for j in range(0, max(1, len(docs)), CHUNK):
        files[f"docs-{j // CHUNK}.json"] = index_json(docs[j:j + CHUNK])
    return files


def _write(out: Path, name: str, text: str) -> None:
    # A new inode for every file: in an incremental build the old file may be
    # a hard link into the build being served (docs/publishing.md).
    path = out / name
    path.unlink(missing_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def write_index(out_dir, documents, labels: dict, *, shards: int | None = None,
                key_shards: int | None = None) -> dict:
    """Write the index into ``out_dir`` (files of an earlier index there are removed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = build_files(documents, labels, shards=shards, key_shards=key_shards)
    for path in out.glob("*.json"):
        if path.name not in files:
            path.unlink()
    for name, text in files.items():
        _write(out, name, text)
    meta = json.loads(files["meta.json"])
    return {"docs": meta["docs"], "shards": meta["shards"], "keys": meta["keys"], "files": len(files)}


def update_index(out_dir, changed: dict, labels: dict, *, docs: int) -> dict | None:
    """Bring the index in ``out_dir`` to the same documents with ``changed``
    (document number -> :class:`Document`) replaced, rewriting only the files
    they touch: their chunks of ``docs-<j>.json``, ``facets.json``, the term
    shards of the terms they gained or lost, and ``meta.json``. The files are
    those :func:`write_index` would write for the new documents, byte for byte.

    The caller vouches that the index holds ``docs`` documents, the same as
    now but for the changed ones, and that those keep their exact-lookup keys
    (``keys``, ``related``). None, with nothing written, when the index is not
    such an index (another format, other labels or numbers, a changed URL) or
    when the new postings need another number of shards: then write it whole.
    """
    out = Path(out_dir)
    try:
        meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (meta.get("format") != FORMAT or meta.get("docs") != docs or meta.get("chunk") != CHUNK
            or not isinstance(meta.get("postings"), int)
            or meta["facets"] != json.loads(index_json(
                {name: [[v, *labels[name][v]] for v in labels[name]] for name in FACETS}))):
        return None
    facet_values = _facet_values(labels)
    chunks: dict[int, list] = {}
    rows: dict[int, list] = {}
    gained: dict[str, list[int]] = {}
    lost: dict[str, list[int]] = {}
    postings = meta["postings"]
    for number in sorted(changed):
        doc = changed[number]
        if not 0 <= number < docs:
            return None
        j = number // CHUNK
        if j not in chunks:
            chunks[j] = json.loads((out / f"docs-{j}.json").read_text(encoding="utf-8"))
        old = chunks[j][number - j * CHUNK]
        if old[0] != doc.url:
            return None
        before, after = terms(old[1] + " " + old[3]), terms(doc.title + " " + doc.text)
        for term in after - before:
            gained.setdefault(term, []).append(number)
        for term in before - after:
            lost.setdefault(term, []).append(number)
        postings += len(after) - len(before)
        chunks[j][number - j * CHUNK] = [doc.url, doc.title, doc.sub, doc.text]
        rows[number] = _facet_row(number, doc, facet_values)
    shards = meta["shards"]
    if shard_count(postings) != shards:
        return None
    touched: dict[int, dict] = {}
    for table, change in ((gained, _gain), (lost, _lose)):
        for term, numbers in table.items():
            k = shard_of(term, shards)
            if k not in touched:
                touched[k] = json.loads((out / f"terms-{k}.json").read_text(encoding="utf-8"))
            change(touched[k], term, numbers)
    for k, shard in touched.items():
        _write(out, f"terms-{k}.json", index_json(shard))
    for j, chunk in chunks.items():
        _write(out, f"docs-{j}.json", index_json(chunk))
    _write(out, "facets.json", _replace_rows((out / "facets.json").read_text(encoding="utf-8"), rows))
    _write(out, "meta.json", _meta(docs, shards, meta["keys"], labels, postings))
    return {"docs": docs, "shards": shards, "keys": meta["keys"], "files": len(touched) + len(chunks) + 2}


def _gain(shard: dict, term: str, numbers: list) -> None:
    ids = decode_postings(shard.get(term, []))
    for n in numbers:
        i = bisect.bisect_left(ids, n)
        if i == len(ids) or ids[i] != n:
            ids.insert(i, n)
    shard[term] = encode_postings(ids)


def _lose(shard: dict, term: str, numbers: list) -> None:
    ids = decode_postings(shard.get(term, []))
    for n in numbers:
        i = bisect.bisect_left(ids, n)
        if i < len(ids) and ids[i] == n:
            del ids[i]
    if ids:
        shard[term] = encode_postings(ids)
    else:
        shard.pop(term, None)


def _replace_rows(text: str, rows: dict) -> str:
    """``facets.json`` (``[[…],[…],…]``, rows of integers) with rows ``rows`` replaced;
    split and joined as text, at C speed, rather than parsed whole."""
    if not rows:
        return text
    parts = text[2:-2].split("],[")
    for number, row in rows.items():
        parts[number] = ",".join(map(str, row))
    return "[[" + "],[".join(parts) + "]]"


# ------------------------------------------------------------- reading

def _read(index_dir, name):
    return json.loads((Path(index_dir) / name).read_text(encoding="utf-8"))


def decode_postings(deltas) -> list:
    return list(itertools.accumulate(deltas))


def search(index_dir, query: str) -> list:
    """Document numbers matching ``query``, ascending (the reference semantics)."""
    found, prefix = query_terms(query)
    if not found and prefix is None:
        return []
    shards = _read(index_dir, "meta.json")["shards"]
    loaded = {}

    def shard(term):
        k = shard_of(term, shards)
        if k not in loaded:
            loaded[k] = _read(index_dir, f"terms-{k}.json")
        return loaded[k]

    result = None
    for term in found:
        ids = set(decode_postings(shard(term).get(term, [])))
        result = ids if result is None else result & ids
    if prefix is not None:
        ids = set()
        for term, deltas in shard(prefix).items():
            if term.startswith(prefix):
                ids.update(decode_postings(deltas))
        result = ids if result is None else result & ids
    return sorted(result)  # type: ignore[arg-type]  # found or prefix is set (see above), so result is a set


def lookup(index_dir, key: str) -> list:
    """Document numbers of exact-lookup ``key``, in the order they are shown."""
    keys = _read(index_dir, "meta.json")["keys"]
    return list(_read(index_dir, f"keys-{key_shard_of(key, keys)}.json").get(key, []))


def find(index_dir, query: str) -> dict:
    """What the search page shows for ``query``: ``{"exact": kind or None, "ids": [...]}``.

    An identifier (:func:`identifier`) is looked up exactly, and nothing
    else is returned for it; any other query is a :func:`search`.
    """
    found = identifier(query)
    if found is not None:
        return {"exact": found[0], "ids": lookup(index_dir, found[1])}
    return {"exact": None, "ids": search(index_dir, query)}


def documents(index_dir, numbers) -> list:
    """``[url, title, sub, text]`` of documents ``numbers``."""
    chunk = _read(index_dir, "meta.json")["chunk"]
    cache, out = {}, []
    for n in numbers:
        j = n // chunk
        if j not in cache:
            cache[j] = _read(index_dir, f"docs-{j}.json")
        out.append(cache[j][n - j * chunk])
    return out
