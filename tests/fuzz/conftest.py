"""The registry the fuzz properties run against (docs/fuzzing.md).

``world``: a real LOG_REGISTRY (one valid, one revoked, one suspended
certificate; tests/builders.py) with its api/ and log/ published, and its
genuine marks: every mark payload any revision of it was ever signed with,
each with the verdict its certificate's status gives it.
"""

import os
import sqlite3

import builders
import pytest

from registry.core import payload

SITE_URL = "https://szzz.example.cn"


class World(dict):
    """The fixture's dict, shown by name in a failing example (its marks are long)."""

    def __repr__(self):
        return f"<world {self['base']}>"


@pytest.fixture(scope="session")
def world(make_registry, tmp_path_factory):
    w = builders.published(make_registry(**builders.LOG_REGISTRY))
    conn = sqlite3.connect(w["db"])
    try:
        current = dict(conn.execute("select cert_no, mark_payload from certificates"))
        every = [r[0] for r in conn.execute("select mark_payload from certificate_revisions "
                                            "where mark_payload is not null")]
    finally:
        conn.close()
    by_role = {role: current[no] for role, no in w["certs"].items()}
    verdict = {text: role for role, text in by_role.items()}      # roles are named as their verdicts
    files = tmp_path_factory.mktemp("fuzz-files")
    fifo = files / "a-fifo"
    os.mkfifo(fifo)
    (files / "a-text-file.png").write_text("not a picture", encoding="utf-8")
    return World(**w, marks=by_role, genuine=set(every), verdict=verdict,
                 urls={role: payload.mark_url(SITE_URL, text) for role, text in by_role.items()},
                 files=files, fifo=fifo)
