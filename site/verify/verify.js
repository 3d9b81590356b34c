// The verification page: reads the mark payload from its URL's fragment, runs
// the verifier (verifier.js) and shows one verdict, in Chinese with English
// beneath, with what it means and what to do.
//
// Everything from the fragment or from published files is attacker text:
// it reaches the page through textContent only (never innerHTML). The
// fragment never leaves the browser: only public files are fetched, from
// this site, relative to the page (docs/verify-page.md "Privacy").
//
// Order on the page (docs/verify-page.md "What the visitor sees"): the
// verdict; what the consumer compares (product, models, enterprise, the
// certificate number with a link to its page, dates, and for a status other
// than valid its reason and notice); what to do; the checks, collapsed.

import { beijingTime, createVerifier, todayInSuzhou } from "./verifier.js";
import { ed25519Backend } from "./canonical.js";
import { createSiteLogCheck } from "./logcheck.js";
import { payloadText } from "./payload.js";
import { STATUS_NAMES } from "./constants.js";

const $ = (id) => document.getElementById(id);
const meta = (name) => {
  const el = document.querySelector(`meta[name="${name}"]`);
  return el ? el.content : "";
};

// Per verdict: [tone, icon, title zh, title en, meaning zh, meaning en,
// what to do zh, what to do en, offer a report link].
const TEXT = {
  valid: ["good", "✓", "标志真实 · 证书有效", "Genuine mark · certificate valid",
    "此标志由认可的认证机构签发，签名真实；证书在登记系统中当前有效。",
    "This mark was issued by an accredited certification body, its signature is genuine and the certificate is currently valid in the registry.",
    "请核对下方的产品、型号和企业名称与您手中的商品是否一致；不一致时可能是标志被冒用。",
    "Check that the product, models and enterprise below match the goods in your hand; if they differ the mark may be misused.", false],
  suspended: ["warn", "!", "证书已暂停", "Certificate suspended",
    "标志是真的，但认证机构已暂停该证书（例如监督审核未通过）。暂停期间产品不得以认证产品名义销售或宣传。",
    "The mark is genuine, but the certification body has suspended the certificate (for example after a failed surveillance audit). While suspended, the product may not be sold or advertised as certified.",
    "购买前请向商家确认；如发现暂停期间仍以认证名义销售，可以举报。",
    "Ask the seller before buying; if the product is still sold as certified during the suspension, you can report it.", true],
  revoked: ["bad", "✗", "证书已撤销", "Certificate revoked",
    "标志是真的，但证书已被撤销：该产品不再获得“苏州制造”认证，不得再使用此标志。",
    "The mark is genuine, but the certificate has been revoked: the product is no longer certified and may not carry this mark.",
    "请勿将其视为认证产品。如在售商品仍使用此标志，请举报。",
    "Do not treat the product as certified. If goods on sale still carry this mark, please report it.", true],
  withdrawn: ["warn", "!", "证书已注销", "Certificate withdrawn",
    "标志是真的，但证书已由持证企业申请注销；注销后生产的产品不得使用此标志。",
    "The mark is genuine, but the certificate was withdrawn at the holder's request; products made after the withdrawal may not carry this mark.",
    "注销前生产的商品可能仍在流通；如有疑问请向商家确认生产日期。",
    "Goods made before the withdrawal may still be on sale; ask the seller about the production date if in doubt.", true],
  expired: ["warn", "!", "证书已过期", "Certificate expired",
    "标志是真的，但证书已过有效期且未换证；过期后生产的产品不得使用此标志。",
    "The mark is genuine, but the certificate has expired and was not renewed; products made after expiry may not carry this mark.",
    "过期前生产的商品可能仍在流通；如有疑问请向商家确认生产日期。",
    "Goods made before expiry may still be on sale; ask the seller about the production date if in doubt.", true],
  unknown_issuer: ["bad", "✗", "签发者不明 · 疑似伪造", "Unknown issuer · probably counterfeit",
    "此标志不是由认证体系认可的认证机构签发的。",
    "This mark was not issued by a certification body recognised by the scheme.",
    "请勿相信该标志，并请举报。", "Do not trust this mark, and please report it.", true],
  key_not_valid: ["bad", "✗", "签名密钥无效", "Signing key not valid",
    "标志的签名密钥不能用于此证书：可能是其他机构的密钥、超出有效期、已泄露，或标志已被替换。",
    "The key that signed this mark may not be used for this certificate: it belongs to another body, was used outside its validity, was compromised, or the mark has been replaced.",
    "请勿相信该标志，并请举报。", "Do not trust this mark, and please report it.", true],
  bad_signature: ["bad", "✗", "签名无效 · 疑似伪造", "Invalid signature · probably counterfeit",
    "标志内容与认证机构的签名不符：标志被篡改或系伪造。",
    "The mark's content does not match the certification body's signature: the mark was altered or forged.",
    "请勿相信该标志，并请举报。", "Do not trust this mark, and please report it.", true],
  malformed: ["bad", "✗", "无法识别的标志", "Not a readable mark",
    "二维码中没有有效的认证标志数据。",
    "The QR code does not hold a valid certification mark.",
    "请重新扫描，或上传更清晰的照片；如果商品上的标志始终无法识别，可能是伪造的，请举报。",
    "Scan again or upload a sharper photo; if the mark on the goods can never be read it may be counterfeit: please report it.", true],
  not_found: ["bad", "✗", "证书未找到", "Certificate not found",
    "登记系统中没有与此标志相符的证书记录。",
    "The registry holds no certificate record matching this mark.",
    "请勿相信该标志，并请举报。", "Do not trust this mark, and please report it.", true],
  status_unknown: ["warn", "?", "签名真实 · 状态未知", "Signature genuine · status unknown",
    "标志的签名是真实的，但暂时无法确认证书的最新状态（网络问题或状态信息过时）。",
    "The mark's signature is genuine, but the certificate's current status could not be confirmed (network problem or out-of-date status information).",
    "请稍后联网重试，或在门户网站查询该证书。", "Try again later with a network connection, or look the certificate up on the portal.", false],
  unsupported: ["warn", "?", "此浏览器无法验证", "This browser cannot verify",
    "此浏览器无法核对数字签名（缺少所需的密码学功能，或页面不是通过安全连接打开的）。下方的证书编号未经核对。",
    "This browser cannot check digital signatures (it lacks the cryptography needed, or the page was not opened over a secure connection). The certificate number below is unchecked.",
    "请在证书页面核对信息，或更新浏览器、用其他浏览器打开此链接。", "Compare with the certificate's page, or update your browser or open this link in another browser.", false],
};

