#!/usr/bin/env python3
"""A structure-aware mutator over real marks: no mutated mark is ever ``valid`` (issue 10).

A demo registry (``registry.store.demo``, signed as an operator signs) is
published (``api/``: trust list and status snapshot, signed by its log key).
Its genuine marks are every mark payload any certificate revision was signed
with. Each case takes one of them and changes it the way a forger, a
printer, a scanner or a copy and paste would (docs/mark-payload.md for the
layout; docs/fuzzing.md for the list of kinds):

* binary form: bit flips, a byte of each field (version, key_id, signed_on,
  expires, record_digest, length, cert_no, signature) substituted, bytes cut,
  added, inserted or deleted, a field taken from another genuine mark,
  another trusted key's id, certificate-number edits, shifted dates, another
  mark's signature replayed, a signature by a key the scheme never trusted,
  re-signed by the body's own key over another digest or other dates (an
  insider), re-signed by another body's key, stacked edits;
* decimal text: digits substituted, inserted, deleted, transposed, cut,
  added, 17-digit groups swapped;
* mark URL: another host, upper case, controls and spaces at the ends or
  line breaks inside (which the input rule ignores), spaces, ``%20``, NBSP,
  U+3000 or a zero-width space inside, percent-encoded or full-width digits,
  a second ``#``, text after the digits, the digits outside the fragment.

Every case is verified by the batch engine (``registry.verify.batch``, on
every core) against the published snapshot. A case whose input decodes to
exactly a genuine mark's bytes -- an edit the input rule ignores (host,
case, white space), or a field swapped for an equal one -- is "equivalent to
genuine" and must get that mark's own verdict; every other case must not be
``valid``. For binary edits equivalence is decided on the bytes the mutator
made, without the parser; for text and URL edits the mutator says by
construction whether the edit is one the rule ignores, and the parser's
reading must agree. The run prints counts per kind and verdict and the rate,
and exits 1 if any case breaks the rules. Its log goes to standard output
(``grep -c Traceback`` on it is 0).

    .venv/bin/python bench/fuzz_marks.py                 # 1,000,000 cases
    .venv/bin/python bench/fuzz_marks.py --cases 2000 --certificates 12
"""

import argparse
import collections
import json
import os
import random
import sys
import tempfile
import time
from array import array
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry.core import canonical, keys, payload
from registry.core.exceptions import PayloadError
from registry.publish import api
from registry.store import demo, schema
from registry.verify import batch
from registry.verify.listings import Listing

TODAY = "2025-06-15"
AS_OF = "2025-06-15T02:00:00Z"
SITE = "https://szzz.example.cn"
FIELDS = {"version": (0, 1), "key_id": (1, 9), "signed_on": (9, 11), "expires": (11, 13), "digest": (13, 29),
          "length": (29, 30)}                                       # cert_no and signature depend on n
MARK_PREFIX = canonical.signing_input(canonical.MARK, b"")


def field_span(data, name):
    """(start, end) of a field of the binary layout (docs/mark-payload.md), within
    ``data`` (which an earlier edit may have cut short)."""
    if name in FIELDS:
        start, end = FIELDS[name]
    else:
        n = data[payload.AT_LENGTH] if len(data) > payload.AT_LENGTH else 0
        start, end = (30, 30 + n) if name == "cert_no" else (30 + n, 30 + n + 64)
    return min(start, len(data)), min(end, len(data))


def encode(data, rng):
    """Digits of ``data``, bare or as a mark URL."""
    text = payload.bytes_to_digits(data)
    return text if rng.random() < 0.3 else f"{SITE}/v/#{text}"


class World:
    """The genuine marks, the keys, and the signers a forger or an insider would use."""

    def __init__(self, db_path, keys_dir, passphrase, trust_list):
        conn = schema.connect(db_path)
        try:
            texts = sorted({r[0] for r in conn.execute(
                "select mark_payload from certificate_revisions where mark_payload is not null")})
        finally:
            conn.conn.close()
        self.texts = texts
        self.marks = [payload.digits_to_bytes(t) for t in texts]
        self.genuine = set(self.marks)
        record = json.loads(trust_list["payload"])
        self.key_ids = [bytes.fromhex(k["key_id"]) for k in record["keys"]] + [bytes.fromhex(record["root_key_id"])]
        self.body_of_key = {bytes.fromhex(k["key_id"]): k.get("body") for k in record["keys"]}
        self.signers = {kid: keys.load(keys_dir, kid.hex(), passphrase)
                        for kid, body in self.body_of_key.items() if body}
        self.stranger = keys.signer_from_seed(b"fuzz_marks: a key the scheme never trusted")


