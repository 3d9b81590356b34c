"""Shared test data for the transparency-log tests (Python and browser).

The transparency-dev/merkle vectors live outside the repo, in
``<repo>/../shared/vectors/merkle-testdata`` (Apache-2.0); they are read in
place, never copied. Constants below are quoted from their public sources.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VECTORS = REPO / ".." / "shared" / "vectors" / "merkle-testdata"

# transparency-dev/merkle testonly/constants.go: LeafInputs() and RootHashes().
LEAF_INPUTS = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]
ROOT_HASHES = [bytes.fromhex(h) for h in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
# NodeHashes()[0]: the leaf hashes of LEAF_INPUTS.
LEAF_HASHES = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
)]

# C2SP signed-note.md worked example.
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

# golang.org/x/mod sumdb/note note_test.go (TestSign, TestOpen).
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
PETER_SIG = ("\u2014 PeterNeumann "
             "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")
ENOCH_SIG = ("\u2014 EnochRoot "
             "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n")
# TestOpen badMsgs: each must be rejected as malformed.
GO_BAD_NOTES = [
    GO_TEXT,
    GO_TEXT + "\n",
    GO_TEXT + "\n" + PETER_SIG[:-1],
    "\x01" + GO_TEXT + "\n" + PETER_SIG,
    GO_TEXT + "\n" + "\u2014 Bad Name "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
    GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
]
GO_BAD_NOTE_BYTES = b"\xff" + (GO_TEXT + "\n" + PETER_SIG).encode()

# Checkpoint with a log signature and a timestamp cosignature (TEST keys,
# from the team's transparency-log reference; TS=1767225600).
CHECKPOINT_NOTE = (
    "registry.example/log\n3\nkQycct4P5fttahfwBqz46QBY6hi4Xz2xxU89CLHMLBU=\n\n"
    "\u2014 registry.example/log "
    "q/OOOT72y1+YpBZ6iXe+rGUtGjg9wJbe40k5snw/qezBaH/bTVlvA9D+hTST+AMBSDv2RjIWoulBk3JdRG7vM2W/YAs=\n"
    "\u2014 registry.example/timestamp "
    "XVVExwAAAABpVbkAR/A5kUnDTIG1Ef9ZV1kfPnmyygvn6DqQngzsQkIeH94GRQH1iOmIH55/I8KamOVsZBp4dZuvoCIQclvkFrDDAw==\n"
)
CHECKPOINT_LOG_VKEY = "registry.example/log+abf38e39+AeRLzkPaz/0w8R9xU6UN/eIwfxba7G5b5TvOkE8PzdYo"
CHECKPOINT_TS_VKEY = "registry.example/timestamp+5d5544c7+BFVMgmtuUpnwKG0CNqEJxa9747I9z80oiDme/I2wRmT+"
CHECKPOINT_TS = 1767225600

# Deviation from one transparency-dev vector: it expects two equal 12-byte
# "roots" at equal sizes to pass; we reject every hash that is not 32 bytes.
STRICT_LENGTH_DEVIATIONS = {"consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"}


def b64(s: str | None) -> bytes:
    return base64.b64decode(s or "")


def load(kind: str) -> list[tuple[str, dict]]:
    """All ``(relative name, case)`` of ``inclusion`` or ``consistency`` vectors."""
    root = VECTORS / kind
    return [(f"{kind}/{p.relative_to(root).as_posix()}", json.loads(p.read_text()))
            for p in sorted(root.rglob("*.json"))]


def have_vectors() -> bool:
    return (VECTORS / "inclusion").is_dir() and (VECTORS / "consistency").is_dir()
