"""Nothing lost, nothing silently wrong: exports killed at every step leave the old package or the new one, whole and
verified; packages whose files changed after the export are refused; engines shared by threads give each thread its
own answer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from threads import run_together

from runtime import PoseEngine, read_package
from runtime.errors import InputError, PackageError
from runtime.files import FAULT_ENV, NO_EXCHANGE_ENV, clean_leftovers, replace_folder, staging_folder
from runtime.package import recover_package

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "tests" / "data" / "coco-val2017-sample" / "000000196141.jpg"
BOXES = np.array([[248.0, 74.0, 418.0, 375.0], [36.0, 68.0, 66.0, 164.0], [454.0, 207.0, 631.0, 418.0]])


#: swinpose-export in a subprocess (so that it can die), with the fp32 graph the session already exported instead of
#: a new torch.onnx.export (14 s for the bundled model; what the kills test is how the package is written, not made)
DRIVER = """import sys, onnx, export.graphs as p
data = open(sys.argv[1], "rb").read()
p.export_onnx = lambda model, max_batch=64: onnx.ModelProto.FromString(data)
from export.cli import main
sys.exit(main(sys.argv[2:]))"""


def _export(graph: Path, out: Path, batch: str, fault: str | None = None, no_exchange: bool = False) -> int:
    """swinpose-export of the bundled model (its fp32 ``graph``) into ``out``, killed at the step ``fault``."""
    env = {k: v for k, v in os.environ.items() if k not in (FAULT_ENV, NO_EXCHANGE_ENV)}
    if fault:
        env[FAULT_ENV] = fault
    if no_exchange:
        env[NO_EXCHANGE_ENV] = "1"
    cmd = [
        sys.executable,
        "-c",
        DRIVER,
        str(graph),
        "--weights",
        "bundled",
        "--onnx-only",
        "--quiet",
        "--out",
        str(out),
        "--batch",
        batch,
        "--parity-crops",
        "2",
    ]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, -9), done.stderr[-2000:]
    return done.returncode


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


#: (step the export dies at, the fallback of two renames instead of one exchange, which package is then there)
KILLS = [
    ("staged-onnx", False, "old"),
    ("staged-json", False, "old"),
    ("before-replace", False, "old"),
    ("after-replace", False, "new"),
    ("between-renames", True, "old"),  # the old one set aside, put back by recover_package (PoseEngine) or an export
    ("after-replace", True, "new"),
]


@pytest.fixture(scope="module")
def graph(bundled_packages) -> Path:
    return bundled_packages["fp32"] / "model.onnx"


@pytest.fixture(scope="module")
def old_package(tmp_path_factory, graph) -> Path:
    folder = tmp_path_factory.mktemp("old") / "pk"
    assert _export(graph, folder, "1,2,4") == 0
    return folder


@pytest.mark.parametrize("step, no_exchange, left", KILLS, ids=[f"{s}{'-fallback' if n else ''}" for s, n, _ in KILLS])
def test_a_killed_re_export_leaves_the_old_or_the_new_package_whole(
    graph, old_package, tmp_path, step, no_exchange, left
):
    out = tmp_path / "pk"
    shutil.copytree(old_package, out)
    rc = _export(graph, out, "1,1,2", fault=step, no_exchange=no_exchange)
    assert rc == -9  # SIGKILL, at that step
    if step == "between-renames":  # reading never renames: the set-aside package is an error naming the way back
        with pytest.raises(PackageError, match="interrupted export set it aside as .*recover_package"):
            read_package(out)
        with PoseEngine(out):  # PoseEngine recovers it (recover_package) before it reads
            pass
        assert recover_package(out) is None  # put back, once
    else:
        assert recover_package(out) is None  # nothing to recover: the folder is there
    spec = read_package(out)  # whole: it reads, and its files are the ones its JSON recorded
    assert spec.batch_range == ((1, 2, 4) if left == "old" else (1, 1, 2))
    with PoseEngine(out) as engine:  # verified: PoseEngine checks the graph's size and sha256 against model.json
        assert engine(cv2.imread(str(PHOTO)), BOXES).keypoints.shape == (3, 17, 2)
    # the next export removes whatever the killed one left beside the folder
    assert _export(graph, out, "1,2,2") == 0
    assert read_package(out).batch_range == (1, 2, 2) and _leftovers(out) == []


def test_leftovers_of_live_writers_are_kept_and_foreign_folders_refused(tmp_path):
    out = tmp_path / "pk"
    out.mkdir()
    (out / "a").write_text("old")
    mine = staging_folder(out)  # this process is alive: its staging folder is not a leftover
    assert clean_leftovers(out) == [] and mine.is_dir()
    (mine / "a").write_text("new")
    replace_folder(mine, out)
    assert (out / "a").read_text() == "new" and _leftovers(out) == []
    from export.package import ExportOptions, export_package

    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match=r"holds files that are not a package's \(a, notes.txt\)"):
        export_package("bundled", out, ExportOptions(engine=False, progress=False))
    assert (out / "notes.txt").read_text() == "mine"


@pytest.fixture
def package(bundled_packages, tmp_path) -> Path:
    folder = tmp_path / "pk"
    shutil.copytree(bundled_packages["fp32"], folder)
    return folder


def test_a_graph_changed_after_the_export_is_refused(package):
    data = bytearray((package / "model.onnx").read_bytes())
    data[len(data) // 2 : len(data) // 2 + 8] = bytes(8)  # same size, other bytes
    (package / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(PackageError, match=r"model.onnx does not match .*model.json \(sha256 .*damaged or replaced"):
        PoseEngine(package)
    (package / "model.onnx").write_bytes(bytes(data[:-100]))
    with pytest.raises(PackageError, match="is 9721920 bytes|bytes, and .* recorded"):
        PoseEngine(package)


def test_a_precision_that_disagrees_with_the_graph_is_refused(package):
    data = json.loads((package / "model.json").read_text())
    for precision in ("fp16", "int8"):
        data["precision"] = precision
        (package / "model.json").write_text(json.dumps(data))
        with pytest.raises(PackageError, match=f"precision says '{precision}', but the graph's operators .* fp32"):
            read_package(package)


@pytest.mark.parametrize("io_binding", [True, False])
def test_threads_sharing_one_engine_each_get_their_own_answer(package, io_binding):
    """4 threads × 12 calls on one engine, every call the same batch shape (so that with IO binding they share the
    bound buffers) but another image: each result must equal the same call made alone."""
    image = cv2.imread(str(PHOTO))
    rng = np.random.default_rng(0)
    images = [np.ascontiguousarray(np.roll(image, int(s), axis=1)) for s in rng.integers(0, 600, 48)]
    with PoseEngine(package, backend_options={"io_binding": io_binding}) as engine:
        want = [engine(im, BOXES).keypoints for im in images]
        got: dict[int, np.ndarray] = {}

        def work(t: int) -> None:
            for i in range(t, len(images), 4):
                got[i] = engine(images[i], BOXES).keypoints

        errors = run_together(work, 4)
    assert not errors
    wrong = [i for i in range(len(images)) if not np.array_equal(got[i], want[i])]
    assert wrong == []
