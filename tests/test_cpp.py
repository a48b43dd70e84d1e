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
        "-DSWINPOSE_VIDEOIO=OFF",  # the sysroot has OpenCV's videoio but not the codec libraries it links
    )
    for program in ("pose_app", "test_core", "test_trt_fake", "check_tool"):
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


# -- the detector and the tracker (issue 26) ----------------------------------------------------------------------


def _check_tool(build: CppBuild, *args: str) -> dict:
    done = subprocess.run([*build.emulator, str(build.folder / "check_tool"), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_cpp_letterboxes_as_each_detector_family(cpp_build, tmp_path):
    """Each preset's geometry (scale, padding) is Python's to the last bit, for images wider, taller and smaller than
    the input; the tensors agree to a grey level (OpenCV's uint8 bilinear resize is fixed-point arithmetic, which
    the two OpenCV builds may round differently; measured: identical on x86-64)."""
    from runtime.detection.letterbox import PRESETS

    base = cv2.imread(str(GOLDEN / "image.png"))
    for h, w in ((214, 320), (333, 257), (101, 403)):
        image = tmp_path / f"{h}x{w}.png"
        cv2.imwrite(str(image), cv2.resize(base, (w, h)))
        for name, preset in PRESETS.items():
            want, geometry = preset(cv2.imread(str(image)), (256, 320))
            got = _check_tool(cpp_build, "letterbox", name, "256", "320", str(image), str(tmp_path / "in.f32"))
            m = geometry.matrix
            assert [got["scale_x"], got["scale_y"], got["left"], got["top"]] == [m[0, 0], m[1, 1], m[0, 2], m[1, 2]]
            tensor = np.fromfile(tmp_path / "in.f32", np.float32).reshape(want.shape)
            grey = np.abs(tensor - want) * np.array(preset.std, np.float32)[None, :, None, None]
            assert grey.max() <= 1.0 + 1e-3, (name, h, w, grey.max())


def _layout_cases(rng: np.random.Generator) -> list[tuple[str, list[tuple[str, np.ndarray]], tuple[int, int]]]:
    """Outputs of every layout with overlapping people (so NMS has work), other classes and scores near the
    threshold: (layout, [(output name, array)], input size)."""

    def boxes(n: int, size: tuple[int, int]) -> np.ndarray:  # cx cy w h, clustered so that some overlap
        centres = rng.uniform(0, 1, (4, 2)) * [size[1], size[0]]
        c = centres[rng.integers(0, 4, n)] + rng.normal(0, 6, (n, 2))
        return np.concatenate([c, rng.uniform(20, 90, (n, 2))], 1)

    def corners(b: np.ndarray) -> np.ndarray:
        return np.concatenate([b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2], 1)

    size, cases = (256, 320), []
    a, nc = 300, 3
    scores = rng.uniform(0, 0.6, (nc, a))
    cases.append(("ultralytics", [("output0", np.concatenate([boxes(a, size).T, scores])[None])], size))
    k = 40
    rows = np.concatenate([corners(boxes(k, size)), rng.uniform(0, 1, (k, 1)), rng.integers(0, 3, (k, 1))], 1)
    cases.append(("ultralytics-e2e", [("output0", rows[None])], size))
    obj = rng.uniform(0, 1, (a, 1))
    cases.append(("yolov5", [("output0", np.concatenate([boxes(a, size), obj, scores.T], 1)[None])], size))
    small = (64, 96)
    cells = sum((small[0] // s) * (small[1] // s) for s in (8, 16, 32))
    raw = np.concatenate(
        [rng.uniform(0, 1, (cells, 2)), rng.normal(1, 0.5, (cells, 2)), rng.uniform(0, 1, (cells, 4))], 1
    )
    cases.append(("yolox", [("output", raw[None])], small))
    dets = np.concatenate([corners(boxes(k, size)), rng.uniform(0, 1, (k, 1))], 1)
    for name in ("mmdeploy-yolox", "mmdeploy-rtmdet"):
        cases.append((name, [("dets", dets[None]), ("labels", rng.integers(0, 2, (1, k)).astype(np.int64))], size))
    nms_outputs = [
        ("num_dets", np.array([[25]], np.int32)),
        ("det_boxes", corners(boxes(k, size))[None]),
        ("det_scores", rng.uniform(0, 1, (1, k))),
        ("det_classes", rng.integers(0, 3, (1, k)).astype(np.int32)),
    ]
    cases.append(("efficientnms", nms_outputs, size))
    return [
        (n, [(o, np.asarray(v).astype(np.float32 if v.dtype.kind == "f" else v.dtype)) for o, v in outs], s)
        for n, outs, s in cases
    ]


def test_cpp_decodes_every_detector_layout_as_python(cpp_build, tmp_path):
    """Each layout's decoder, NMS, top_k and the way back to image pixels (runtime.detection.Detector.postprocess,
    the reference) on the same outputs: the same boxes in the same order, to float rounding (both decode in
    float64 from the same float32 values; only the inverse letterbox map's last bits may differ)."""
    from types import SimpleNamespace

    from runtime.backends.base import TensorSpec
    from runtime.detection import Detector
    from runtime.detection.layouts import detector_layout
    from runtime.detection.letterbox import letterbox_preset

    checked = 0
    for layout, outputs, size in _layout_cases(np.random.default_rng(26)):
        for score_thr, iou_thr, top_k, image in ((0.25, 0.45, 100, (480, 640)), (0.5, 0.3, 5, (333, 257))):
            python = Detector.__new__(Detector)  # the real postprocess, over recorded outputs instead of a backend
            python.layout, python.person_class, python.input_size = detector_layout(layout), 0, size
            python.score_thr, python.iou_thr, python.top_k = score_thr, iou_thr, top_k
            python.backend = SimpleNamespace(outputs=[TensorSpec(n, list(v.shape), str(v.dtype)) for n, v in outputs])
            geometry, _ = letterbox_preset(python.layout.preset).geometry(image, size)
            want = python.postprocess(dict(outputs), geometry).with_scores()
            case = {
                "layout": layout,
                "person_class": 0,
                "score_thr": score_thr,
                "iou_thr": iou_thr,
                "top_k": top_k,
                "input_size": list(size),
                "image_size": list(image),
                "outputs": [{"name": n, "shape": list(v.shape), "data": v.ravel().tolist()} for n, v in outputs],
            }
            (tmp_path / "case.json").write_text(json.dumps(case))
            got = np.array(_check_tool(cpp_build, "decode", str(tmp_path / "case.json"))["boxes"]).reshape(-1, 5)
            assert got.shape == want.shape, (layout, got.shape, want.shape)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-9, err_msg=layout)
            checked += len(want)
    assert checked > 50


def _video_frames(tmp_path: Path, frames: int, people: int = 3) -> list[Path]:
    """The frames of a swinpose-synth video (walkers that cross and leave) as PNG files, so that both runtimes read
    the same pixels."""
    from swinpose.data.synthetic_video import VideoConfig, render_video

    paths = []
    for t, (frame, _) in enumerate(render_video(0, 1, VideoConfig(frames=frames, people=people))):
        paths.append(tmp_path / f"{t:03d}.png")
        cv2.imwrite(str(paths[-1]), frame)
    return paths


@pytest.mark.parametrize(
    "det_interval, config",
    [
        (1, {}),
        (3, {"match": "iou", "smoothing": {"min_cutoff": 1.0, "beta": 0.05, "d_cutoff": 1.0}}),
    ],
    ids=["oks-every-frame", "iou-smoothed-every-3rd"],
)
def test_cpp_tracker_gives_python_trackers_boxes_ids_and_keypoints(
    cpp_build, bundled_packages, detector_package, tmp_path, det_interval, config
):
    """runtime.tracking.PoseTracker on real poses of a synthetic video (the bundled models), recorded frame by frame;
    the C++ PoseTracker is given the same detections and, for the boxes it asks for, the poses Python's pose model
    found in them. It must ask for the same boxes, and give the same ids and (smoothed) keypoints: both compute in
    float64 from the same values, so to rounding."""
    from runtime.detection import Detector
    from runtime.tracking import PoseTracker, TrackerConfig

    cfg = TrackerConfig.from_dict({**TrackerConfig().to_dict(), **config})
    fps = 25.0
    tracker = PoseTracker(cfg, None, fps)
    frames, want = [], []
    with PoseEngine(bundled_packages["fp32"]) as engine, Detector(detector_package) as detector:
        for t, path in enumerate(_video_frames(tmp_path, 30, people=4)):
            image = cv2.imread(str(path))
            detections = None
            if t % det_interval == 0 or tracker.following == 0:
                detections = detector(image).with_scores()
            boxes = tracker.boxes(detections, image.shape)
            poses = engine(image, boxes)
            result = tracker.update(poses, t / fps)
            frames.append(
                {
                    "detections": None if detections is None else detections.tolist(),
                    "size": [image.shape[1], image.shape[0]],
                    "timestamp": t / fps,
                    "poses": np.concatenate([poses.keypoints, poses.scores[..., None]], -1).tolist(),
                }
            )
            want.append((boxes, result))
    sigmas = list(read_package(bundled_packages["fp32"]).keypoints.oks_sigmas or [])
    case = {"config": cfg.to_dict(), "sigmas": sigmas, "fps": fps, "frames": frames}
    (tmp_path / "case.json").write_text(json.dumps(case))
    got = _check_tool(cpp_build, "track", str(tmp_path / "case.json"))["frames"]
    ids_seen, tracked_only = set(), 0
    for t, ((boxes, result), frame) in enumerate(zip(want, got)):
        np.testing.assert_allclose(np.array(frame["boxes"]).reshape(-1, 5), boxes, rtol=0, atol=1e-9, err_msg=t)
        assert [p["id"] for p in frame["tracks"]] == result.track_ids.tolist(), t
        kps = np.array([p["keypoints"] for p in frame["tracks"]]).reshape(-1, result.keypoints.shape[1], 3)
        np.testing.assert_allclose(kps[..., :2], result.keypoints, rtol=0, atol=1e-7, err_msg=t)
        ids_seen |= set(result.track_ids.tolist())
        tracked_only += frames[t]["detections"] is None
    assert len(ids_seen) >= 3 and (tracked_only > 0) == (det_interval > 1)


def _pose_app_tracks(build: CppBuild, *args: str) -> dict[int, dict[int, np.ndarray]]:
    """pose_app --track's people: frame → track id → (box 5, then K×3 keypoints flattened)."""
    done = build.run(*args)
    assert done.returncode == 0, done.stderr
    out: dict[int, dict[int, np.ndarray]] = {}
    for line in done.stdout.splitlines():
        if line.startswith("track "):
            values = line.split()
            out.setdefault(int(values[1]), {})[int(values[2])] = np.array([float(v) for v in values[3:]])
    return out


def test_cpp_pose_app_detects_and_tracks_like_the_python_pipeline(
    native_cpp_build, bundled_packages, detector_package, tmp_path
):
    """pose_app --detector --track (OpenCV DNN: the detector's and the pose model's OpenCV graphs) against
    runtime.tracking.TrackingPipeline on ONNX Runtime, on the same frames: the same people with the same ids in
    every frame, boxes that overlap and keypoints that agree.

    The detector's boxes agree to a few thousandths of a pixel (its outputs to about 1e-5 of their range), and the
    pose model's keypoints in the same box to the pipeline test's bounds; but between detections a box is made from
    the last frame's keypoints, so their differences feed back into the next crop, and they grow until the next
    detection. Measured (24 frames, 3 walkers, det_interval 4): box IoU min 0.956, median 0.999; keypoint shift
    median 0.06 px, 5.7% of confident keypoints over 1 px. A threshold that a pose's scores straddle by less than
    the two runtimes' difference (up to 0.05, see above) would decide differently, so this video's people are the
    check of the whole app, and the replay test above the check of the tracker's every decision. Native build only:
    that test runs on aarch64 too."""
    from runtime.detection import Detector
    from runtime.tracking import TrackingPipeline

    paths = _video_frames(tmp_path, 24)
    fps, interval = 25.0, 4
    want = []
    with PoseEngine(bundled_packages["fp32"]) as engine, Detector(detector_package) as detector:
        pipeline = TrackingPipeline(engine, detector, interval, fps=fps)
        for t, path in enumerate(paths):
            want.append(pipeline(cv2.imread(str(path)), t / fps))
        python_runs = pipeline.stats.detector_runs
    args = ["--threads", "2", "--backend", "opencv", "--detector", str(detector_package), "--track"]
    args += ["--det-interval", str(interval), str(bundled_packages["fp32"]), *map(str, paths)]
    got = _pose_app_tracks(native_cpp_build, *args)
    from runtime.tracking.tracker import iou_matrix

    shifts, confident, overlaps = [], [], []
    for t, result in enumerate(want):
        assert sorted(got.get(t, {})) == result.track_ids.tolist(), t
        for i, track_id in enumerate(result.track_ids):
            row = got[t][int(track_id)]
            overlaps.append(iou_matrix(row[None, :4], result.boxes[i : i + 1])[0, 0])
            shifts.append(np.linalg.norm(row[5:].reshape(-1, 3)[:, :2] - result.keypoints[i], axis=-1))
            confident.append(result.scores[i] >= 0.3)
    shift, sure, overlap = np.concatenate(shifts), np.concatenate(confident), np.array(overlaps)
    assert len(overlap) >= len(paths) and python_runs < len(paths)
    assert overlap.min() >= 0.9 and np.median(overlap) >= 0.99, overlap
    assert np.median(shift) <= 0.1 and (shift[sure] > 1).mean() <= 0.1, (np.median(shift), (shift[sure] > 1).mean())
    # the same frames as a video file (MJPG, as swinpose-synth writes): the native build reads it through videoio
    video = tmp_path / "walkers.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), fps, cv2.imread(str(paths[0])).shape[1::-1])
    for path in paths:
        writer.write(cv2.imread(str(path)))
    writer.release()
    done = native_cpp_build.run(*args[: -len(paths)], str(video))
    assert done.returncode == 0, done.stderr
    assert f"frames {len(paths)} detector runs" in done.stdout and done.stdout.count("track ") >= len(paths)
    # cut in half: the frames before the cut are kept, and exit 1 says where it stopped and how many of how many
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    done = native_cpp_build.run(*args[: -len(paths)], str(video))
    read = int(re.search(r"frames (\d+) detector runs", done.stdout).group(1))
    assert done.returncode == 1 and 0 < read < len(paths), (done.returncode, read)
    assert f"stopped at frame {read}: {read} of the {len(paths)} frames" in done.stderr, done.stderr


def _fake_detector_engine(package: Path) -> None:
    """A fake TensorRT engine of the detector (runtime/cpp/tests/fake_tensorrt runs its detector.opencv.onnx), listed
    in its detector.json as the export lists a real one."""
    from runtime.detection import read_detector_package
    from runtime.package import file_record

    spec = read_detector_package(package)
    h, w = spec.input_size
    summary = {
        "profile": {spec.input_name: [[1, 3, h, w]] * 3},
        "outputs": {"output0": [-1, 5, 1700]},
        "onnx": str(spec.onnx_path),
        "opencv": spec.opencv_file,
        "version": "11.4.0",
    }
    (package / "detector.engine").write_bytes(b"FAKE-TRT-ENGINE\n" + json.dumps(summary).encode())
    engine = {
        "precision": "fp32",
        "tensorrt_version": "11.4.0",
        "flavor": "standard",
        **file_record(package / "detector.engine"),
    }
    dataclasses.replace(spec, engine_file="detector.engine", engine=engine).write()


def test_detector_package_runs_on_tensorrt_and_refuses_what_it_cannot_run(
    cpp_build, bundled_packages, detector_package, tmp_path
):
    """pose_app without boxes: the detector's people, then their poses. The TensorRT backend (against the fake, which
    runs the same OpenCV graph) gives OpenCV DNN's boxes exactly; a detector package without an OpenCV graph, one
    whose graph changed after the export, a pose package passed as the detector, --track without a detector and a
    zero --det-interval are refused with the fix."""
    image = str(GOLDEN / "image.png")
    opencv = cpp_build.run(
        "--backend", "opencv", "--detector", str(detector_package), str(bundled_packages["fp32"]), image
    )
    assert opencv.returncode == 0, opencv.stderr
    boxes = [line for line in opencv.stdout.splitlines() if line.startswith("box ")]
    people = {line.split()[1] for line in opencv.stdout.splitlines() if line.startswith("person ")}
    assert len(boxes) >= 2 and len(people) == len(boxes)
    det = tmp_path / "det_trt"
    shutil.copytree(detector_package, det)
    _fake_detector_engine(det)
    trt_pose = cpp_build.folder.parent / "trt"  # _build's copy of the fp32 package with a fake engine
    trt = cpp_build.run("--backend", "tensorrt", "--detector", str(det), str(trt_pose), image)
    assert trt.returncode == 0, trt.stderr
    assert [line for line in trt.stdout.splitlines() if line.startswith("box ")] == boxes

    plain = tmp_path / "plain"
    shutil.copytree(detector_package, plain)
    spec = json.loads((plain / "detector.json").read_text())
    spec["files"]["opencv"], spec["opencv"] = None, None
    (plain / "detector.json").write_text(json.dumps(spec))
    pose = str(bundled_packages["fp32"])
    done = cpp_build.run("--backend", "opencv", "--detector", str(plain), pose, image)
    assert done.returncode == 1 and "--detector FILE --opencv" in done.stderr, done.stderr
    changed = tmp_path / "changed"
    shutil.copytree(detector_package, changed)
    graph = changed / "detector.opencv.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    done = cpp_build.run("--backend", "opencv", "--detector", str(changed), pose, image)
    assert done.returncode == 1 and "does not match" in done.stderr and "--detector FILE" in done.stderr, done.stderr
    done = cpp_build.run("--detector", pose, pose, image)
    assert done.returncode == 1 and "is a pose model package" in done.stderr, done.stderr
    done = cpp_build.run("--track", pose, image)
    assert done.returncode == 2 and "--track needs --detector" in done.stderr, done.stderr
    done = cpp_build.run("--detector", str(detector_package), "--track", "--det-interval", "0", pose, image)
    assert done.returncode == 2 and "--det-interval must be a whole number of frames >= 1" in done.stderr, done.stderr
