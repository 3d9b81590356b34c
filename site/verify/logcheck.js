// The verify page's transparency-log step (docs/transparency-log.md).
//
// After the certificate's status was replayed from its signed events, this
// checks (SHA-256 through WebCrypto, Ed25519 through canonical.js: WebCrypto
// or its pure-JS fallback):
//   log-signature  log/checkpoint (fetched no-store) is signed by a log key
//                  of the verified trust list, under the pinned origin;
//   log-fresh      a timestamp key of the trust list cosigned it, no older
//                  than the maximum age and not more than a day ahead;
//   inclusion      the certificate's latest event is leaf seq-1 of that tree
//                  (inclusion proof built from the tiles by TileLog);
//   consistency    the tree extends the largest tree this browser has seen
//                  (kept in localStorage), proven by a consistency proof; a
//                  smaller or diverging tree is a rolled-back or forked log.
// Any failure makes the verdict status_unknown, never valid.

import { KEY_TYPE_COSIGNATURE, KEY_TYPE_ED25519, TileLog, leafHash, parseVkey, toBase64, toHex,
  checkInclusionRoot, useEd25519, verifyConsistency, verifyInclusion } from "./tlog.js";
import { ed25519VerifyRaw, unb64url, utf8 } from "./canonical.js";
import { fetchJSON } from "./verifier.js";
import { keyProblem } from "./rules.js";

export const LOG_CHECKS = ["log-signature", "log-fresh", "inclusion", "consistency"];
const DAY = 86400;
const FUTURE_TOLERANCE = DAY; // build times are end-of-day in Suzhou
const STORE_PREFIX = "szzz-log:";

useEd25519(ed25519VerifyRaw); // checkpoints verify wherever marks do (WebCrypto or the fallback)

async function vkeyFor(name, type, publicKey) {
  // signed-note key ID: SHA-256(name ‖ 0x0A ‖ type ‖ pub)[:4].
  const data = new Uint8Array([...utf8(name), 0x0a, type, ...publicKey]);
  const id = toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", data)).slice(0, 4));
  return parseVkey(`${name}+${id}+${toBase64(new Uint8Array([type, ...publicKey]))}`);
}

/** Note verifiers from the verified trust list: the keys the rules let sign a
 * checkpoint (log keys) or cosign one (timestamp keys); rules.js keyProblem. */
async function verifiers(keys, origin, timestampName) {
  const out = [];
  for (const k of keys.values()) {
    if (typeof k.public_key !== "string") continue;
    if (!keyProblem(k, "checkpoint")) out.push(vkeyFor(origin, KEY_TYPE_ED25519, unb64url(k.public_key)));
    else if (!keyProblem(k, "cosignature")) out.push(vkeyFor(timestampName, KEY_TYPE_COSIGNATURE, unb64url(k.public_key)));
  }
  return Promise.all(out); // the key IDs' digests at once, in the list's order
}

/** The log entry of an event envelope: canonical JSON, keys in sorted order. */
export function entryBytes(env) {
  return utf8(JSON.stringify({ key_id: env.key_id, payload: env.payload, signature: env.signature, type: env.type }));
}

function timestampNameFor(origin) {
  return (origin.endsWith("/log") ? origin.slice(0, -4) : origin) + "/timestamp";
}

/**
 * options: logBase (absolute URL of log/, ending in "/"), origin (pinned),
 * maxAgeDays, now() (Unix seconds), storage (localStorage or a stand-in).
 * Returns check(trust, latestEvent) -> {ok, checks, reason, reason_zh, ...}; never throws.
 */
