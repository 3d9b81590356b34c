"""The scheme's foundations: formats, keys and rules, with no database and no files beyond key files.

Encodings (:mod:`~registry.core.canonical`, :mod:`~registry.core.payload`),
Ed25519 keys and the one signature check (:mod:`~registry.core.keys`), the
lifecycle (:mod:`~registry.core.lifecycle`), **the rules** — which key may
sign what, which verdict evidence gives (:mod:`~registry.core.rules`) — what
people are shown of a signed record (:mod:`~registry.core.records`), time in
Suzhou (:mod:`~registry.core.clock`), reference data
(:mod:`~registry.core.reference`, :mod:`~registry.core.industries`), safe
file writing (:mod:`~registry.core.fs`), fork pools
(:mod:`~registry.core.parallel`) and every error
(:mod:`~registry.core.exceptions`). Everything else builds on this layer.
"""
