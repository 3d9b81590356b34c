// Transparency-log verification in the browser: RFC 6962/9162 proofs,
// C2SP signed notes, checkpoints, timestamped cosignatures and tlog-tiles.
//
// The same rules as registry/log/merkle.py, registry/log/note.py and
// registry/log/tiles.py (docs/transparency-log.md). No dependencies: WebCrypto
// SHA-256 digests, and Ed25519 through WebCrypto unless a caller supplies
// another implementation (useEd25519: the verify page passes canonical.js's,
// which falls back to a pure-JS Ed25519 where WebCrypto has none). Sizes and indices are handled as
// BigInt, because JS bitwise operators truncate to 32 bits; callers may pass
// Numbers (safe integers), BigInts or decimal strings.
//
// Tiles, entry bundles and proofs are untrusted: a proof means something only
// when verified against the root of a checkpoint that openNote verified.

export const HASH_SIZE = 32;
export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
export const KEY_TYPE_ED25519 = 0x01;
export const KEY_TYPE_COSIGNATURE = 0x04;
const KINDS = { 1: "ed25519", 4: "cosignature" };
const MAX_SIGNATURES = 100;
const SIG_PREFIX = "\u2014 ";

export class TlogError extends Error {}
export class ProofError extends TlogError {}
export class NoteError extends TlogError {}
export class CheckpointError extends NoteError {}
export class TileError extends TlogError {}

const enc = new TextEncoder();

// ---------------------------------------------------------------- helpers

/** Number | BigInt | decimal string -> non-negative BigInt. */
export function toBig(x, what = "value") {
  if (typeof x === "bigint") {
    if (x < 0n) throw new RangeError(`${what} is negative: observed ${x}`);
    return x;
  }
  if (typeof x === "number" && Number.isSafeInteger(x) && x >= 0) return BigInt(x);
  if (typeof x === "string" && /^(0|[1-9][0-9]*)$/.test(x)) return BigInt(x);
  throw new RangeError(`${what}: observed ${String(x)}, expected a non-negative integer`);
}

