// Ed25519 for browsers whose WebCrypto has none (Chrome < 137, Safari < 17,
// Firefox < 129, many in-app WebViews). Loaded by canonical.js only there.
//
// The npm packages @noble/ed25519 and @noble/hashes (package.json; copied
// into the page's noble/ directory by registry/publish/webverifier.py, as
// jsQR is), in their strict mode: RFC 8032 / FIPS 186-5 decoding (canonical
// point encodings, S < L) and small-order public keys refused, as libsodium
// does, so it accepts no signature the registry's Python verifier refuses
// (registry/core/keys.py verify). The conformance vectors hold both to the
// same verdicts (tests/site/test_verify_page.py).

import * as ed from "./noble/ed25519.js";
import { sha512 } from "./noble/hashes/sha2.js";

ed.hashes.sha512 = sha512;

/** True when `signature` (64 bytes) verifies over `message` with the raw 32-byte key. */
export function verify(signature, message, publicKey) {
  return ed.verify(signature, message, publicKey, { zip215: false });
}