# ------------------------------------------------------------------- binary edits

def with_n(data, cert_no):
    """``data`` with its certificate number (and length byte) replaced. In a
    stacked edit ``data`` may have been cut before its length byte: the number
    then follows what is left."""
    n = data[payload.AT_LENGTH] if len(data) > payload.AT_LENGTH else 0
    return data[:29] + bytes([len(cert_no) % 256]) + cert_no + data[30 + n:]


def signed(data, signer, key_id=None):
    """``data``'s signed part (key id replaced by ``key_id``), signed by ``signer``."""
    n = data[payload.AT_LENGTH]
    body = bytearray(data[:30 + n])
    if key_id is not None:
        body[1:9] = key_id
    return bytes(body) + signer.sign(MARK_PREFIX + bytes(body))


def bit_flips(w, rng, data, k):
    out = bytearray(data)
    for _ in range(k):
        i = rng.randrange(len(out) * 8)
        out[i // 8] ^= 1 << (i % 8)
    return bytes(out)


def byte_at(name):
    def mutate(w, rng, data):
        start, end = field_span(data, name)
        if start == end:                                              # cut away by an earlier edit
            start, end = 0, len(data)
        out = bytearray(data)
        i = rng.randrange(start, end)
        out[i] = (out[i] + rng.randrange(1, 256)) % 256              # always another value
        return bytes(out)
    return mutate


def field_from_another(w, rng, data):
    other = w.marks[rng.randrange(len(w.marks))]
    name = rng.choice(("key_id", "signed_on", "expires", "digest", "cert_no", "signature"))
    if name == "cert_no":
        s, e = field_span(other, "cert_no")
        return with_n(data, other[s:e])
    s, e = field_span(data, name)
    so, eo = field_span(other, name)
    return data[:s] + other[so:eo] + data[e:]


def other_key_id(w, rng, data):
    choices = [k for k in w.key_ids if k != data[1:9]]
    return data[:1] + rng.choice(choices) + data[9:]


def cert_no_edit(w, rng, data):
    s, e = field_span(data, "cert_no")
    no = data[s:e].decode("ascii")
    parts = no.split("-")
    how = rng.randrange(7)
    if how == 0 and len(parts) == 4:                                   # another serial
        parts[3] = f"{(int(parts[3]) + rng.randrange(1, 99999)) % 100000:05d}"
    elif how == 1 and len(parts) == 4:                                 # another body
        parts[2] = rng.choice(("CQC", "CQM", "BV", "SGS", "TUVSUD", "TUVRH", "JSQS", "SZQI", "EVIL", "X"))
    elif how == 2 and len(parts) == 4:                                 # another year
        parts[1] = str(int(parts[1]) + rng.choice((-2, -1, 1, 2)))
    elif how == 3 and len(parts) == 4:                                 # another programme
        parts[0] = rng.choice(("SZZZ", "SZSC", "SSHM", "SUXIU", "ABCD"))
    elif how == 4:
        no = no.lower()
    elif how == 5:
        no += rng.choice(("0", "-", "A", "\n", " ", "\x00"))
    else:
        no = no[:rng.randrange(len(no))]
    if how < 4:
        no = "-".join(parts)
    return with_n(data, no.encode("latin-1"))


def dates_shifted(w, rng, data):
    name = rng.choice(("signed_on", "expires"))
    s, _ = field_span(data, name)
    days = int.from_bytes(data[s:s + 2], "big") + rng.choice((-1, 1)) * rng.randrange(1, 2000)
    return data[:s] + (days % 65536).to_bytes(2, "big") + data[s + 2:]


def signature_replayed(w, rng, data):
    other = w.marks[rng.randrange(len(w.marks))]
    start, _ = field_span(data, "signature")
    so, eo = field_span(other, "signature")
    return data[:start] + other[so:eo]


def unknown_key(w, rng, data):
    return signed(data, w.stranger)                                  # claims the genuine key id


def insider(field):
    """Re-signed by the mark's own body key, with ``field`` changed first."""
    def mutate(w, rng, data):
        signer = w.signers.get(data[1:9])
        if signer is None:                                            # not a body key: a stranger signs
            return unknown_key(w, rng, data)
        changed = dates_shifted(w, rng, data) if field == "dates" else byte_at("digest")(w, rng, data)
        return signed(changed, signer)
    return mutate


def other_body(w, rng, data):
    kid = rng.choice([k for k in w.signers if k != data[1:9]])
    return signed(data, w.signers[kid], key_id=kid)


def stacked(w, rng, data):
    for _ in range(rng.randrange(2, 5)):
        if len(data) < 2:
            data += rng.randbytes(2)
        _name, mutate = rng.choice(SIMPLE_BINARY)
        data = mutate(w, rng, data)
    return data


def inserted(w, rng, data):
    i = rng.randrange(len(data) + 1)
    return data[:i] + rng.randbytes(1) + data[i:]


def deleted(w, rng, data):
    i = rng.randrange(len(data))
    return data[:i] + data[i + 1:]


BINARY = [
    ("bit flip", lambda w, rng, d: bit_flips(w, rng, d, 1)),
    ("2-8 bit flips", lambda w, rng, d: bit_flips(w, rng, d, rng.randrange(2, 9))),
    *[(f"byte of {name}", byte_at(name)) for name in
      ("version", "key_id", "signed_on", "expires", "digest", "length", "cert_no", "signature")],
    ("bytes cut", lambda w, rng, d: d[:rng.randrange(len(d))]),
    ("bytes added", lambda w, rng, d: d + rng.randbytes(rng.randrange(1, 17))),
    ("byte inserted", inserted),
    ("byte deleted", deleted),
    ("field from another mark", field_from_another),
    ("another trusted key's id", other_key_id),
    ("cert_no edited", cert_no_edit),
    ("dates shifted", dates_shifted),
    ("signature replayed", signature_replayed),
    ("signed by an untrusted key", unknown_key),
    ("insider: other digest re-signed", insider("digest")),
    ("insider: other dates re-signed", insider("dates")),
    ("signed by another body's key", other_body),
]
SIMPLE_BINARY = BINARY[:16]
BINARY.append(("stacked edits", stacked))


# ------------------------------------------------------------------- text and URL edits

def digit_edit(how):
    def mutate(w, rng, text):
        i = rng.randrange(len(text))
        if how == "substituted":
            return text[:i] + rng.choice([c for c in "0123456789" if c != text[i]]) + text[i + 1:]
        if how == "inserted":
            return text[:i] + rng.choice("0123456789") + text[i:]
        if how == "deleted":
            return text[:i] + text[i + 1:]
        if how == "transposed":
            j = min(i + 1, len(text) - 1)
            if text[i] == text[j]:
                return text[:i] + ("1" if text[i] == "0" else "0") + text[i + 1:]
            return text[:i] + text[j] + text[i] + text[j + 1:]
        if how == "cut":
            return text[:i]
        if how == "added":
            return text + "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 30)))
        groups = [text[k:k + 17] for k in range(0, len(text), 17)]
        a, b = rng.sample(range(len(groups) - 1), 2)                  # two full groups that differ
        if groups[a] == groups[b]:
            return text[:i] + ("1" if text[i] == "0" else "0") + text[i + 1:]
        groups[a], groups[b] = groups[b], groups[a]
        return "".join(groups)
    return mutate


TEXT = [(f"digit {how}", digit_edit(how)) for how in
        ("substituted", "inserted", "deleted", "transposed", "cut", "added", "groups swapped")]

C0 = "".join(map(chr, range(0x21)))


def url_edit(how):
    """(URL, same) -- ``same``: an edit the input rule ignores, by construction."""
    def mutate(w, rng, text):
        url = f"{SITE}/v/#{text}"
        i = rng.randrange(len(text) + 1)
        if how == "another host":
            return rng.choice(("http://evil.example", "https://szzz.example.cn.evil.example", "", "x",
                               "HTTPS://SZZZ.EXAMPLE.CN", "file://")) + rng.choice(("/v/#", "#", "/#")) + text, True
        if how == "upper case":
            return url.upper(), True
        if how == "controls and spaces at the ends":
            pad = "".join(rng.choice(C0) for _ in range(rng.randrange(1, 5)))
            return (pad + url) if rng.random() < 0.5 else (url + pad), True
        if how == "line break inside":
            return f"{SITE}/v/#{text[:i]}{rng.choice(chr(9) + chr(10) + chr(13))}{text[i:]}", True
        if how == "space inside":
            space = rng.choice((" ", "%20", "\u00a0", "\u3000", "\u200b", "\ufeff", "+"))
            j = rng.randrange(len(text))                             # not at the end, which the rule strips
            return f"{SITE}/v/#{text[:j]}{space}{text[j:]}", False
        if how == "percent-encoded digits":
            j = min(i, len(text) - 1)
            return f"{SITE}/v/#{text[:j]}%3{text[j]}{text[j + 1:]}", False
        if how == "full-width digits":
            j = min(i, len(text) - 1)
            return f"{SITE}/v/#{text[:j]}{chr(0xFF10 + int(text[j]))}{text[j + 1:]}", False
        if how == "second #":
            return f"{SITE}/v/#{text[:i]}#{text[i:]}", False
        if how == "text after the digits":
            return url + rng.choice(("&", "?x=1", "/", "#", " x", ".", "%00", "\u00a0")), False
        j = rng.randrange(len(text))                                  # a proper part after the '#'
        return rng.choice((f"{SITE}/v/{text}", f"{SITE}/v/?p={text}", f"{SITE}/v/?{text[j:]}#{text[:j]}")), False
    return mutate


URL = [(f"url: {how}", url_edit(how)) for how in
       ("another host", "upper case", "controls and spaces at the ends", "line break inside", "space inside",
        "percent-encoded digits", "full-width digits", "second #", "text after the digits",
        "digits outside the fragment")]
KINDS = [name for name, _ in BINARY + TEXT + URL]


def decoded(text):
    """The bytes the input rule and the payload's text form make of ``text``, or None."""
    try:
        return payload.digits_to_bytes(payload.payload_text(text))
    except PayloadError:
        return None


class Cases:
    """What the mutator made of each case: its kind, whether it is equivalent to a
    genuine mark (and which), and any disagreement between how a case was made
    and how the parser reads it."""

    def __init__(self, n):
        self.n = n
        self.kinds = array("B", bytes(n))
        self.equivalent = bytearray(n)
        self.same_as = array("I", bytes(4 * n))
        self.problems = []

    def listings(self, w, seed):
        """The ``n`` mutated listings, the kinds in turn."""
        rng = random.Random(seed)
        index = {m: i for i, m in enumerate(w.marks)}
        for row in range(self.n):
            kind = row % len(KINDS)
            g = rng.randrange(len(w.marks))
            data, text = w.marks[g], w.texts[g]
            if kind < len(BINARY):
                out = BINARY[kind][1](w, rng, data)
                value = encode(out, rng)
                same = index.get(out)                                 # decided on the bytes made
                readable = 1 <= len(payload.bytes_to_digits(out)) <= payload.MAX_TEXT
                if decoded(value) != (out if readable else None):
                    self.problem(kind, value, "the parser does not read the bytes the mutator made")
            elif kind < len(BINARY) + len(TEXT):
                value = TEXT[kind - len(BINARY)][1](w, rng, text)
                reading = decoded(value)
                same = None if reading is None else index.get(reading)
                if same is not None:
                    self.problem(kind, value, "other digits read as a genuine mark")
            else:
                value, ignored = URL[kind - len(BINARY) - len(TEXT)][1](w, rng, text)
                reading = decoded(value)
                same = g if ignored else None
                if ignored and reading != data:
                    self.problem(kind, value, "an edit the input rule ignores changed the reading")
                if not ignored and reading is not None and reading in w.genuine:
                    self.problem(kind, value, "an edit the rule does not ignore read as a genuine mark")
            self.kinds[row] = kind
            if same is not None:
                self.equivalent[row] = 1
                self.same_as[row] = same
            yield Listing(row + 1, None, "url", value)

    def problem(self, kind, value, what):
        self.problems.append((KINDS[kind], value, what))


class Tally:
    """The batch's output stream: each JSON line counted, never kept."""

    def __init__(self, n):
        self.verdicts = array("B", bytes(n))
        self.names = {}
        self.rows = 0

    def write(self, text):
        for line in text.splitlines():
            row = json.loads(line)
            code = self.names.setdefault(row["verdict"], len(self.names))
            self.verdicts[row["row"] - 1] = code
            self.rows += 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000, help="mutated inputs (default 1,000,000)")
    parser.add_argument("--certificates", type=int, default=200, help="demo registry size (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="mutation and demo seed")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="batch processes (default: every core)")
    args = parser.parse_args()
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fuzz-marks-") as tmpdir:
        tmp = Path(tmpdir)
        passphrase = demo.DEMO_PASSPHRASE.encode()
        demo.build(tmp / "registry.db", tmp / "keys", certificates=args.certificates, seed=args.seed, today=TODAY,
                   passphrase=passphrase)
        db = schema.connect(tmp / "registry.db")
        try:
            api.write_snapshot(db, tmp / "site", api.load_log_signer(db, tmp / "keys", passphrase, as_of=AS_OF),
                               as_of=AS_OF)
        finally:
            db.conn.close()
        root = json.loads((tmp / "site/api/root-key.json").read_text(encoding="utf-8"))["public_key"]
        trust_list = json.loads((tmp / "site/api/trust-list.json").read_text(encoding="utf-8"))
        w = World(tmp / "registry.db", tmp / "keys", passphrase, trust_list)
        built_s = time.perf_counter() - t_start

        # The genuine marks' own verdicts: what an equivalent input must get.
        own = Tally(len(w.marks))
        batch.verify_batch((Listing(i + 1, None, "url", t) for i, t in enumerate(w.texts)), tmp / "site",
                           root_public_key=root, out=own, workers=args.workers, today=TODAY)
        own_names = {code: name for name, code in own.names.items()}
        genuine_verdict = [own_names[own.verdicts[i]] for i in range(len(w.marks))]
        print("$ " + " ".join(["python", *sys.argv]))
        print(f"fuzz_marks: {args.cases:,} mutated inputs of {len(w.marks)} genuine marks "
              f"(demo registry of {args.certificates} certificates, seed {args.seed}, built and published in "
              f"{built_s:.1f} s), {len(KINDS)} kinds of mutation, {args.workers} workers, today {TODAY}")
        print("genuine marks: " + ", ".join(f"{verdict}={k}" for verdict, k in
                                            sorted(collections.Counter(genuine_verdict).items())))

        made = Cases(args.cases)
        tally = Tally(args.cases)
        t0 = time.perf_counter()
        counts = batch.verify_batch(made.listings(w, args.seed), tmp / "site", root_public_key=root, out=tally,
                                    workers=args.workers, today=TODAY)
        seconds = time.perf_counter() - t0

    names = {code: name for name, code in tally.names.items()}
    table = collections.defaultdict(collections.Counter)
    valid_differing, wrong_equivalent, n_equivalent = [], [], 0
    for row in range(args.cases):
        verdict = names[tally.verdicts[row]]
        kind = KINDS[made.kinds[row]]
        if made.equivalent[row]:
            n_equivalent += 1
            table[kind]["(equivalent)"] += 1
            wanted = genuine_verdict[made.same_as[row]]
            if verdict != wanted:
                wrong_equivalent.append((kind, row, verdict, wanted))
        elif verdict == "valid":
            valid_differing.append((kind, row))
        table[kind][verdict] += 1
    verdicts = sorted({v for c in table.values() for v in c if v != "(equivalent)"})
    width = max(map(len, KINDS))
    print()
    print(f"{'kind':<{width}} {'cases':>8} " + " ".join(f"{v:>14}" for v in [*verdicts, "(equivalent)"]))
    for kind in KINDS:
        c = table[kind]
        print(f"{kind:<{width}} {sum(c[v] for v in verdicts):>8,} "
              + " ".join(f"{c[v]:>14,}" for v in [*verdicts, "(equivalent)"]))
    total = sum(counts.values())
    print(f"{'all':<{width}} {total:>8,} " + " ".join(f"{counts.get(v, 0):>14,}" for v in verdicts)
          + f" {n_equivalent:>14,}")
    print()
    print(f"rows out: {tally.rows:,} for {args.cases:,} inputs; {seconds:.1f} s, {args.cases / seconds:,.0f} cases/s "
          f"(mutation in this process, verification on {args.workers} workers)")
    print(f"equivalent to genuine: {n_equivalent:,} inputs decode to exactly a genuine mark's bytes (edits the "
          f"input rule ignores -- host, case, white space -- or a field swapped for an equal one); "
          f"{n_equivalent - len(wrong_equivalent):,} of them got that mark's own verdict")
    ok = tally.rows == args.cases and not valid_differing and not wrong_equivalent and not made.problems
    for kind, value, what in made.problems[:20]:
        print(f"PROBLEM {kind}: {what}: {value!r}")
    for kind, row, verdict, wanted in wrong_equivalent[:20]:
        print(f"PROBLEM {kind}: row {row + 1} is equivalent to a genuine mark but got {verdict}, expected {wanted}")
    for kind, row in valid_differing[:20]:
        print(f"PROBLEM {kind}: row {row + 1} differs from every genuine mark but got valid")
    print(f"{len(valid_differing)} valid among {args.cases - n_equivalent:,} mutated inputs whose bytes differ "
          f"from a genuine mark")
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
