"""Hypothesis properties: canonical encoding, signatures over every field,
and the lifecycle on a real registry (cached status = replayed events)."""

import datetime
import re
import string

import pytest
from builders import EVALUATION, GENERAL, GROUP, make_uscc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.core import canonical, keys, lifecycle
from registry.core.exceptions import CanonicalEncodingError, LifecycleError, SignatureError, ValidationError
from registry.store import queries
from registry.store.integrity import verify_registry

SIGNER = keys.signer_from_seed(b"szzz test vector body key CQC")
NFC_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20).map(
    lambda s: __import__("unicodedata").normalize("NFC", s))
SAFE_INT = st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)
JSON = st.recursive(
    st.none() | st.booleans() | SAFE_INT | NFC_TEXT,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(string.ascii_letters + "_", min_size=1, max_size=8), inner,
                      max_size=4),
    max_leaves=20)


@given(JSON)
def test_canonical_encoding_is_deterministic_and_round_trips(value):
    data = canonical.encode(value)
    assert canonical.encode(value) == data
    assert canonical.decode(data) == value
    assert canonical.encode(canonical.decode(data)) == data


# Text that is NFC or not, with combining marks, Hangul jamo, compatibility
# characters, quotes, escapes and a lone surrogate: what canonical decoding refuses.
AWKWARD_TEXT = st.text(st.sampled_from([*list('aé́è가가"\\\n 中ÅÅｶﾞ'), "�"]), max_size=6)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**60, 2**60) | st.floats() | AWKWARD_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(AWKWARD_TEXT, inner, max_size=3),
    max_leaves=8)


@settings(max_examples=400)
@given(st.lists(st.text(), min_size=4, max_size=4))
def test_an_envelope_written_out_is_its_canonical_encoding(texts):
    """encode_envelope (the log's fast path) gives encode's bytes, or refuses as it does."""
    try:
        expected = canonical.encode(canonical.envelope(*texts))
    except CanonicalEncodingError as e:
        with pytest.raises(CanonicalEncodingError, match=str(e).split(":")[0].replace("$", r"\$")):
            canonical.encode_envelope(*texts)
    else:
        assert canonical.encode_envelope(*texts) == expected


# What a status statement's fields might hold: text JSON escapes (quotes,
# backslashes, control characters — U+001A then U+0301 is NFC, its escape
# `\u001a` then U+0301 is not), beyond the BMP, not NFC (e + U+0301, < + U+0338,
# Å, 가), lone surrogates; integers beyond ±(2^53-1); booleans, floats, null.
STATUS_TEXT = st.text(st.sampled_from([*'ae\u0301<\u0338\u212b\u1100\u1161"\\\n\x01\x1a中', "\U0001d11e",
                                       "\U00020000", "\ud800"]), max_size=5)
STATUS_NUMBER = st.integers(-2**53 + 1, 2**53 - 1) | st.integers(-2**60, 2**60) | st.sampled_from([2**53, True, 1.0])
STATUS_VALUE = STATUS_TEXT | STATUS_NUMBER | st.none()
STATUS_RECORD = st.fixed_dictionaries({
    "as_of": STATUS_TEXT, "bucket": STATUS_TEXT, "log_size": STATUS_NUMBER,
    "certificates": st.dictionaries(
        STATUS_TEXT | st.integers(0, 9),
        st.fixed_dictionaries({"last_seq": STATUS_NUMBER, "status": STATUS_TEXT})
        | st.fixed_dictionaries({"last_seq": STATUS_VALUE, "status": STATUS_VALUE, "status_date": STATUS_TEXT})
        | STATUS_VALUE, max_size=4),
})


@settings(max_examples=600)
@given(STATUS_RECORD | STATUS_RECORD.map(lambda r: {**r, "extra": 1}) | STATUS_RECORD.map(
    lambda r: {k: v for k, v in r.items() if k != "bucket"}))
def test_a_status_statement_written_out_is_its_canonical_encoding(record):
    """encode_status (4,096 statements a build) gives encode's bytes, or refuses with its very error."""
    assert outcome(canonical.encode_status, record) == outcome(canonical.encode, record)


def outcome(encoder, value):
    """The bytes ``encoder`` gives ``value``, or its error's message."""
    try:
        return encoder(value)
    except CanonicalEncodingError as e:
        return f"refused: {e}"


