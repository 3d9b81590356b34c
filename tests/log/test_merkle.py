"""RFC 6962 hashing and proofs (registry.merkle) against published vectors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tlog_vectors import (
    LEAF_HASHES,
    LEAF_INPUTS,
    ROOT_HASHES,
    STRICT_LENGTH_DEVIATIONS,
    b64,
    have_vectors,
    load,
)

from registry.core.exceptions import ProofError, RegistryError
from registry.log import merkle

needs_vectors = pytest.mark.skipif(not have_vectors(), reason="../shared/vectors/merkle-testdata absent")
INCLUSION = load("inclusion") if have_vectors() else []
CONSISTENCY = load("consistency") if have_vectors() else []


# --- RFC 6962 constants (transparency-dev/merkle rfc6962_test.go, testonly/constants.go)

def test_empty_tree_and_leaf_constants():
    assert merkle.EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.root_hash([]) == merkle.EMPTY_ROOT
    assert merkle.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert merkle.leaf_hash(b"L123456").hex() == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    assert (merkle.node_hash(b"N123", b"N456").hex()
            == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb")


def test_leaf_hashes_of_leaf_inputs():
    assert [merkle.leaf_hash(x) for x in LEAF_INPUTS] == LEAF_HASHES


@pytest.mark.parametrize("size", range(9))
def test_root_hashes_sizes_0_to_8(size):
    leaves = [merkle.leaf_hash(x) for x in LEAF_INPUTS[:size]]
    assert merkle.root_hash(leaves).hex() == ROOT_HASHES[size].hex()
    assert merkle.tree_hash(size, merkle.memory_reader(leaves)) == ROOT_HASHES[size]


def test_proofs_for_every_index_and_size_of_the_constant_tree():
    leaves = [merkle.leaf_hash(x) for x in LEAF_INPUTS]
    read = merkle.memory_reader(leaves)
    for n in range(1, 9):
        for i in range(n):
            merkle.verify_inclusion(i, n, leaves[i], merkle.inclusion_proof(i, n, read), ROOT_HASHES[n])
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(m, n, read)
            merkle.verify_consistency(m, n, proof, ROOT_HASHES[m], ROOT_HASHES[n])


def test_proofs_match_the_published_happy_path_vectors():
    leaves = [merkle.leaf_hash(x) for x in LEAF_INPUTS]
    read = merkle.memory_reader(leaves)
    # inclusion/.../happy-path: leaf 5 of 8 (transparency-dev testdata).
    assert [p.hex()[:8] for p in merkle.inclusion_proof(5, 8, read)] == ["bc1a0643", "ca854ea1", "d37ee418"]
    # consistency/.../happy-path: 2 -> 5.
    assert [p.hex()[:8] for p in merkle.consistency_proof(2, 5, read)] == ["5f083f0a", "bc1a0643"]


# --- transparency-dev/merkle testdata: every inclusion and consistency case

@needs_vectors
def test_vector_counts():
    assert len(INCLUSION) >= 98 and len(CONSISTENCY) >= 98
    assert any(not c["wantErr"] for _, c in INCLUSION) and any(c["wantErr"] for _, c in INCLUSION)


def _inclusion(case):
    merkle.verify_inclusion(case["leafIdx"], case["treeSize"], b64(case["leafHash"]),
                            [b64(p) for p in case["proof"] or []], b64(case["root"]))


def _consistency(case):
    merkle.verify_consistency(case["size1"], case["size2"], [b64(p) for p in case["proof"] or []],
                              b64(case["root1"]), b64(case["root2"]))


@needs_vectors
@pytest.mark.parametrize(("name", "case"), INCLUSION, ids=[n for n, _ in INCLUSION])
def test_inclusion_vector(name, case):
    if case["wantErr"]:
        with pytest.raises(ProofError):
            _inclusion(case)
    else:
        _inclusion(case)


@needs_vectors
@pytest.mark.parametrize(("name", "case"), CONSISTENCY, ids=[n for n, _ in CONSISTENCY])
def test_consistency_vector(name, case):
    if name in STRICT_LENGTH_DEVIATIONS:
        # Deliberate: equal sizes with equal 12-byte "roots" pass in Go; we
        # reject any hash that is not 32 bytes, so b"" == b"" can never pass.
        assert not case["wantErr"]
        with pytest.raises(ProofError, match="observed 12 bytes, expected 32"):
            _consistency(case)
    elif case["wantErr"]:
        with pytest.raises(ProofError):
            _consistency(case)
    else:
        _consistency(case)


# --- specific rules

def test_errors_are_registry_errors_with_observed_expected_messages():
    leaf = merkle.leaf_hash(b"a")
    with pytest.raises(RegistryError, match="leaf index 1 is not below tree size 1"):
        merkle.verify_inclusion(1, 1, leaf, [], leaf)
    with pytest.raises(ProofError, match="observed 0 bytes, expected 32"):
        merkle.verify_inclusion(0, 1, b"", [], b"")
    with pytest.raises(ProofError, match="old tree size is 0"):
        merkle.verify_consistency(0, 0, [], merkle.EMPTY_ROOT, merkle.EMPTY_ROOT)
    with pytest.raises(ProofError, match="smaller than old size"):
        merkle.verify_consistency(3, 2, [], leaf, leaf)


def test_proof_generation_rejects_out_of_range():
    read = merkle.memory_reader([merkle.leaf_hash(b"x")] * 4)
    with pytest.raises(ProofError):
        merkle.inclusion_proof(4, 4, read)
    with pytest.raises(ProofError):
        merkle.consistency_proof(0, 4, read)
    with pytest.raises(ProofError):
        merkle.consistency_proof(5, 4, read)


def test_subtree_decomposition():
    assert merkle.subtree_decomposition(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert merkle.subtree_decomposition(8, 13) == [(2, 2), (0, 12)]
    assert merkle.subtree_decomposition(6, 6) == []


def test_sizes_beyond_32_bits():
    # Synthetic path for a leaf of a 2^40-entry tree: the verifier must agree
    # with the root it implies and reject neighbouring indices.
    size, index = (1 << 40) + 12345, (1 << 33) + 7
    leaf = merkle.leaf_hash(b"big")
    proof = [merkle.leaf_hash(bytes([i])) for i in range(41)]
    root = merkle.root_from_inclusion_proof(index, size, leaf, proof)
    merkle.verify_inclusion(index, size, leaf, proof, root)
    for other in (index ^ (1 << 32), index - 1):
        with pytest.raises(ProofError):
            merkle.verify_inclusion(other, size, leaf, proof, root)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.data())
def test_property_random_trees(size, data):
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    read = merkle.memory_reader(leaves)
    root = merkle.root_hash(leaves)
    i = data.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof(i, size, read)
    merkle.verify_inclusion(i, size, leaves[i], proof, root)
    m = data.draw(st.integers(1, size))
    cproof = merkle.consistency_proof(m, size, read)
    merkle.verify_consistency(m, size, cproof, merkle.root_hash(leaves[:m]), root)
    if proof:
        j, bit = data.draw(st.integers(0, len(proof) - 1)), data.draw(st.integers(0, 255))
        bad = list(proof)
        bad[j] = bytes(b ^ (1 << (bit % 8)) if k == bit // 8 else b for k, b in enumerate(bad[j]))
        with pytest.raises(ProofError):
            merkle.verify_inclusion(i, size, leaves[i], bad, root)
    if cproof:
        bad = [bytes([cproof[0][0] ^ 1]) + cproof[0][1:], *cproof[1:]]
        with pytest.raises(ProofError):
            merkle.verify_consistency(m, size, bad, merkle.root_hash(leaves[:m]), root)
