"""The operators' registry: one SQLite file, and the only code that writes it.

Tables and migrations (:mod:`~registry.store.schema`), the trust list and key
lookup (:mod:`~registry.store.trust`), field and record validation
(:mod:`~registry.store.validation`), every signed act in one transaction
(:mod:`~registry.store.operations`), imports (:mod:`~registry.store.importer`),
the demo registry (:mod:`~registry.store.demo`), reads
(:mod:`~registry.store.queries`, :mod:`~registry.store.history`: statuses
replayed from signed events) and the integrity check ``szzz check``
(:mod:`~registry.store.integrity`).
"""
