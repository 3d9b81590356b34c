// The mark payload, parsed in the browser.
//
// A line-for-line port of registry/core/payload.py (the layout is documented
// there and in docs/mark-payload.md): decimal digits -> bytes (groups of 7
// bytes written as 17 digits, a short final group of k bytes as
// DIGITS_FOR_BYTES[k] digits) -> fields. Any deviation throws PayloadError,
// which the verifier turns into the verdict `malformed` (verify-rules.md,
// check 1). Nothing here touches the DOM.

import { PAYLOAD } from "./constants.js";

export const { VERSION, KEY_ID_BYTES, DIGEST_BYTES, MAX_CERT_NO, MAX_TEXT, MAX_INPUT, GROUP_BYTES,
  DIGITS_FOR_BYTES, HEADER_BYTES, SIGNATURE_BYTES, AT } = PAYLOAD;
const BYTES_FOR_DIGITS = new Map(DIGITS_FOR_BYTES.map((d, b) => [d, b]).filter(([, b]) => b));
const CERT_NO_RE = new RegExp(PAYLOAD.CERT_NO_PATTERN);
const DIGITS_RE = /^[0-9]+$/;
const DAY_MS = 86400000;

export class PayloadError extends Error {}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** Decimal digit text -> bytes (registry/core/payload.py digits_to_bytes). */
export function digitsToBytes(text) {
  if (typeof text !== "string" || !text || text.length > MAX_TEXT) {
    const n = typeof text === "string" ? text.length : 0;
    throw new PayloadError(`payload text length ${n} outside 1..${MAX_TEXT}`);
  }
  if (!DIGITS_RE.test(text)) {
    const bad = Array.from(text).findIndex((c) => c < "0" || c > "9");
    throw new PayloadError(`character ${bad}: payload must be decimal digits`);
  }
  const full = Math.floor(text.length / 17);
  const rest = text.length % 17;
  if (rest && !BYTES_FOR_DIGITS.has(rest)) {
    throw new PayloadError(`payload length ${text.length} digits is not a valid group length`);
  }
  const sizes = new Array(full).fill(GROUP_BYTES);
  if (rest) sizes.push(BYTES_FOR_DIGITS.get(rest));
  const out = new Uint8Array(sizes.reduce((a, b) => a + b, 0));
  let pos = 0;
  let at = 0;
  for (const size of sizes) {
    const width = DIGITS_FOR_BYTES[size];
    // 7 bytes exceed 2^53: BigInt keeps every digit exact.
    let value = BigInt(text.slice(pos, pos + width));
    if (value >= 256n ** BigInt(size)) {
      throw new PayloadError(`digits ${pos}..${pos + width - 1}: group value exceeds ${size} bytes`);
    }
    for (let i = size - 1; i >= 0; i--) {
      out[at + i] = Number(value & 255n);
      value >>= 8n;
    }
    at += size;
    pos += width;
  }
  return out;
}

/** Bytes -> decimal digit text (registry/core/payload.py bytes_to_digits). */
export function bytesToDigits(data) {
  let out = "";
  for (let i = 0; i < data.length; i += GROUP_BYTES) {
    const group = data.subarray(i, i + GROUP_BYTES);
    let value = 0n;
    for (const b of group) value = (value << 8n) | BigInt(b);
    out += value.toString().padStart(DIGITS_FOR_BYTES[group.length], "0");
  }
  return out;
}

function dateOf(days) {
  return new Date(days * DAY_MS).toISOString().slice(0, 10);
}

/** Binary payload -> fields (registry/core/payload.py unpack and parse_bytes). */
export function parseBytes(data) {
  if (data.length < HEADER_BYTES) {
    throw new PayloadError(`payload is ${data.length} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  }
  if (data[AT.VERSION] !== VERSION) {
    throw new PayloadError(`byte ${AT.VERSION}: unknown payload version ${data[AT.VERSION]}, expected ${VERSION}`);
  }
  const n = data[AT.LENGTH];
  if (n < 1 || n > MAX_CERT_NO) {
    throw new PayloadError(`byte ${AT.LENGTH}: certificate number length ${n} outside 1..${MAX_CERT_NO}`);
  }
  const end = HEADER_BYTES + n;
  if (data.length !== end + SIGNATURE_BYTES) {
    throw new PayloadError(`payload is ${data.length} bytes, expected ${end + SIGNATURE_BYTES} for n=${n}`);
  }
  const certNo = String.fromCharCode(...data.subarray(HEADER_BYTES, end));
  if (!CERT_NO_RE.test(certNo)) {
    throw new PayloadError(`bytes ${HEADER_BYTES}..: certificate number has characters outside [A-Z0-9-]`);
  }
  return {
    version: data[AT.VERSION],
    keyId: hex(data.subarray(AT.KEY_ID, AT.SIGNED_ON)),
    signedOn: dateOf((data[AT.SIGNED_ON] << 8) | data[AT.SIGNED_ON + 1]),
    expires: dateOf((data[AT.EXPIRES] << 8) | data[AT.EXPIRES + 1]),
    recordDigest: hex(data.subarray(AT.DIGEST, AT.LENGTH)),
    certNo,
    signature: data.slice(end),
    signedBytes: data.slice(0, end),
  };
}

export function parseText(text) {
  return parseBytes(digitsToBytes(text));
}

// What the WHATWG URL parser strips from both ends of a URL (C0 controls
// and space) and removes everywhere (tab, LF, CR) before a page sees its
// fragment (registry/core/payload.py payload_text).
const URL_STRIP = /^[\u0000-\u0020]+|[\u0000-\u0020]+$/g;
const URL_REMOVE = /[\t\n\r]/g;

/**
 * The payload digits in what was scanned or pasted: a location.hash, a mark
 * URL or bare digits. The one input rule of both verifiers
 * (registry/core/payload.py payload_text, docs/verification.md "Input"): at most
 * MAX_INPUT characters; C0 controls and spaces stripped from both ends, tab,
 * LF and CR removed; the text after the first "#"; then 1..MAX_TEXT ASCII
 * digits, nothing percent-decoded or trimmed further. Throws PayloadError.
 */
export function payloadText(scanned) {
  if (typeof scanned !== "string") throw new PayloadError("input is not text");
  if (scanned.length > MAX_INPUT) throw new PayloadError(`input is ${scanned.length} characters, longer than ${MAX_INPUT}`);
  let text = scanned.replace(URL_STRIP, "").replace(URL_REMOVE, "");
  const hash = text.indexOf("#");
  if (hash >= 0) text = text.slice(hash + 1);
  if (!text) throw new PayloadError("the mark holds no payload (nothing after '#')");
  if (text.length > MAX_TEXT) throw new PayloadError(`payload is ${text.length} characters, longer than ${MAX_TEXT}`);
  if (!DIGITS_RE.test(text)) {
    const bad = Array.from(text).findIndex((c) => c < "0" || c > "9");
    throw new PayloadError(`character ${bad} of the payload is not an ASCII decimal digit`);
  }
  return text;
}
