"""Frames from a video file, a camera or a stream, through OpenCV, with an account of what was read.

``FrameSource(source)`` opens a video file (a path), a camera (``"0"``: its index) or a stream (an ``rtsp://``,
``http://`` ... URL). Iterating yields (frame index, H×W×3 BGR frame). When the frames stop, :attr:`FrameSource.problem`
says whether that was the end (None) or a failure: a file that holds fewer frames than its header lists (truncated
or damaged after the last frame read), a file none of whose frames decodes, or a camera or stream that dropped.
OpenCV's reader cannot tell a damaged file's last good frame from its end, so the header's count is the check.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from runtime.errors import DataError, InputError

__all__ = ["FrameSource", "VIDEO_SUFFIXES", "is_live"]

logger = logging.getLogger(__name__)

#: files swinpose-infer reads as videos
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
_DEFAULT_FPS = 25.0


def is_live(source: str | Path) -> bool:
    """Whether ``source`` names a camera (a number) or a stream (a URL) rather than a file."""
    text = str(source)
    return text.isdigit() or "://" in text


class FrameSource:
    """The frames of one video file, camera or stream (see the module docstring).

    Attributes:
        name: a file-name-like name for outputs (the file's stem, ``camera0``, ``stream``).
        fps: the frame rate the source reports (25 where it reports none).
        total: the frame count the file's header lists (None for cameras and streams, or a header without one).
        read: the frames yielded so far.
    """

    def __init__(self, source: str | Path) -> None:
        self.source, self.live = str(source), is_live(source)
        if self.live:
            self.name = f"camera{int(self.source)}" if self.source.isdigit() else "stream"
            capture = cv2.VideoCapture(int(self.source) if self.source.isdigit() else self.source)
            if not capture.isOpened():
                raise DataError(
                    f"OpenCV cannot open the {'camera' if self.source.isdigit() else 'stream'} {self.source}: check "
                    "that it is connected (or the URL, and that OpenCV was built with FFmpeg or GStreamer)"
                )
        else:
            path = Path(source)
            if not path.is_file():
                raise InputError(f"{path} does not exist or is not a file; pass a video file, a camera index or a URL")
            self.name = path.stem
            capture = cv2.VideoCapture(str(path))
            if not capture.isOpened():
                raise DataError(
                    f"OpenCV cannot open the video {path}: it is damaged (an .mp4 cut short loses its index) or its "
                    "codec is not one this OpenCV decodes; re-encode it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4"
                )
        self._capture = capture
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and np.isfinite(fps) and 0 < fps < 1000 else _DEFAULT_FPS
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if not self.live else 0
        self.total: int | None = count if count > 0 else None
        self.read = 0
        self._ended = False

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        try:
            while True:
                ok, frame = self._capture.read()
                if not ok or frame is None:
                    self._ended = True
                    return
                yield self.read, frame
                self.read += 1
        finally:
            self._capture.release()

    @property
    def problem(self) -> str | None:
        """Why the frames stopped early (None: the source ended where it should, or was not read to its end)."""
        if not self._ended:
            return None
        if self.live:
            kind = "camera" if self.source.isdigit() else "stream"
            return f"the {kind} {self.source} dropped after {self.read} frames"
        if self.read == 0:
            return f"{self.source} has no frame OpenCV can decode (its header lists {self.total or 'none'})"
        if self.total is not None and self.read < self.total:
            return (
                f"{self.source} stopped at frame {self.read}: {self.read} of the {self.total} frames its header "
                "lists decode; the file is truncated or damaged there"
            )
        return None

    def close(self) -> None:
        self._capture.release()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
