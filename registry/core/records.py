"""What people are shown of a signed certificate revision.

Every place that shows a certificate to a person — the verifier's result
(``szzz verify``), the certificate files' ``summary``, the verify page —
takes the product, models, enterprise and dates from a *signed* revision
record (layout in ``docs/design.md``), never from unsigned columns, so a host
that edits a published file cannot change what a verifier prints.
"""

from __future__ import annotations

from collections.abc import Mapping

from registry.core import reference
from registry.core.canonical import JSON, JSONObject


def summary_of(record: JSONObject, body_names: Mapping[str, tuple[str, str]] | None = None) -> dict[str, JSON]:
    """Display fields of a revision ``record`` (a decoded, verified payload).

    ``body_names`` maps a body code to ``(name_zh, name_en)``; verifiers take
    them from the root-signed trust list, the publisher from the registry.
    """
    code: JSON = record.get("programme")
    body: JSON = record.get("body")
    programme = reference.PROGRAMMES.get(code, ("", ""))
    body_zh, body_en = (body_names or {}).get(body, ("", ""))
    product: JSON = record.get("product")
    if not isinstance(product, dict):
        product = {}
    enterprise: JSON = record.get("enterprise")
    if not isinstance(enterprise, dict):
        enterprise = {}
    models = product.get("models")
    return {
        "product_name_zh": product.get("name_zh"), "product_name_en": product.get("name_en"),
        "models": [m for m in models if isinstance(m, str)] if isinstance(models, list) else [],
        "gtin": product.get("gtin"),
        "enterprise_name_zh": enterprise.get("name_zh"), "enterprise_name_en": enterprise.get("name_en"),
        "uscc": enterprise.get("uscc"), "district": enterprise.get("district"),
        "body": body, "body_name_zh": body_zh, "body_name_en": body_en,
        "programme": code,
        "programme_name_zh": programme[0], "programme_name_en": programme[1],
        "scope": record.get("scope"), "issued": record.get("issued"),
        "expires": record.get("expires"),
    }
