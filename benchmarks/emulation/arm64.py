"""An arm64 Debian sysroot on an x86-64 host: Python 3.11 with aarch64 wheels of swinpose's runtime dependencies, and
OpenCV's C++ libraries, to run the runtime (and a cross-built ``runtime/cpp``) under ``qemu-aarch64``.

Nothing on the host changes: the .debs come from the host's Debian mirrors through apt with a private state folder
(``APT::Architecture=arm64``), are unpacked with ``dpkg -x`` (no maintainer scripts run; the two library
alternatives they would set are linked here) and the wheels are installed with ``pip --target`` for
``manylinux_2_28_aarch64`` (OpenVINO's: ``manylinux_2_35``; Debian 12 has glibc 2.36), at the versions of numpy,
ONNX Runtime and OpenCV installed on the host, and of OpenVINO where the host has it, so both sides run the same
code. The README's test command prepares it in ``.venv/arm64`` (about 40 s and 800 MB)::

    python -m benchmarks.emulation.arm64 prepare .venv/arm64

The folder holds ``root/`` (the sysroot), ``site/`` (the wheels) and ``manifest.json`` (what is in them); it is built
beside its target and swapped in whole, so an interrupted run leaves the previous one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from benchmarks.emulation.qemu import REPO, EmulatorUnavailable
from runtime.errors import BackendError
from runtime.exitcodes import run_guarded
from runtime.files import replace_folder, staging_folder, write_json_atomic

__all__ = ["DEFAULT_FOLDER", "ENV_VAR", "Arm64Sysroot", "prepare", "main"]

#: where the README's test command prepares it; ``$SWINPOSE_ARM64_SYSROOT`` points elsewhere
DEFAULT_FOLDER = REPO / ".venv" / "arm64"
ENV_VAR = "SWINPOSE_ARM64_SYSROOT"
#: the interpreter and the C++ runtime library, with their dependencies
PYTHON_PACKAGES = ("python3.11-minimal", "libpython3.11-stdlib", "libstdc++6")
#: what runtime/cpp builds against (as on the x86 host: libopencv-dev, nlohmann-json3-dev), with their dependencies
CPP_PACKAGES = (
    "libopencv-core-dev",
    "libopencv-imgproc-dev",
    "libopencv-imgcodecs-dev",
    "libopencv-dnn-dev",
    "nlohmann-json3-dev",
)
#: OpenCV's CMake package (in libopencv-dev) checks that every module's library exists: those packages come without
#: their own dependencies (video I/O, GUI, VTK: about 200 more), which nothing here links or loads
CMAKE_PACKAGE = "libopencv-dev"
#: the runtime's Python dependencies, at the host's versions
WHEELS = ("numpy", "onnxruntime", "opencv-python-headless")
#: optional backends' libraries, at the host's versions where the host has them
OPTIONAL_WHEELS = ("openvino",)
WHEEL_PLATFORMS = (
    "manylinux2014_aarch64",
    "manylinux_2_17_aarch64",
    "manylinux_2_28_aarch64",
    "manylinux_2_35_aarch64",
)
#: what update-alternatives would link in the packages' postinst (libopencv_core needs BLAS and LAPACK)
ALTERNATIVES = {
    "usr/lib/aarch64-linux-gnu/libblas.so.3": "blas/libblas.so.3",
    "usr/lib/aarch64-linux-gnu/liblapack.so.3": "lapack/liblapack.so.3",
}
FORMAT = 1


@dataclass(frozen=True)
class Arm64Sysroot:
    """A prepared folder (see the module docstring)."""

    folder: Path

    @property
    def root(self) -> Path:
        return self.folder / "root"

    @property
    def site(self) -> Path:
        return self.folder / "site"

    @property
    def python(self) -> Path:
        """Debian's arm64 Python, by its sysroot path (so that its ``sys.prefix`` is the sysroot's)."""
        return self.root / "usr" / "bin" / "python3.11"

    @property
    def manifest(self) -> dict:
        return json.loads((self.folder / "manifest.json").read_text())

    def python_path(self) -> list[Path]:
        """``PYTHONPATH`` for an emulated process: the aarch64 wheels, then this checkout."""
        return [self.site, REPO]

    @classmethod
    def find(cls, folder: str | Path | None = None) -> Arm64Sysroot:
        """The sysroot in ``folder`` (default ``$SWINPOSE_ARM64_SYSROOT``, else ``.venv/arm64``), prepared for the
        host's wheel versions; :class:`~benchmarks.emulation.qemu.EmulatorUnavailable` with the command that
        prepares it otherwise."""
        folder = Path(folder or os.environ.get(ENV_VAR) or DEFAULT_FOLDER)
        sysroot = cls(folder)
        problem = sysroot.problem()
        if problem:
            raise EmulatorUnavailable(
                f"no arm64 sysroot ready in {folder} ({problem}): run python -m benchmarks.emulation.arm64 prepare "
                f"{folder} (the README's test command does)"
            )
        return sysroot

    def problem(self) -> str | None:
        """Why this folder cannot be used (None when it can)."""
        if not (self.folder / "manifest.json").is_file() or not self.python.is_file():
            return "not prepared"
        manifest = self.manifest
        if manifest.get("format") != FORMAT:
            return f"prepared by another swinpose (format {manifest.get('format')})"
        stale = {n: v for n, v in host_wheels().items() if manifest.get("wheels", {}).get(n) != v}
        if stale:
            return f"its wheels are not the host's {stale}"
        return None


def host_wheels() -> dict[str, str]:
    """The host's installed versions of :data:`WHEELS` and of those :data:`OPTIONAL_WHEELS` it has (what the arm64
    side gets)."""
    versions = {}
    for name in WHEELS + OPTIONAL_WHEELS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError as e:
            if name in OPTIONAL_WHEELS:
                continue
            raise EmulatorUnavailable(f"{name} is not installed on the host: pip install {name}") from e
    return versions


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    except FileNotFoundError as e:
        raise EmulatorUnavailable(f"{what} needs {cmd[0]}: run it on Debian or Ubuntu (their apt and dpkg)") from e
    if done.returncode:
        raise BackendError(f"{what} failed ({' '.join(cmd[:3])} … exit {done.returncode}): {done.stderr[-1500:]}")
    return done.stdout


class _Apt:
    """apt-get for arm64 with its own state and cache folders, so the host's dpkg database is never touched."""

    def __init__(self, folder: Path) -> None:
        self.state, self.cache = folder / "state", folder / "cache"
        for d in (self.state / "lists" / "partial", self.cache / "archives" / "partial"):
            d.mkdir(parents=True, exist_ok=True)
        (self.state / "status").touch()

    def __call__(self, *args: str, what: str, cwd: Path | None = None) -> str:
        options = {
            "APT::Architecture": "arm64",
            "APT::Architectures::": "arm64",
            "Dir::State": self.state,
            "Dir::State::status": self.state / "status",
            "Dir::Cache": self.cache,
            "APT::Sandbox::User": "root",
            "Debug::NoLocking": "1",
        }
        opts = [x for k, v in options.items() for x in ("-o", f"{k}={v}")]
        return _run(["apt-get", "-q", *opts, *args], what, cwd)

    def resolve(self, packages: list[str]) -> list[str]:
        """The packages apt would install for ``packages`` (their dependency closure, without recommends)."""
        out = self("install", "-s", "--no-install-recommends", *packages, what="resolving arm64 packages")
        return [line.split()[1] for line in out.splitlines() if line.startswith("Inst ")]