// A friendlier word than the parser's for the commonest malformed inputs
// (the parser's own reason stays in the verification details).
const EMPTY_MARK = ["链接中没有标志内容。请扫描商品上的认证标志二维码。", "This link holds no mark data. Scan the mark's QR code on the goods."];
const BAD_MARK = ["二维码内容不是完整的认证标志数据（可能拍摄不全或被改动）。", "The QR code does not hold complete mark data (partly captured, or altered)."];

const CHECK_ROWS = [
  ["payload", "标志格式正确", "Mark readable"],
  ["trust_list", "信任列表由认证体系根密钥签名", "Trust list signed by the scheme root"],
  ["key", "签名密钥已获授权", "Signing key authorised for this body and date"],
  ["signature", "签名真实", "Signature genuine"],
  ["record", "与登记的证书记录相符", "Matches the registered certificate record"],
];
const LOG_ROWS = [
  ["log-signature", "透明日志检查点由日志密钥签名", "Log checkpoint signed by the log key"],
  ["log-fresh", "日志检查点时间戳在有效期内", "Log checkpoint freshly timestamped"],
  ["inclusion", "最新事件已记入透明日志", "Latest event included in the log"],
  ["consistency", "日志未被回滚或分叉", "Log not rolled back or forked"],
];
const MARKS = { true: ["✓", "通过", "passed"], false: ["✗", "未通过", "failed"], null: ["–", "未检查", "not checked"] };
const STATUS_VERDICTS = new Set(Object.keys(STATUS_NAMES));

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text != null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

/** Two lines: Chinese, then English beneath. */
function bilingual(node, zh, en) {
  node.replaceChildren(el("span", zh, { class: "zh" }), el("span", en, { class: "en", lang: "en" }));
}

