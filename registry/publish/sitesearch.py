"""The static site-search index, format ``szzz-search/v1`` (docs/site-search.md).

Built from the rows the site's pages are rendered from (no HTML parsing):
every two adjacent Han characters are a term, so a two-character Chinese
search finds any page whose text contains it; other words are whole terms,
the query's last word also as a prefix. Terms are sharded by their first two
characters so a query fetches a few small files. :func:`search` is the
reference implementation of the query rules; ``site/theme/static/js/sitesearch.js``
implements the same rules in the browser, and both are checked against
``docs/vectors/site-search.json``.
"""

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from registry.core.exceptions import BuildError

FORMAT = "szzz-search/v1"
FACETS = ("kind", "status", "district", "body", "programme")
CHUNK = 200                 # documents per docs-<j>.json
POSTINGS_PER_SHARD = 16_000
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


def shard_of(term: str, shards: int) -> int:
    """FNV-1a (32-bit) over the code points of the term's first two characters, mod S."""
    h = FNV_OFFSET
    for char in term[:2]:
        h = ((h ^ ord(char)) * FNV_PRIME) & 0xFFFFFFFF
    return h % shards


def shard_count(postings: int) -> int:
    """A power of two giving ~POSTINGS_PER_SHARD postings a shard, 1..MAX_SHARDS."""
    shards = 1
    while shards < MAX_SHARDS and shards * POSTINGS_PER_SHARD < postings:
        shards *= 2
    return shards


@dataclass
class Document:
    url: str                 # site-relative, no leading slash
    title: str
    sub: str = ""
    text: str = ""
    facets: dict = field(default_factory=dict)   # facet name -> value (kind required)


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _delta(ids):
    previous, out = 0, []
    for n in ids:
        out.append(n - previous)
        previous = n
    return out


def build_files(documents, labels: dict, *, shards: int | None = None) -> dict:
    """``{file name: text}`` of the index of ``documents`` (numbered in order).

    ``labels`` maps each facet of :data:`FACETS` to ``{value: (zh, en)}`` in
    the order the page lists them; a document's facet value that is not
    there is refused (it would be a filter nobody can name). ``shards``
    overrides :func:`shard_count` (test vectors use several shards on few
    documents).
    """
    facet_values = {}
    for name in FACETS:
        if name not in labels:
            raise BuildError(f"site search: no labels for facet {name!r}")
        facet_values[name] = {value: i for i, value in enumerate(labels[name])}
    postings: dict[str, list[int]] = {}
    facets, docs = [], []
    for number, doc in enumerate(documents):
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
        facets.append(row)
        docs.append([doc.url, doc.title, doc.sub, doc.text])
        for term in terms(doc.title + " " + doc.text):
            postings.setdefault(term, []).append(number)
    if shards is None:
        shards = shard_count(sum(len(v) for v in postings.values()))
    elif shards < 1 or shards & (shards - 1) or shards > MAX_SHARDS:
        raise BuildError(f"site search: {shards} shards, expected a power of two ≤ {MAX_SHARDS}")
    by_shard: list[dict[str, list[int]]] = [{} for _ in range(shards)]
    for term, ids in postings.items():
        by_shard[shard_of(term, shards)][term] = _delta(ids)
    files = {
        "meta.json": _dumps({
            "chunk": CHUNK, "docs": len(docs), "format": FORMAT, "shards": shards,
            "facets": {name: [[v, *labels[name][v]] for v in labels[name]] for name in FACETS},
        }),
        "facets.json": _dumps(facets),
    }
    for k, shard in enumerate(by_shard):
        files[f"terms-{k}.json"] = _dumps(shard)
    for j in range(0, max(1, len(docs)), CHUNK):
        files[f"docs-{j // CHUNK}.json"] = _dumps(docs[j:j + CHUNK])
    return files


def write_index(out_dir, documents, labels: dict, *, shards: int | None = None) -> dict:
    """Write the index into ``out_dir`` (files of an earlier index there are removed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = build_files(documents, labels, shards=shards)
    for path in out.glob("*.json"):
        if path.name not in files:
            path.unlink()
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8", newline="\n")
    meta = json.loads(files["meta.json"])
    return {"docs": meta["docs"], "shards": meta["shards"], "files": len(files)}


# ------------------------------------------------------------- reading

def _read(index_dir, name):
    return json.loads((Path(index_dir) / name).read_text(encoding="utf-8"))


def decode_postings(deltas) -> list:
    out, n = [], 0
    for d in deltas:
        n += d
        out.append(n)
    return out


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
