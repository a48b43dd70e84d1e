"""The One Euro filter (Casiez, Roussel and Vogel, CHI 2012) on arrays of values, aware of the frame rate.

Each value is low-pass filtered with a cutoff that rises with its speed: ``cutoff = min_cutoff + beta·|dx/dt|``,
where ``dx/dt`` is itself low-passed at ``d_cutoff``. Slow values (a person standing still) are smoothed hard, which
removes the jitter; fast ones (a swinging arm) are followed closely, which keeps the lag small. Time is in seconds
from the caller's timestamps, so a dropped frame or a 60 fps camera filters the same motion the same way.

The arithmetic is the authors' reference implementation (the ``OneEuroFilter`` package on PyPI, which the tests check
this one against): the first sample passes through, the derivative is the step from the last *filtered* value over
the time step, and ``alpha = 1 / (1 + tau/te)`` with ``tau = 1/(2π·cutoff)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from runtime.errors import ConfigError

__all__ = ["OneEuroConfig", "OneEuroFilter"]


@dataclass(frozen=True)
class OneEuroConfig:
    """The filter's three parameters, for keypoints in image pixels and time in seconds.

    The defaults were chosen on swinpose-synth's walking figures at 25 fps (6 videos of 60 frames, 4 walkers, the
    bundled models, det_interval 1): raw keypoints were 4.35 px from the truth on average with a frame-to-frame
    jitter (mean |second difference|) of 5.73 px; (1 Hz, 0.05, 1 Hz) halves the jitter to 2.75 px for 0.5 px more
    error (4.85 px). MMDeploy's beta 0.007 smooths harder (jitter 1.44 px) but lags walkers to 6.95 px; MMPose's
    (1.7, 0.3, 30 Hz) in seconds barely smooths (jitter 5.11 px).
    """

    min_cutoff: float = 1.0  #: Hz: the cutoff of a still value (lower: smoother, more lag)
    beta: float = 0.05  #: Hz per (pixel/s): how fast the cutoff rises with speed (higher: less lag when moving)
    d_cutoff: float = 1.0  #: Hz: the cutoff of the speed estimate

    def __post_init__(self) -> None:
        for name in ("min_cutoff", "beta", "d_cutoff"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"One Euro {name} must be a number, got {value!r}")
            if value < 0 or (value == 0 and name != "beta"):
                raise ConfigError(f"One Euro {name} must be {'>= 0' if name == 'beta' else '> 0'}, got {value}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OneEuroConfig:
        return cls(**d)


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One Euro filters for an array of values (e.g. K×2 keypoints), all sharing the timestamps.

    Args:
        config: the filter's parameters.
        fps: the frame rate to assume until two timestamps give the real step (and for calls without one).

    ``filter(x, t)`` returns the filtered array, of ``x``'s shape, as float64. Values that are NaN (a keypoint not
    seen) pass through and leave their filter as it was.
    """

    def __init__(self, config: OneEuroConfig = OneEuroConfig(), fps: float = 25.0) -> None:
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
            raise ConfigError(f"the frame rate must be a positive number of frames per second, got {fps!r}")
        self.config, self.fps = config, float(fps)
        self._x: np.ndarray | None = None  # last filtered value
        self._dx: np.ndarray | None = None  # last filtered speed (units per second)
        self._t: float | None = None

    def reset(self) -> None:
        self._x = self._dx = self._t = None

    def filter(self, x: np.ndarray, timestamp: float | None = None) -> np.ndarray:
        """Filter the next sample ``x`` (any shape, fixed per filter) taken at ``timestamp`` seconds."""
        x = np.asarray(x, np.float64)
        if self._x is not None and x.shape != self._x.shape:
            raise ConfigError(f"this filter smooths arrays of shape {self._x.shape}, got {x.shape}")
        dt = 1.0 / self.fps
        if timestamp is not None and self._t is not None:
            if timestamp <= self._t:
                raise ConfigError(f"timestamps must increase: {timestamp} after {self._t}")
            dt = timestamp - self._t
        if timestamp is not None:
            self._t = float(timestamp)
        elif self._t is not None:
            self._t += dt
        if self._x is None:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            return x.copy()
        seen = np.isfinite(x)
        prev = np.where(np.isfinite(self._x), self._x, x)  # a value seen for the first time starts there
        dx = np.where(seen, (x - prev) / dt, 0.0)
        a_d = _alpha(self.config.d_cutoff, dt)
        edx = a_d * dx + (1 - a_d) * self._dx
        a = _alpha(self.config.min_cutoff + self.config.beta * np.abs(edx), dt)
        out = a * x + (1 - a) * prev
        self._x = np.where(seen, out, self._x)
        self._dx = np.where(seen, edx, self._dx)
        return np.where(seen, out, x)
