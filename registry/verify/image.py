"""Reading a mark from a picture: the text of its QR code (zxing-cpp).

Only QR codes are read (a mark's frame can look like a short 1D code to a
reader that tries every format); the first one found is the mark.
"""

from __future__ import annotations

import os

import zxingcpp
from PIL import Image, UnidentifiedImageError

from registry.core.exceptions import PayloadError


def decode_image(path: str | os.PathLike[str]) -> str:
    """The text of the first QR code in the image file ``path`` (PayloadError otherwise)."""
    try:
        with Image.open(path) as image:
            found = zxingcpp.read_barcodes(image.convert("RGB"))
    except (OSError, UnidentifiedImageError) as e:
        raise PayloadError(f"{path}: cannot read image ({e})") from None
    codes = [r.text for r in found if r.format == zxingcpp.BarcodeFormat.QRCode]
    if not codes:
        raise PayloadError(f"{path}: no QR code found in the image")
    return codes[0]