@pytest.mark.parametrize("text", ['企业称"合格"', "C:\\证书\\", "\n\t\x01\x1f", "\x1a\u0301", "𝄞𠀀", "é"])
def test_a_status_statement_of_awkward_text_is_encoded(text):
    """Text canonical JSON escapes, beyond the BMP, or whose escape is not NFC (U+001A
    then U+0301): the bytes encode gives, and they decode to the record."""
    record = {"as_of": "2025-06-01T15:59:59Z", "bucket": "0a1", "log_size": 2**53 - 1,
              "certificates": {"SZZZ-2022-CQC-00001": {"last_seq": 7, "status": text},
                               "SSHM-2021-BV-00001": {"last_seq": 0, "status": "valid"}}}
    assert canonical.encode_status(record) == canonical.encode(record)
    assert canonical.decode(canonical.encode_status(record)) == record


@pytest.mark.parametrize(("cert_no", "entry", "error"), [
    ("SZZZ-1", {"last_seq": 1, "status": "e\u0301"}, "$.certificates.SZZZ-1.status: text is not Unicode NFC"),
    ("SZZZ-1", {"last_seq": 1, "status": "<\u0338"}, "$.certificates.SZZZ-1.status: text is not Unicode NFC"),
    ("SZZZ-1", {"last_seq": 1, "status": "\u212b"}, "$.certificates.SZZZ-1.status: text is not Unicode NFC"),
    ("SZZZ-1", {"last_seq": 1, "status": "\ud800"}, "$.certificates.SZZZ-1.status: lone surrogate in text"),
    ("证书-1", {"last_seq": 1, "status": "valid"}, "$.certificates: object keys must be ASCII"),
    ("SZZZ-1", {"last_seq": 2**53, "status": "valid"}, "$.certificates.SZZZ-1.last_seq: integer 9007199254740992"),
    ("SZZZ-1", {"last_seq": 1.0, "status": "valid"}, "$.certificates.SZZZ-1.last_seq: floats are not allowed"),
])
def test_a_status_statement_encode_refuses_is_refused_with_its_error(cert_no, entry, error):
    record = {"as_of": "2025-06-01T15:59:59Z", "bucket": "0a1", "log_size": 1, "certificates": {cert_no: entry}}
    with pytest.raises(CanonicalEncodingError, match=f"^{re.escape(error)}"):
        canonical.encode_status(record)


@given(ANY_JSON, st.booleans())
def test_decode_accepts_only_what_encode_gives_back(value, compact):
    # decode() takes a fast path that skips the walk over the value encode()
    # does (canonical.decode's docstring); whichever path accepts, the bytes
    # must be exactly what encode() makes of the value: the worded checks'
    # rule (NFC, safe integers, no floats, sorted unique keys, no spaces).
    import json

    separators = (",", ":") if compact else None
    try:
        data = json.dumps(value, ensure_ascii=False, sort_keys=True,
                          separators=separators).encode("utf-8", "surrogatepass")
    except ValueError:
        return
    try:
        decoded = canonical.decode(data)
    except CanonicalEncodingError:
        return
    assert decoded == json.loads(data.decode("utf-8")), data
    assert canonical.encode(decoded) == data, data


@given(st.dictionaries(st.text(string.ascii_lowercase, min_size=1, max_size=5), SAFE_INT,
                       min_size=2, max_size=6))
def test_key_order_does_not_matter(d):
    assert canonical.encode(dict(reversed(list(d.items())))) == canonical.encode(d)


RECORD = {
    "cert_no": "SZZZ-2024-CQC-00012", "revision": 1, "previous": None, "programme": "SZZZ",
    "body": "CQC", "key_id": SIGNER.key_id,
    "enterprise": {"uscc": "91320506MA1MXXXX0L", "name_zh": "苏州示例精密机械有限公司",
                   "name_en": "Suzhou Example", "district": "吴中区"},
    "product": {"id": 12, "name_zh": "数控车床", "name_en": "CNC lathe", "models": ["CK-6150"],
                "gtin": None},
    "standards": ["DB3205/T 1001-2021"], "scope": "数控车床的设计、开发和生产",
    "issued": "2024-03-01", "signed_on": "2024-03-01", "expires": "2027-02-28",
    "mark_authorised": True, "evaluation": dict(EVALUATION),
}


