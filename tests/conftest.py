"""Shared fixtures for every test area.

Fixture names are a contract other suites code against:

``browser``   (session)  Playwright *sync* Browser on Debian's Chromium; fails (never skips)
                         when Chromium is missing.
``page``      (function) new context (locale zh-CN, phone viewport 390x844) + page;
                         ``page.console_messages`` / ``page.page_errors`` collect what the
                         page logged/raised (use ``helpers.assert_no_js_errors(page)``).
                         Override the viewport with ``@pytest.mark.parametrize("page_viewport",
                         [{"width": 1280, "height": 800}])`` or other context options with
                         ``browser_context_args``.
``new_page``  (function) factory ``new_page(**context_options) -> Page`` for tests that
                         need several contexts (e.g. phone + desktop).
``serve_dir`` (function) factory ``serve_dir(path) -> "http://127.0.0.1:PORT"``: a real
                         ThreadingHTTPServer on loopback, stopped at teardown.
``make_registry`` (session) factory ``make_registry(**options) -> builders.Built``: a real
                         registry (tests/builders.py, ``build_registry(base, **options)``),
                         built once per session for each set of options; every call gets
                         its own copy in a fresh directory, free to change it.

Hypothesis profiles
-------------------
``ci`` (the default): the examples are derived from each test's own name
(``derandomize``) and no example database is read or written, so every machine
and every run tries the same inputs and a failure in CI reproduces anywhere.
``fuzz`` (``HYPOTHESIS_PROFILE=fuzz``, or pytest's ``--hypothesis-profile fuzz``):
random examples, 50 times as many (``hostile.examples``), failures kept in
``.hypothesis/`` and replayed first. docs/fuzzing.md says what each property asserts.

Sync Playwright and pytest-asyncio in one session
-------------------------------------------------
Playwright's sync API runs its own asyncio loop in a greenlet and leaves that loop
marked as the thread's *running* loop between calls. pytest-asyncio (and
``asyncio.run``) then refuse to start ("cannot be called from a running event loop").
The ``pytest_runtest_*`` hook wrappers below unmark it for every test phase of a test
that does not use ``browser`` (async tests and async fixtures included) and mark it
again afterwards, so async Datasette tests and browser tests share a worker.
A *browser* test can't start another loop in its own thread (Playwright needs its loop
marked there, even between calls): use ``helpers.run_async(coro)``, which runs the
coroutine in a fresh thread. ``test_foundation.py`` checks all of this.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import builders
import pytest
from helpers import CHROMIUM_ARGS, chromium_executable
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("fuzz", max_examples=5000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PHONE_VIEWPORT = {"width": 390, "height": 844}
DEFAULT_TIMEOUT_MS = 15_000


# --------------------------------------------------------------------------- #
# Playwright (sync) <-> asyncio coexistence
# --------------------------------------------------------------------------- #
# Loops of the sync Playwright instances started by the ``browser`` fixture.
_PLAYWRIGHT_LOOPS: list[asyncio.AbstractEventLoop] = []


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """The loop marked running in this thread, or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _mark_running(loop: asyncio.AbstractEventLoop | None) -> None:
    """Mark ``loop`` as this thread's running loop (None: unmark)."""
    asyncio._set_running_loop(loop)  # noqa: SLF001 - asyncio has no public way to (un)mark a running loop


def _playwright_loop_marked_running() -> asyncio.AbstractEventLoop | None:
    loop = _running_loop()
    return loop if any(loop is pw for pw in _PLAYWRIGHT_LOOPS) else None


def _phase_without_playwright_loop(item: pytest.Item) -> Iterator[None]:
    """Run one test phase with Playwright's loop unmarked as running, for tests that
    don't use the ``browser`` fixture, and mark it again afterwards."""
    loop = None if "browser" in item.fixturenames else _playwright_loop_marked_running()
    if loop is not None:
        _mark_running(None)
    try:
        return (yield)
    finally:
        if loop is not None and not loop.is_closed() and _running_loop() is None:
            _mark_running(loop)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    return (yield from _phase_without_playwright_loop(item))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    return (yield from _phase_without_playwright_loop(item))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    return (yield from _phase_without_playwright_loop(item))


def pytest_report_header(config: pytest.Config) -> str:
    path = os.environ.get("SZZZ_CHROMIUM", "/usr/bin/chromium")
    state = "found" if os.access(path, os.X_OK) else "MISSING (run `make system-deps`)"
    return f"chromium: {path} ({state})"


