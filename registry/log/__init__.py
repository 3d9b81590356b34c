"""The transparency log as clients read it: RFC 6962 Merkle trees
(:mod:`~registry.log.merkle`), C2SP tlog-tiles (:mod:`~registry.log.tiles`),
signed notes and checkpoints (:mod:`~registry.log.note`) and what a verifier
checks of a published log (:mod:`~registry.log.checkpoint`). No database:
publishing the registry's log is :mod:`registry.publish.log`.
"""
