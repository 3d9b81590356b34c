// The verification rules (docs/verification.md, shared word for word with
// the Python verifier registry/verify/single.py): checks in order, the first
// failing check decides the verdict. No DOM here: `verify(input)` resolves
// to a plain result object and never throws, whatever the input or the
// published files hold.

import { parseText, payloadText } from "./payload.js";
import {
  DOMAINS, decodeCanonical, ed25519Verify, keyIdOf, sha256Hex, signingInput, unb64url, verifyEnvelope,
} from "./canonical.js";
import {
  CHECKS, FUTURE_TOLERANCE_DAYS, REVISING_EVENTS, REVISION_KEEPS_MARK, STATUS_BUCKET_HEX, STATUS_NAMES, TRANSITIONS,
  VERDICTS,
} from "./constants.js";
import { bodyOfCertNo, keyProblem } from "./rules.js";

export { VERDICTS, bodyOfCertNo };
// Revisions that leave earlier marks in force: products already on shelves
// keep their marks (rule 5).
const KEEPS_MARKS = new Set(REVISION_KEEPS_MARK);
// Events that create a certificate revision (registry/core/lifecycle.py REVISING_EVENTS).
const REVISING = new Set(REVISING_EVENTS);
const DAY_MS = 86400000;
const CST_MS = 8 * 3600000;

/** A failed check: its verdict and reasons in English and Chinese. */
class Stop {
  constructor(verdict, reason, reasonZh) {
    this.verdict = verdict;
    this.reason = reason;
    this.reasonZh = reasonZh;
  }
}

/** Today's date in Suzhou (UTC+8), as registry/core/clock.py today(). */
export function todayInSuzhou(nowMs = Date.now()) {
  return new Date(nowMs + CST_MS).toISOString().slice(0, 10);
}

/**
 * An ISO time as Beijing time (UTC+8, "YYYY-MM-DD HH:MM"), never later than
 * `nowMs`: a status statement is dated the end of its build's day, which may
 * not have come yet; the page shows when it last knew, not a time to come.
 */
export function beijingTime(iso, nowMs) {
  const t = typeof iso === "string" ? Date.parse(iso) : NaN;
  if (Number.isNaN(t)) return null;
  const text = new Date(Math.min(t, nowMs) + CST_MS).toISOString();
  return `${text.slice(0, 10)} ${text.slice(11, 16)}`;
}

const dayNumber = (date) => Math.floor(Date.parse(date + "T00:00:00Z") / DAY_MS);

// An `as_of` stamp: an ISO 8601 time WITH its offset (as clock.iso_z writes).
const AS_OF_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/;

