"""Verifying marks and published sites: everything a consumer, a platform or an
auditor runs, reading published files only.

* :mod:`~registry.verify.sources` — where published files are read from;
* :mod:`~registry.verify.single` — one mark (``szzz verify``);
* :mod:`~registry.verify.batch` — many listings at once (``szzz verify --batch``);
* :mod:`~registry.verify.image` — a mark's QR code in a picture;
* :mod:`~registry.verify.audit` — a whole published site (``szzz audit``).

This layer never imports the operators' store or the publisher
(``pyproject.toml``, import-linter contracts); the rules it applies are
:mod:`registry.core.rules`.
"""

from registry.verify.single import Verdict, verification_result, verify

__all__ = ["Verdict", "verification_result", "verify"]
