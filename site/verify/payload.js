// The mark payload, parsed in the browser.
//
// A line-for-line port of registry/payload.py (the layout is documented
// there and in docs/mark-payload.md): decimal digits -> bytes (groups of 7
// bytes written as 17 digits, a short final group of k bytes as
// DIGITS_FOR_BYTES[k] digits) -> fields. Any deviation throws PayloadError,
// which the verifier turns into the verdict `malformed` (verify-rules.md,
// check 1). Nothing here touches the DOM.

export const VERSION = 1;
export const KEY_ID_BYTES = 8;
export const DIGEST_BYTES = 16;
export const MAX_CERT_NO = 32;
export const MAX_TEXT = 400;
export const GROUP_BYTES = 7;
export const DIGITS_FOR_BYTES = [0, 3, 5, 8, 10, 13, 15, 17];
const BYTES_FOR_DIGITS = new Map(DIGITS_FOR_BYTES.map((d, b) => [d, b]).filter(([, b]) => b));
const CERT_NO_RE = /^[A-Z0-9-]{1,32}$/;
const DIGITS_RE = /^[0-9]+$/;
const DAY_MS = 86400000;

export class PayloadError extends Error {}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** Decimal digit text -> bytes (registry/payload.py digits_to_bytes). */
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

/** Bytes -> decimal digit text (registry/payload.py bytes_to_digits). */
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

/** Binary payload -> fields (registry/payload.py parse_bytes). */
export function parseBytes(data) {
  if (data.length < 30) {
    throw new PayloadError(`payload is ${data.length} bytes, shorter than the 30-byte header`);
  }
  if (data[0] !== VERSION) {
    throw new PayloadError(`byte 0: unknown payload version ${data[0]}, expected ${VERSION}`);
  }
  const n = data[29];
  if (n < 1 || n > MAX_CERT_NO) {
    throw new PayloadError(`byte 29: certificate number length ${n} outside 1..${MAX_CERT_NO}`);
  }
  const expected = 30 + n + 64;
  if (data.length !== expected) {
    throw new PayloadError(`payload is ${data.length} bytes, expected ${expected} for n=${n}`);
  }
  const certBytes = data.subarray(30, 30 + n);
  const certNo = String.fromCharCode(...certBytes);
  if (!CERT_NO_RE.test(certNo)) {
    throw new PayloadError("bytes 30..: certificate number has characters outside [A-Z0-9-]");
  }
  return {
    version: data[0],
    keyId: hex(data.subarray(1, 9)),
    signedOn: dateOf((data[9] << 8) | data[10]),
    expires: dateOf((data[11] << 8) | data[12]),
    recordDigest: hex(data.subarray(13, 29)),
    certNo,
    signature: data.slice(30 + n),
    signedBytes: data.slice(0, 30 + n),
  };
}

export function parseText(text) {
  return parseBytes(digitsToBytes(text));
}

/**
 * The payload text from what the page was given: a location.hash, a mark
 * URL or bare digits (registry/payload.py payload_from_url: strip, then the
 * part after the first "#"). Browsers percent-encode fragments, so the text
 * is percent-decoded once; anything undecodable or far too long is returned
 * as is and fails parsing (malformed), without work proportional to its size.
 */
export function payloadFromInput(input) {
  let text = typeof input === "string" ? input : "";
  if (text.length > MAX_TEXT * 12) return text; // refused later, never decoded
  try {
    text = decodeURIComponent(text);
  } catch {
    return text; // e.g. a lone "%": not digits, so malformed
  }
  text = text.trim();
  const hash = text.indexOf("#");
  return hash >= 0 ? text.slice(hash + 1) : text;
}
