// In-page scanning, loaded only when the visitor asks to scan (so the
// verification itself stays light): the camera through BarcodeDetector
// where the browser has it, otherwise a picture (photo, screenshot, PNG or
// SVG mark file) decoded with jsQR (the npm
// package, copied next to this file by registry/publish/webverifier.py and loaded
// on first use).

const MAX_SIDE = [1600, 900, 2600]; // photo sizes tried in turn (px, longest side)
const CAMERA_TIMEOUT_MS = 60000;

export function cameraAvailable() {
  return "BarcodeDetector" in window && Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
}

let jsQRPromise = null;

/** Load jsQR.js (UMD: defines window.jsQR) once, by a same-origin script element. */
function loadJsQR() {
  if (!jsQRPromise) {
    jsQRPromise = new Promise((resolve, reject) => {
      if (window.jsQR) return resolve(window.jsQR);
      const script = document.createElement("script");
      script.src = new URL("jsQR.js", import.meta.url).href;
      script.onload = () => (window.jsQR ? resolve(window.jsQR) : reject(new Error("jsQR did not load")));
      script.onerror = () => { jsQRPromise = null; reject(new Error("jsQR.js could not be fetched")); };
      document.head.append(script);
    });
  }
  return jsQRPromise;
}

const SVG_SIDE = 1200; // px: an SVG (a mark file as downloaded) is drawn at this size

/**
 * Something drawImage can draw, with its size: a bitmap of a photo or
 * screenshot, or for an SVG (which createImageBitmap does not read from a
 * file) an <img> of the file's blob: URL -- the page's CSP allows blob:
 * images for this alone; the URL is revoked when done.
 */
async function drawable(file) {
  const svg = file.type === "image/svg+xml" || /\.svg$/i.test(file.name || "");
  if (!svg) {
    const bitmap = await createImageBitmap(file);
    return { source: bitmap, width: bitmap.width, height: bitmap.height, close: () => bitmap.close() };
  }
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    const w = img.naturalWidth || SVG_SIDE, h = img.naturalHeight || SVG_SIDE;
    const scale = SVG_SIDE / Math.max(w, h);
    return { source: img, width: Math.round(w * scale), height: Math.round(h * scale), close: () => URL.revokeObjectURL(url) };
  } catch (e) {
    URL.revokeObjectURL(url);
    throw e;
  }
}

/** The text of the QR code in an image file (photo, screenshot, PNG or SVG mark), or null when none is found. */
export async function decodeImageFile(file) {
  const jsQR = await loadJsQR();
  const image = await drawable(file);
  try {
    for (const side of MAX_SIDE) {
      const scale = Math.min(1, side / Math.max(image.width, image.height));
      const w = Math.max(1, Math.round(image.width * scale));
      const h = Math.max(1, Math.round(image.height * scale));
      const canvas = document.createElement("canvas");
      canvas.width = w;
      canvas.height = h;
      const ctx = canvas.getContext("2d", { willReadFrequently: true });
      ctx.fillStyle = "#fff"; // a transparent background (SVG, PNG) reads as white, as on paper
      ctx.fillRect(0, 0, w, h);
      ctx.drawImage(image.source, 0, 0, w, h);
      const code = jsQR(ctx.getImageData(0, 0, w, h).data, w, h, { inversionAttempts: "attemptBoth" });
      if (code && typeof code.data === "string" && code.data) return code.data;
      if (scale === 1) break; // the full image was tried: larger sizes add nothing
    }
    return null;
  } finally {
    image.close();
  }
}

/**
 * Scan with the rear camera until a QR code is seen (or a minute passes);
 * resolves to its text or null (also when `signal` aborts: the visitor
 * pressed stop). The camera is always released afterwards.
 */
export async function scanWithCamera(video, signal) {
  const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  video.srcObject = stream;
  video.hidden = false;
  try {
    await video.play();
    const started = Date.now();
    while (Date.now() - started < CAMERA_TIMEOUT_MS && !(signal && signal.aborted)) {
      const codes = await detector.detect(video).catch(() => []);
      const found = codes.find((c) => typeof c.rawValue === "string" && c.rawValue);
      if (found) return found.rawValue;
      await new Promise((r) => setTimeout(r, 150));
    }
    return null;
  } finally {
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
    video.hidden = true;
  }
}
