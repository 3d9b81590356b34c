"""schema.org JSON-LD for certificate, product and enterprise pages.

Search engines and platforms read the records from the pages themselves:

* certificate pages: a ``Certification`` — ``certificationIdentification``
  (the number to consult and verify), ``certificationStatus`` (only
  ``CertificationActive`` when the registry says valid; suspended, revoked,
  withdrawn and expired are all Inactive), the body as ``issuedBy``,
  ``validFrom`` and ``expires``, and the product it is ``about``;
* product pages: a ``Product`` with its ``manufacturer`` and every
  certificate as ``hasCertification``;
* enterprise pages: an ``Organization`` (USCC as ``identifier``, district in
  its ``address``); its products are on their pages, each with the
  enterprise as ``manufacturer`` (same ``@id``).

Every property is one schema.org defines for the type it is on (schema.org
30.0; ``issuer`` is not a schema.org property and ``validUntil`` is
``Permit``'s, so neither is written); tests/schemaorg.py checks each page's
JSON-LD with a JSON-LD processor against the schema.org vocabulary.

The JSON goes inside ``<script type="application/ld+json">``; text fields
are attacker-controlled, so ``<``, ``>`` and ``&`` are written as ``\\u003c``
etc. (a ``</script>`` in a product name can then never close the element),
and U+2028/U+2029 are escaped too for old JavaScript parsers.
"""

import json

from szzz_registry import urls

CONTEXT = "https://schema.org"
ACTIVE = "https://schema.org/CertificationActive"
INACTIVE = "https://schema.org/CertificationInactive"

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
            "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(value) -> str:
    """JSON text safe to place verbatim inside a ``<script>`` data block."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    for ch, escaped in _ESCAPES.items():
        text = text.replace(ch, escaped)
    return text


def _clean(d):
    return {k: v for k, v in d.items() if v not in (None, "", [])}


def _page(site_url, rel):
    """Absolute page URL (the node's ``@id`` and ``url``), or None without a site URL."""
    return urls.absolute(site_url, rel) if site_url else None


def body_organization(body) -> dict:
    return _clean({
        "@type": "Organization", "name": body["name_zh"], "alternateName": body.get("name_en"),
        "identifier": body["code"], "url": urls.safe_href(body.get("website")),
    })


def manufacturer(enterprise, site_url) -> dict:
    return _clean({
        "@type": "Organization", "@id": _page(site_url, urls.enterprise(enterprise["uscc"])),
        "name": enterprise["name_zh"], "alternateName": enterprise.get("name_en"),
        "identifier": enterprise["uscc"],
    })


def _certification_node(cert, site_url) -> dict:
    programme_zh, programme_en = cert["programme_names"]
    page = _page(site_url, urls.certificate(cert["cert_no"]))
    return _clean({
        "@type": "Certification",
        "@id": page,
        "url": page,
        "name": f"“{programme_zh}”品牌认证 · {programme_en} certification",
        "certificationIdentification": cert["cert_no"],
        "certificationStatus": ACTIVE if cert["status"] == "valid" else INACTIVE,
        "issuedBy": body_organization(cert["body_row"]),
        "validFrom": cert["issued"],
        "expires": cert["expires"],
    })


def _product_node(product, site_url) -> dict:
    page = _page(site_url, urls.product(product["id"]))
    return _clean({
        "@type": "Product",
        "@id": page,
        "url": page,
        "name": product["name_zh"],
        "alternateName": product.get("name_en"),
        "gtin": product.get("gtin"),
        "model": product.get("models") or None,
        "category": product.get("category"),
        "manufacturer": manufacturer(product["enterprise_row"], site_url),
    })


def certification(cert, site_url) -> dict:
    """The certificate page's ``Certification``, about its product."""
    return {"@context": CONTEXT, **_certification_node(cert, site_url),
            "about": _product_node(cert["product_row"], site_url)}


def product(product_row, site_url) -> dict:
    """The product page's ``Product`` with its certificates."""
    return _clean({"@context": CONTEXT, **_product_node(product_row, site_url),
                   "description": product_row.get("description"),
                   "hasCertification": [_certification_node(c, site_url)
                                        for c in product_row["certificates"]]})


def organization(enterprise, site_url) -> dict:
    """The enterprise page's ``Organization`` (its certified products are on
    their own pages, each naming it as ``manufacturer``)."""
    page = _page(site_url, urls.enterprise(enterprise["uscc"]))
    return _clean({
        "@context": CONTEXT,
        "@type": "Organization",
        "@id": page,
        "mainEntityOfPage": page,
        "name": enterprise["name_zh"],
        "alternateName": enterprise.get("name_en"),
        "identifier": enterprise["uscc"],
        "url": urls.safe_href(enterprise.get("website")),
        "address": {"@type": "PostalAddress", "addressCountry": "CN", "addressRegion": "江苏省",
                    "addressLocality": f"苏州市{enterprise['district']}"},
    })