def _progress(step: str, quiet: bool) -> None:
    if not quiet:
        print(f"arm64 sysroot: {step}", file=sys.stderr, flush=True)


def prepare(folder: str | Path = DEFAULT_FOLDER, quiet: bool = False, force: bool = False) -> Arm64Sysroot:
    """Build the sysroot in ``folder`` (see the module docstring); a folder already prepared for the host's wheels is
    kept unless ``force``."""
    folder = Path(folder).absolute()  # apt reads relative Dir:: options against /
    if not force and Arm64Sysroot(folder).problem() is None:
        _progress(f"{folder} is ready", quiet)
        return Arm64Sysroot(folder)
    wheels = host_wheels()
    staging = staging_folder(folder)
    try:
        work = staging / "apt"
        apt = _Apt(work)
        _progress("1/5 apt-get update (arm64 package lists)", quiet)
        apt("update", what="apt-get update for arm64")
        _progress("2/5 downloading Python 3.11 and OpenCV's C++ libraries for arm64", quiet)
        apt(
            "install",
            "-y",
            "-d",
            "--no-install-recommends",
            *PYTHON_PACKAGES,
            *CPP_PACKAGES,
            what="downloading arm64 packages",
        )
        closure = set(apt.resolve([*PYTHON_PACKAGES, *CPP_PACKAGES]))
        bare = sorted(p for p in apt.resolve([CMAKE_PACKAGE]) if p.startswith("libopencv") and p not in closure)
        (work / "bare").mkdir()
        apt("download", *bare, what="downloading OpenCV's CMake package for arm64", cwd=work / "bare")
        debs = sorted((apt.cache / "archives").glob("*.deb")) + sorted((work / "bare").glob("*.deb"))
        _progress(f"3/5 unpacking {len(debs)} .debs", quiet)
        root = staging / "root"
        root.mkdir()
        for deb in _bar(debs, quiet):
            _run(["dpkg", "-x", str(deb), str(root)], f"unpacking {deb.name}")
        for link, target in ALTERNATIVES.items():
            (root / link).unlink(missing_ok=True)
            (root / link).symlink_to(target)
        _progress(f"4/5 aarch64 wheels: {', '.join(f'{n}=={v}' for n, v in wheels.items())}", quiet)
        platforms = [x for p in WHEEL_PLATFORMS for x in ("--platform", p)]
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-warn-conflicts",
                "--disable-pip-version-check",
                "--target",
                str(staging / "site"),
                "--only-binary=:all:",
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                *platforms,
                *(f"{n}=={v}" for n, v in wheels.items()),
            ],
            "installing aarch64 wheels",
        )
        manifest = {"format": FORMAT, "wheels": wheels, "debian": sorted(d.name for d in debs)}
        shutil.rmtree(work)
        write_json_atomic(staging / "manifest.json", manifest)
        _progress(f"5/5 {folder}", quiet)
        replace_folder(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Arm64Sysroot(folder)


def _bar(items: list, quiet: bool):
    if quiet:
        return items
    from tqdm import tqdm

    return tqdm(items, unit="deb", file=sys.stderr, leave=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.emulation.arm64", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="build (or keep) the sysroot in FOLDER")
    prep.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    prep.add_argument("--force", action="store_true", help="rebuild it even when it is ready")
    prep.add_argument("--quiet", action="store_true")
    return run_guarded(p.prog, _prepare, p.parse_args(argv))


def _prepare(args: argparse.Namespace) -> int:
    prepare(args.folder, quiet=args.quiet, force=args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
