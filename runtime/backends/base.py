"""The one contract every inference backend keeps (Polygraphy's runner idea, made small).

``infer(feeds: dict[str, ndarray]) -> dict[str, ndarray]`` checks the feeds against the declared input specs, then
calls the backend's ``_infer``. Backends are context managers; ``close()`` releases sessions and device memory.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runtime.errors import BackendError, InputShapeError

__all__ = ["TensorSpec", "Backend"]


@dataclass(frozen=True)
class TensorSpec:
    """A named tensor: ``shape`` with -1 for a dynamic axis, ``dtype`` as a numpy name (``"float32"``) and, where
    it is known, its ``layout`` (``"NCHW"``). Backends report their files' tensors as these, and a model package's
    ``input`` and ``output`` are these too (:func:`runtime.package.network_tensor` holds them to a package's)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    layout: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{name, shape, dtype[, layout]}`` as JSON takes it."""
        d: dict[str, Any] = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}
        return d if self.layout is None else {**d, "layout": self.layout}

    def check(self, array: np.ndarray) -> None:
        """Raise :class:`InputShapeError` if ``array`` does not fit this spec."""
        if array.dtype != np.dtype(self.dtype):
            raise InputShapeError(f"'{self.name}' must be {self.dtype}, got {array.dtype}")
        if array.ndim != len(self.shape) or any(d not in (-1, a) for d, a in zip(self.shape, array.shape)):
            raise InputShapeError(f"'{self.name}' must have shape {self.shape} (-1: any), got {array.shape}")


class Backend(ABC):
    """An inference session over one model file. Subclasses set ``inputs``/``outputs`` and implement ``_infer``.

    Every backend has: ``path`` (the model file, None for one built in memory), ``device`` (``"cpu"`` or
    ``"cuda:N"``), ``profile``: input name → (min, opt, max) shapes for backends whose model fixes a range
    (TensorRT engines), empty for the others, and ``metadata``: the model file's own key → value strings (an ONNX
    file's ``metadata_props``), empty where the format has none.

    **Threads may share a backend** (and so a PoseEngine). Backends that keep per-call state (bound buffers, an
    execution context, pinned host memory) run one call at a time under a lock; those whose calls share nothing
    mutable (ONNX Runtime's ``session.run``, which is thread-safe) set ``concurrent`` and run calls side by side."""

    name: str = "backend"
    #: True when ``_infer`` may run in several threads at once; otherwise calls are serialised
    concurrent: bool = False

    def __init__(self, path: str | Path | None = None, device: str = "cpu") -> None:
        self.path: Path | None = None if path is None else Path(path)
        self.device = device
        self.inputs: list[TensorSpec] = []
        self.outputs: list[TensorSpec] = []
        self.profile: dict[str, tuple[tuple[int, ...], ...]] = {}
        self.metadata: dict[str, str] = {}
        self._closed = False
        self._lock = threading.Lock()

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model: ``feeds`` maps every input name to a C-contiguous array; returns every output by name."""
        if self._closed:
            raise BackendError(f"the {self.name} backend is closed; create a new engine")
        names = {s.name for s in self.inputs}
        if set(feeds) != names:
            raise InputShapeError(f"feeds {sorted(feeds)} do not match the model's inputs {sorted(names)}")
        for spec in self.inputs:
            spec.check(feeds[spec.name])
        feeds = {k: np.ascontiguousarray(v) for k, v in feeds.items()}
        if self.concurrent:
            return self._infer(feeds)
        with self._lock:
            if self._closed:
                raise BackendError(f"the {self.name} backend was closed by another thread; create a new engine")
            return self._infer(feeds)

    @abstractmethod
    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def close(self) -> None:
        """Free the session (once; later calls do nothing); waits for a call in progress in another thread."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._free()

    def _free(self) -> None:
        """Release what the backend holds (subclasses); runs once, under the call lock."""
        return None

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
