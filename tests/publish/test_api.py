"""``api/status.json`` of an incremental build (docs/publishing.md, "The status snapshot of an incremental build").

The unchanged certificates' entries are the previous snapshot's text, carried
forward without decoding (:func:`registry.publish.api.snapshot_payload`): the
result must be the bytes of a full write, whatever the entries hold — text
that JSON escapes (quotes, backslashes, control characters), Chinese and
characters beyond the BMP, and text that spells the snapshot's own
punctuation — and whichever certificates changed or are new (first, in the
middle, last). A previous snapshot that is not what a build signed is never
carried forward: the build stops, naming the file, and writes nothing.
"""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import builders
import pytest
from helpers import file_digests

import publish
from registry.core import canonical, keys
from registry.core.exceptions import PreviousBuildError
from registry.publish import api
from registry.store import history, schema, trust

AS_OF = "2025-06-01T15:59:59Z"
# Revision reasons (any text, as far as the snapshot is concerned): what canonical
# JSON escapes, beyond the BMP, and what looks like the snapshot's own delimiters.
REASONS = (
    '企业称"产品合格"', 'C:\\证书\\"引号"\\', '{"body":"CQC","cert_no":"SZZZ-2022-CQC-00001",',
    '],"last_seq":1,"log_size":1,"trust_list_version":1}', "换行\n制表\t\x01\x1f", "𠀀𝄞 超出基本平面",
    "监督抽查不合格 failed market surveillance",
)


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """(certificates, trust list envelope, log signer, last seq) of a real registry of 6 certificates."""
    base = tmp_path_factory.mktemp("api-registry")
    built = builders.build_registry(base, certificates=6, revoke=True)
    db = schema.connect(built.db, readonly=True)
    try:
        return (list(history.iter_certificates(db)), trust.envelope(db),
                api.load_log_signer(db, built.keys, built.passphrase, as_of=AS_OF), history.last_seq(db))
    finally:
        db.conn.close()


def with_reasons(cert, start):
    """``cert`` with adversarial revision reasons (one per revision, from ``REASONS[start]`` on)."""
    return dataclasses.replace(cert, revision_reasons=[REASONS[(start + k) % len(REASONS)]
                                                       for k in range(len(cert.revisions))])


def write(out, parts, certs, *, changed=None, previous=None):
    """``api/`` of ``certs`` under ``out``: a full write, or with ``previous``
    (an ``api/`` directory) an incremental one given the ``changed`` certificates only."""
    _, envelope, signer, last_seq = parts
    statuses = {c.cert_no: (c.status, c.status_date, c.last_seq) for c in certs}
    given = certs if previous is None else [c for c in certs if c.cert_no in changed]
    api.write_files(out, envelope, given, signer, as_of=AS_OF, last_seq=last_seq, statuses=statuses,
                    previous_api=previous)
    return out / "api"


def scenarios(certs):
    """(name, certificates before, certificates after, changed cert_nos) of the splices to try."""
    before = [with_reasons(c, i) for i, c in enumerate(certs)]
    nos = [c.cert_no for c in before]
    changed = {nos[0], nos[3], nos[-1]}
    # New certificates: before the first, between two, after the last (same data, a new
    # number); one number is text JSON escapes (no registry issues it: the splice reads it all the same).
    new = [dataclasses.replace(before[1], cert_no="AAAA-2025-CQC-00001"),
           dataclasses.replace(before[2], cert_no=nos[2] + "A"),
           dataclasses.replace(before[3], cert_no=nos[3] + '"\\'),
           dataclasses.replace(with_reasons(before[4], 3), cert_no="ZZZZ-2025-CQC-00001")]
    after = sorted([with_reasons(dataclasses.replace(c, status="suspended"), 5) if c.cert_no in changed else c
                    for c in before] + new, key=lambda c: c.cert_no)
    return [
        ("inserted, changed and unchanged", before, after, changed | {c.cert_no for c in new}),
        ("nothing changed", before, before, set()),
        ("only new certificates", before, sorted(before + new, key=lambda c: c.cert_no), {c.cert_no for c in new}),
        ("every certificate changed", before, after, {c.cert_no for c in after}),
        ("from no certificates", [], after, {c.cert_no for c in after}),
        ("to the same certificates, one changed in the middle", after, after, {nos[2] + "A"}),
    ]


@pytest.mark.parametrize("which", range(6))
def test_incremental_snapshot_is_the_full_write(parts, tmp_path, which):
    name, before, after, changed = scenarios(parts[0])[which]
    previous = write(tmp_path / "previous", parts, before)
    kept = (previous / "status.json").read_bytes()
    full = write(tmp_path / "full", parts, after)
    incremental = write(tmp_path / "incremental", parts, after, changed=changed, previous=previous)
    assert file_digests(incremental) == file_digests(full), name
    assert (previous / "status.json").read_bytes() == kept, f"{name}: the previous snapshot was written"
    # The spliced payload is canonical and says what the certificates say.
    snapshot = json.loads((incremental / "status.json").read_text(encoding="utf-8"))
    record = canonical.envelope_payload(snapshot, canonical.STATUS_SNAPSHOT)
    assert [(e["cert_no"], e["status"], [r["reason"] for r in e["revisions"]]) for e in record["certificates"]] \
        == [(c.cert_no, c.status, c.revision_reasons) for c in after], name


