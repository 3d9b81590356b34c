"""What people are shown of a signed certificate revision.

Every place that shows a certificate to a person — the verifier's result
(``szzz verify``), the certificate files' ``summary``, the verify page —
takes the product, models, enterprise and dates from a *signed* revision
record (layout in ``docs/design.md``), never from unsigned columns, so a host
that edits a published file cannot change what a verifier prints.
"""

from registry.core import reference


def summary_of(record: dict, body_names=None) -> dict:
    """Display fields of a revision ``record`` (a decoded, verified payload).

    ``body_names`` maps a body code to ``(name_zh, name_en)``; verifiers take
    them from the root-signed trust list, the publisher from the registry.
    """
    programme = reference.PROGRAMMES.get(record.get("programme"), ("", ""))
    body_zh, body_en = (body_names or {}).get(record.get("body"), ("", ""))
    product = record.get("product") if isinstance(record.get("product"), dict) else {}
    enterprise = record.get("enterprise") if isinstance(record.get("enterprise"), dict) else {}
    models = product.get("models")
    return {
        "product_name_zh": product.get("name_zh"), "product_name_en": product.get("name_en"),
        "models": [m for m in models if isinstance(m, str)] if isinstance(models, list) else [],
        "gtin": product.get("gtin"),
        "enterprise_name_zh": enterprise.get("name_zh"), "enterprise_name_en": enterprise.get("name_en"),
        "uscc": enterprise.get("uscc"), "district": enterprise.get("district"),
        "body": record.get("body"), "body_name_zh": body_zh, "body_name_en": body_en,
        "programme": record.get("programme"),
        "programme_name_zh": programme[0], "programme_name_en": programme[1],
        "scope": record.get("scope"), "issued": record.get("issued"),
        "expires": record.get("expires"),
    }
