// Envelopes, canonical JSON, SHA-256 through WebCrypto and Ed25519 through
// WebCrypto or, where it has none, the pure-JS fallback (ed25519-fallback.js).
//
// Mirrors registry/core/canonical.py and registry/core/keys.py verify_envelope
// (docs/canonical-encoding.md): a signature covers `<domain> LF <payload>`,
// where the payload is the exact canonical JSON text carried by the
// envelope; base64url without padding; key id = SHA-256(raw key)[:8] hex.
// The browser hashes and verifies the bytes that were signed and never
// re-serialises them, except to refuse non-canonical text (as Python does).

import { DOMAINS } from "./constants.js";

export { DOMAINS };

export class SignatureError extends Error {}

const encoder = new TextEncoder();
export const utf8 = (text) => encoder.encode(text);
export const toHex = (bytes) =>
  Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");

const B64URL_RE = /^[A-Za-z0-9_-]*$/;

/** Base64url without padding -> bytes; refuses padding and non-canonical text. */
export function unb64url(text) {
  if (typeof text !== "string" || !B64URL_RE.test(text) || text.length % 4 === 1) {
    throw new SignatureError("not unpadded base64url");
  }
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "==".slice(0, (4 - (text.length % 4)) % 4);
  const bin = atob(b64);
  const out = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  if (b64url(out) !== text) throw new SignatureError("non-canonical base64url");
  return out;
}

export function b64url(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

export async function sha256Hex(text) {
  return toHex(await sha256(utf8(text)));
}

/** Key id (16 hex chars) of a raw 32-byte public key. */
export async function keyIdOf(raw) {
  return toHex((await sha256(raw)).subarray(0, 8));
}

export function signingInput(domain, payloadBytes) {
  const head = utf8(domain + "\n");
  const out = new Uint8Array(head.length + payloadBytes.length);
  out.set(head);
  out.set(payloadBytes, head.length);
  return out;
}

/** Imported WebCrypto keys, by base64url public key (imported once per page). */
const imported = new Map();

async function importPublic(raw) {
  const id = b64url(raw);
  if (!imported.has(id)) imported.set(id, crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]));
  try {
    return await imported.get(id);
  } catch (e) {
    imported.delete(id);
    throw new SignatureError(`public key cannot be imported: ${e.name}`);
  }
}

/** Whether WebCrypto itself verifies Ed25519 here (Chrome 137+, Safari 17+, Firefox 129+). */
async function webCryptoEd25519() {
  try {
    // The base point's encoding: a valid public key every implementation accepts.
    const raw = new Uint8Array(32).fill(0x66);
    raw[0] = 0x58;
    await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
    return true;
  } catch {
    return false;
  }
}

let backend = null; // Promise of "webcrypto" | "fallback" | null, decided once per page
let fallback = null; // the pure-JS module (ed25519-fallback.js), loaded only when needed

/**
 * Which Ed25519 implementation verifies signatures in this browser:
 * "webcrypto" where WebCrypto has Ed25519; otherwise "fallback", the npm
 * package @noble/ed25519 (strict RFC 8032 mode, SHA-512 from @noble/hashes),
 * loaded on demand from this site (ed25519-fallback.js); null when neither
 * works (no WebCrypto at all, e.g. a page not in a secure context, or a
 * browser without BigInt). Without Ed25519 every signature would look
 * forged, so the page must then say "cannot verify here" (docs/verify-page.md).
 */
export function ed25519Backend() {
  if (!backend) {
    backend = (async () => {
      if (!globalThis.isSecureContext || !globalThis.crypto || !crypto.subtle) return null;
      if (await webCryptoEd25519()) return "webcrypto";
      try {
        fallback = await import("./ed25519-fallback.js");
        return "fallback";
      } catch {
        return null;
      }
    })();
  }
  return backend;
}

/** Whether this browser can verify Ed25519 at all (WebCrypto or the fallback). */
export async function ed25519Supported() {
  return (await ed25519Backend()) !== null;
}

/** True when `signature` verifies over `message` with the raw 32-byte key (never throws). */
export async function ed25519VerifyRaw(publicRaw, signature, message) {
  try {
    if (signature.length !== 64 || publicRaw.length !== 32) return false;
    const which = await ed25519Backend();
    if (which === "webcrypto") return await crypto.subtle.verify({ name: "Ed25519" }, await importPublic(publicRaw), signature, message);
    if (which === "fallback") return fallback.verify(signature, message, publicRaw);
    return false;
  } catch {
    return false;
  }
}

/** True when `signature` is a valid Ed25519 signature by the base64url key (never throws on bad input). */
export async function ed25519Verify(publicB64, signature, message) {
  let raw;
  try {
    raw = unb64url(publicB64);
  } catch {
    return false;
  }
  return ed25519VerifyRaw(raw, signature, message);
}

// --- canonical JSON (registry/core/canonical.py encode/decode) -------------------

function canonicalEncode(value, path) {
  if (value === null || value === true || value === false) return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new SignatureError(`${path}: not a safe integer`);
    return JSON.stringify(value);
  }
  if (typeof value === "string") {
    if (value.normalize("NFC") !== value) throw new SignatureError(`${path}: text is not NFC`);
    // A lone surrogate would be re-encoded as \uXXXX and fail the round trip anyway.
    if (value.isWellFormed && !value.isWellFormed()) throw new SignatureError(`${path}: lone surrogate`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return "[" + value.map((v, i) => canonicalEncode(v, `${path}[${i}]`)).join(",") + "]";
  const keys = Object.keys(value);
  for (const k of keys) {
    if (!/^[\x00-\x7f]*$/.test(k)) throw new SignatureError(`${path}: object key is not ASCII`);
  }
  keys.sort(); // ASCII keys: UTF-16 order = code point order, as in Python
  return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalEncode(value[k], `${path}.${k}`)).join(",") + "}";
}

/**
 * Parse canonical JSON text, refusing anything that is not canonical
 * (round trip: encode(decode(t)) === t), as canonical.decode does. This
 * catches duplicate keys, floats, unsafe integers, whitespace, non-NFC text.
 */
export function decodeCanonical(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SignatureError("not canonical JSON: does not parse");
  }
  if (canonicalEncode(value, "$") !== text) throw new SignatureError("bytes are valid JSON but not canonical");
  return value;
}

/**
 * Check an envelope's shape and signature by the key `{key_id, public_key}`;
 * return its decoded record (registry/core/keys.py verify_envelope).
 */
export async function verifyEnvelope(envelope, domain, key) {
  if (!envelope || typeof envelope !== "object" || Array.isArray(envelope)) {
    throw new SignatureError("envelope must be an object");
  }
  if (envelope.type !== domain) throw new SignatureError(`envelope type is ${String(envelope.type)}, expected ${domain}`);
  if (typeof envelope.payload !== "string") throw new SignatureError("envelope payload must be a string");
  const record = decodeCanonical(envelope.payload);
  if (envelope.key_id !== key.key_id) throw new SignatureError(`envelope signed by another key, expected ${key.key_id}`);
  const signature = unb64url(envelope.signature);
  const message = signingInput(domain, utf8(envelope.payload));
  if (!(await ed25519Verify(key.public_key, signature, message))) {
    throw new SignatureError(`${domain} signature by key ${key.key_id} does not verify`);
  }
  return record;
}
