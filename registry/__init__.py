"""The 苏州制造 (Made in Suzhou) certification registry: core library and CLI.

The registry is one SQLite file holding certification bodies, their signing
keys, standards, enterprises, products, certificates and an append-only,
signed event history. Every module here is independent of Pelican and
Datasette; the plugins under ``plugins/`` are thin adapters over it.
"""

__version__ = "0.1.0"