/** The page's "now" in ms: the test hooks' pinned moment, else the clock. */
function nowMs() {
  const now = meta("szzz-now");
  if (now) return Number(now) * 1000;
  const today = meta("szzz-today");
  return today ? Date.parse(`${today}T12:00:00+08:00`) : Date.now();
}

function checkItem(mark, zh, en, detail) {
  const [icon, stateZh, stateEn] = MARKS[mark];
  const li = el("li", null, { class: `check check-${mark}` });
  li.append(el("span", icon, { class: "check-icon", "aria-hidden": "true" }));
  const body = el("span", null, { class: "check-text" });
  body.append(el("span", `${zh} / `), el("span", en, { lang: "en" }), el("span", ` — ${stateZh} / ${stateEn}`, { class: "check-state" }));
  if (detail) body.append(el("span", detail, { class: "check-detail" }));
  li.append(body);
  return li;
}

function renderChecks(result, tone) {
  const list = $("checks");
  $("checks-section").dataset.tone = tone;
  list.replaceChildren(...CHECK_ROWS.map(([name, zh, en]) => checkItem(result.checks[name], zh, en)));
  // Status is its own line: "current" only when the signed status was
  // replayed AND is fresh; otherwise "unknown" once the signature is known.
  const { status, fresh } = result.checks;
  const asOf = beijingTime(result.status_as_of, nowMs());
  const asOfText = asOf ? `截至 ${asOf}（北京时间）/ as of ${asOf} Beijing time` : null;
  if (status === true && fresh === true) {
    list.append(checkItem(true, "状态已确认为最新", "Status confirmed current", asOfText));
  } else if (status === false || fresh === false) {
    list.append(checkItem(false, "状态未知", "Status unknown", asOfText));
  } else {
    list.append(checkItem(null, "证书状态", "Certificate status"));
  }
  // Transparency-log checks (logcheck.js), each marked for people and machines.
  const log = result.details.log;
  if (log && log.checks) {
    for (const [name, zh, en] of LOG_ROWS) {
      const state = log.checks[name] === true ? true : log.checks[name] === false ? false : null;
      const cosigned = name === "log-fresh" ? beijingTime(log.cosigned, nowMs()) : null;
      const detail = cosigned ? `时间戳 ${cosigned}（北京时间）/ timestamped ${cosigned} Beijing time`
        : name === "inclusion" && log.leaf_index !== undefined ? `第 ${log.leaf_index} 项 / leaf ${log.leaf_index} of ${log.size}` : null;
      const li = checkItem(state, zh, en, detail);
      li.dataset.check = name;
      li.dataset.ok = String(state === true);
      list.append(li);
    }
  }
  // The two facts a consumer must not confuse, side by side. Green only on a
  // valid verdict: on any other, a genuine signature is a neutral fact.
  const sig = result.checks.signature;
  const sigBox = $("fact-signature");
  bilingual(sigBox,
    sig === true ? "签名真实 ✓" : sig === false ? "签名不可信 ✗" : "签名未验证 –",
    sig === true ? "Signature genuine" : sig === false ? "Signature not genuine" : "Signature not verified");
  sigBox.dataset.ok = String(sig === true);
  sigBox.dataset.tone = sig === true ? (tone === "good" ? "good" : "idle") : sig === false ? "bad" : "idle";
  const current = status === true && fresh === true;
  const statusBox = $("fact-status");
  const verdict = result.verdict;
  if (current && STATUS_VERDICTS.has(verdict) && verdict !== "valid") {
    const [zh, en] = STATUS_NAMES[verdict];
    bilingual(statusBox, `状态：已${zh} ${TEXT[verdict][1]}`, `Status: ${en}`);
  } else if (current && verdict === "expired") {
    bilingual(statusBox, "状态：已过期 !", "Status: expired");
  } else {
    bilingual(statusBox,
      current ? "状态最新 ✓" : sig === true ? "状态未知 ?" : "状态未检查 –",
      current ? "Status current" : sig === true ? "Status unknown" : "Status not checked");
  }
  statusBox.dataset.ok = String(current);
  statusBox.dataset.tone = current ? tone : sig === true ? "warn" : "idle";
}

function join(...parts) {
  return parts.filter((p) => typeof p === "string" && p).join(" / ");
}

