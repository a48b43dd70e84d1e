"""A local ``tritonserver`` on a model repository: the system's (``tritonserver`` on the PATH, or NGC's
``/opt/tritonserver``) or, where there is none, the one in the ``nvidia-pytriton`` wheel, whose Python backend
needs its stub placed beside the backend library (done here, in a folder of links).

Triton's Python stub runs the system Python 3.11 and ignores ``PYTHONPATH``, so the server is started with this
environment's paths in ``SWINPOSE_PYTHONPATH`` (:func:`python_path`), which the repository's ``model.py`` files read
(:data:`runtime.triton.repository.MODEL_PY`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import runtime
from runtime.errors import BackendError

__all__ = ["TritonServer", "find_tritonserver", "free_port", "python_path"]


def find_tritonserver() -> tuple[Path, Path | None]:
    """(the tritonserver binary, the backend folder to pass it, None for the binary's own); MissingDependencyError
    with the install command when there is none."""
    for candidate in (shutil.which("tritonserver"), "/opt/tritonserver/bin/tritonserver"):
        if candidate and Path(candidate).is_file():
            return Path(candidate), None
    import importlib.util

    found = importlib.util.find_spec("pytriton")  # located, not imported: the wheel is installed without its deps
    if found is None or not found.submodule_search_locations:
        raise BackendError(
            "no tritonserver here: install NVIDIA's (the NGC container has it at /opt/tritonserver), "
            "or the one in the nvidia-pytriton wheel: pip install --no-deps "
            "nvidia-pytriton==0.7.0"
        )
    root = Path(list(found.submodule_search_locations)[0]) / "tritonserver"
    binary = root / "bin" / "tritonserver"
    if not binary.is_file():
        raise BackendError(f"{binary} is missing; reinstall nvidia-pytriton (pip install --no-deps nvidia-pytriton)")
    return binary, _pytriton_backends(root)


def _pytriton_backends(root: Path) -> Path:
    """A backend folder for the wheel's server: python/ with the backend library, its utils and the stub of this
    Python (the wheel keeps stubs per version apart, where the backend does not look)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.is_file():
        raise BackendError(f"nvidia-pytriton has no Python backend stub for Python {version} ({stub})")
    import hashlib

    tag = hashlib.sha1(str(root).encode()).hexdigest()[:10]  # one folder per wheel: two venvs do not share links
    folder = Path(tempfile.gettempdir()) / f"swinpose-triton-backends-{os.getuid()}" / f"{version}-{tag}"
    python = folder / "python"
    python.mkdir(parents=True, exist_ok=True)
    lib = root / "backends" / "python"
    for name, target in (
        ("libtriton_python.so", lib / "libtriton_python.so"),
        ("triton_python_backend_utils.py", lib / "triton_python_backend_utils.py"),
        ("triton_python_backend_stub", stub),
    ):
        link = python / name
        if not (link.is_symlink() and Path(os.readlink(link)) == target):
            tmp = python / f".{name}.{os.getpid()}"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(target)
            os.replace(tmp, link)  # atomic: a server starting beside us never sees a missing link
    return folder


def python_path() -> str:
    """Where the Python-backend models find ``runtime`` and its libraries: this checkout and this environment's
    site-packages (Triton's stub runs the system Python and ignores PYTHONPATH; model.py reads this instead)."""
    import numpy

    paths = [str(Path(runtime.__file__).resolve().parent.parent), str(Path(numpy.__file__).resolve().parent.parent)]
    return os.pathsep.join(dict.fromkeys(paths))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class TritonServer:
    """``tritonserver`` on ``repository``, bound to ``host`` (127.0.0.1 unless told otherwise): :meth:`start`
    waits until it is READY; :meth:`stop` (or leaving the ``with`` block) stops it with SIGTERM, then SIGKILL."""

    def __init__(
        self,
        repository: str | Path,
        host: str = "127.0.0.1",
        http_port: int = 8000,
        grpc_port: int = 8001,
        metrics_port: int = 8002,
        log: str | Path | None = None,
    ) -> None:
        self.repository, self.host = Path(repository), host
        self.http_port, self.grpc_port, self.metrics_port = http_port, grpc_port, metrics_port
        self.log_path = Path(log) if log else Path(tempfile.mkstemp(prefix="tritonserver-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    @property
    def http_url(self) -> str:
        return f"{self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    def command(self) -> list[str]:
        binary, backends = find_tritonserver()
        cmd = [
            str(binary),
            f"--model-repository={self.repository}",
            f"--http-address={self.host}",
            f"--http-port={self.http_port}",
            f"--grpc-address={self.host}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-address={self.host}",
            f"--metrics-port={self.metrics_port}",
            "--exit-on-error=true",
            "--strict-readiness=true",
        ]
        if backends is not None:
            cmd.append(f"--backend-directory={backends}")
        return cmd

    def start(self, timeout: float = 120.0) -> TritonServer:
        if not (self.repository / "swinpose" / "config.pbtxt").is_file():
            raise BackendError(
                f"{self.repository} is not a swinpose model repository; write one with "
                "swinpose-export --triton DIR (or let swinpose-serve write it)"
            )
        env = {**os.environ, "SWINPOSE_PYTHONPATH": python_path()}
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BackendError(
                    f"tritonserver exited with code {self.process.returncode} before it was ready; "
                    f"its log ({self.log_path}) ends:\n{self.log_tail()}"
                )
            if self.ready():
                return self
            time.sleep(0.2)
        self.stop()
        raise BackendError(
            f"tritonserver was not ready after {timeout:.0f} s; its log ({self.log_path}) ends:\n{self.log_tail()}"
        )

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.http_url}/v2/health/ready", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, ConnectionError, OSError):
            return False

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL, as a crash would (tests)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
