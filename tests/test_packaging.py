"""Layout, import direction, console scripts, the README's commands and the demo."""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {
    "swinpose-export": "export.cli:main",
    "swinpose-bench": "benchmarks.cli:main",
    "swinpose-train": "swinpose.cli.train:main",
    "swinpose-train-detector": "swinpose.cli.train_detector:main",
    "swinpose-eval": "swinpose.cli.evaluate:main",
    "swinpose-synth": "swinpose.cli.synth:main",
    "swinpose-infer": "runtime.cli:main",
    "swinpose-demo": "swinpose.cli.demo_all:main",
}
# package -> top-level modules it must never import (the arrows run runtime <- swinpose <- export)
FORBIDDEN_IMPORTS = {
    "runtime": {"torch", "torchvision", "timm", "onnx", "onnxscript", "swinpose", "export", "benchmarks"},
    "swinpose": {"export", "benchmarks"},
    "export": {"benchmarks"},
}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN_IMPORTS))
def test_import_direction(package):
    offenders = {
        str(f.relative_to(ROOT)): sorted(_imported_modules(f) & FORBIDDEN_IMPORTS[package])
        for f in (ROOT / package).rglob("*.py")
    }
    assert {f: m for f, m in offenders.items() if m} == {}


@pytest.mark.parametrize("package", ["runtime", "swinpose"])
def test_every_error_type_is_re_exported(package):
    """runtime.errors.__all__ is the one list of error types; both public packages must re-export all of it."""
    import importlib

    import runtime.errors

    module = importlib.import_module(package)
    for name in runtime.errors.__all__:
        assert getattr(module, name) is getattr(runtime.errors, name) and name in module.__all__, name


def test_runtime_imports_without_torch():
    code = (
        "import pkgutil, importlib, sys, runtime\n"
        "for m in pkgutil.walk_packages(runtime.__path__, 'runtime.'): importlib.import_module(m.name)\n"
        "bad = sorted(n for n in ('torch', 'onnx', 'swinpose', 'export') if n in sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_top_level_layout():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode:
        pytest.skip("not a git checkout")
    visible = {p.split("/")[0] for p in tracked.stdout.split() if not p.startswith(".")}
    assert visible == {
        "swinpose",
        "export",
        "runtime",
        "benchmarks",
        "tests",
        "setup.cfg",
        "pyproject.toml",
        "README.md",
        "BENCHMARKS.md",
    }
    assert (ROOT / ".ci" / "run").is_file()


def test_console_scripts_are_declared_and_load():
    eps = {ep.name: ep for ep in metadata.entry_points(group="console_scripts") if ep.name in SCRIPTS}
    assert {name: ep.value for name, ep in eps.items()} == SCRIPTS
    for ep in eps.values():
        assert callable(ep.load())


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_shipped_scripts_answer_help_and_reject_missing_arguments(name, capsys):
    (entry_point,) = metadata.entry_points(group="console_scripts", name=name)
    main = entry_point.load()
    for argv, code in (["--help"], 0), ([], 2):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == code
    assert "required" in capsys.readouterr().err


def _readme_command(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading) :]
    return re.search(r"```bash\n(.+?)\n```", section, re.S).group(1).strip()


def test_ci_runs_exactly_the_readme_test_command():
    ci_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci_lines[-1] == _readme_command("Run the tests")
    assert "pytest" in ci_lines[-1]


def test_readme_main_command_runs_the_demo_on_a_shipped_image():
    command = _readme_command("Run the main job")
    assert "torchvision==0.28.0" in command and ".[train,export]" in command
    assert command.rstrip().endswith("swinpose-demo --out demo_out") and len(command) < 250


def test_demo_runs_the_nine_commands_of_the_pipeline():
    from swinpose.cli.demo_all import demo_steps, shipped_inputs

    image, photos, boxes = shipped_inputs()
    assert image.is_file() and photos.is_dir() and boxes.is_file()
    steps = [shlex.join(step).replace(f"{ROOT}/", "") for step in demo_steps(Path("demo_out"), *shipped_inputs())]
    command = " && ".join(steps)
    image_arg = "--image tests/data/coco-val2017-sample/000000196141.jpg"
    assert steps[0] == f"python -m swinpose.cli.demo --model swinpose_t_256x192 {image_arg} --bundled --out demo_out"
    # then PoseEngine (through swinpose-infer) on shipped real photos and on the synthetic images, with GT boxes
    infers = re.findall(r"swinpose-infer --package (\S+) (\S+) --boxes (\S+)", command)
    assert [(pkg, src) for pkg, src, _ in infers] == [
        ("demo_out/package", "tests/data/coco-val2017-sample"),
        ("demo_out/package", "demo_out/synthetic/val"),
    ]
    assert (ROOT / infers[0][2]).is_file() and "swinpose-export --weights bundled --out demo_out/package" in command
    # then from pixels: the bundled detector packaged, the pipeline on the synthetic images, and the three APs
    assert "swinpose-export --detector bundled --out demo_out/detector" in command
    assert "swinpose-infer --package demo_out/package --detector demo_out/detector demo_out/synthetic/val" in command
    assert "swinpose-eval --weights bundled --data demo_out/synthetic --detector demo_out/detector" in command
    # and it ends with the latency and parity summary of swinpose-bench on that package
    benches = re.findall(r"swinpose-bench (\w+) --package demo_out/package", command)
    assert benches == ["latency", "parity"] and command.rstrip().endswith("--quiet")
    assert steps[-2].endswith(
        "--backends torch,onnxruntime --precisions fp32 --batch 1,8 --iters 20 --threads 2 --quiet"
    )
    assert steps[-1].endswith("--images demo_out/synthetic/val --precisions fp32 --quiet") and len(steps) == 9


def test_demo_names_the_missing_shipped_photos(monkeypatch, tmp_path, capsys):
    from swinpose.cli import demo_all

    monkeypatch.setattr(demo_all, "SHIPPED", tmp_path / "absent")
    monkeypatch.setattr(demo_all, "shipped_inputs", lambda: (tmp_path / "absent/a.jpg", tmp_path / "absent", None))
    assert demo_all.main(["--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "swinpose-demo: error: the shipped COCO photos are not here" in err and "--image and --photos" in err
    assert not (tmp_path / "out").exists()


def test_demo_prints_params_flops_and_output_shape(capsys):
    from swinpose.cli.demo import main

    image = ROOT / "tests/data/coco-val2017-sample/000000196141.jpg"
    assert main(["--model", "swinpose_nano_256x192", "--image", str(image), "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "params     2.33 M (backbone 2.28 M)" in out
    assert "heatmaps 1x17x64x48" in out
    assert re.search(r"compute    0\.48 GMACs = 0\.95 GFLOPs", out)


def test_demo_list_and_errors(capsys):
    from swinpose.cli.demo import main

    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"swinpose_t_256x192\s+256x192\s+7\s+28\.04\s+27\.52\s+5\.60\s+11\.20", out)
    assert main(["--image", "missing.jpg"]) == 1
    assert "image missing.jpg does not exist" in capsys.readouterr().err
    assert main(["--model", "swinpose_q", "--image", str(ROOT / "README.md")]) == 1
    assert "cannot read" in capsys.readouterr().err