/** Rows of a definition list: [zh, en, value, class?]; a value may be a node. */
function fill(dl, rows) {
  dl.replaceChildren();
  for (const [zh, en, value, cls] of rows) {
    if (!(value instanceof Node) && (typeof value !== "string" || !value)) continue;
    const dt = el("dt", `${zh} `);
    dt.append(el("span", en, { lang: "en", class: "en" }));
    const dd = el("dd", value instanceof Node ? null : value, cls ? { class: cls } : {});
    if (value instanceof Node) dd.append(value);
    dl.append(dt, dd);
  }
}

/** The certificate's page on this site (the number is [A-Z0-9-], URL-encoded anyway). */
function certLink(certNo) {
  const a = el("a", certNo, { class: "cert-no", href: `${meta("szzz-cert-base") || "../certificates/"}${encodeURIComponent(certNo)}/` });
  return a;
}

function renderRecord(result, unchecked) {
  const record = result.details.record;
  const section = $("certificate");
  $("unchecked").hidden = !unchecked;
  $("signed-note").hidden = unchecked;
  if (unchecked) {
    // No signature could be checked: only the number the mark claims, and where the registry shows it.
    fill($("fields"), [["证书编号（未核对）", "Certificate no. (unchecked)", certLink(result.cert_no)]]);
    fill($("more-fields"), []);
    section.hidden = false;
    return;
  }
  if (!record || typeof record !== "object") {
    section.hidden = true;
    fill($("more-fields"), []);
    return;
  }
  const d = result.details;
  const product = record.product || {};
  const enterprise = record.enterprise || {};
  const models = Array.isArray(product.models) ? product.models.filter((m) => typeof m === "string").join("、") : "";
  const standards = Array.isArray(record.standards) ? record.standards.filter((s) => typeof s === "string").join("；") : "";
  const verdict = result.verdict;
  const rows = [
    ["产品", "Product", join(product.name_zh, product.name_en)],
    ["型号", "Models", models],
    ["企业", "Enterprise", join(enterprise.name_zh, enterprise.name_en)],
    ["证书编号", "Certificate no.", certLink(record.cert_no)],
  ];
  if (STATUS_VERDICTS.has(verdict) && verdict !== "valid" && verdict !== "expired") {
    const [zh, en] = STATUS_NAMES[verdict];
    const cls = TEXT[verdict][0] === "bad" ? "status-bad" : "status-warn";
    rows.push(["状态", "Status", `已${zh} ${en}${d.status_date ? `（${d.status_date} 起 since）` : ""}`, cls]);
    rows.push(["原因", "Reason", d.status_reason]);
    rows.push(["公告", "Notice", d.status_notice]);
  } else if (verdict === "expired") {
    rows.push(["状态", "Status", `已过期 expired（${d.current_expires || record.expires}）`, "status-warn"]);
    rows.push(["原因", "Reason", d.status_reason]);
  }
  rows.push(["有效期至", "Valid until", d.current_expires || record.expires]);
  const asOf = beijingTime(result.status_as_of, nowMs());
  if (asOf && result.checks.fresh === true) rows.push(["状态截至", "Status as of", `${asOf}（北京时间 Beijing time）`]);
  fill($("fields"), rows);
  fill($("more-fields"), [
    ["认证机构", "Certification body", join(d.body_name_zh, d.body_name_en, record.body)],
    ["所在地区", "District", enterprise.district],
    ["认证范围", "Scope", record.scope],
    ["依据标准", "Standards", standards],
    ["颁发日期", "Issued", record.issued],
  ]);
  $("json-link").href = `${meta("szzz-api-base")}certificates/${encodeURIComponent(result.cert_no)}.json`;
  section.hidden = false;
}

