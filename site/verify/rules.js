// The key rules of registry/core/rules.py (docs/verification.md, rule 3), over
// the generated tables of constants.js: which key may sign what, on which
// date. A line-for-line port of rules.key_problem; the conformance vectors
// and the differential tests hold the two to the same answers.

import { FAR_FUTURE, KEY_STATUSES, USES } from "./constants.js";

/** The body code inside `<programme>-<year>-<BODY>-<serial>`, or null. */
export function bodyOfCertNo(certNo) {
  if (typeof certNo !== "string") return null;
  const parts = certNo.split("-");
  return parts.length === 4 ? parts[2] : null;
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isText = (v) => typeof v === "string" && v !== "";

/**
 * Why trust-list `entry` may not sign for `use` (a key of USES: "mark",
 * "event", "status", "checkpoint", "cosignature", ...) on `date` for `body`:
 * [reason, reasonZh], or null when it may.
 */
export function keyProblem(entry, use, { date = null, body = null } = {}) {
  const variant = USES[use];
  if (!isObject(entry)) return ["key is not in the trust list", "密钥不在信任列表中"];
  const keyId = entry.key_id;
  const role = entry.role;
  if (role !== variant.role) {
    return [`key ${keyId} is a ${role} key, expected a ${variant.role} key`,
      `密钥 ${keyId} 的用途是 ${role}，应为 ${variant.role} 密钥`];
  }
  if (variant.role === "body" && entry.body !== body) {
    return [`key ${keyId} belongs to body ${entry.body}, expected a key of ${body}`,
      `认证机构 ${entry.body} 的密钥签署了 ${body} 的记录`];
  }
  if (entry.endorsed === false) return [`key ${keyId} is not endorsed in any trust list`, `密钥 ${keyId} 未经信任列表授权`];
  const status = entry.status;
  if (!KEY_STATUSES.includes(status)) return [`key ${keyId} has status ${status}`, `密钥 ${keyId} 的状态无法识别`];
  if (status === "compromised" && variant.compromise === "presented") {
    return [`key ${keyId} was reported compromised on ${entry.status_date}: no ${use} signed by it is trusted; its certificates were re-signed with a new key`,
      `密钥 ${keyId} 已于 ${entry.status_date} 报告泄露，其签名不可信；相关证书已用新密钥重新签名`];
  }
  if (!variant.dated) return null;
  if (typeof date !== "string") return [`${use} has no date to judge key ${keyId} by`, "无法确认签名日期"];
  const first = entry.valid_from;
  const last = entry.valid_to;
  if (typeof first !== "string" || date < first) {
    return [`signed on ${date}, before key ${keyId} was valid (from ${first})`, `签署日期 ${date} 早于密钥 ${keyId} 的生效日期 ${first}`];
  }
  if (last && date > last) {
    return [`signed on ${date}, after key ${keyId}'s validity ended (${last})`, `签署日期 ${date} 晚于密钥 ${keyId} 的有效期截止日 ${last}`];
  }
  if (status === "retired" || status === "compromised") {
    const ended = entry.status_date;
    if (!isText(ended) || date > ended) {
      return [`signed on ${date}, after key ${keyId} was ${status} on ${ended}`,
        `签署日期 ${date} 晚于密钥 ${keyId} 的${status === "retired" ? "停用" : "泄露"}日期 ${ended}`];
    }
  }
  return null;
}

export { FAR_FUTURE };
