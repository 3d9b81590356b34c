"""The small registry the portal tests publish: a 30-certificate demo with one
certificate revoked and one suspended, so every status page and query has rows."""

from registry.store import demo
from registry.store.operations import Registry

TODAY = "2025-06-01"
PASSPHRASE = demo.DEMO_PASSPHRASE.encode()


def revoked_and_suspended(tmp):
    """Build it under ``tmp``; return ``{"db", "keys", "revoked", "suspended", "valid"}``."""
    db, keys_dir = tmp / "registry.db", tmp / "keys"
    demo.build(db, keys_dir, certificates=30, today=TODAY, passphrase=PASSPHRASE)
    reg = Registry.open(db, keys_dir, PASSPHRASE)
    try:
        reg.today_override = TODAY
        valid = [r[0] for r in reg.db.execute(
            "select cert_no from certificates where status = 'valid' order by cert_no")]
        reg.revoke(valid[0], "伪造检测报告 forged test report", date="2025-05-20")
        reg.suspend(valid[1], "监督审核未通过", date="2025-05-21")
    finally:
        reg.close()
    return {"db": db, "keys": keys_dir, "revoked": valid[0], "suspended": valid[1],
            "valid": valid[2:]}
