"""Image files read whole or refused: OpenCV decodes a truncated JPEG without an error (libjpeg prints "Premature
end of JPEG file" and fills the rest grey), so :func:`read_image` checks the file's end marker first."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from runtime.errors import DataError

__all__ = ["read_image", "decode_image", "truncation"]

_JPEG_SOI, _JPEG_EOI = b"\xff\xd8", b"\xff\xd9"
_PNG_SIGNATURE, _PNG_IEND = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"
#: bytes after a JPEG's end-of-image marker that cameras and editors append (padding, vendor trailers)
_TRAILER = 4096


def truncation(data: bytes) -> str | None:
    """Why an encoded JPEG or PNG is cut short (its end marker is missing), or None when it ends whole or is
    another format."""
    if data.startswith(_JPEG_SOI) and _JPEG_EOI not in data[-_TRAILER:]:
        return "a JPEG without its end-of-image marker (FFD9): the file is truncated"
    if data.startswith(_PNG_SIGNATURE) and _PNG_IEND not in data[-_TRAILER:]:
        return "a PNG without its IEND chunk: the file is truncated"
    return None


def decode_image(data: bytes, what: str = "the image", flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """An encoded image (a file's bytes) decoded, BGR by default; DataError when it is truncated or not an image."""
    cut = truncation(data)
    if cut:
        raise DataError(f"{what} is {cut}; send the whole file")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags) if data else None
    if image is None:
        raise DataError(f"{what} ({len(data)} bytes) is not an image OpenCV decodes (JPEG, PNG, BMP, WebP ...)")
    return image


def read_image(path: str | Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    """The decoded image at ``path``; DataError when it cannot be read, is not an image OpenCV decodes, or is
    truncated."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path} cannot be read ({e.strerror}); check the file") from e
    try:
        return decode_image(data, str(path), flags)
    except DataError as e:
        raise DataError(f"{str(e).split('; send')[0]}; replace or remove the file") from e
