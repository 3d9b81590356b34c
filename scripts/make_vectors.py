#!/usr/bin/env python3
"""Write ``docs/vectors/canonical.json``: test vectors of the canonical encoding
and of signed records (certificate revision, event, trust list).

Keys come from documented seeds (``keys.signer_from_seed``: the Ed25519
private key is SHA-256(seed)), so anyone can recompute every byte. The
output is deterministic: re-running this script reproduces the committed
file byte for byte (a test checks it).

    python scripts/make_vectors.py            # rewrite docs/vectors/canonical.json
    python scripts/make_vectors.py --out F    # write elsewhere
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry.core import canonical, keys
from registry.core.exceptions import CanonicalEncodingError

SEEDS = {
    "root": b"szzz test vector root key",
    "body": b"szzz test vector body key CQC",
}
OUT = ROOT / "docs" / "vectors" / "canonical.json"


def _key(name):
    signer = keys.signer_from_seed(SEEDS[name])
    return signer, {"seed": SEEDS[name].decode("ascii"), "key_id": signer.key_id,
                    "public_key": signer.public_b64}


def _signed(name, domain, record, signer, note):
    env = canonical.make_envelope(domain, record, signer)
    payload = env["payload"].encode("utf-8")
    return {
        "name": name, "note": note, "domain": domain, "record": record,
        "canonical": env["payload"], "canonical_hex": payload.hex(),
        "signing_input_hex": canonical.signing_input(domain, payload).hex(),
        "digest": canonical.sha256_hex(payload), "envelope": env,
    }


def build():
    root, root_info = _key("root")
    body, body_info = _key("body")
    certificate = {
        "cert_no": "SZZZ-2024-CQC-00012", "revision": 1, "previous": None,
        "programme": "SZZZ", "body": "CQC", "key_id": body.key_id,
        "enterprise": {"uscc": "91320506MA1MXXXX0L", "name_zh": "苏州示例精密机械有限公司",
                       "name_en": "Suzhou Example Precision Machinery Co., Ltd.",
                       "district": "吴中区"},
        "product": {"id": 12, "name_zh": "数控车床", "name_en": "CNC lathe",
                    "models": ["CK-6150", "CK-6180"], "gtin": "6901234567892"},
        "standards": ["DB3205/T 1001-2021", "T/SZS 001-2021"],
        "scope": "数控车床的设计、开发和生产", "issued": "2024-03-01", "signed_on": "2024-03-01",
        "expires": "2027-02-28", "mark_authorised": True,
        "evaluation": {"innovation": 88, "quality": 91, "service": 85, "reputation": 90,
                       "recognition": 86},
    }
    cert_vec = _signed("certificate-revision", canonical.CERTIFICATE, certificate, body,
                       "revision 1 of a certificate, signed by the issuing body's key")
    event = {
        "seq": 57, "type": "revoked", "date": "2025-05-01", "actor": "CQC",
        "cert_no": "SZZZ-2024-CQC-00012", "status": "revoked", "revision": 1,
        "record_digest": cert_vec["digest"],
        "prev": canonical.sha256_hex(b"(the previous event's payload)"),
        "reason": "冒用认证标志", "notice": None, "subject": None, "details": {},
    }
    trust_list = {
        "scheme": "苏州制造", "version": 1, "issued": "2024-01-02",
        "root_key_id": root.key_id, "root_public_key": root.public_b64,
        "keys": [{"key_id": body.key_id, "public_key": body.public_b64, "role": "body",
                  "body": "CQC", "body_name_zh": "中国质量认证中心",
                  "body_name_en": "China Quality Certification Centre",
                  "valid_from": "2024-01-02", "valid_to": None, "status": "active",
                  "status_date": "2024-01-02"}],
    }
    signed = [
        cert_vec,
        _signed("event-revoked", canonical.EVENT, event, body,
                "a certificate event; record_digest cites the revision above"),
        _signed("trust-list", canonical.TRUST_LIST, trust_list, root,
                "trust list version 1, signed by the root key"),
    ]
    # One Chinese character changed (数控 -> 数空): same signature must fail.
    tampered = dict(cert_vec["envelope"])
    tampered["payload"] = tampered["payload"].replace("数控车床的", "数空车床的")
    encoding = [
        {"name": "keys-sorted-no-space", "value": {"b": 1, "a": [True, None, "x"]},
         "canonical": '{"a":[true,null,"x"],"b":1}'},
        {"name": "chinese-text-utf8", "value": {"name": "苏州制造"},
         "canonical": '{"name":"苏州制造"}'},
        {"name": "escapes", "value": {"s": "line\nquote\"back\\slash\u0001"},
         "canonical": '{"s":"line\\nquote\\"back\\\\slash\\u0001"}'},
        {"name": "nested-sorted", "value": {"z": {"y": 2, "x": 1}, "a": []},
         "canonical": '{"a":[],"z":{"x":1,"y":2}}'},
        {"name": "max-safe-integer", "value": {"n": 9007199254740991},
         "canonical": '{"n":9007199254740991}'},
    ]
    for case in encoding:
        assert canonical.encode(case["value"]).decode("utf-8") == case["canonical"], case
    refused = [
        {"name": "float", "json": '{"score":88.5}'},
        {"name": "integer-too-large", "json": '{"n":9007199254740992}'},
        {"name": "not-nfc", "json": '{"name":"Cafe\\u0301"}', "note": "e + combining acute (NFD)"},
        {"name": "non-ascii-key", "json": '{"名称":"x"}'},
    ]
    for case in refused:
        try:
            canonical.encode(json.loads(case["json"]))
        except CanonicalEncodingError as e:
            case["error"] = str(e)
        else:
            raise AssertionError(f"{case['name']} should be refused")
    not_canonical = [
        {"name": "whitespace", "bytes": '{"a": 1}'},
        {"name": "unsorted-keys", "bytes": '{"b":1,"a":2}'},
        {"name": "duplicate-key", "bytes": '{"a":1,"a":1}'},
        {"name": "ascii-escaped-chinese", "bytes": '{"a":"\\u82cf"}'},
    ]
    return {
        "format": "szzz canonical-encoding test vectors v1",
        "see": "docs/canonical-encoding.md",
        "keys": {"root": root_info, "body": body_info},
        "encoding": encoding,
        "refused_values": refused,
        "not_canonical_bytes": not_canonical,
        "signed": signed,
        "tampered": {"name": "one-chinese-character-changed", "envelope": tampered,
                     "domain": canonical.CERTIFICATE, "public_key": body_info["public_key"],
                     "expected": "signature does not verify"},
    }


def render():
    return json.dumps(build(), ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(render(), encoding="utf-8")
    tmp.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
