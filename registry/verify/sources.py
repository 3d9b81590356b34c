"""Where a verifier reads published files from: a site directory, an http(s) URL,
or files held in memory (the conformance vectors).

Every source has ``read_bytes(name)`` (and ``read(name)`` for UTF-8 text) and
raises :class:`~registry.core.exceptions.SourceMissingError` when the file does
not exist (HTTP 404/410, no file) and
:class:`~registry.core.exceptions.SourceUnavailableError` when it could not be
read (network, timeout, I/O). ``fresh_by_definition`` is True only for a source
that *is* the registry (``szzz verify --db``, :mod:`registry.publish.dbsource`):
its statuses need no status statement and no freshness check.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, TypeAlias

from registry.core import canonical, keys
from registry.core.exceptions import ConfigError, SourceMissingError, SourceUnavailableError

HTTP_TIMEOUT = 5.0       # seconds; a slow site gives status_unknown, not a hang


class Source(Protocol):
    """What every verifier reads published files through (see the module docstring):
    :class:`DirSource` and its kin here, and :class:`registry.publish.dbsource.DbSource`."""

    fresh_by_definition: bool

    def read_bytes(self, name: str) -> bytes:
        """The published file ``name``; SourceMissingError / SourceUnavailableError."""
        ...

    def read(self, name: str) -> str:
        """The published file ``name`` as UTF-8 text; the same errors."""
        ...


class DirSource:
    """Published files in a directory (a site root or a snapshot ``--out`` dir)."""

    fresh_by_definition = False

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def read_bytes(self, name: str) -> bytes:
        """The published file ``name`` (e.g. ``api/status.json``, a log tile)."""
        path = self.root / name
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise SourceMissingError(f"{path}: no such file") from None
        except OSError as e:
            raise SourceUnavailableError(f"{path}: {e}") from None

    def read(self, name: str) -> str:
        """The published file ``name`` as text (every JSON file is UTF-8)."""
        try:
            return self.read_bytes(name).decode("utf-8")
        except UnicodeDecodeError:
            raise SourceUnavailableError(f"{name}: not UTF-8") from None

    def __repr__(self) -> str:
        return f"DirSource({str(self.root)!r})"


class FilesSource(DirSource):
    """Published files held in memory: ``{"api/trust-list.json": text, ...}``."""

    def __init__(self, files: Mapping[str, str | bytes]) -> None:
        self.files = files

    def read_bytes(self, name: str) -> bytes:
        if name not in self.files:
            raise SourceMissingError(f"{name}: not among the files")
        value = self.files[name]
        return value if isinstance(value, bytes) else value.encode("utf-8")

    def read(self, name: str) -> str:
        value = self.files.get(name)
        return value if isinstance(value, str) else super().read(name)


class HttpSource(DirSource):
    """Published files on a web site (``<base>/api/...``), fetched with httpx."""

    def __init__(self, base_url: str, timeout: float = HTTP_TIMEOUT) -> None:
        import httpx

        self.base = base_url.rstrip("/") + "/"
        self.client = httpx.Client(timeout=timeout, follow_redirects=True)

    def read_bytes(self, name: str) -> bytes:
        import httpx

        url = self.base + name
        try:
            response = self.client.get(url)
        except httpx.HTTPError as e:
            raise SourceUnavailableError(f"{url}: {type(e).__name__}: {e}") from None
        if response.status_code in (404, 410):
            raise SourceMissingError(f"{url}: HTTP {response.status_code}")
        if response.status_code != 200:
            raise SourceUnavailableError(f"{url}: HTTP {response.status_code}")
        return response.content

    def __repr__(self) -> str:
        return f"HttpSource({self.base!r})"


SourceSpec: TypeAlias = "DirSource | dict[str, str | bytes] | str | os.PathLike[str]"
"""What :func:`open_source` accepts: a source object, files in a dict, an
http(s) URL or the path of a site directory."""


def open_source(spec: SourceSpec) -> DirSource:
    """A source from ``spec``: a source object, files in a dict, an http(s) URL or a
    site directory (ConfigError for a path that is a file: a registry database
    is read with :class:`registry.publish.dbsource.DbSource`, ``szzz verify --db``)."""
    if isinstance(spec, DirSource):
        return spec
    if isinstance(spec, dict):
        return FilesSource(spec)
    text = str(spec)
    if text.startswith(("http://", "https://")):
        return HttpSource(text)
    path = Path(text)
    if path.is_file():
        raise ConfigError(f"{path}: a file, expected a published site directory or an http(s) URL "
                          "(for a registry database use --db)")
    if not path.is_dir():
        # Nothing there at all is the operator's mistake, not evidence about a
        # mark; a site that exists but lacks a file is judged by the verifier.
        raise ConfigError(f"{path}: no such directory, expected a published site directory "
                          "or an http(s) URL")
    return DirSource(path)


def pinned_root(value: bytes | str | os.PathLike[str]) -> bytes:
    """The pinned root public key from raw bytes, base64url text, or a root-key.json path."""
    if isinstance(value, bytes):
        raw = value
    else:
        text = str(value).strip()
        if os.path.isfile(text):
            text = json.loads(Path(text).read_text(encoding="utf-8"))["public_key"]
        raw = canonical.unb64url(text)
    keys.key_id_of(raw)  # raises SignatureError unless 32 bytes
    return raw