/** The calendar date in Suzhou (UTC+8) of an `as_of` stamp, or null if unreadable. */
export function asOfDate(asOf) {
  if (typeof asOf !== "string" || !AS_OF_RE.test(asOf)) return null;
  const ms = Date.parse(asOf);
  return Number.isNaN(ms) ? null : todayInSuzhou(ms);
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** GET a JSON file: {data} | {missing: true} | {error}; aborted after timeoutMs. */
export async function fetchJSON(url, timeoutMs) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetch(url, { signal: controller.signal, cache: "no-cache", credentials: "omit" });
    if (response.status === 404 || response.status === 410) return { missing: true };
    if (!response.ok) return { error: `HTTP ${response.status}` };
    const text = await response.text();
    try {
      return { data: JSON.parse(text) };
    } catch {
      return { error: "unparsable JSON" };
    }
  } catch (e) {
    return { error: e && e.name === "AbortError" ? `no answer within ${timeoutMs / 1000} s` : "network error" };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A verifier bound to the pinned root key and a place to fetch from.
 *
 * options: rootPublicKey (base64url, pinned in the page), apiBase (absolute
 * URL of the api/ directory, ending in "/"), maxAgeDays, today (a function
 * giving YYYY-MM-DD in UTC+8), timeoutMs, fetchJSON (for tests only).
 */
export function createVerifier(options) {
  const {
    rootPublicKey, apiBase, maxAgeDays = 7, today = () => todayInSuzhou(), timeoutMs = 8000,
  } = options;
  const get = options.fetchJSON || fetchJSON;
  let trustPromise = null; // a verified trust list is kept for the page's life

  async function loadTrustList() {
    const fail = (why) => new Stop(
      "unknown_issuer",
      `trust list missing or not signed by the scheme root (${why})`,
      `信任列表缺失或未经认证体系根密钥签名（${why}）`,
    );
    try {
      return await readTrustList(fail);
    } catch (e) {
      throw e instanceof Stop ? e : fail(String(e && e.message));
    }
  }

  async function readTrustList(fail) {
    const got = await get(new URL("trust-list.json", apiBase).href, timeoutMs);
    if (!got.data) throw fail(got.missing ? "not published" : got.error);
    let rootRaw;
    try {
      rootRaw = unb64url(rootPublicKey);
    } catch {
      throw fail("the page's pinned root key is unreadable");
    }
    const root = { key_id: await keyIdOf(rootRaw), public_key: rootPublicKey };
    let record;
    try {
      record = await verifyEnvelope(got.data, DOMAINS.trustList, root);
    } catch (e) {
      throw fail(e.message);
    }
    if (!isObject(record) || record.root_key_id !== root.key_id) {
      throw fail(`root_key_id is ${isObject(record) ? record.root_key_id : "absent"}, expected ${root.key_id}`);
    }
    if (!Array.isArray(record.keys)) throw fail("no key list");
    const keys = new Map();
    for (const k of record.keys) if (isObject(k) && typeof k.key_id === "string") keys.set(k.key_id, k);
    return { record, keys, root };
  }

  function trustList() {
    if (!trustPromise) {
      trustPromise = loadTrustList();
      trustPromise.catch(() => { trustPromise = null; }); // retry a failure next time
    }
    return trustPromise;
  }

  /** Rule 3: a key in the list but not usable for this mark (rules.js keyProblem, use "mark"). */
  function checkKey(key, mark) {
    const problem = keyProblem(key, "mark", { date: mark.signedOn, body: bodyOfCertNo(mark.certNo) });
    if (problem) throw new Stop("key_not_valid", `mark: ${problem[0]}`, `标志：${problem[1]}`);
  }

  /** Rule 5: the published revision this mark was printed from. */
  async function findRevision(file, mark, key, result, trust) {
    const unknown = (reason, reasonZh) => new Stop("status_unknown",
      `signature genuine, status could not be fetched: ${reason}`, `签名真实，但无法获取证书状态：${reasonZh}`);
    const noMatch = new Stop("not_found", "no published revision of this certificate matches this mark",
      "该证书已公布的版本中没有与此标志相符的记录");
    const { revisions } = isObject(file) ? file : {};
    if (!Array.isArray(revisions) || revisions.length === 0) {
      throw unknown("the certificate file is unreadable (no list of revisions)", "证书文件无法读取");
    }
    // The first revision whose payload digest starts with the mark's digest,
    // signed by the mark's own key, with the same number, dates and key.
    let index = -1;
    let record = null;
    for (let i = 0; i < revisions.length && index < 0; i++) {
      const env = revisions[i];
      if (!isObject(env) || typeof env.payload !== "string") continue;
      if ((await sha256Hex(env.payload)).slice(0, 32) !== mark.recordDigest) continue;
      let candidate;
      try {
        candidate = await verifyEnvelope(env, DOMAINS.certificate, key);
      } catch {
        continue;
      }
      if (isObject(candidate) && candidate.cert_no === mark.certNo && candidate.expires === mark.expires
          && candidate.signed_on === mark.signedOn && candidate.key_id === mark.keyId) {
        index = i;
        record = candidate;
      }
    }
    if (index < 0) throw noMatch;
    result.details.record = record;
    result.details.revision = record.revision;
    // Why each later revision was made comes from the signed events (a revising
    // event cites the record_digest of the revision it created); the file's
    // revision_reasons array is unsigned and never read.
    const made = new Map();
    if (index + 1 < revisions.length) {
      const { events } = await verifiedEvents(file, mark, trust);
      for (const event of events) {
        if (REVISING.has(event.type) && typeof event.record_digest === "string" && !made.has(event.record_digest)) {
          made.set(event.record_digest, event.type);
        }
      }
    }
    const reasons = [];
    for (let j = index + 1; j < revisions.length; j++) {
      const env = revisions[j];
      const digest = isObject(env) && typeof env.payload === "string" ? await sha256Hex(env.payload) : null;
      if (!made.has(digest)) {
        throw unknown(`published file inconsistent: no signed event created revision ${j + 1}`, `公开文件不一致：没有已签名的事件对应第 ${j + 1} 版证书`);
      }
      reasons[j] = made.get(digest);
    }
    for (let j = index + 1; j < revisions.length; j++) {
      let later = null;
      try { later = JSON.parse(revisions[j].payload); } catch { /* date stays unknown */ }
      const date = isObject(later) && typeof later.signed_on === "string" ? later.signed_on : "?";
      if (reasons[j] === "rekeyed") {
        throw new Stop("key_not_valid", `this mark was replaced: the certificate was re-signed with a new key on ${date}`,
          `此标志已被替换：该证书已于 ${date} 用新密钥重新签名`);
      }
      if (!KEEPS_MARKS.has(reasons[j])) {
        throw unknown(`published file inconsistent: revision reason ${String(reasons[j])}`, "公开文件不一致");
      }
      if (reasons[j] === "renewed" && !result.details.renewed_on) result.details.renewed_on = date;
    }
  }

  /** The current (last) revision's record, read strictly; or status_unknown. */
  function currentRevision(file) {
    const env = file.revisions[file.revisions.length - 1];
    let record = null;
    try {
      if (isObject(env) && env.type === DOMAINS.certificate && typeof env.payload === "string") record = decodeCanonical(env.payload);
    } catch { /* below */ }
    if (!isObject(record) || typeof record.expires !== "string") {
      throw new Stop("status_unknown", "signature genuine, status unknown: current revision unreadable", "签名真实，但当前证书版本无法读取");
    }
    return record;
  }

  /** Rule 6: replay the signed events; check the log's status statement. */
  const replayUnknown = (reason, reasonZh) => new Stop("status_unknown",
    `signature genuine, status unknown: ${reason}`, `签名真实，但状态未知：${reasonZh}`);

  /** Every event verified, chained and replayed: {status, events, lastSeq, lastDate}; memoised per file. */
  const replayed = new WeakMap();
  function verifiedEvents(file, mark, trust) {
    if (!replayed.has(file)) replayed.set(file, replayEvents(file, mark, trust));
    return replayed.get(file);
  }

  async function replayEvents(file, mark, { keys }) {
    const unknown = replayUnknown;
    const records = [];
    if (!Array.isArray(file.events) || file.events.length === 0) throw unknown("no signed events", "没有已签名的事件记录");
    const body = bodyOfCertNo(mark.certNo);
    let status = null;
    let previousPayload = null;
    let lastSeq = 0;
    let since = null;
    let changedBy = null; // the event that last changed the status: its reason and notice are shown
    // Every event's signature and payload digest are computed at once
    // (WebCrypto is asynchronous), then judged one by one in order below,
    // exactly as if computed there: the first event that fails decides.
    const signed = file.events.map((env) => {
      const key = isObject(env) ? keys.get(env.key_id) : undefined;
      const verified = key ? verifyEnvelope(env, DOMAINS.event, key) : Promise.reject(new Error("no key"));
      verified.catch(() => {}); // judged in the loop; an event after the first failure is never read
      return verified;
    });
    const digests = file.events.map((env) => (isObject(env) && typeof env.payload === "string" ? sha256Hex(env.payload) : null));
    for (const [i, env] of file.events.entries()) {
      const key = isObject(env) ? keys.get(env.key_id) : undefined;
      let event;
      try {
        if (!key) throw new Error();
        event = await signed[i];
      } catch {
        throw unknown(`event ${i + 1} is not signed by a key of the trust list`, `第 ${i + 1} 条事件的签名无法验证`);
      }
      if (!isObject(event) || event.cert_no !== mark.certNo) throw unknown(`event ${i + 1} is about another certificate`, `第 ${i + 1} 条事件属于其他证书`);
      const problem = keyProblem(key, "event", { date: event.date, body });
      if (problem) throw unknown(`event ${i + 1}: ${problem[0]}`, `第 ${i + 1} 条事件：${problem[1]}`);
      if (!Number.isSafeInteger(event.seq) || event.seq <= lastSeq) throw unknown(`event ${i + 1}: seq ${event.seq} does not increase`, `第 ${i + 1} 条事件序号未递增`);
      // previousPayload is event i-1's payload (a string: its signature verified).
      const expectedPrev = previousPayload === null ? null : await digests[i - 1];
      if (event.prev !== expectedPrev) throw unknown(`event ${i + 1}: prev does not chain to the previous event`, `第 ${i + 1} 条事件与前一事件的链接不符`);
      const allowed = TRANSITIONS.get(event.type);
      const next = allowed ? allowed.get(status) : undefined;
      if (next === undefined) throw unknown(`event ${i + 1}: ${event.type} cannot happen in status ${status}`, `第 ${i + 1} 条事件（${event.type}）不符合证书状态流转规则`);
      if (next !== status) {
        since = typeof event.date === "string" ? event.date : null;
        changedBy = event;
      }
      status = next;
      lastSeq = event.seq;
      previousPayload = env.payload;
      records.push(event);
    }
    return { status, events: records, lastSeq, since, changedBy };
  }

  // The status statement of a certificate is its bucket's file
  // (docs/published-files.md "api/status/<bucket>.json", rules.status_bucket):
  // the first STATUS_BUCKET_HEX hex digits of SHA-256 of the certificate number.
  const bucketOf = async (certNo) => (await sha256Hex(certNo)).slice(0, STATUS_BUCKET_HEX);

  async function replayStatus(file, mark, trust, statusFile) {
    const unknown = replayUnknown;
    const { keys } = trust;
    const { status, lastSeq, since, changedBy } = await verifiedEvents(file, mark, trust);
    const { bucket, got } = await statusFile;
    if (!got.data) {
      throw unknown(`the status statement of bucket ${bucket} could not be fetched (${got.missing ? "not published" : got.error})`,
        "无法获取证书状态声明");
    }
    const statementEnv = got.data;
    const logKey = isObject(statementEnv) ? keys.get(statementEnv.key_id) : undefined;
    let statement;
    try {
      if (!logKey) throw new Error();
      statement = await verifyEnvelope(statementEnv, DOMAINS.status, logKey);
      if (!isObject(statement) || keyProblem(logKey, "status", { date: asOfDate(statement.as_of) })) throw new Error();
    } catch {
      throw unknown("the status statement is not signed by a log key the trust list lets sign it", "状态声明未经登记系统日志密钥签名");
    }
    const listed = isObject(statement.certificates) && Object.hasOwn(statement.certificates, mark.certNo)
      ? statement.certificates[mark.certNo] : null;
    if (statement.bucket !== bucket || !isObject(listed)) {
      throw unknown(`the status statement of bucket ${bucket} does not name ${mark.certNo}`, "状态声明中没有此证书");
    }
    if (listed.status !== status || listed.last_seq !== lastSeq) {
      throw unknown("the status statement disagrees with the signed events", "状态声明与已签名事件不一致");
    }
    return { status, statement, since, changedBy };
  }

  async function run(input, result) {
    // 1. Parse.
    let mark;
    try {
      mark = parseText(payloadText(input));
    } catch (e) {
      throw new Stop("malformed", `not a mark payload: ${e.message}`, "不是有效的认证标志内容（二维码数据格式错误）");
    }
    result.checks.payload = true;
    result.cert_no = mark.certNo;
    result.key_id = mark.keyId;
    result.details.signed_on = mark.signedOn;
    result.details.expires = mark.expires;

    // Everything this verification reads is fetched at once (docs/verify-page.md
    // "What the page fetches"): the trust list (kept for the page's life), the
    // certificate file and, with a pinned log origin, the log's checkpoint. Each
    // is judged only when its check is reached, in the order of the rules.
    // The trust list first: it is judged first (check 2).
    const trustLoaded = trustList();
    trustLoaded.catch(() => {}); // judged below
    const certificate = get(new URL(`certificates/${mark.certNo}.json`, apiBase).href, timeoutMs);
    const statusFile = bucketOf(mark.certNo).then(async (bucket) => (
      { bucket, got: await get(new URL(`status/${bucket}.json`, apiBase).href, timeoutMs) }));
    statusFile.catch(() => {}); // judged in check 6
    const logPrefetch = options.logCheck && options.logCheck.prefetch ? options.logCheck.prefetch(certificate) : null;

    // 2. Trust list, then the payload's key in it.
    const trust = await trustLoaded.catch((e) => { result.checks.trust_list = false; throw e; });
    result.checks.trust_list = true;
    const key = trust.keys.get(mark.keyId);
    if (!key) {
      result.checks.key = false;
      throw new Stop("unknown_issuer", `key ${mark.keyId} is not in the scheme's trust list`,
        `签名密钥 ${mark.keyId} 不在认证体系的信任列表中：不是认可的认证机构所签发`);
    }
    result.body = typeof key.body === "string" ? key.body : null;
    result.details.body_name_zh = key.body_name_zh;
    result.details.body_name_en = key.body_name_en;

    // 3. Key validity.
    try {
      checkKey(key, mark);
    } catch (e) {
      result.checks.key = false;
      throw e instanceof Stop ? e : new Stop("key_not_valid", "the trust list entry of this key is unreadable", "信任列表中该密钥的条目无法读取");
    }
    result.checks.key = true;

    // The log step (7, below) needs only the verified trust list and the
    // certificate file's latest event: it starts now, alongside checks 4-6,
    // and is judged only after them, in the order of the rules (the event's
    // own signature is check 6; the log step proves only that its bytes are
    // in the log). It never throws; the catch keeps an unread result quiet.
    const logStep = options.logCheck ? certificate.then((got) => {
      const events = got.data && Array.isArray(got.data.events) ? got.data.events : [];
      return events.length ? options.logCheck(trust, events[events.length - 1], logPrefetch) : null;
    }) : null;
    if (logStep) logStep.catch(() => {});

    // 4. Signature over "szzz/mark/v1" LF bytes[0:30+n].
    const signed = await ed25519Verify(key.public_key, mark.signature, signingInput(DOMAINS.mark, mark.signedBytes));
    result.checks.signature = signed;
    if (!signed) {
      throw new Stop("bad_signature", "the mark's signature does not verify: the mark was altered or forged",
        "标志签名验证失败：标志内容被篡改或系伪造");
    }

    // 5. The published record.
    const got = await certificate;
    if (got.missing) {
      result.checks.record = false;
      throw new Stop("not_found", `certificate ${mark.certNo} is not published in the registry`,
        `登记系统中没有公布证书 ${mark.certNo}`);
    }
    if (!got.data) {
      throw new Stop("status_unknown", `signature genuine, status could not be fetched (${got.error})`,
        `签名真实，但无法获取证书状态（${got.error}）`);
    }
    try {
      await findRevision(got.data, mark, key, result, trust);
    } catch (e) {
      if (e instanceof Stop && e.verdict !== "status_unknown") result.checks.record = false;
      throw e;
    }
    result.checks.record = true;

    // 6. Status: signed events, the log's statement, freshness, expiry.
    const { status, statement, since, changedBy } = await replayStatus(got.data, mark, trust, statusFile).catch((e) => {
      result.checks.status = false;
      throw e;
    });
    result.checks.status = true;
    result.status_as_of = typeof statement.as_of === "string" ? statement.as_of : null;
    result.details.status_date = since;
    if (status !== "valid" && isObject(changedBy)) {
      // Shown to the consumer with a non-valid status: why, and the body's notice (signed event fields).
      if (typeof changedBy.reason === "string" && changedBy.reason) result.details.status_reason = changedBy.reason;
      if (typeof changedBy.notice === "string" && changedBy.notice) result.details.status_notice = changedBy.notice;
    }
    const asOf = asOfDate(statement.as_of);
    const age = asOf === null ? NaN : dayNumber(today()) - dayNumber(asOf);
    if (!(age >= -FUTURE_TOLERANCE_DAYS)) {
      result.checks.fresh = false;
      throw new Stop("status_unknown", `signature genuine, but the status as of ${statement.as_of} is ${asOf === null ? "unreadable" : "dated in the future"}`,
        `签名真实，但状态信息日期（${statement.as_of}）${asOf === null ? "无法读取" : "晚于当前日期"}`);
    }
    // 7. The transparency log (logcheck.js): when the page pins a log origin,
    //    or the trust list has a timestamp key (then the site must publish one).
    const log = logStep ? await logStep : null;
    if (log) {
      result.details.log = log;
      if (!log.ok) {
        result.checks.fresh = false;
        throw new Stop("status_unknown", `signature genuine, but ${log.reason}`, `签名真实，但${log.reason_zh}`);
      }
    }
    if (!(age <= maxAgeDays)) {
      // Freshness rule (docs/verification.md §6): a stale statement stays
      // current when a fresh verified checkpoint has exactly the tree size it
      // was signed at -- no event has happened since.
      const logSize = Number.isSafeInteger(statement.log_size) ? String(statement.log_size) : null;
      if (!log || logSize === null || log.size !== logSize) {
        result.checks.fresh = false;
        const seen = !log ? "no verified log checkpoint" : `log checkpoint of size ${log.size}, statement signed at size ${statement.log_size}`;
        throw new Stop("status_unknown", `signature genuine, but the status as of ${statement.as_of} is stale (maximum age ${maxAgeDays} days; ${seen})`,
          `签名真实，但状态信息（截至 ${statement.as_of}）已过时（最长 ${maxAgeDays} 天），且透明日志此后已有新事件或无法确认`);
      }
      result.details.refreshed_by_log = true;
    }
    result.checks.fresh = true;
    const current = currentRevision(got.data);
    result.details.current_expires = current.expires;
    if (status === "valid" && current.expires < today()) {
      throw new Stop("expired", `the certificate expired on ${current.expires}`, `证书已于 ${current.expires} 到期`);
    }
    return status;
  }

  const STATUS_ZH = Object.fromEntries(Object.entries(STATUS_NAMES).map(([k, v]) => [k, v[0]]));

  /** Verify a mark URL, a fragment or bare digits; never throws. */
  async function verify(input) {
    const result = {
      verdict: null, cert_no: null, reason: "", reason_zh: "",
      checks: Object.fromEntries(CHECKS.map((c) => [c, null])),
      key_id: null, body: null, status_as_of: null, details: {},
    };
    try {
      const status = await run(input, result);
      const when = result.details.status_date;
      const [reason, reasonZh] = status === "valid"
        ? ["signature genuine; the certificate is valid", "签名真实，证书有效"]
        : [`signature genuine; the certificate was ${status} on ${when}`, `签名真实；证书已于 ${when} ${STATUS_ZH[status]}`];
      Object.assign(result, { verdict: status, reason, reason_zh: reasonZh });
      if (result.details.renewed_on) {
        result.reason += ` (mark printed before the renewal of ${result.details.renewed_on})`;
        result.reason_zh += `（标志印制于 ${result.details.renewed_on} 换证之前，仍然有效）`;
      }
    } catch (e) {
      const stop = e instanceof Stop ? e : new Stop("status_unknown", `verification stopped: ${e && e.message}`, "验证中断");
      // An unexpected error before the signature was checked must never read
      // as "status unknown" (which says the signature is genuine).
      if (!(e instanceof Stop) && result.checks.signature !== true) stop.verdict = "malformed";
      Object.assign(result, { verdict: stop.verdict, reason: stop.reason, reason_zh: stop.reasonZh });
    }
    return result;
  }

  return { verify, trustList };
}
