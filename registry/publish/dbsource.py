"""``szzz verify --db``: the registry database as a source of published files.

:class:`DbSource` builds, from the registry's tables, the very structures a
site publishes (``api/trust-list.json``, ``api/certificates/<no>.json``,
:mod:`registry.publish.api`), so the verifier applies the same rules to the
registry as to a site. Statuses come from the signed events (replayed as
usual) and are fresh by definition: no status statement, no log key, no
freshness check. The pinned root key is the registry's own.
"""

import json

from registry.core import canonical
from registry.core.exceptions import SourceMissingError
from registry.publish import api
from registry.store import history, schema, trust
from registry.verify.sources import DirSource


class DbSource(DirSource):
    """The registry at ``db_path``, opened read-only (SchemaError when it is not one)."""

    fresh_by_definition = True

    def __init__(self, db_path):
        self.db = schema.connect(db_path, readonly=True)

    def read(self, name):
        if name == "api/trust-list.json":
            return json.dumps(trust.envelope(self.db))
        prefix = "api/certificates/"
        if name.startswith(prefix) and name.endswith(".json"):
            data = history.certificate_data(self.db, name[len(prefix):-5])
            if data is None:
                raise SourceMissingError(f"{name}: no such certificate in the registry")
            return json.dumps(api.certificate_file(data), ensure_ascii=False)
        raise SourceMissingError(name)

    def read_bytes(self, name):
        return self.read(name).encode("utf-8")

    def root_public_key(self) -> bytes:
        """The registry's own root key: what ``--db`` verification pins."""
        tl = json.loads(json.loads(self.read("api/trust-list.json"))["payload"])
        return canonical.unb64url(tl["root_public_key"])

    def close(self):
        self.db.conn.close()

    def __repr__(self):
        return "DbSource()"