export function createLogCheck({ logBase, origin, maxAgeDays = 7, now = () => Date.now() / 1000,
  storage = globalThis.localStorage, timestampName = timestampNameFor(origin) }) {
  const storeKey = STORE_PREFIX + origin;

  function remembered() {
    try {
      const v = JSON.parse(storage.getItem(storeKey) || "null");
      return v && /^(0|[1-9][0-9]*)$/.test(v.size) && typeof v.root === "string" ? v : null;
    } catch { return null; }
  }

  /**
   * Start what the check reads before anything is verified (verifier.js starts
   * it with the certificate's fetch): the checkpoint at once, and as soon as
   * it and the certificate file (`certificate`: fetchJSON's promise) are
   * here, the tiles of the latest event's inclusion proof and of the
   * consistency proof from the tree seen last, located by the unverified
   * numbers (TileLog.prefetchProofTiles). The check verifies all of it.
   */
  function prefetch(certificate) {
    const log = new TileLog(logBase);
    const checkpoint = log.fetchCheckpoint();
    checkpoint.catch(() => {}); // a failure is judged by the check
    const inclusion = Promise.all([checkpoint, certificate]).then(([text, got]) => {
      const events = got && got.data && got.data.events;
      const latest = events[events.length - 1];
      const seq = JSON.parse(latest.payload).seq;
      const seen = remembered();
      const size = text.split("\n")[1];
      log.prefetchProofTiles(size, seq - 1, seen && seen.size);
      // The latest event's inclusion root, computed while the checkpoint's
      // signatures are checked; the check compares it with the verified root.
      return leafHash(entryBytes(latest)).then((leaf) => log.inclusionRoot(size, seq - 1, leaf))
        .then((r) => ({ ...r, payload: latest.payload }));
    });
    inclusion.catch(() => { /* unreadable: the check computes what it needs */ });
    return { checkpoint, log, inclusion };
  }

  /** `pre`: what prefetch started, or null (then the check fetches all). */
  async function check(trust, latestEvent, pre = null) {
    const checks = Object.fromEntries(LOG_CHECKS.map((c) => [c, null]));
    const out = { ok: false, checks, origin, reason: "", reason_zh: "" };
    const fail = (name, reason, reasonZh) => {
      checks[name] = false;
      Object.assign(out, { reason, reason_zh: reasonZh });
      return out;
    };
    const log = pre ? pre.log : new TileLog(logBase);
    let checkpoint, note;
    try {
      ({ checkpoint, note } = await log.openCheckpoint(await verifiers(trust.keys, origin, timestampName), origin,
        pre ? pre.checkpoint : log.fetchCheckpoint()));
    } catch (e) {
      return fail("log-signature", `the log checkpoint is not signed by the registry's log key (${e.message})`,
        "透明日志检查点未经登记系统日志密钥签名");
    }
    checks["log-signature"] = true;
    out.size = String(checkpoint.size);

    // Consistency with the largest tree seen before (TUF/sumdb: no rollback).
    const seen = remembered();
    try {
      if (seen) {
        const oldSize = BigInt(seen.size), oldRoot = unb64url(seen.root);
        if (oldSize > checkpoint.size) throw new Error(`tree size ${checkpoint.size} is smaller than ${oldSize}, seen before`);
        if (oldSize > 0n) {
          const proof = oldSize === checkpoint.size ? [] : await log.consistencyProof(oldSize);
          await verifyConsistency(oldSize, checkpoint.size, proof, oldRoot, checkpoint.root);
        }
      }
    } catch (e) {
      return fail("consistency", `log rolled back / inconsistent: ${e.message}`,
        "透明日志被回滚或不一致（与本浏览器先前见过的日志不符）");
    }
    checks.consistency = true;
    out.first_seen = !seen;
    try {
      const b64 = btoa(String.fromCharCode(...checkpoint.root)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      storage.setItem(storeKey, JSON.stringify({ size: String(checkpoint.size), root: b64 }));
    } catch { /* private mode: nothing remembered, nothing lost */ }

    const stamps = note.verified.filter((s) => s.kind === "cosignature" && s.name === timestampName).map((s) => s.timestamp);
    if (!stamps.length) {
      return fail("log-fresh", "the log checkpoint has no timestamp by the registry's timestamp key", "透明日志检查点缺少时间戳副签名");
    }
    const ts = Math.max(...stamps);
    out.cosigned = new Date(ts * 1000).toISOString().replace(".000Z", "Z");
    const age = now() - ts;
    if (age > maxAgeDays * DAY) {
      return fail("log-fresh", `the log checkpoint cosigned at ${out.cosigned} is stale (maximum age ${maxAgeDays} days)`,
        `透明日志检查点（时间戳 ${out.cosigned}）已过时（最长 ${maxAgeDays} 天）`);
    }
    if (-age > FUTURE_TOLERANCE) {
      return fail("log-fresh", `the log checkpoint cosigned at ${out.cosigned} is dated in the future`,
        `透明日志检查点的时间戳 ${out.cosigned} 晚于当前时间`);
    }
    checks["log-fresh"] = true;

    try {
      const seq = JSON.parse(latestEvent.payload).seq;
      if (!Number.isSafeInteger(seq) || seq < 1) throw new Error(`event seq ${seq}`);
      const index = BigInt(seq - 1);
      out.leaf_index = String(index);
      // What prefetch computed from the unverified checkpoint counts only for
      // the same tree size, entry and event bytes as verified here.
      const early = pre && pre.inclusion ? await pre.inclusion.catch(() => null) : null;
      if (early && early.size === checkpoint.size && early.index === index && early.payload === latestEvent.payload) {
        checkInclusionRoot(early.root, checkpoint.root);
      } else {
        const leaf = await leafHash(entryBytes(latestEvent));
        await verifyInclusion(index, checkpoint.size, leaf, await log.inclusionProof(index), checkpoint.root);
      }
    } catch (e) {
      return fail("inclusion", `the certificate's latest event is not proven to be in the log (${e.message})`,
        "无法证明证书的最新事件已记入透明日志");
    }
    checks.inclusion = true;
    out.ok = true;
    return out;
  }

  return { check, prefetch };
}

/**
 * The page's log step (docs/verification.md: no silent skip of the log).
 * With a pinned origin the log must verify. Without one, the origin is read
 * from api/log.json when the verified trust list has a timestamp key (a site
 * of such a scheme must publish its log: absent -> not ok); when the list has
 * no timestamp key and no origin is pinned there is no log step (null).
 * options: as createLogCheck, plus apiBase and timeoutMs. Never throws.
 */
export function createSiteLogCheck({ origin = "", apiBase, timeoutMs = 8000, get = fetchJSON, ...rest }) {
  const checkers = new Map();
  const checkerFor = (o, timestampName) => {
    const k = `${o}\n${timestampName || ""}`;
    if (!checkers.has(k)) checkers.set(k, createLogCheck({ ...rest, origin: o, ...(timestampName ? { timestampName } : {}) }));
    return checkers.get(k);
  };
  /**
   * With a pinned origin the log is required: start fetching its checkpoint
   * (the same file for every visitor) while the trust list and the
   * certificate are fetched, then the proofs' tiles (createLogCheck
   * prefetch), and pass what was started to the check. Unpinned, the trust
   * list decides whether there is a log, so nothing is fetched early.
   */
  const prefetch = (certificate) => (origin ? checkerFor(origin).prefetch(certificate) : null);
  const check = async (trust, latestEvent, pre = null) => {
    if (origin) return checkerFor(origin).check(trust, latestEvent, pre);
    const hasTimestampKey = [...trust.keys.values()].some((k) => k.role === "timestamp");
    if (!hasTimestampKey) return null;
    const got = await get(new URL("log.json", apiBase).href, timeoutMs);
    const info = got.data;
    if (!info || typeof info.origin !== "string" || !info.origin) {
      const why = got.missing ? "not published" : got.error || "no origin in it";
      return { ok: false, checks: Object.fromEntries(LOG_CHECKS.map((c) => [c, c === "log-signature" ? false : null])),
        reason: `the site publishes no usable transparency log (api/log.json: ${why}), though the trust list has a timestamp key`,
        reason_zh: "站点未发布可用的透明日志（信任列表含时间戳密钥，日志不应缺失）" };
    }
    const tsName = typeof info.timestamp_key_name === "string" && info.timestamp_key_name ? info.timestamp_key_name : undefined;
    return checkerFor(info.origin, tsName).check(trust, latestEvent);
  };
  check.prefetch = prefetch;
  return check;
}
