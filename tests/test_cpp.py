"""The C++ runtime (runtime/cpp): configure, build and run its tests against the Python runtime's golden outputs, and
run its whole pipeline (pose_app on the OpenCV DNN backend) against PoseEngine on ONNX Runtime. The TensorRT backend
is built against the recording fake of TensorRT and the CUDA runtime in runtime/cpp/tests/fake_tensorrt, whose
engines are the Python fake's (tests/fake_tensorrt.py), and tested there.

Every test that takes ``cpp_build`` runs twice: on this x86-64 host, and cross-built for aarch64 (the Jetsons' CPU)
with Debian's g++-aarch64-linux-gnu and runtime/cpp/cmake/aarch64-linux-gnu.cmake against the arm64 sysroot of
``benchmarks.emulation.arm64`` (Debian's arm64 OpenCV 4.6), its binaries run under ``qemu-aarch64 -cpu cortex-a57``
(Jetson Nano) and checked against this host's Python runtime with the same bounds. The TensorRT backend is compiled
for aarch64 too, against the same fake.

Needs cmake, a C++17 compiler, and Debian's libopencv-dev and nlohmann-json3-dev, which the README's test command
installs (with g++-aarch64-linux-gnu, qemu-user and the sysroot). Without them the tests are skipped locally and fail
on CI (CI=true), where a skip would hide a broken build.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from fake_tensorrt import add_fake_engine
from test_package import _broken

from runtime import PoseEngine
from runtime.errors import PackageError
from runtime.package import PackageSpec, read_package

CPP = Path(__file__).resolve().parents[1] / "runtime" / "cpp"
GOLDEN = CPP / "tests" / "golden"


def _missing() -> list[str]:
    missing = [tool for tool in ("cmake", "c++", "pkg-config") if shutil.which(tool) is None]
    if not missing and subprocess.run(["pkg-config", "--exists", "opencv4"]).returncode:
        missing.append("libopencv-dev")
    if not Path("/usr/include/nlohmann/json.hpp").is_file():
        missing.append("nlohmann-json3-dev")
    return missing


def _fake_engine_packages(package: Path, out: Path) -> list[Path]:
    """Copies of ``package`` with fake engines: a TensorRT 11.4 one, a 10.3 one, a 11.4 one whose model.json asks
    for another batch range, and one whose model.json says TensorRT-RTX built it for sm86 and sm89."""
    copies = []
    names = (("trt", "11.4"), ("trt_other_version", "10.3"), ("trt_other_batch", "11.4"), ("trt_rtx", "11.4"))
    for name, generation in names:
        shutil.copytree(package, out / name)
        add_fake_engine(out / name, generation)
        copies.append(out / name)
    meta = json.loads((copies[2] / "model.json").read_text())
    meta["batch"]["max"] *= 2
    (copies[2] / "model.json").write_text(json.dumps(meta))
    meta = json.loads((copies[3] / "model.json").read_text())
    meta["engine"] = {**(meta["engine"] or {}), "flavor": "rtx", "compute_capabilities": ["sm86", "sm89"]}
    (copies[3] / "model.json").write_text(json.dumps(meta))
    return copies


@dataclasses.dataclass(frozen=True)
class CppBuild:
    """A build folder of runtime/cpp and the emulator its binaries run under (none on this host's own build)."""

    folder: Path
    emulator: tuple[str, ...] = ()

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """pose_app with ``args``."""
        command = [*self.emulator, str(self.folder / "pose_app"), *args]
        return subprocess.run(command, capture_output=True, text=True)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must build the C++ runtime but {reason}; see the README's test command")
    pytest.skip(reason)


def _build(root: Path, package: Path, *options: str) -> Path:
    """runtime/cpp configured and built in ``root/build``, with the OpenCV DNN backend's test pointed at the fp32
    ``package`` (exported --opencv) and the TensorRT backend built against the fake, tested on fake engines of it."""
    build = root / "build"
    engines = ";".join(str(p) for p in _fake_engine_packages(package, root))
    configure = [
        "cmake",
        "-S",
        str(CPP),
        "-B",
        str(build),
        f"-DSWINPOSE_TEST_PACKAGE={package}",
        "-DSWINPOSE_FAKE_TENSORRT=ON",
        f"-DSWINPOSE_TRT_PACKAGES={engines}",
        *options,
    ]
    for cmd in (configure, ["cmake", "--build", str(build), "-j2"]):
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return build


@pytest.fixture(scope="module")
def native_cpp_build(tmp_path_factory, bundled_packages) -> CppBuild:
    """runtime/cpp built once for this host."""
    missing = _missing()
    if missing:
        _unavailable(f"C++ build tools are missing: {missing} (apt-get install libopencv-dev nlohmann-json3-dev)")
    return CppBuild(_build(tmp_path_factory.mktemp("cpp"), bundled_packages["fp32"]))


@pytest.fixture(scope="module")
def arm64_cpp_build(tmp_path_factory, bundled_packages) -> CppBuild:
    """runtime/cpp cross-built once for aarch64 against the arm64 sysroot, run under qemu-aarch64 as a Cortex-A57
    (ctest too, through the toolchain file's emulator)."""
    from benchmarks.emulation import CPUS
    from benchmarks.emulation.arm64 import Arm64Sysroot
    from benchmarks.emulation.qemu import EmulatorUnavailable, cpu_root, qemu_binary

    cpu = CPUS["cortex-a57"]
    try:
        qemu = qemu_binary(cpu)
        sysroot = Arm64Sysroot.find()
    except EmulatorUnavailable as e:
        _unavailable(str(e))
    missing = [t for t in ("cmake", "aarch64-linux-gnu-g++") if shutil.which(t) is None]
    if missing:
        _unavailable(f"the aarch64 cross build lacks {missing} (apt-get install cmake g++-aarch64-linux-gnu)")
    root = tmp_path_factory.mktemp("cpp_arm64")
    emulator = (qemu, "-cpu", cpu.qemu_cpu, "-L", str(cpu_root(cpu, root / "qemu-root", sysroot.root)))
    toolchain = CPP / "cmake" / "aarch64-linux-gnu.cmake"
    build = _build(
        root,
        bundled_packages["fp32"],
        f"-DCMAKE_TOOLCHAIN_FILE={toolchain}",
        f"-DSWINPOSE_SYSROOT={sysroot.root}",
        f"-DSWINPOSE_EMULATOR={';'.join(emulator)}",
    )
    for program in ("pose_app", "test_core", "test_trt_fake"):
        header = (build / program).read_bytes()[:20]
        assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 183, program  # EM_AARCH64
    return CppBuild(build, emulator)


@pytest.fixture(scope="module", params=["x86_64", "aarch64"])
def cpp_build(request) -> CppBuild:
    """The C++ runtime built for this host, then cross-built for aarch64 and run under emulation."""
    return request.getfixturevalue("native_cpp_build" if request.param == "x86_64" else "arm64_cpp_build")


def test_cpp_core_and_backends_match_the_python_runtime(cpp_build):
    done = subprocess.run(["ctest", "--output-on-failure", "-V"], cwd=cpp_build.folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:]
    assert "100% tests passed" in done.stdout
    assert "out of 3" in done.stdout, "a backend test did not run: OpenCV has no dnn module here?"
    assert "OpenCV DNN heatmaps vs ONNX Runtime" in done.stdout
    assert "TensorRT keypoints equal OpenCV DNN's" in done.stdout


def _pose_app(build: CppBuild, package: Path, image: Path, boxes: np.ndarray, *extra: str) -> tuple[np.ndarray, ...]:
    """pose_app's keypoints N×K×2 and scores N×K for xyxy ``boxes`` on ``image``."""
    numbers = [f"{v:.17g}" for v in boxes.ravel()]
    done = build.run("--threads", "2", *extra, str(package), str(image), *numbers)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("person ")]
    xy = np.array([[float(r[3]), float(r[4])] for r in rows]).reshape(len(boxes), -1, 2)
    return xy, np.array([float(r[5]) for r in rows]).reshape(len(boxes), -1)