# --------------------------------------------------------------------------- #
# Browser fixtures
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = chromium_executable()  # pytest.fail()s with a clear message if missing
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        loop = _running_loop()  # Playwright's, marked running between calls
        if loop is not None:
            _PLAYWRIGHT_LOOPS.append(loop)
        try:
            b = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            yield b
            # Teardown may run in the teardown phase of a non-browser test, where the
            # hooks above unmarked the loop: Playwright needs it marked to close.
            if loop is not None and _running_loop() is None:
                _mark_running(loop)
            b.close()
        finally:
            if loop is not None and _running_loop() is None and not loop.is_closed():
                _mark_running(loop)
    if loop is not None:
        if _running_loop() is loop:
            _mark_running(None)
        _PLAYWRIGHT_LOOPS.remove(loop)


class _Collected(list):
    """A list that can also be called like Playwright's own
    ``page.console_messages()`` / ``page.page_errors()`` methods it shadows."""

    def __init__(self, method: Callable[..., list] | None = None) -> None:
        super().__init__()
        self._method = method

    def __call__(self, *args: Any, **kwargs: Any) -> list:
        if self._method is not None:
            return self._method(*args, **kwargs)
        return list(self)


def _appender(events: list) -> Callable[[Any], None]:
    # Playwright wraps handlers by setting an attribute on them: no bound builtins.
    def append(event: Any) -> None:
        events.append(event)

    return append


def _instrument(page: Any) -> Any:
    console = _Collected(getattr(page, "console_messages", None))
    errors = _Collected(getattr(page, "page_errors", None))
    failed = []
    page.on("console", _appender(console))
    page.on("pageerror", _appender(errors))
    page.on("requestfailed", _appender(failed))
    page.console_messages = console
    page.page_errors = errors
    page.failed_requests = failed
    return page


@pytest.fixture
def page_viewport() -> dict:
    """Viewport of the ``page`` fixture; parametrize this name to change it."""
    return dict(PHONE_VIEWPORT)


@pytest.fixture
def browser_context_args(page_viewport: dict) -> dict:
    """Options for ``browser.new_context()`` used by ``page`` / ``new_page``."""
    return {
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
        "viewport": page_viewport,
        "device_scale_factor": 1,
    }


@pytest.fixture
def new_page(browser: Any, browser_context_args: dict) -> Iterator[Callable[..., Any]]:
    from playwright.sync_api import Error as PlaywrightError

    contexts: list[Any] = []

    def make(**context_options: Any) -> Any:
        ctx = browser.new_context(**{**browser_context_args, **context_options})
        ctx.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(ctx)
        return _instrument(ctx.new_page())

    yield make
    for ctx in contexts:
        try:
            ctx.close()
        except PlaywrightError:  # the browser is gone already (it crashed, or the session ended)
            pass


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    return new_page()


# --------------------------------------------------------------------------- #
# Static file server
# --------------------------------------------------------------------------- #
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".html": "text/html; charset=utf-8",
        ".htm": "text/html; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
        ".mjs": "text/javascript; charset=utf-8",
        ".json": "application/json",
        ".webmanifest": "application/manifest+json",
        ".css": "text/css; charset=utf-8",
        ".svg": "image/svg+xml",
        ".wasm": "application/wasm",
        ".png": "image/png",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".webp": "image/webp",
        ".ico": "image/x-icon",
        ".txt": "text/plain; charset=utf-8",
        ".xml": "application/xml",
        ".csv": "text/csv; charset=utf-8",
        ".woff2": "font/woff2",
        ".db": "application/vnd.sqlite3",
    }

    def do_GET(self) -> None:
        # Browsers ask for /favicon.ico on their own; a 404 for it would show up as a
        # console error in every test page without an icon.
        if self.path.split("?", 1)[0] == "/favicon.ico" and not os.path.exists(
            os.path.join(self.directory, "favicon.ico")
        ):
            self.send_response(204)
            self.end_headers()
            return
        super().do_GET()

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Browsers reset connections they no longer need; don't spam the output.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


@pytest.fixture
def serve_dir() -> Iterator[Callable[[str | os.PathLike[str]], str]]:
    servers: list[tuple[_Server, threading.Thread]] = []

    def serve(path: str | os.PathLike[str]) -> str:
        root = Path(path).resolve()
        if not root.is_dir():
            raise NotADirectoryError(root)
        handler = functools.partial(_QuietHandler, directory=str(root))
        server = _Server(("127.0.0.1", 0), handler)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
            name=f"serve_dir:{root.name}",
        )
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------- #
# Registries
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="session")
def make_registry(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., builders.Built]:
    built: dict[tuple, builders.Built] = {}

    def make(**options: Any) -> builders.Built:
        key = tuple(sorted(options.items()))
        if key not in built:
            built[key] = builders.build_registry(tmp_path_factory.mktemp("registry-original"), **options)
        return built[key].copy_to(tmp_path_factory.mktemp("registry"))

    return make
