"""schema.org ``Certification`` JSON-LD for certificate pages.

Search engines and platforms read the certificate from the page itself:
``certificationIdentification`` (the number to consult and verify),
``certificationStatus`` (only ``CertificationActive`` when the registry says
valid; suspended, revoked, withdrawn and expired are all Inactive), the body
as ``issuedBy`` (and ``issuer``), validity and the product.

The JSON goes inside ``<script type="application/ld+json">``; text fields
are attacker-controlled, so ``<``, ``>`` and ``&`` are written as ``\\u003c``
etc. (a ``</script>`` in a product name can then never close the element),
and U+2028/U+2029 are escaped too for old JavaScript parsers.
"""

import json

from szzz_registry import urls

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


def certification(cert, site_url) -> dict:
    product = cert["product_row"]
    enterprise = cert["enterprise_row"]
    body = cert["body_row"]
    programme_zh, programme_en = cert["programme_names"]
    issuer = _clean({
        "@type": "Organization", "name": body["name_zh"], "alternateName": body["name_en"],
        "identifier": body["code"], "url": urls.safe_href(body.get("website")),
    })
    return _clean({
        "@context": "https://schema.org",
        "@type": "Certification",
        "@id": urls.absolute(site_url, urls.certificate(cert["cert_no"])) if site_url else None,
        "url": urls.absolute(site_url, urls.certificate(cert["cert_no"])) if site_url else None,
        "name": f"“{programme_zh}”品牌认证 · {programme_en} certification",
        "certificationIdentification": cert["cert_no"],
        "certificationStatus": ACTIVE if cert["status"] == "valid" else INACTIVE,
        "issuedBy": issuer,
        "issuer": issuer,
        "validFrom": cert["issued"],
        "expires": cert["expires"],
        "validUntil": cert["expires"],
        "about": _clean({
            "@type": "Product",
            "name": product["name_zh"],
            "alternateName": product.get("name_en"),
            "gtin": product.get("gtin"),
            "model": product.get("models") or None,
            "manufacturer": _clean({
                "@type": "Organization", "name": enterprise["name_zh"],
                "alternateName": enterprise.get("name_en"), "identifier": enterprise["uscc"],
            }),
        }),
    })