def test_cpp_pipeline_matches_pose_engine(cpp_build, bundled_packages, synthetic_root):
    """The whole C++ pipeline (crop, OpenCV DNN, DARK decode, back to the image) against PoseEngine on ONNX Runtime.

    Only the crops differ: Debian's OpenCV 4.6 and pip's OpenCV 5.0 warpAffine disagree by up to 4 grey levels
    (test_core measures it; the network and decoding alone agree to 2e-5 px there). That moves most keypoints by
    hundredths of a pixel, but a heatmap with two near-equal peaks can flip to the other one: on the model card's 409
    val persons, 13 of 6953 keypoints moved more than 1 px (p99 0.15 px), so the bounds are on the distribution.
    """
    package = bundled_packages["fp32"]
    ann = json.loads((synthetic_root / "annotations" / "person_keypoints_val.json").read_text())
    cases = [(GOLDEN / "image.png", np.loadtxt(GOLDEN / "boxes.txt"))]
    for image in ann["images"][:4]:
        bbox = np.array([a["bbox"] for a in ann["annotations"] if a["image_id"] == image["id"]])
        xyxy = np.concatenate([bbox[:, :2], bbox[:, :2] + bbox[:, 2:]], 1)
        cases.append((synthetic_root / "val" / image["file_name"], xyxy))
    shifts, confident, score_err = [], [], []  # per case: N·K keypoint distances, confident mask, score errors
    with PoseEngine(package) as engine:
        for image, boxes in cases:
            want = engine(cv2.imread(str(image)), boxes)
            xy, scores = _pose_app(cpp_build, package, image, boxes)
            shifts.append(np.linalg.norm(xy - want.keypoints, axis=-1).ravel())
            confident.append(want.scores.ravel() >= 0.3)
            score_err.append(np.abs(scores - want.scores).ravel())
    shift, sure = np.concatenate(shifts), np.concatenate(confident)
    assert sure.sum() > 100
    assert np.percentile(shift[sure], 99) <= 0.5 and np.median(shift) <= 0.1
    assert (shift > 1).mean() <= 0.01
    assert np.concatenate(score_err).max() <= 0.05