function renderVerdict(result) {
  const verdict = result.verdict;
  const [tone, icon, titleZh, titleEn, meaningZh, meaningEn, doZh, doEn, report] = TEXT[verdict];
  const box = $("verdict");
  box.dataset.verdict = verdict;
  box.dataset.tone = tone;
  $("v-icon").textContent = icon;
  bilingual($("v-title"), titleZh, titleEn);
  bilingual($("v-meaning"), meaningZh, meaningEn);
  if (verdict === "malformed") {
    // The parser's words are for developers: the consumer gets plain ones; the
    // parser's stay in the details (the checks' first row failed).
    const [zh, en] = result.empty ? EMPTY_MARK : BAD_MARK;
    bilingual($("v-reason"), zh, en);
  } else if (verdict === "unsupported") {
    $("v-reason").replaceChildren();
  } else {
    bilingual($("v-reason"), result.reason_zh || "", result.reason || "");
  }
  bilingual($("advice-text"), doZh, doEn);
  $("advice").hidden = false;
  $("report").hidden = !report;
  if (result.cert_no) {
    $("v-cert").textContent = result.cert_no;
    $("v-cert").hidden = false;
  } else {
    $("v-cert").hidden = true;
  }
  renderRecord(result, verdict === "unsupported");
  if (verdict === "unsupported") {
    $("checks-section").hidden = true;
  } else {
    renderChecks(result, tone);
    $("checks-section").hidden = false;
  }
}

function resetView() {
  for (const id of ["advice", "certificate", "checks-section"]) $(id).hidden = true;
  $("v-cert").hidden = true;
  $("v-reason").replaceChildren();
  $("v-meaning").replaceChildren();
}

let verifier = null;
let generation = 0;
// This module is inline and async in index.html, so it may run before the
// body is parsed: the fetches start at once, not after the document is
// parsed and first laid out (docs/verify-page.md "Second round"); what
// touches the body waits for this.
const documentParsed = document.readyState === "loading"
  ? new Promise((resolve) => document.addEventListener("DOMContentLoaded", resolve, { once: true }))
  : Promise.resolve();

/** Verify what the fragment holds; a newer hashchange makes older runs moot. */
async function run() {
  const mine = ++generation;
  const root = document.documentElement;
  // "v/" alone is the landing page; "v/#" (an empty fragment) is a mark to check.
  const requested = location.href.includes("#");
  root.dataset.run = String(mine); // lets tests and monitors tell runs apart
  // The whole URL, as Python's verifier takes a scanned URL: the payload is
  // what follows its first "#" (payload.js payloadText, docs/verification.md
  // "Input"). The fetches start at once, before the document is parsed (the
  // module is async), while the Ed25519 implementation is chosen (WebCrypto,
  // or the fallback loaded on demand).
  const checking = requested ? Promise.all([ed25519Backend(), verifier.verify(location.href)]) : null;
  await documentParsed;
  if (mine !== generation) return;
  const box = $("verdict");
  resetView();
  if (!requested) {
    box.dataset.verdict = "";
    box.dataset.tone = "idle";
    $("v-icon").textContent = "▦";
    bilingual($("v-title"), "扫描认证标志进行验证", "Scan a certification mark to verify it");
    bilingual($("v-meaning"), "用手机扫描商品上的“苏州制造”认证标志二维码，即可在此核对真伪和证书状态。",
      "Scan the QR code of a certification mark on the goods to check here that it is genuine and its certificate valid.");
    root.dataset.state = "idle";
    return;
  }
  root.dataset.state = "working";
  box.dataset.verdict = "";
  box.dataset.tone = "idle";
  $("v-icon").textContent = "…";
  bilingual($("v-title"), "正在验证…", "Verifying…");
  const [backend, checked] = await checking;
  let result = checked;
  if (backend === null) {
    // No Ed25519 at all: never a verdict that would call a genuine mark forged.
    result = { ...checked, verdict: "unsupported", reason: "", reason_zh: "" };
  }
  result.empty = location.href.endsWith("#");
  if (mine !== generation) return;
  renderVerdict(result);
  root.dataset.state = "done";
  root.dataset.ed25519 = backend || "none"; // which implementation verified (tests, monitoring)
  performance.mark("szzz-verdict"); // time from navigation to verdict (bench/verify_page_bench.py)
}

/** The log step (docs/transparency-log.md): pinned origin, or api/log.json when
 * the trust list has a timestamp key (logcheck.js createSiteLogCheck). */
function logCheckFor(pinnedToday, apiBase) {
  const nowTest = meta("szzz-now"); // test hook, like szzz-today
  return createSiteLogCheck({
    origin: meta("szzz-log-origin") || "",
    apiBase,
    timeoutMs: Number(meta("szzz-timeout-ms") || 8000),
    logBase: new URL(meta("szzz-log-base") || "../log/", location.href).href,
    maxAgeDays: Number(meta("szzz-max-age-days") || 7),
    now: nowTest ? () => Number(nowTest) : pinnedToday ? () => Date.parse(`${pinnedToday}T12:00:00+08:00`) / 1000 : () => Date.now() / 1000,
  });
}

