"""Reading a mark from a picture: the text of its QR code (zxing-cpp).

Only QR codes are read (a mark's frame can look like a short 1D code to a
reader that tries every format); the first one found is the mark.

A picture's path may come from a stranger (the ``image`` column of a batch),
so reading one is bounded (docs/verification.md, "Batch mode"): only a
regular file is read (a FIFO, a device or a directory is refused without
being read, so nothing can block on it), at most :data:`MAX_BYTES` of it and
at most :data:`MAX_PIXELS` pixels, and all of it -- opening, reading,
decoding -- happens in a child process that is killed when it has not
answered within the time limit (default :data:`DEFAULT_TIMEOUT` seconds): a
file on a hung network share, a decoder that loops or crashes cannot stop the
caller. The child dies with its parent (:func:`parallel.die_with_parent`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import signal
import stat
import time
from typing import NoReturn

import zxingcpp
from PIL import Image

from registry.core import parallel
from registry.core.exceptions import PayloadError

DEFAULT_TIMEOUT = 10.0
"""Seconds one picture may take, from fork to answer (decoding a phone photo takes some 0.1 s)."""
MAX_BYTES = 20 * 1024 * 1024
"""The largest picture file read (a 600 dpi mark PNG is some 100 kB; a phone photo a few MB)."""
MAX_PIXELS = 50_000_000
"""The most pixels decoded (a 50-megapixel photo); Pillow's own bomb check stops far larger ones."""
_MAX_REPLY = 1 << 20
_SHOWN_PATH = 200


def shown_path(path: str | os.PathLike[str]) -> str:
    """``path`` for a message: at most 200 characters of it."""
    text = os.fsdecode(path)
    return text if len(text) <= _SHOWN_PATH else text[:_SHOWN_PATH] + "…"


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _read_bounded(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes`` (PayloadError otherwise)."""
    shown = shown_path(path)
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except (OSError, ValueError) as e:
        raise PayloadError(f"{shown}: cannot read image ({e})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise PayloadError(f"{shown}: cannot read image: observed {_kind(mode)}, expected a regular file")
        parts, size = [], 0
        while size <= max_bytes:
            part = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not part:
                break
            parts.append(part)
            size += len(part)
    except OSError as e:
        raise PayloadError(f"{shown}: cannot read image ({e})") from None
    finally:
        os.close(fd)
    if size > max_bytes:
        raise PayloadError(f"{shown}: image file larger than the limit of {max_bytes:,} bytes")
    return b"".join(parts)


def read_qr(path: str | os.PathLike[str], max_bytes: int = MAX_BYTES) -> str:
    """The text of the first QR code in the image file ``path``, in this process
    (PayloadError otherwise). :func:`decode_image` runs it under a time limit."""
    data = _read_bounded(path, max_bytes)
    shown = shown_path(path)
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise PayloadError(f"{shown}: image of {width}x{height} pixels, more than the limit of "
                                   f"{MAX_PIXELS:,}")
            found = zxingcpp.read_barcodes(image.convert("RGB"))
    except PayloadError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise PayloadError(f"{shown}: cannot read image ({e})") from None
    codes = [r.text for r in found if r.format == zxingcpp.BarcodeFormat.QRCode]
    if not codes:
        raise PayloadError(f"{shown}: no QR code found in the image")
    return codes[0]


def decode_image(path: str | os.PathLike[str], *, timeout: float = DEFAULT_TIMEOUT,
                 max_bytes: int = MAX_BYTES) -> str:
    """The text of the first QR code in the image file ``path`` (PayloadError otherwise),
    read by :func:`read_qr` in a child process given ``timeout`` seconds."""
    parent = os.getpid()
    reply_r, reply_w = os.pipe()
    try:
        pid = os.fork()
    except OSError as e:
        os.close(reply_r)
        os.close(reply_w)
        raise PayloadError(f"{shown_path(path)}: cannot start the image decoder ({e})") from None
    if pid == 0:
        _child(path, max_bytes, parent, reply_r, reply_w)
    os.close(reply_w)
    try:
        reply = _reply(reply_r, timeout, path)
    finally:
        os.close(reply_r)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)     # done or out of time: never left running
        _, status = os.waitpid(pid, 0)
    if reply is None:
        how = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
               else f"status {os.waitstatus_to_exitcode(status)}")
        raise PayloadError(f"{shown_path(path)}: the image decoder stopped ({how}) without an answer")
    if "error" in reply:
        raise PayloadError(str(reply["error"]))
    return str(reply["text"])


def _reply(fd: int, timeout: float, path: str | os.PathLike[str]) -> dict[str, object] | None:
    """The child's answer on ``fd``, None if it closed the pipe without one;
    PayloadError when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    parts: list[bytes] = []
    size = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise PayloadError(f"{shown_path(path)}: image not decoded within the limit of {timeout:g} s")
        if not poller.poll(max(1, int(left * 1000))):
            continue
        part = os.read(fd, 65536)
        if not part:
            break
        parts.append(part)
        size += len(part)
        if size > _MAX_REPLY:
            return None
    try:
        reply = json.loads(b"".join(parts))
    except ValueError:
        return None
    return reply if isinstance(reply, dict) and ("text" in reply or "error" in reply) else None


def _child(path: str | os.PathLike[str], max_bytes: int, parent: int, reply_r: int, reply_w: int) -> NoReturn:
    """The decoder process: answer ``{"text": …}`` or ``{"error": …}`` on ``reply_w``, then exit
    (never returning into the caller's stack, never running its cleanup)."""
    code = 0
    try:
        os.close(reply_r)
        signal.signal(signal.SIGINT, signal.SIG_IGN)     # the parent handles Ctrl-C
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        parallel.die_with_parent(parent)
        try:
            reply = {"text": read_qr(path, max_bytes)}
        except PayloadError as e:
            reply = {"error": str(e)}
        except Exception as e:  # noqa: BLE001 - whatever a hostile picture does is that picture's answer
            reply = {"error": f"{shown_path(path)}: cannot read image ({type(e).__name__}: {e})"}
        data = json.dumps(reply).encode("ascii")
        while data:
            data = data[os.write(reply_w, data):]
    except BaseException:  # noqa: BLE001 - the child exits here whatever happened
        code = 1
    finally:
        os._exit(code)
