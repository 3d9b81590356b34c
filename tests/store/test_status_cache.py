"""history.check_status_cache: the registry's cached statuses against the replay of the signed events."""

import sqlite3

import pytest

from registry.core.exceptions import StatusCacheError
from registry.store import history

REPLAY = {"A-1": ("valid", "2025-01-01", 1), "B-2": ("revoked", "2025-02-01", 3), "C-3": ("valid", "2025-03-01", 4)}


@pytest.fixture
def registry():
    conn = sqlite3.connect(":memory:")
    conn.execute("create table certificates (cert_no text primary key, status text, status_date text, last_seq int)")
    conn.executemany("insert into certificates values (?, ?, ?, ?)", [(no, *row) for no, row in REPLAY.items()])
    yield conn
    conn.close()


def test_equal_caches_pass(registry):
    history.check_status_cache(registry, dict(REPLAY))


@pytest.mark.parametrize(("replay", "message"), [
    ({**REPLAY, "B-2": ("valid", "2025-01-01", 2), "C-3": ("suspended", "2025-03-01", 4)},
     (r"certificate B-2: the registry's cached status is revoked since 2025-02-01 \(last event 3\), "
     r"its signed events give valid since 2025-01-01 \(last event 2\)")),
    ({no: row for no, row in REPLAY.items() if no != "A-1"}, (r"certificate A-1: no signed events, but the registry "
                                                            r"lists it as valid")),
    ({**REPLAY, "0-0": ("valid", "2024-01-01", 5)}, r"certificate 0-0: has signed events but no row in certificates"),
])
def test_the_first_certificate_that_differs_is_named(registry, replay, message):
    """Whatever differs, the build stops naming the first certificate (cert_no order)."""
    with pytest.raises(StatusCacheError, match=message):
        history.check_status_cache(registry, replay)
