// Runs every case of cases.json through site/verify/tlog.js in the browser;
// the pytest side (test_tlog_browser.py) asserts on window.__results.
import * as t from "./tlog.js";

const hex = (h) => Uint8Array.from((h || "").match(/../g) || [], (x) => parseInt(x, 16));

async function outcome(fn) {
  try {
    const value = await fn();
    return { ok: true, value };
  } catch (e) {
    return { ok: false, error: `${e.constructor.name}: ${e.message}` };
  }
}

async function run() {
  const cases = await (await fetch("cases.json", { cache: "no-store" })).json();
  const R = {};

  R.inclusion = {};
  for (const c of cases.inclusion) {
    R.inclusion[c.name] = await outcome(() =>
      t.verifyInclusion(c.leafIdx, c.treeSize, hex(c.leafHash), c.proof.map(hex), hex(c.root)));
  }
  R.consistency = {};
  for (const c of cases.consistency) {
    R.consistency[c.name] = await outcome(() =>
      t.verifyConsistency(c.size1, c.size2, c.proof.map(hex), hex(c.root1), hex(c.root2)));
  }
  R.big = {};
  for (const c of cases.bigInclusion) {
    R.big[c.name] = await outcome(() =>
      t.verifyInclusion(BigInt(c.index), BigInt(c.size), hex(c.leaf), c.proof.map(hex), hex(c.root)));
  }
  for (const c of cases.bigConsistency) {
    R.big[c.name] = await outcome(() =>
      t.verifyConsistency(BigInt(c.size1), BigInt(c.size2), c.proof.map(hex), hex(c.root1), hex(c.root2)));
  }

  R.leafHashes = [];
  for (const x of cases.leafInputs) R.leafHashes.push(t.toHex(await t.leafHash(hex(x))));
  R.nodeHash = t.toHex(await t.nodeHash(new TextEncoder().encode("N123"), new TextEncoder().encode("N456")));

  R.paths = cases.paths.map(([kind, ...args]) =>
    kind === "tile" ? t.tilePath(args[0], args[1], args[2]) : t.entriesPath(args[0], args[1]));

  R.vkeys = {};
  for (const [name, vkey] of Object.entries(cases.vkeys)) {
    R.vkeys[name] = await outcome(async () => {
      const v = await t.parseVkey(vkey);
      return { name: v.name, keyId: v.keyId, kind: v.kind };
    });
  }
  R.notes = {};
  for (const c of cases.notes) {
    R.notes[c.name] = await outcome(() => t.openNote(c.noteHex ? hex(c.noteHex) : c.note, c.vkeys));
  }
  R.checkpoints = {};
  for (const c of cases.checkpoints) {
    R.checkpoints[c.name] = await outcome(() => {
      const cp = t.parseCheckpoint(c.body);
      return { origin: cp.origin, size: String(cp.size), root: t.toHex(cp.root), extensions: cp.extensions };
    });
  }

  // Constant tree (8 leaf inputs) served as tiles: roots of sizes 1..8.
  const small = new t.TileLog(cases.log8.url, { size: 8 });
  R.log8Roots = [];
  for (let n = 0; n <= 8; n++) R.log8Roots.push(t.toHex(await small.treeHash(n)));

  // The 70,000-entry log: checkpoint, proofs, entries.
  const L = cases.log;
  const fetched = [];
  const counting = (url, init) => { fetched.push(url.slice(L.url.length)); return fetch(url, init); };
  const log = new t.TileLog(L.url, { fetch: counting });
  R.log = { checkpoint: await outcome(async () => {
    const { checkpoint, note } = await log.openCheckpoint(L.vkeys, L.origin);
    return { size: String(checkpoint.size), root: t.toHex(checkpoint.root), verified: note.verified };
  }) };
  fetched.length = 0;
  const first = L.inclusion[0];
  await log.inclusionProof(first.index, first.size);
  R.log.firstProofFetches = [...fetched];
  R.log.inclusion = [];
  for (const c of L.inclusion) {
    R.log.inclusion.push(await outcome(async () => {
      const proof = await log.inclusionProof(c.index, c.size);
      const entry = await log.readEntry(c.index);
      await t.verifyInclusion(c.index, c.size, await t.leafHash(entry), proof, hex(c.root));
      return { proof: proof.map(t.toHex), entry: t.toHex(entry) };
    }));
  }
  R.log.consistency = [];
  for (const c of L.consistency) {
    R.log.consistency.push(await outcome(async () => {
      const proof = await log.consistencyProof(c.old, c.size);
      await t.verifyConsistency(c.old, c.size, proof, hex(c.oldRoot), hex(c.root));
      return proof.map(t.toHex);
    }));
  }
  R.log.beyond = await outcome(() => log.inclusionProof(0, BigInt(L.size) + 1n));

  // A log whose entry bundle was tampered with after signing.
  const bad = new t.TileLog(cases.tampered.url, { size: cases.tampered.size });
  R.tampered = {
    good: await outcome(async () => t.toHex(await bad.verifiedEntry(cases.tampered.goodIndex, cases.tampered.size, hex(cases.tampered.root)))),
    bad: await outcome(() => bad.verifiedEntry(cases.tampered.badIndex, cases.tampered.size, hex(cases.tampered.root))),
  };
  return R;
}

run().then(
  (r) => { window.__results = r; window.__done = true; },
  (e) => { window.__results = { fatal: `${e.constructor.name}: ${e.message}\n${e.stack}` }; window.__done = true; },
);