function setup() {
  // <meta> tags come before the <script> in <head>, so they are parsed even
  // when this module runs before the body is.
  const apiBase = new URL(meta("szzz-api-base") || "../api/", location.href).href;
  const pinnedToday = meta("szzz-today"); // test hook, set only by install_verifier(today=...)
  verifier = createVerifier({
    rootPublicKey: meta("szzz-root-key"),
    apiBase,
    maxAgeDays: Number(meta("szzz-max-age-days") || 7),
    timeoutMs: Number(meta("szzz-timeout-ms") || 8000),
    today: pinnedToday ? () => pinnedToday : () => todayInSuzhou(),
    logCheck: logCheckFor(pinnedToday, apiBase),
  });
  window.addEventListener("hashchange", run);
  run();
  documentParsed.then(() => {
    $("report-link").href = meta("szzz-report-url") || "../report/";
    $("scan-button").addEventListener("click", startScan);
    $("scan-photo").addEventListener("change", onPhoto);
    $("scan-camera").addEventListener("change", onPhoto);
  });
}

// --- scanning (scan.js and jsQR are loaded only when asked for) ----------

function scanStatus(zh, en) {
  bilingual($("scan-status"), zh, en);
}

/**
 * A scanned text: bare digits or a mark URL's fragment is verified here, by
 * this page and its pinned root key. The page never navigates to what a QR
 * code holds: a counterfeit mark may lead to a look-alike site, so a mark
 * URL of another host is verified here with a warning naming that host.
 */
function useScanned(text) {
  let digits;
  try {
    digits = payloadText(text); // the one input rule, as in Python's szzz verify <image>
  } catch {
    scanStatus(`此二维码不是认证标志，未打开：${String(text).slice(0, 200)}`,
      "This QR code is not a certification mark; it was not opened.");
    return;
  }
  let url = null;
  try {
    url = new URL(text.trim());
  } catch { /* bare digits */ }
  if (url && url.origin !== location.origin) {
    scanStatus(`注意：此二维码指向 ${url.host}，不是本网站。已在本页验证其内容；请勿在该网站输入任何信息。`,
      `Note: this QR code points to ${url.host}, not this site. Its content was verified on this page; do not enter anything on that site.`);
  } else {
    scanStatus("已读取二维码", "QR code read");
  }
  if (location.hash === `#${digits}`) run();
  else location.hash = digits;
  $("verdict").focus();
}

async function startScan() {
  const scan = await import("./scan.js");
  if (scan.cameraAvailable()) {
    const stop = new AbortController();
    const stopButton = $("scan-stop");
    const onStop = () => stop.abort();
    stopButton.addEventListener("click", onStop);
    stopButton.hidden = false;
    try {
      scanStatus("请将二维码对准相机…", "Point the camera at the QR code…");
      const text = await scan.scanWithCamera($("scan-video"), stop.signal);
      if (text) useScanned(text);
      else scanStatus("已停止扫描", "Scanning stopped");
      return;
    } catch {
      scanStatus("无法使用相机，请选择图片", "The camera is not available; choose a picture instead");
    } finally {
      stopButton.hidden = true;
      stopButton.removeEventListener("click", onStop);
    }
  }
  // No live scanning here: the phone's camera app through a capture input
  // ("选择图片" beside it picks an existing picture or screenshot instead).
  $("scan-camera").click();
}

async function onPhoto(event) {
  const file = event.target.files && event.target.files[0];
  if (!file) return;
  scanStatus("正在识别照片中的二维码…", "Reading the QR code in the photo…");
  const scan = await import("./scan.js");
  let text = null;
  try {
    text = await scan.decodeImageFile(file);
  } catch { /* unreadable image: same message as no code */ }
  event.target.value = "";
  if (text === null) {
    scanStatus("照片中没有找到二维码，请靠近并对准后重拍", "No QR code found in the photo; move closer and try again");
    return;
  }
  useScanned(text);
}

setup();