export const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard, padded base64 -> bytes (strict). */
export function fromBase64(text) {
  if (typeof text !== "string" || !B64_RE.test(text)) throw new TlogError(`not base64: ${String(text).slice(0, 40)}`);
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

export function toBase64(bytes) {
  return btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** WebCrypto Ed25519: (raw 32-byte key, signature, message) -> boolean. */
async function webCryptoVerify(publicKey, signature, message) {
  const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
}

let ed25519Verify = webCryptoVerify;

/** Verify Ed25519 signatures with `verify(publicKey, signature, message)` (async, -> boolean) instead of WebCrypto. */
export function useEd25519(verify) {
  ed25519Verify = verify;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

function asBytes(x) {
  if (typeof x === "string") return enc.encode(x);
  if (x instanceof Uint8Array) return x;
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  throw new TypeError("expected bytes (Uint8Array, ArrayBuffer) or a string");
}

/** Reject anything but a 32-byte hash (else "" === "" would pass). */
function checkHash(h, what) {
  if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
    const got = h instanceof Uint8Array ? h.length : typeof h;
    throw new ProofError(`${what}: observed ${got} bytes, expected ${HASH_SIZE}`);
  }
}

// ---------------------------------------------------------------- RFC 6962 hashing

/** SHA-256(0x00 ‖ entry) — RFC 6962 §2.1 leaf hash. */
export async function leafHash(entry) {
  return sha256(concat(new Uint8Array([0]), asBytes(entry)));
}

/** SHA-256(0x01 ‖ left ‖ right) — RFC 6962 §2.1 interior node. */
export async function nodeHash(left, right) {
  return sha256(concat(new Uint8Array([1]), left, right));
}

export const EMPTY_ROOT_HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** RFC 9162 §2.1.3.2 loop: the root implied by an inclusion proof. */
export async function rootFromInclusionProof(leafIndex, treeSize, leaf, proof) {
  checkHash(leaf, "leaf hash");
  proof.forEach((p, i) => checkHash(p, `inclusion proof element ${i}`));
  const index = toBig(leafIndex, "leaf index");
  const size = toBig(treeSize, "tree size");
  // Step 1: the index must be inside the tree.
  if (index >= size) throw new ProofError(`leaf index ${index} is not below tree size ${size}`);
  // Steps 2-3.
  let fn = index, sn = size - 1n, r = leaf;
  for (const p of proof) {
    // Step 4a: a proof longer than the path is invalid.
    if (sn === 0n) throw new ProofError(`inclusion proof is too long: observed ${proof.length} hashes`);
    // Step 4b.
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      while (fn !== 0n && (fn & 1n) === 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = await nodeHash(r, p);
    }
    // Step 4c.
    fn >>= 1n; sn >>= 1n;
  }
  // Step 5.
  if (sn !== 0n) throw new ProofError(`inclusion proof is too short: observed ${proof.length} hashes`);
  return r;
}

/** Throws ProofError unless `leaf` is entry `leafIndex` of the tree (treeSize, root). */
export async function verifyInclusion(leafIndex, treeSize, leaf, proof, root) {
  checkHash(root, "root hash");
  return checkInclusionRoot(await rootFromInclusionProof(leafIndex, treeSize, leaf, proof), root);
}

/** RFC 9162 §2.1.3.2 step 5: the root an inclusion proof implies must be the signed root. */
export function checkInclusionRoot(got, root) {
  checkHash(root, "root hash");
  if (!equal(got, root)) {
    throw new ProofError(`inclusion proof does not match the root: observed ${toHex(got)}, expected ${toHex(root)}`);
  }
  return true;
}

/** Throws ProofError unless (size2, root2) extends (size1, root1) — RFC 9162 §2.1.4.2. */
export async function verifyConsistency(size1, size2, proof, root1, root2) {
  checkHash(root1, "old root hash");
  checkHash(root2, "new root hash");
  proof.forEach((p, i) => checkHash(p, `consistency proof element ${i}`));
  const m = toBig(size1, "old size"), n = toBig(size2, "new size");
  if (n < m) throw new ProofError(`new size ${n} is smaller than old size ${m}`);
  if (m === 0n) throw new ProofError("old tree size is 0: a consistency proof from the empty tree is meaningless");
  if (m === n) {
    if (proof.length) throw new ProofError(`sizes are equal but the proof has ${proof.length} hashes, expected 0`);
    if (!equal(root1, root2)) throw new ProofError(`sizes are equal but roots differ: observed ${toHex(root2)}, expected ${toHex(root1)}`);
    return true;
  }
  // Step 1.
  if (!proof.length) throw new ProofError("consistency proof is empty");
  // Step 2: a power-of-two old size contributes its root as the first node.
  const path = (m & (m - 1n)) === 0n ? [root1, ...proof] : [...proof];
  // Steps 3-4.
  let fn = m - 1n, sn = n - 1n;
  while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
  // Step 5.
  let fr = path[0], sr = path[0];
  // Step 6.
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new ProofError(`consistency proof is too long: observed ${proof.length} hashes`);
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (fn !== 0n && (fn & 1n) === 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n; sn >>= 1n;
  }
  // Step 7.
  if (sn !== 0n) throw new ProofError(`consistency proof is too short: observed ${proof.length} hashes`);
  if (!equal(fr, root1)) throw new ProofError(`old root does not match: observed ${toHex(fr)}, expected ${toHex(root1)}`);
  if (!equal(sr, root2)) throw new ProofError(`new root does not match: observed ${toHex(sr)}, expected ${toHex(root2)}`);
  return true;
}

// ---------------------------------------------------------------- signed notes

function validName(name) {
  // signed-note: non-empty, no Unicode spaces, no "+".
  return name.length > 0 && !name.includes("+") && !/\s/u.test(name);
}

async function keyIdOf(name, type, pub) {
  return (await sha256(concat(enc.encode(name), new Uint8Array([0x0a, type]), pub))).slice(0, 4);
}

/** Parse `name+hex(keyID)+base64(type ‖ pub)`; checks the key ID. */
export async function parseVkey(vkey) {
  // signed-note: split on the first two "+" only (base64 may contain "+").
  const i = vkey.indexOf("+"), j = i < 0 ? -1 : vkey.indexOf("+", i + 1);
  if (j < 0) throw new NoteError(`malformed verifier key ${vkey}: expected name+keyid+key`);
  const name = vkey.slice(0, i), hexId = vkey.slice(i + 1, j);
  if (!validName(name)) throw new NoteError(`invalid key name ${JSON.stringify(name)}`);
  if (!/^[0-9a-f]{8}$/.test(hexId)) throw new NoteError(`malformed verifier key: key ID ${hexId}, expected 8 lowercase hex digits`);
  let raw;
  try { raw = fromBase64(vkey.slice(j + 1)); } catch { throw new NoteError("malformed verifier key: key is not base64"); }
  if (raw.length !== 33) throw new NoteError(`malformed verifier key: observed ${raw.length} key bytes, expected 33`);
  const type = raw[0];
  if (!KINDS[type]) throw new NoteError(`unsupported key type 0x${type.toString(16).padStart(2, "0")}, expected 0x01 or 0x04`);
  const publicKey = raw.slice(1);
  const keyId = toHex(await keyIdOf(name, type, publicKey));
  if (keyId !== hexId) throw new NoteError(`verifier key ID mismatch: observed ${hexId}, expected ${keyId}`);
  return { name, keyId, type, kind: KINDS[type], publicKey, vkey };
}

function checkText(text) {
  // signed-note: no control characters other than "\n".
  const m = /[\x00-\x09\x0b-\x1f\x7f]/.exec(text);
  if (m) throw new NoteError(`malformed note: control character U+${m[0].charCodeAt(0).toString(16).padStart(4, "0").toUpperCase()} at ${m.index}`);
}

function splitNote(note) {
  if (typeof note !== "string") {
    try { note = new TextDecoder("utf-8", { fatal: true }).decode(asBytes(note)); } catch (e) {
      if (e instanceof TypeError && !(note instanceof Uint8Array || note instanceof ArrayBuffer)) throw e;
      throw new NoteError("malformed note: not UTF-8");
    }
  }
  checkText(note);
  // signed-note: split at the LAST blank line.
  const i = note.lastIndexOf("\n\n");
  if (i < 0) throw new NoteError("malformed note: no blank line before the signatures");
  const text = note.slice(0, i + 1), sigs = note.slice(i + 2);
  if (!sigs || !sigs.endsWith("\n")) throw new NoteError("malformed note: signature block is empty or lacks a final newline");
  const lines = [];
  for (const line of sigs.slice(0, -1).split("\n")) {
    if (!line.startsWith(SIG_PREFIX)) throw new NoteError(`malformed note: signature line does not start with '— ': ${line.slice(0, 40)}`);
    const rest = line.slice(SIG_PREFIX.length), sp = rest.indexOf(" ");
    const name = sp < 0 ? "" : rest.slice(0, sp), b64 = rest.slice(sp + 1);
    if (sp < 0 || !validName(name)) throw new NoteError(`malformed note: bad key name in signature line ${line.slice(0, 40)}`);
    let raw;
    try { raw = fromBase64(b64); } catch { throw new NoteError(`malformed note: signature of ${name} is not base64`); }
    if (raw.length < 5) throw new NoteError(`malformed note: signature of ${name} is ${raw.length} bytes, expected > 4`);
    lines.push({ name, keyId: toHex(raw.slice(0, 4)), b64, payload: raw.slice(4) });
  }
  if (lines.length > MAX_SIGNATURES) throw new NoteError(`malformed note: observed ${lines.length} signatures, expected at most ${MAX_SIGNATURES}`);
  return { text, lines };
}

async function verifyOne(v, text, payload) {
  let msg, sig, timestamp;
  if (v.type === KEY_TYPE_ED25519) {
    if (payload.length !== 64) throw new NoteError(`invalid signature for key ${v.name}+${v.keyId}: observed ${payload.length} bytes, expected 64`);
    msg = enc.encode(text); sig = payload;
  } else {
    // tlog-cosignature: u64be(timestamp) ‖ Ed25519("cosignature/v1\ntime <ts>\n" ‖ body).
    if (payload.length !== 72) throw new NoteError(`invalid cosignature for key ${v.name}+${v.keyId}: observed ${payload.length} bytes, expected 72`);
    const ts = new DataView(payload.buffer, payload.byteOffset, 8).getBigUint64(0);
    if (ts >= 1n << 63n) throw new NoteError(`invalid cosignature for key ${v.name}: timestamp ${ts} out of range`);
    timestamp = Number(ts);
    msg = enc.encode(`cosignature/v1\ntime ${ts}\n${text}`); sig = payload.slice(8);
  }
  if (!(await ed25519Verify(v.publicKey, sig, msg))) {
    throw new NoteError(`invalid signature for key ${v.name}+${v.keyId}`);
  }
  return timestamp;
}

/**
 * Verify a signed note against known keys (vkey strings or parseVkey results).
 * Unknown (name, key ID) signatures are ignored; a known key whose signature
 * fails rejects the note; at least one known signature must verify.
 * Returns {text, verified: [{name, keyId, kind, timestamp?}], unverified: [{name, keyId}]}.
 */
export async function openNote(note, vkeys) {
  const known = new Map();
  for (const k of vkeys) {
    const v = typeof k === "string" ? await parseVkey(k) : k;
    const id = `${v.name}+${v.keyId}`;
    if (known.has(id) && known.get(id).vkey !== v.vkey) throw new NoteError(`ambiguous key ${id}`);
    known.set(id, v);
  }
  const { text, lines } = splitNote(note);
  const verified = [], unverified = [], seen = new Set();
  for (const { name, keyId, b64, payload } of lines) {
    const id = `${name}+${keyId}`, v = known.get(id);
    if (!v) {
      if (!seen.has(`${id} ${b64}`)) { seen.add(`${id} ${b64}`); unverified.push({ name, keyId }); }
      continue;
    }
    const timestamp = await verifyOne(v, text, payload);
    if (seen.has(id)) continue; // count each key once
    seen.add(id);
    const s = { name, keyId, kind: v.kind };
    if (timestamp !== undefined) s.timestamp = timestamp;
    verified.push(s);
  }
  if (!verified.length) throw new NoteError("note has no verifiable signatures: no signature by a known key");
  return { text, verified, unverified };
}

/** Parse a checkpoint body: {origin, size (BigInt), root (Uint8Array), extensions}. */
export function parseCheckpoint(text) {
  if (!text.endsWith("\n")) throw new CheckpointError("malformed checkpoint: text does not end with a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw new CheckpointError(`malformed checkpoint: observed ${lines.length} lines, expected at least 3`);
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (!origin) throw new CheckpointError("malformed checkpoint: empty origin line");
  checkText(text);
  // tlog-checkpoint: decimal, no leading zeros, uint64.
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || BigInt(sizeText) >= 1n << 64n) {
    throw new CheckpointError(`malformed checkpoint: tree size ${JSON.stringify(sizeText)}, expected decimal without leading zeros`);
  }
  let root;
  try { root = fromBase64(rootText); } catch { throw new CheckpointError("malformed checkpoint: root hash is not base64"); }
  if (root.length !== HASH_SIZE) throw new CheckpointError(`malformed checkpoint: root hash is ${root.length} bytes, expected 32`);
  if (extensions.some((e) => !e)) throw new CheckpointError("malformed checkpoint: empty extension line");
  return { origin, size: BigInt(sizeText), root, extensions };
}

// ---------------------------------------------------------------- tlog-tiles

function encodeIndex(n) {
  // tlog-tiles: 3-digit groups, all but the last prefixed with "x".
  let s = toBig(n, "tile index");
  const groups = [];
  do { groups.unshift(String(s % 1000n).padStart(3, "0")); s /= 1000n; } while (s > 0n);
  return groups.map((g, i) => (i < groups.length - 1 ? "x" + g : g)).join("/");
}

function widthSuffix(width) {
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) throw new TileError(`tile width out of range: observed ${width}, expected 1..256`);
  return width === TILE_WIDTH ? "" : `.p/${width}`;
}

/** `tile/<L>/<N>[.p/<W>]`. */
export function tilePath(level, index, width = TILE_WIDTH) {
  if (!Number.isInteger(level) || level < 0 || level > 63) throw new TileError(`tile level out of range: observed ${level}, expected 0..63`);
  return `tile/${level}/${encodeIndex(index)}${widthSuffix(width)}`;
}

/** `tile/entries/<N>[.p/<W>]`. */
export function entriesPath(index, width = TILE_WIDTH) {
  return `tile/entries/${encodeIndex(index)}${widthSuffix(width)}`;
}

/** Entry bundle -> entries (uint16be length ‖ entry); optional exact count. */
export function decodeBundle(data, width) {
  const out = [];
  let pos = 0;
  while (pos < data.length) {
    if (pos + 2 > data.length) throw new TileError(`entry bundle truncated in a length prefix at byte ${pos}`);
    const n = (data[pos] << 8) | data[pos + 1];
    pos += 2;
    if (pos + n > data.length) throw new TileError(`entry bundle truncated: entry ${out.length} needs ${n} bytes, observed ${data.length - pos}`);
    out.push(data.slice(pos, pos + n));
    pos += n;
  }
  if (width !== undefined && out.length !== width) throw new TileError(`entry bundle holds ${out.length} entries, expected ${width}`);
  return out;
}

function largestPow2Below(n) {
  let k = 1n;
  while (k << 1n < n) k <<= 1n;
  return k;
}

/** [start, end) -> maximal aligned complete subtrees [{level, index}] (BigInt). */
function decompose(start, end) {
  const out = [];
  while (start < end) {
    // Largest k with start divisible by 2^k and start + 2^k <= end.
    let k = 0n;
    while ((start === 0n || ((start >> k) & 1n) === 0n) && (1n << (k + 1n)) <= end - start) k++;
    out.push({ level: k, index: start >> k });
    start += 1n << k;
  }
  return out;
}

function inclusionRanges(index, size) {
  const ranges = [];
  let lo = 0n, hi = size;
  while (hi - lo > 1n) {
    // RFC 6962 §2.1.1 PATH recursion.
    const k = largestPow2Below(hi - lo);
    if (index < lo + k) { ranges.push([lo + k, hi]); hi = lo + k; } else { ranges.push([lo, lo + k]); lo += k; }
  }
  return ranges.reverse();
}

function consistencyRanges(m, n) {
  const ranges = [];
  let lo = 0n, hi = n, complete = true;
  while (hi !== m) {
    // RFC 6962 §2.1.2 SUBPROOF recursion.
    const k = largestPow2Below(hi - lo);
    if (m <= lo + k) { ranges.push([lo + k, hi]); hi = lo + k; } else { ranges.push([lo, lo + k]); lo += k; complete = false; }
  }
  if (!complete) ranges.push([lo, hi]);
  return ranges.reverse();
}

/**
 * Reads a tiled log over HTTP: `new TileLog(baseUrl, {fetch, size})`.
 * `size` is the size of the tiles to read (normally the latest verified
 * checkpoint: openCheckpoint sets it); proofs may be asked for any size up to
 * it. Tiles are fetched only when needed and cached in memory.
 */
export class TileLog {
  constructor(baseUrl, { fetch: fetchFn = globalThis.fetch.bind(globalThis), size } = {}) {
    this.base = baseUrl.endsWith("/") ? baseUrl : baseUrl + "/";
    this.fetch = fetchFn;
    this.size = size === undefined ? undefined : toBig(size, "tree size");
    this.cache = new Map();
  }

  async _get(path, length) {
    if (!this.cache.has(path)) {
      const p = (async () => {
        const r = await this.fetch(this.base + path);
        if (!r.ok) throw new TileError(`fetching ${path}: HTTP ${r.status}`);
        const data = new Uint8Array(await r.arrayBuffer());
        if (length !== undefined && data.length !== length) throw new TileError(`${path} is ${data.length} bytes, expected ${length}`);
        return data;
      })();
      this.cache.set(path, p);
      p.catch(() => this.cache.delete(path));
    }
    return this.cache.get(path);
  }

  /** The checkpoint's text, fetched no-store (start it early: openCheckpoint takes the promise). */
  async fetchCheckpoint() {
    const r = await this.fetch(this.base + "checkpoint", { cache: "no-store" });
    if (!r.ok) throw new TileError(`fetching checkpoint: HTTP ${r.status}`);
    return r.text();
  }

  /** Verify the checkpoint (fetched now, or the text `fetched` resolves to); sets this.size. */
  async openCheckpoint(vkeys, origin, fetched = this.fetchCheckpoint()) {
    const note = await openNote(await fetched, vkeys);
    const checkpoint = parseCheckpoint(note.text);
    if (checkpoint.origin !== origin) throw new CheckpointError(`checkpoint origin: observed ${checkpoint.origin}, expected ${origin}`);
    if (!note.verified.some((s) => s.name === origin && s.kind === "ed25519")) throw new NoteError(`checkpoint is not signed by the log key ${origin}`);
    this.size = checkpoint.size;
    return { checkpoint, note };
  }

  _size(size) {
    if (this.size === undefined) throw new TileError("tree size unknown: pass {size} or call openCheckpoint first");
    if (size === undefined) return this.size;
    const s = toBig(size, "tree size");
    if (s > this.size) throw new TileError(`tree size ${s} is beyond the tiles read, of size ${this.size}`);
    return s;
  }

  _tileFor(level, index) {
    // The tile of this.size that holds hash `index` of tile level `level`.
    const count = this.size >> (8n * BigInt(level));
    if (index >= count) throw new TileError(`hash ${index} of tile level ${level} does not exist at tree size ${this.size}`);
    const n = index / 256n, rest = count - n * 256n;
    return { n, width: rest >= 256n ? 256 : Number(rest) };
  }

  async _stored(level, start, end) {
    const out = [];
    for (let i = start; i < end;) {
      const t = this._tileFor(level, i);
      const data = await this._get(tilePath(level, t.n, t.width), t.width * HASH_SIZE);
      const stop = end < t.n * 256n + BigInt(t.width) ? end : t.n * 256n + BigInt(t.width);
      for (let j = i; j < stop; j++) {
        const off = Number(j - t.n * 256n) * HASH_SIZE;
        out.push(data.slice(off, off + HASH_SIZE));
      }
      i = stop;
    }
    return out;
  }

  /** Hash of complete subtree (level k, index n): 2^(k mod 8) hashes of tile level k/8. */
  async _subtree({ level, index }) {
    const tl = Number(level / 8n), width = 1n << (level % 8n);
    let hs = await this._stored(tl, index * width, (index + 1n) * width);
    while (hs.length > 1) {
      // One level at a time, the level's hashes at once (WebCrypto is asynchronous).
      const next = [];
      for (let i = 0; i < hs.length; i += 2) next.push(nodeHash(hs[i], hs[i + 1]));
      hs = await Promise.all(next);
    }
    return hs[0];
  }

  async _rangeHashes(ranges) {
    const parts = ranges.map(([a, b]) => decompose(a, b));
    // All subtrees at once: their tiles are fetched in parallel (each once).
    const flat = await Promise.all(parts.flat().map((c) => this._subtree(c)));
    const out = [];
    let pos = 0;
    for (const p of parts) {
      const hs = flat.slice(pos, pos + p.length);
      pos += p.length;
      let acc = hs[hs.length - 1];
      for (let i = hs.length - 2; i >= 0; i--) acc = await nodeHash(hs[i], acc);
      out.push(acc);
    }
    return out;
  }

  /** MTH of the first `size` entries (default: this.size). */
  async treeHash(size) {
    const s = this._size(size);
    if (s === 0n) return Uint8Array.from(EMPTY_ROOT_HEX.match(/../g), (h) => parseInt(h, 16));
    return (await this._rangeHashes([[0n, s]]))[0];
  }

  /** RFC 6962 audit path for entry `index` in the tree of `size`. */
  async inclusionProof(index, size) {
    const s = this._size(size), i = toBig(index, "leaf index");
    if (i >= s) throw new ProofError(`leaf index ${i} is outside a tree of size ${s}`);
    return this._rangeHashes(inclusionRanges(i, s));
  }

  /** RFC 6962 consistency proof from `oldSize` to `newSize` (default: this.size). */
  async consistencyProof(oldSize, newSize) {
    const n = this._size(newSize), m = toBig(oldSize, "old size");
    if (m === 0n || m > n) throw new ProofError(`consistency proof needs 0 < old size <= new size; observed ${m} and ${n}`);
    return this._rangeHashes(consistencyRanges(m, n));
  }

  /** This log's tiles (one cache: nothing fetched twice) read as a tree of `size`. */
  _withSize(size) {
    const tree = new TileLog(this.base, { fetch: this.fetch, size });
    tree.cache = this.cache;
    return tree;
  }

  /**
   * {size, index, root}: the root implied by entry `index`'s inclusion proof
   * (leaf hash `leaf`) in the tree of `size`, as read from a checkpoint not
   * yet verified. Computed while its signatures are checked (logcheck.js);
   * worth nothing until compared with the verified root (checkInclusionRoot).
   */
  async inclusionRoot(size, index, leaf) {
    const tree = this._withSize(size);
    const s = tree.size, i = toBig(index, "leaf index");
    return { size: s, index: i, root: await rootFromInclusionProof(i, s, leaf, await tree.inclusionProof(i, s)) };
  }

  /**
   * Start fetching, into this log's tile cache, the tiles that the inclusion
   * proof of `index` (and the consistency proof from `oldSize`, if given)
   * read in a tree of `size`, and nothing else: no hash is computed, nothing
   * is trusted. For a verifier that knows these numbers only unverified (the
   * checkpoint text and the certificate file as fetched): the tiles travel
   * while the signatures are checked, and the proofs are computed later, from
   * the verified checkpoint, over whatever the cache holds (docs/verify-page.md
   * "What the page fetches"). Numbers that turn out wrong cost a wasted fetch,
   * never a wrong result. Never throws; failures are left to the proofs.
   */
  prefetchProofTiles(size, index, oldSize) {
    try {
      const warm = this._withSize(size);
      const s = warm.size, i = toBig(index, "leaf index");
      const ranges = i < s ? inclusionRanges(i, s) : [];
      if (oldSize !== undefined && oldSize !== null) {
        const m = toBig(oldSize, "old size");
        if (m > 0n && m < s) ranges.push(...consistencyRanges(m, s));
      }
      for (const { level, index: n } of ranges.flatMap(([a, b]) => decompose(a, b))) {
        const tl = Number(level / 8n), width = 1n << (level % 8n);
        for (let j = n * width; j < (n + 1n) * width;) {
          const t = warm._tileFor(tl, j);
          warm._get(tilePath(tl, t.n, t.width), t.width * HASH_SIZE).catch(() => {});
          j = (t.n + 1n) * 256n;
        }
      }
    } catch { /* unreadable numbers: nothing to warm */ }
  }

  /** Entry `index` (Uint8Array) from its entry bundle. Untrusted until its leaf hash is proven. */
  async readEntry(index) {
    const i = toBig(index, "entry index");
    const t = this._tileFor(0, i);
    const bundle = decodeBundle(await this._get(entriesPath(t.n, t.width)), t.width);
    return bundle[Number(i - t.n * 256n)];
  }

  /** Read entry `index` and verify its inclusion in (size, root); returns the entry. */
  async verifiedEntry(index, size, root) {
    const entry = await this.readEntry(index);
    await verifyInclusion(index, size, await leafHash(entry), await this.inclusionProof(index, size), root);
    return entry;
  }
}