def resigned(parts, payload: bytes) -> str:
    """A status snapshot file of ``payload``, signed by the registry's log key."""
    return api.dumps(canonical.sign_payload(canonical.STATUS_SNAPSHOT, payload, parts[2]))


def damaged(parts, text: str):
    """Ways a previous status.json can differ from what a build wrote: (damaged text, expected message)."""
    envelope = json.loads(text)
    payload = envelope["payload"]
    record = json.loads(payload)
    entries = [canonical.encode(e).decode() for e in record["certificates"]]
    head, tail = payload.split('"certificates":[', 1)[0], payload[payload.rindex('],"last_seq":'):]

    def listed(items):
        return (head + '"certificates":[' + ",".join(items) + tail).encode()

    stranger = keys.signer_from_seed(b"szzz test: a key in no trust list")
    return [
        (api.dumps({**envelope, "payload": payload.replace("合格", "合")}), "signature by key .* does not verify"),
        (text[:len(text) // 2], "cannot be read as JSON"),
        (api.dumps({**envelope, "type": canonical.STATUS}), "expected a szzz/status-snapshot/v1 envelope"),
        ("[]\n", "observed 'list', expected a szzz/status-snapshot/v1 envelope"),
        (api.dumps(canonical.sign_payload(canonical.STATUS_SNAPSHOT, payload.encode(), stranger)),
         f"signed by key '{stranger.key_id}', expected a key of trust list"),
        # Signed by the log key, but not the layout a build writes.
        (resigned(parts, json.dumps(record, ensure_ascii=False, sort_keys=True).encode()),
         "expected \\{\"as_of\":…"),
        (resigned(parts, listed(entries[::-1])), "expected cert_no in ascending order"),
        (resigned(parts, listed([entries[0], entries[1], *entries[1:]])), "expected cert_no in ascending order"),
        (resigned(parts, listed(['{"as_of":"x"}', *entries])), "at character .*, expected entries"),
        (resigned(parts, listed([*entries, '{"as_of":"x"}'])), "at character .*, expected entries"),
        (resigned(parts, listed([entries[0] + " ", *entries[1:]])),
         "observed '} ,\\{\"body\":.* at character .*, expected entries"),
    ]


@pytest.mark.parametrize("which", range(11))
def test_a_damaged_previous_snapshot_is_never_carried_forward(parts, tmp_path, which):
    certs = [with_reasons(c, i) for i, c in enumerate(parts[0])]
    previous = write(tmp_path / "previous", parts, certs)
    path = previous / "status.json"
    text, expected = damaged(parts, path.read_text(encoding="utf-8"))[which]
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PreviousBuildError, match=f"^{path}: .*{expected}.*publish.py build --full"):
        write(tmp_path / "next", parts, certs, changed={certs[0].cert_no}, previous=previous)
    assert not (tmp_path / "next").exists(), "a refused build wrote files"


def test_publish_build_stops_on_a_damaged_snapshot_until_a_full_build(make_registry, tmp_path):
    """publish.py build: after the served status.json was altered, a revocation's
    incremental build stops with one line naming the file, the served build stays;
    ``--full`` publishes the revocation."""
    built = make_registry(certificates=3)
    out = tmp_path / "out"
    env = dict(os.environ, SZZZ_PASSPHRASE=built.passphrase.decode(), SOURCE_DATE_EPOCH=str(builders.NOW))

    def build(*extra):
        return subprocess.run([sys.executable, str(publish.ROOT / "publish.py"), "build", "--db", str(built.db),
                               "--out", str(out), "--keys", str(built.keys), "--site-url", "http://127.0.0.1:8000",
                               *extra], check=False, env=env, capture_output=True, text=True, timeout=600)

    assert build().returncode == 0
    served = Path(os.path.realpath(out))
    snapshot = served / "site" / "api" / "status.json"
    text = snapshot.read_text(encoding="utf-8")
    envelope = json.loads(text)
    victim = json.loads(envelope["payload"])["certificates"][1]["cert_no"]
    # One status flipped in the served file: still JSON, still the layout, no longer what was signed.
    altered = envelope["payload"].replace('"status":"valid"', '"status":"revoked"', 1)
    assert altered != envelope["payload"]
    snapshot.unlink()  # a new file: the earlier builds' links keep their bytes
    snapshot.write_text(api.dumps({**envelope, "payload": altered}), encoding="utf-8")
    with built.open() as reg:
        reg.revoke(victim, "监督抽查不合格", date=builders.TODAY)

    refused = build()
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1].startswith(f"Error: {snapshot}: "), refused.stderr
    assert "does not verify" in refused.stderr and "publish.py build --full" in refused.stderr
    assert Path(os.path.realpath(out)) == served, "a refused build switched the output"

    assert build("--full").returncode == 0
    record = canonical.envelope_payload(json.loads((out / "site" / "api" / "status.json").read_text(
        encoding="utf-8")), canonical.STATUS_SNAPSHOT)
    assert {e["cert_no"]: e["status"] for e in record["certificates"]}[victim] == "revoked"
