#!/usr/bin/env bash
# Installs what the project needs outside the Python venv, only when missing:
#   - Debian packages: Chromium (driven by Playwright through executable_path,
#     since `playwright install` cannot download browsers here), fonts for
#     CJK text in raster marks and screenshots, LibreOffice Calc (the CSV
#     downloads are opened by a real spreadsheet in the tests);
#   - Java, for the Nu HTML Checker the tests run on published pages;
#   - Go and golang.org/x/mod (Debian's packages, no module download): the
#     independent transparency-log checker tests/tlog/gocheck, built offline;
#   - nginx and rclone: the reference deployment (publish.py nginx, publish.py
#     deploy) is tested with the real programs (the nginx service is not
#     started: the tests run their own nginx on a 127.0.0.1 port);
#   - sqldiff (sqlite3-tools): an incremental build's public database is
#     compared with a full build's by SQLite's own tool;
#   - npm packages of the browser verifier (jsqr, @noble, the bundler esbuild) and the checkers
#     (axe-core, vnu-jar, lighthouse), via `npm ci`.
# Idempotent and quick when everything is there (dpkg-query + a directory check).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DEB_PACKAGES=(
  chromium          # /usr/bin/chromium, used by tests/conftest.py and screenshots
  fonts-liberation  # Latin fonts (Chromium's recommended default fonts)
  fonts-noto-cjk    # Noto Sans/Serif CJK: Chinese glyphs for marks and pages
  fontconfig        # fc-list / fc-match, used to locate fonts
  libreoffice-calc  # soffice --headless: tests/publish/test_csv_safety.py opens the CSV downloads
  default-jre-headless  # Java for the Nu HTML Checker (node_modules/vnu-jar), run by the tests
  golang-go         # builds tests/tlog/gocheck (tests/tlog/test_go_checker.py), offline
  golang-golang-x-mod-dev  # golang.org/x/mod/sumdb/{note,tlog}: the reference tlog code it checks with
  nginx             # /usr/sbin/nginx: tests/portal/test_nginx.py runs the config `publish.py nginx` writes
  rclone            # `publish.py deploy` to remotes; tests/publish/test_deploy.py runs `rclone serve webdav`
  sqlite3-tools     # sqldiff: tests/publish/test_incremental.py compares public databases with SQLite's own tool
)

log() { printf '[system-deps] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    log "need root (or sudo) to run: $*"
    return 1
  fi
}

is_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]
}

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done
# npm is needed for `npm ci` below; Debian's nodejs/npm only if none is on PATH.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  log "Debian packages present: ${DEB_PACKAGES[*]}"
fi

if [ ! -x /usr/bin/chromium ] && [ -z "${SZZZ_CHROMIUM:-}" ]; then
  log "ERROR: /usr/bin/chromium is missing after install"
  exit 1
fi

# Browser-side npm dependencies (pinned by package-lock.json).
# Re-run when missing, or when package-lock.json is newer than what npm last
# installed (npm writes node_modules/.package-lock.json on every install).
if [ ! -f node_modules/jsqr/dist/jsQR.js ] || [ ! -x node_modules/.bin/esbuild ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci (browser verifier dependencies)"
  npm ci --no-audit --no-fund --loglevel=error
else
  log "node_modules present"
fi
