"""The signed status files of ``api/`` in an incremental build: spliced and written out vs encoded whole.

    .venv/bin/python bench/api_bench.py [--certificates 10000] [--work DIR] [--rounds 5]
    .venv/bin/python bench/api_bench.py --db REGISTRY.db --keys KEYS_DIR

For a demo registry of N certificates (``bench/publish_bench.py``'s, made once
in ``--work``, not timed) or ``--db``/``--keys``, it writes ``api/`` once
(``api.write_snapshot``, full) and then measures CPU time in this process
(``time.process_time``: the machine may be shared), each variant in turn
``--rounds`` times so that load hits them alike, min and median:

1. ``api/status.json`` when one certificate changed —
   * baseline: what an incremental build did before the splice: the previous
     snapshot json-parsed, its entries merged with the changed one, and
     ``canonical.make_envelope`` of the whole record (checked, encoded, signed);
   * spliced: ``api.read_previous_snapshot`` (its signature checked, its
     entries located) + ``api.snapshot_payload`` + ``canonical.sign_payload``;
   * each followed by the envelope's text (``api.dumps``), as written;
2. the status statement of every bucket — ``canonical.make_envelope`` (the
   generic check and encode) vs ``api.status_statement``
   (``canonical.encode_status``), each signed, and the Ed25519 signatures
   alone (the floor).

Writing the files is not timed (the same either way). Prints figures, never asserts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from publish_bench import PASSPHRASE, make_registry

from registry.core import canonical
from registry.publish import api
from registry.store import history, schema, trust


def cpu(fn, *args):
    start = time.process_time()
    result = fn(*args)
    return time.process_time() - start, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--certificates", type=int, default=10_000)
    ap.add_argument("--work", type=Path, help="where the demo registry is kept (default: a temporary directory)")
    ap.add_argument("--db", type=Path)
    ap.add_argument("--keys", type=Path)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.db is None:
            args.db, args.keys = make_registry(args.work or Path(tmp), args.certificates)
        db = schema.connect(args.db, readonly=True)
        as_of = api.clock.build_time(history.latest_event_date(db))
        signer = api.load_log_signer(db, args.keys, PASSPHRASE.encode(), as_of=as_of)
        as_of = api.as_of_text(as_of)
        statuses = history.replayed_statuses(db)
        last_seq = history.last_seq(db)
        tl = json.loads(trust.envelope(db)["payload"])
        api.write_snapshot(db, Path(tmp) / "previous", signer, statuses=statuses)
        path = Path(tmp) / "previous" / "api" / "status.json"
        nos = sorted(statuses)
        changed = nos[len(nos) // 2]
        entries = {c.cert_no: api.snapshot_entry(c) for c in history.iter_certificates(db, [changed])}
        head = {"as_of": as_of, "last_seq": last_seq, "log_size": last_seq, "trust_list_version": tl["version"]}
        buckets = sorted(api.status_buckets(statuses).items())
        db.conn.close()

        def baseline():
            previous = json.loads(json.loads(path.read_text(encoding="utf-8"))["payload"])
            merged = {e["cert_no"]: e for e in previous["certificates"] if e["cert_no"] not in entries}
            merged.update(entries)
            return api.dumps(canonical.make_envelope(canonical.STATUS_SNAPSHOT, {
                **head, "certificates": [merged[no] for no in sorted(merged)]}, signer))

        def spliced():
            previous = api.read_previous_snapshot(path, tl)
            payload = api.snapshot_payload(head, entries, previous)
            return api.dumps(canonical.sign_payload(canonical.STATUS_SNAPSHOT, payload, signer))

        def records():
            return [{"bucket": b, "as_of": as_of, "log_size": last_seq,
                     "certificates": {no: {"status": s, "last_seq": q} for no, (s, _d, q) in members.items()}}
                    for b, members in buckets]

        def generic():
            return [api.dumps(canonical.make_envelope(canonical.STATUS, r, signer)) for r in records()]

        def written_out():
            return [api.dumps(api.status_statement(b, members, signer, as_of, last_seq)) for b, members in buckets]

        def signatures():
            return [signer.sign(canonical.signing_input(canonical.STATUS, b"x" * 1000)) for _ in buckets]

        variants = {"status.json, baseline (parse + make_envelope)": baseline,
                    "status.json, spliced": spliced,
                    "status statements, make_envelope": generic,
                    "status statements, status_statement (encode_status)": written_out,
                    "status statements, the signatures alone": signatures}
        times: dict[str, list[float]] = {name: [] for name in variants}
        outputs = {}
        for _ in range(args.rounds):
            for name, fn in variants.items():
                seconds, outputs[name] = cpu(fn)
                times[name].append(seconds)
        assert outputs["status.json, spliced"] == outputs["status.json, baseline (parse + make_envelope)"]
        assert outputs["status statements, make_envelope"] == outputs[
            "status statements, status_statement (encode_status)"]
        print(f"{len(nos)} certificates, {len(buckets)} status buckets, status.json "
              f"{path.stat().st_size / 1e6:.1f} MB; CPU seconds over {args.rounds} rounds (min / median):")
        for name, values in times.items():
            print(f"  {name:55} {min(values):7.3f} / {statistics.median(values):7.3f}")
        for a, b in (("status.json, baseline (parse + make_envelope)", "status.json, spliced"),
                     ("status statements, make_envelope", "status statements, status_statement (encode_status)")):
            print(f"  {b.split(', ')[1]} vs {a.split(', ')[1]}: {min(times[a]) / min(times[b]):.1f}x faster")


if __name__ == "__main__":
    main()
