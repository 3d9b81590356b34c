"""Keys that cannot lock a body out (issue 10): a new key is locked with the
passphrase the registry's keys share, and a key whose file the endorser's
passphrase cannot open is never endorsed.

Before: a key generated with a mistyped passphrase was accepted and endorsed,
and from then on every act of its body — revocations included — failed with
``cannot decrypt key … (wrong passphrase?)``.
"""

import pytest
from builders import LOG_REGISTRY

from registry.core import keys
from registry.core.exceptions import KeyStoreError
from registry.store import queries, trust
from registry.store.operations import Registry


@pytest.fixture
def built(make_registry):
    return make_registry(**LOG_REGISTRY)


def opened(built, passphrase):
    """The registry opened afresh (no key loaded yet) with ``passphrase``."""
    reg = Registry.open(built.db, built.keys, passphrase)
    reg.today_override = built.today
    return reg


def test_generate_refuses_a_passphrase_that_opens_none_of_the_registry_keys(built):
    files = sorted(built.keys.iterdir())
    with opened(built, b"typo") as reg:
        before = queries.list_keys(reg.db)
        with pytest.raises(KeyStoreError, match=r"wrong key passphrase\? It opens none of the registry's "
                                                rf"{len(files)} key file\(s\) in .*no key was generated"):
            reg.generate_key("body", body="CQC")
        assert queries.list_keys(reg.db) == before
    assert sorted(built.keys.iterdir()) == files
    # The registry's own passphrase makes a key it opens.
    with opened(built, built.passphrase) as reg:
        key_id = reg.generate_key("body", body="CQC")
    assert keys.load(built.keys, key_id, built.passphrase).key_id == key_id


def test_generate_where_only_some_keys_are_kept_checks_those(built, tmp_path):
    """A body's operator keeps only the body's key: the passphrase is checked against it."""
    own = tmp_path / "cqc-keys"
    own.mkdir()
    with opened(built, built.passphrase) as reg:
        cqc_key = trust.signing_key_id(reg.db, "event", date=built.today, body="CQC")
    (own / f"{cqc_key}.pem").write_bytes(keys.key_path(built.keys, cqc_key).read_bytes())
    reg = Registry.open(built.db, own, b"typo")
    with reg, pytest.raises(KeyStoreError, match=r"opens none of the registry's 1 key file\(s\)"):
        reg.generate_key("body", body="CQC")
    with Registry.open(built.db, own, built.passphrase) as reg:
        reg.generate_key("body", body="CQC")


def test_endorse_refuses_a_key_the_passphrase_cannot_open(built, tmp_path):
    # Made where none of the registry's keys are (nothing to check the typo against),
    # then put beside the registry's keys.
    elsewhere = tmp_path / "elsewhere"
    with Registry.open(built.db, elsewhere, b"typo") as reg:
        key_id = reg.generate_key("body", body="CQC")
    keys.key_path(built.keys, key_id).write_bytes(keys.key_path(elsewhere, key_id).read_bytes())
    with opened(built, built.passphrase) as reg:
        version = trust.latest_version(reg.db)
        with pytest.raises(KeyStoreError, match=rf"key {key_id} cannot be endorsed: .*cannot decrypt key "
                                                rf"{key_id} \(wrong passphrase\?\); a key the signing "
                                                "commands cannot open could never sign"):
            reg.endorse_key(key_id, date=built.today)
        assert trust.latest_version(reg.db) == version
        assert trust.key_row(reg.db, key_id)["endorsed_in"] is None
        # The body is not locked out: its endorsed key still signs.
        reg.revoke(built.valid[0], "监督抽查不合格")


def test_endorse_refuses_a_key_whose_file_is_missing(built, tmp_path):
    with Registry.open(built.db, tmp_path / "elsewhere", built.passphrase) as reg:
        key_id = reg.generate_key("body", body="TUVSUD")
    with opened(built, built.passphrase) as reg:
        with pytest.raises(KeyStoreError, match=rf"key {key_id} cannot be endorsed: .*no private key file"):
            reg.endorse_key(key_id, date=built.today)
        assert trust.key_row(reg.db, key_id)["endorsed_in"] is None