def test_pose_app_errors_name_the_fix(cpp_build, bundled_packages, tmp_path):
    package, image = str(bundled_packages["fp32"]), str(GOLDEN / "image.png")
    bad = cpp_build.run("--backend", "cuda", package, image, "0", "0", "10", "10")
    assert bad.returncode == 1 and "has no 'cuda' backend (it has: opencv, tensorrt)" in bad.stderr
    no_engine = cpp_build.run("--backend", "tensorrt", package, image, "0", "0", "10", "10")
    assert no_engine.returncode == 1 and "build one with swinpose-export --engine" in no_engine.stderr
    usage = cpp_build.run(package)
    assert usage.returncode == 2 and "usage:" in usage.stderr
    nan = cpp_build.run(package, image, "0", "0", "1O", "10")
    assert nan.returncode == 1 and "'1O' is not a number" in nan.stderr
    (tmp_path / "model.json").write_text((bundled_packages["fp32"] / "model.json").read_text())
    (tmp_path / "model.opencv.onnx").write_bytes((bundled_packages["fp32"] / "model.opencv.onnx").read_bytes()[:5000])
    truncated = cpp_build.run(str(tmp_path), image, "0", "0", "10", "10")
    assert truncated.returncode == 1 and "re-export the package" in truncated.stderr


def _cpp_reads(cpp_build: CppBuild, package: Path) -> subprocess.CompletedProcess:
    return cpp_build.run("--print-package", str(package))


def _python_reads(spec: PackageSpec) -> dict:
    """The parts PackageConfig mirrors, as runtime.package reads them (mean/std in float32, as C++ keeps them)."""
    mirrored = (
        "format_version",
        "precision",
        "model",
        "files",
        "input",
        "output",
        "batch",
        "preprocess",
        "codec",
        "keypoints",
    )
    d = {k: v for k, v in spec.to_dict().items() if k in mirrored}
    d["engine"] = {
        "flavor": spec.engine_flavor,
        "compute_capabilities": (spec.engine or {}).get("compute_capabilities") or [],
    }
    return d


def _float32_stats(d: dict) -> dict:
    for key in ("mean", "std"):
        d["preprocess"][key] = [float(np.float32(v)) for v in d["preprocess"][key]]
    return d


