"""Tests of the project foundation: shared fixtures, Chromium + WebCrypto, the npm QR
decoder, sync Playwright next to asyncio, and the README/Makefile/CI contract."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import shutil
import socket
import subprocess
import tomllib
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from helpers import (
    assert_no_js_errors,
    chromium_executable,
    free_port,
    js_errors,
    run_async,
    wait_for_http,
)

REPO = Path(__file__).resolve().parent.parent

# A page with no inline script at all; CSP forbids it, as the real site does.
PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self'">
<title>苏州制造 测试</title>
{head}
</head><body><h1>苏州制造</h1><pre id="out">pending</pre></body></html>
"""


def write_page(root: Path, module_js: str, head: str = "") -> None:
    (root / "index.html").write_text(
        PAGE.format(head=head + '<script type="module" src="app.mjs"></script>'), "utf-8"
    )
    (root / "app.mjs").write_text(module_js, "utf-8")


# --------------------------------------------------------------------------- #
# helpers + serve_dir
# --------------------------------------------------------------------------- #
def test_free_port_is_bindable():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_wait_for_http_times_out_on_closed_port():
    with pytest.raises(TimeoutError, match="did not answer"):
        wait_for_http(f"http://127.0.0.1:{free_port()}/", timeout=0.5)


def test_serve_dir_serves_files_with_mime_types(tmp_path, serve_dir):
    files = {
        "index.html": ("<p>你好</p>", "text/html"),
        "a.js": ("export {}", "text/javascript"),
        "b.mjs": ("export {}", "text/javascript"),
        "c.json": ("{}", "application/json"),
        "d.svg": ("<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
        "e.wasm": ("\0asm", "application/wasm"),
    }
    for name, (body, _) in files.items():
        (tmp_path / name).write_text(body, "utf-8")
    base = serve_dir(tmp_path)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base)
    assert wait_for_http(base + "/", timeout=5) == 200
    for name, (body, mime) in files.items():
        with urllib.request.urlopen(f"{base}/{name}") as resp:
            assert resp.headers.get_content_type() == mime, name
            assert resp.read().decode("utf-8") == body
    assert wait_for_http(base + "/missing", timeout=5) == 404


def test_serve_dir_rejects_missing_dir(tmp_path, serve_dir):
    with pytest.raises(NotADirectoryError):
        serve_dir(tmp_path / "nope")


def test_chromium_executable_fails_clearly_when_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("SZZZ_CHROMIUM", str(tmp_path / "no-chromium"))
    with pytest.raises(pytest.fail.Exception, match="make system-deps"):
        chromium_executable()


# --------------------------------------------------------------------------- #
# Chromium through Playwright
# --------------------------------------------------------------------------- #
WEBCRYPTO_JS = r"""
const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const out = {};
try {
  const data = await (await fetch("data.json")).json();
  out.sha256 = hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode("abc")));
  const key = await crypto.subtle.importKey("raw", b64(data.public_key), { name: "Ed25519" }, false, ["verify"]);
  const msg = new TextEncoder().encode(data.message);
  out.valid = await crypto.subtle.verify({ name: "Ed25519" }, key, b64(data.signature), msg);
  const tampered = new TextEncoder().encode(data.message + " ");
  out.tampered = await crypto.subtle.verify({ name: "Ed25519" }, key, b64(data.signature), tampered);
} catch (e) {
  out.error = String(e);
}
document.getElementById("out").textContent = JSON.stringify(out);
"""