def _leaves(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    else:
        yield path, value


LEAVES = list(_leaves(RECORD))


def _changed(value, data):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + data.draw(st.integers(1, 1000))
    if value is None:
        return data.draw(st.sampled_from(["x", 0, False]))
    if isinstance(value, str):
        i = data.draw(st.integers(0, len(value) - 1))
        new = data.draw(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
                        .filter(lambda c: c != value[i]))
        return value[:i] + new + value[i + 1:]
    raise AssertionError(value)


@given(st.data())
def test_changing_any_signed_field_breaks_the_signature(data):
    path, value = data.draw(st.sampled_from(LEAVES))
    env = canonical.make_envelope(canonical.CERTIFICATE, RECORD, SIGNER)
    changed = canonical.decode(env["payload"].encode("utf-8"))
    target = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = _changed(value, data)
    forged = dict(env, payload=canonical.encode(changed).decode("utf-8"))
    assert forged["payload"] != env["payload"]
    with pytest.raises(SignatureError, match="does not verify"):
        keys.verify_envelope(forged, canonical.CERTIFICATE, SIGNER.public_raw)
    assert keys.verify_envelope(env, canonical.CERTIFICATE, SIGNER.public_raw) == RECORD


# ------------------------------------------------------------- lifecycle
ACTS = ("suspend", "reinstate", "revoke", "withdraw", "pass", "fail", "renew", "scope",
        "expire")
ACT_EVENT = {"suspend": "suspended", "reinstate": "reinstated", "revoke": "revoked",
             "withdraw": "withdrawn", "pass": "surveillance_passed",
             "fail": "surveillance_failed", "renew": "renewed", "scope": "scope_changed",
             "expire": "expired"}


@pytest.fixture(scope="module")
def life(make_registry):
    with make_registry(today="2035-01-01").open() as reg:
        reg.add_enterprise({"uscc": make_uscc(500), "name_zh": "苏州性质测试有限公司",
                            "district": "昆山市", "industry": "C3421"})
        yield reg


def _apply(reg, no, act, day):
    if act == "pass":
        return reg.record_surveillance(no, True, date=day)
    if act == "fail":
        return reg.record_surveillance(no, False, date=day)
    if act == "renew":
        return reg.renew(no, (datetime.date.fromisoformat(day)
                              + datetime.timedelta(days=700)).isoformat(), date=day)
    if act == "scope":
        return reg.change_scope(no, f"范围 {day}", "变更", date=day)
    if act == "expire":
        expires = queries.certificate(reg.db, no)["expires"]
        done = reg.expire_due(today=day)
        if no not in done:
            # Not due, or not in a status that expires: the model must agree.
            assert expires >= day or queries.certificate(reg.db, no)["status"] not in (
                "valid", "suspended")
            raise LifecycleError("nothing to expire")
        return done
    return getattr(reg, act)(no, f"理由 {act}", date=day)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(ACTS), st.integers(1, 400)), min_size=1, max_size=10))
def test_no_sequence_of_operations_reaches_a_forbidden_state(life, steps):
    reg = life
    pid = reg.add_product({"enterprise": make_uscc(500), "name_zh": "性质测试产品"})
    no = reg.issue(product=pid, body="CQC", standards=[GENERAL, GROUP], scope="范围",
                   issued="2022-01-01", expires="2023-06-30", evaluation=EVALUATION)
    day = datetime.date(2022, 1, 1)
    status = "valid"
    for act, gap in steps:
        day += datetime.timedelta(days=gap)
        before = status
        try:
            _apply(reg, no, act, day.isoformat())
        except (LifecycleError, ValidationError):
            # Refused: the model must agree the move was not allowed (or, for
            # renew/scope, that dates made it invalid), and nothing changed.
            allowed = lifecycle.TRANSITIONS[ACT_EVENT[act]]
            assert before not in allowed or act in ("renew", "scope", "expire")
        else:
            status = lifecycle.next_status(before, ACT_EVENT[act])
        cert = queries.certificate(reg.db, no)
        replayed = lifecycle.status_from_events([e["type"] for e in cert["history"]])
        assert cert["status"] == replayed == status
        if before in lifecycle.TERMINAL:
            assert status == before


def test_registry_after_random_histories_is_sound(life):
    assert verify_registry(life.db) == []