def test_cpp_and_python_read_the_same_package(cpp_build, bundled_packages, tmp_path):
    """The C++ PackageConfig mirrors runtime.package's parts: the same values from the same files, for a package of
    each precision, an RTX-flavoured one, a format-1 one (both migrate it), and BGR / 0..1-scale pre-processing."""
    packages = [bundled_packages[p] for p in ("fp32", "fp16", "int8")]
    base = read_package(bundled_packages["fp32"])
    variants = {
        "rtx": base.replace(engine={"flavor": "rtx", "compute_capabilities": ["sm86", "sm89"]}),
        "bgr_unit": base.replace(
            preprocess=dataclasses.replace(
                base.preprocess,
                color_order="BGR",
                mean=(0.4, 0.5, 0.6),
                std=(0.2, 0.25, 0.3),
                pixel_scale=1.0,
                box_padding=1.5,
            )
        ),
    }
    for name, spec in variants.items():
        (tmp_path / name).mkdir()
        shutil.copy(base.onnx_path, tmp_path / name)
        spec.write(tmp_path / name)
        packages.append(tmp_path / name)
    v1 = base.to_dict()
    v1["schema_version"] = v1.pop("format_version")
    v1["schema_version"] = 1
    del v1["preprocess"]["pixel_scale"], v1["preprocess"]["aspect"], v1["opencv"], v1["files"]["opencv"]
    (tmp_path / "v1").mkdir()
    shutil.copy(base.onnx_path, tmp_path / "v1")
    (tmp_path / "v1" / "model.json").write_text(json.dumps(v1))
    packages.append(tmp_path / "v1")
    for package in packages:
        done = _cpp_reads(cpp_build, package)
        assert done.returncode == 0, done.stderr
        assert _float32_stats(json.loads(done.stdout)) == _float32_stats(_python_reads(read_package(package))), package


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("preprocess.std", [0, 1, 1], "'preprocess.std' must be positive"),
        ("preprocess.color_order", "XYZ", "'preprocess.color_order' must be RGB or BGR"),
        ("keypoints.flip_pairs", [[1]], "'keypoints.flip_pairs' entry \\[1\\] must be two keypoint indices"),
        ("codec.input_size", [256, 192], "disagree with preprocess.input_size"),
        ("format_version", 3, "newer than this swinpose reads \\(2\\); upgrade swinpose"),
    ],
)
def test_cpp_refuses_what_python_refuses(cpp_build, bundled_packages, tmp_path, path, value, message):
    data = _broken(json.loads((bundled_packages["fp32"] / "model.json").read_text()), path, value)
    (tmp_path / "model.json").write_text(json.dumps(data))
    with pytest.raises(PackageError):
        PackageSpec.from_dict(data, tmp_path)
    done = _cpp_reads(cpp_build, tmp_path)
    assert done.returncode == 1
    assert re.search(message, done.stderr), done.stderr


@pytest.mark.parametrize("flip", [False, True], ids=["plain", "flip-test"])
def test_cpp_runs_an_mmpose_package_with_mmposes_conventions(native_cpp_build, tmp_path, flip):
    """An MMPose checkpoint exported whole (tests/data/mmpose): the C++ pipeline crops with MMPose's warp and
    decodes with MSRAHeatmap's rules, and its flip test (``--flip-test``) mirrors the crops, flips the heatmaps back
    with the package's flip pairs and shifts them a pixel (``codec.flip_shift``), so its keypoints are MMPose's own
    pipeline's with and without the flip test. The crops differ by OpenCV version (Debian's 4.6 here, 4.10 in
    MMPose's venv), so the bound is on the median, as above; a convention error (a missing shift, a wrong warp)
    would move every keypoint by half a pixel or more."""
    from export.cli import main as export

    data = Path(__file__).parent / "data" / "mmpose"
    golden = np.load(data / "swin_t_256x192.pipeline.npz")
    want = golden["flip" if flip else "plain"]
    package = tmp_path / "mmpose"
    args = [
        "--weights",
        str(data / "swin_t_256x192.1x.pth"),
        "--input-size",
        "256x192",
        "--opencv",
        "--onnx-only",
        "--out",
        str(package),
        "--quiet",
    ]
    assert export(args) == 0
    photos = Path(__file__).parent / "data" / "coco-val2017-sample"
    shifts = []
    extra = ["--backend", "opencv", *(["--flip-test"] if flip else [])]
    for file in sorted(set(golden["image"].tolist())):
        rows = golden["image"] == file
        xy, _ = _pose_app(native_cpp_build, package, photos / file, golden["box"][rows], *extra)
        shifts.append(np.linalg.norm(xy - want[rows], axis=-1).ravel())
    shift = np.concatenate(shifts)
    assert len(shift) == want.size // 2 and np.median(shift) <= 0.05, np.median(shift)
    if flip:  # the flip test moved the keypoints: the bound above can tell it from the plain run
        assert np.median(np.linalg.norm(golden["flip"] - golden["plain"], axis=-1)) > 0.5


def test_cpp_refuses_a_model_file_changed_after_the_export(cpp_build, bundled_packages, tmp_path):
    """The C++ runtime checks the file its backend opens against model.json's size and SHA-256, as PoseEngine does:
    the package as exported passes (so its SHA-256 is Python's hashlib's), one with changed bytes does not."""
    package = tmp_path / "pk"
    shutil.copytree(bundled_packages["fp32"], package)
    photo = Path(__file__).parent / "data" / "coco-val2017-sample" / "000000196141.jpg"
    args = ("--backend", "opencv", str(package), str(photo), "248", "74", "418", "375")
    assert cpp_build.run(*args).returncode == 0
    graph = package / "model.opencv.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    done = cpp_build.run(*args)
    assert done.returncode == 1 and "does not match" in done.stderr and "re-export" in done.stderr, done.stderr
    graph.write_bytes(bytes(data[:-10]))
    done = cpp_build.run(*args)
    assert done.returncode == 1 and "bytes, and" in done.stderr, done.stderr