@pytest.mark.browser
def test_webcrypto_sha256_and_ed25519_in_chromium(tmp_path, serve_dir, page):
    import base64

    sk = Ed25519PrivateKey.generate()
    message = '{"cert":"SZZZ-2025-000001","name":"苏州丝绸"}'
    data = {
        "public_key": base64.b64encode(
            sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        ).decode(),
        "message": message,
        "signature": base64.b64encode(sk.sign(message.encode("utf-8"))).decode(),
    }
    (tmp_path / "data.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    write_page(tmp_path, WEBCRYPTO_JS)

    page.goto(serve_dir(tmp_path) + "/")
    out = page.locator("#out")
    out.filter(has_not_text="pending").wait_for()
    result = json.loads(out.text_content())
    assert result == {
        "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "valid": True,
        "tampered": False,
    }
    assert_no_js_errors(page)


@pytest.mark.browser
def test_page_defaults_phone_and_zh_cn(tmp_path, serve_dir, page):
    write_page(tmp_path, "document.getElementById('out').textContent = "
               "JSON.stringify([navigator.language, innerWidth, innerHeight]);")
    page.goto(serve_dir(tmp_path) + "/")
    page.locator("#out").filter(has_not_text="pending").wait_for()
    assert json.loads(page.locator("#out").text_content()) == ["zh-CN", 390, 844]
    assert page.title() == "苏州制造 测试"


@pytest.mark.browser
@pytest.mark.parametrize("page_viewport", [{"width": 1280, "height": 800}])
def test_page_viewport_can_be_parametrized(page):
    page.set_content("<p>x</p>")
    assert page.evaluate("[innerWidth, innerHeight]") == [1280, 800]


@pytest.mark.browser
def test_console_and_page_errors_are_collected(tmp_path, serve_dir, page):
    write_page(
        tmp_path,
        'console.log("hello 苏州");\n'
        'console.error("boom from console");\n'
        'document.getElementById("out").textContent = "done";\n'
        'setTimeout(() => { throw new Error("uncaught kaboom"); }, 0);\n',
    )
    page.goto(serve_dir(tmp_path) + "/")
    page.locator("#out", has_text="done").wait_for()
    page.wait_for_function("() => true")  # one more round trip for the timer's error
    page.wait_for_timeout(100)

    assert any(m.type == "log" and m.text == "hello 苏州" for m in page.console_messages)
    assert any(m.type == "error" and "boom from console" in m.text for m in page.console_messages)
    assert any("uncaught kaboom" in e.message for e in page.page_errors)
    errors = js_errors(page)
    assert len(errors) == 2, errors
    with pytest.raises(AssertionError, match="uncaught kaboom"):
        assert_no_js_errors(page)
    # Playwright's own page.console_messages() method still works too.
    assert any(m.text == "hello 苏州" for m in page.console_messages())


@pytest.mark.browser
def test_csp_blocks_inline_script_and_is_reported(tmp_path, serve_dir, page):
    (tmp_path / "index.html").write_text(
        PAGE.format(head="<script>document.title='inline ran'</script>"), "utf-8"
    )
    page.goto(serve_dir(tmp_path) + "/")
    assert page.title() == "苏州制造 测试"
    assert any("Content Security Policy" in m.text for m in page.console_messages)


@pytest.mark.browser
def test_new_page_factory_gives_independent_contexts(new_page):
    desktop = new_page(viewport={"width": 1280, "height": 800})
    phone = new_page()
    assert desktop.evaluate("innerWidth") == 1280
    assert phone.evaluate("innerWidth") == 390
    assert desktop.context is not phone.context


QR_JS = r"""
const out = document.getElementById("out");
const img = new Image();
img.src = "qr.png";
await img.decode();
const canvas = document.createElement("canvas");
canvas.width = img.naturalWidth;
canvas.height = img.naturalHeight;
const ctx = canvas.getContext("2d");
ctx.drawImage(img, 0, 0);
const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
const code = window.jsQR(pixels.data, pixels.width, pixels.height);
out.textContent = code ? code.data : "NOT FOUND";
"""


@pytest.mark.browser
def test_npm_jsqr_decodes_segno_qr_in_chromium(tmp_path, serve_dir, page):
    import segno

    jsqr = REPO / "node_modules" / "jsqr" / "dist" / "jsQR.js"
    assert jsqr.is_file(), "node_modules/jsqr missing: run `make system-deps` (npm ci)"
    shutil.copy(jsqr, tmp_path / "jsQR.js")
    payload = "https://example.invalid/v/SZZZ-2025-000001#sig=苏州"
    segno.make(payload, error="m").save(str(tmp_path / "qr.png"), scale=6, border=4)
    write_page(tmp_path, QR_JS, head='<script src="jsQR.js"></script>')

    page.goto(serve_dir(tmp_path) + "/")
    page.locator("#out").filter(has_not_text="pending").wait_for()
    assert page.locator("#out").text_content() == payload
    assert_no_js_errors(page)


# --------------------------------------------------------------------------- #
# sync Playwright + pytest-asyncio in one worker (the file runs in order on one
# worker with --dist loadfile; the browser tests above ran before these)
# --------------------------------------------------------------------------- #
@pytest.fixture
async def async_resource():
    await asyncio.sleep(0)
    yield "ready"
    await asyncio.sleep(0)


async def test_async_test_runs_after_browser_tests(async_resource):
    await asyncio.sleep(0.01)
    assert async_resource == "ready"
    assert asyncio.get_running_loop().is_running()


@pytest.mark.browser
def test_browser_test_can_run_coroutines_with_run_async(page):
    page.set_content("<p id=p>一</p>")
    assert run_async(asyncio.sleep(0, result=42)) == 42
    assert page.text_content("#p") == "一"
    with pytest.raises(ZeroDivisionError):
        run_async(_divide_by_zero())


async def _divide_by_zero():
    return 1 / 0


def test_sync_test_can_use_asyncio_run_after_browser_tests():
    assert asyncio.run(asyncio.sleep(0, result="ok")) == "ok"


async def test_async_test_after_run_async_in_browser_test():
    assert await asyncio.sleep(0, result="ok") == "ok"


@pytest.mark.browser
def test_browser_still_works_after_async_tests(page):
    page.set_content("<p id=p>二</p>")
    assert page.text_content("#p") == "二"


# --------------------------------------------------------------------------- #
# README / Makefile / CI contract
# --------------------------------------------------------------------------- #
def readme_commands() -> list[str]:
    """Shell lines from the README's fenced ``bash``/``sh``/``shell`` blocks."""
    text = (REPO / "README.md").read_text("utf-8")
    blocks = re.findall(r"^```(?:bash|sh|shell|console)\n(.*?)^```", text, re.M | re.S)
    lines = []
    for block in blocks:
        for raw in block.splitlines():
            line = raw.strip().removeprefix("$ ").strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def ci_commands() -> list[str]:
    lines = []
    for raw in (REPO / ".ci" / "run").read_text("utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "set ", "cd ")):
            continue
        lines.append(line)
    return lines


def test_readme_documents_run_and_test_commands():
    cmds = readme_commands()
    assert "make run" in cmds
    assert "make test" in cmds
    text = (REPO / "README.md").read_text("utf-8")
    for required in ("苏州制造", "Made in Suzhou", "Chromium", "npm", "Python 3.11"):
        assert required in text, required


def test_ci_run_calls_exactly_the_readme_test_command():
    ci = REPO / ".ci" / "run"
    text = ci.read_text("utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    test_cmds = [c for c in readme_commands() if re.search(r"\btest\b", c)]
    assert ci_commands() == test_cmds == ["make test"]


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_makefile_test_and_run_targets():
    def dry(target: str) -> str:
        return subprocess.run(
            ["make", "-n", target], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout

    test_recipe = dry("test")
    assert "install-system-deps.sh" in test_recipe
    assert re.search(r"\.venv/bin/python -m pytest -n \d+ --dist load(file|group)", test_recipe)
    run_recipe = dry("run")
    assert ".venv/bin/python publish.py serve" in run_recipe
    assert "install-system-deps.sh" in run_recipe


def test_pyproject_contract():
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))
    project = cfg["project"]
    assert project["name"] == "szzz-registry"
    assert project["scripts"]["szzz"] == "registry.cli:main"
    assert cfg["tool"]["setuptools"]["packages"]["find"]["include"] == ["registry", "registry.*"]
    deps = {re.split(r"[\[<>=!~ ;]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    for name in ("sqlite-utils", "datasette", "pelican", "cryptography", "python-stdnum",
                 "openpyxl", "click", "qrcode", "zxing-cpp", "pillow", "fonttools",
                 "pyyaml", "tqdm", "httpx"):
        assert name in deps, name
    assert "datasette>=0.65,<0.66" in project["dependencies"]
    pytest_cfg = cfg["tool"]["pytest"]["ini_options"]
    assert pytest_cfg["asyncio_mode"] == "auto"
    assert "--strict-markers" in shlex.split(pytest_cfg["addopts"])
    # Tests import the shared modules (helpers, builders, ...), the Pelican plugin and
    # publish.py through these paths, never by editing sys.path themselves.
    assert {"tests", "plugins/pelican", "."} <= set(pytest_cfg["pythonpath"])


def test_package_lock_pins_jsqr():
    lock = json.loads((REPO / "package-lock.json").read_text("utf-8"))
    assert lock["packages"]["node_modules/jsqr"]["version"] == "1.4.0"
    assert (REPO / "node_modules" / "jsqr" / "dist" / "jsQR.js").is_file()
