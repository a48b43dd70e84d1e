"""Benchmark reports: their JSON schemas (collected from their producers), and the console table, CSV, Markdown
and PNG made from a report dict.

A report is the dict :func:`benchmarks.latency.run_latency`, :func:`benchmarks.parity.run_parity`,
:func:`benchmarks.floor_report` or :func:`benchmarks.video.run_video` returns; its ``schema`` entry names which.
Every file is written atomically.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.floor import FLOOR_SCHEMA, FLOOR_SCHEMA_ID
from benchmarks.latency import LATENCY_SCHEMA, LATENCY_SCHEMA_ID
from benchmarks.parity import PARITY_SCHEMA, PARITY_SCHEMA_ID
from benchmarks.schema import Schema
from benchmarks.schema import schema_problems as check_schema
from benchmarks.video import VIDEO_SCHEMA, VIDEO_SCHEMA_ID, plot_video, video_tables
from runtime.errors import ConfigError, MissingDependencyError
from runtime.files import atomic_path

__all__ = ["SCHEMAS", "schema_problems", "console", "markdown", "to_csv", "plot", "require_plotting", "write_outputs"]

#: schema id → its schema (:mod:`benchmarks.schema`), each defined beside the code that produces the report
SCHEMAS: dict[str, Schema] = {
    LATENCY_SCHEMA_ID: LATENCY_SCHEMA,
    PARITY_SCHEMA_ID: PARITY_SCHEMA,
    FLOOR_SCHEMA_ID: FLOOR_SCHEMA,
    VIDEO_SCHEMA_ID: VIDEO_SCHEMA,
}


def schema_problems(report: dict[str, Any]) -> list[str]:
    """What in ``report`` disagrees with its schema (empty when it conforms)."""
    return check_schema(report, SCHEMAS)


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "PASS" if value else "FAIL"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) >= 10**-digits or value == 0 else f"{value:.2g}"
    return str(value)


Table = tuple[str, list[str], list[list[str]]]  # (title, header, rows)


def _latency_tables(report: dict[str, Any]) -> list[Table]:
    rows = []
    for r in report["rows"]:
        if r["status"] != "ok":
            rows.append([r["backend"], r["precision"], _fmt(r["batch"]), f"skipped: {r['reason']}"])
            continue
        times = [_fmt(r[k]) for k in ("median_ms", "p90_ms", "p99_ms", "min_ms")]
        rows.append(
            [
                r["backend"],
                r["precision"],
                str(r["batch"]),
                *times,
                _fmt(r["images_per_s"], 1),
                _fmt(r["preprocess_ms_per_image"], 3),
                _fmt(r["decode_ms_per_image"], 3),
                _fmt(r["floor_ms"]),
                _fmt(r["x_floor"]),
                _fmt(r["speedup_vs_torch_fp32"]),
                _fmt(r.get("speedup_vs_onnxruntime_fp32")),
            ]
        )
    header = [
        "backend",
        "precision",
        "batch",
        "median ms",
        "p90 ms",
        "p99 ms",
        "min ms",
        "img/s",
        "pre ms/img",
        "decode ms/img",
        "floor ms",
        "x floor",
        "x torch fp32",
        "x onnxruntime fp32",
    ]
    pipe = []
    for r in report["pipeline"]:
        if r["status"] != "ok":
            pipe.append([r["backend"], r["precision"], str(r["people"]), f"skipped: {r['reason']}"])
            continue
        pipe.append(
            [
                r["backend"],
                r["precision"],
                str(r["people"]),
                _fmt(r["frame_ms"]),
                _fmt(r["per_person_ms"]),
                _fmt(r["preprocess_ms"], 3),
                _fmt(r["inference_ms"]),
                _fmt(r["decode_ms"], 3),
                f"{100 * r['pre_decode_share']:.1f} %",
            ]
        )
    pipe_header = [
        "backend",
        "precision",
        "people",
        "frame ms",
        "ms/person",
        "pre ms",
        "inference ms",
        "decode ms",
        "pre+decode",
    ]
    tables = [("Inference latency", header, rows), ("End to end, one frame", pipe_header, pipe)]
    if report.get("frame"):
        frame = []
        for r in report["frame"]:
            if r["status"] != "ok":
                frame.append([r["backend"], r["precision"], str(r["people"]), f"skipped: {r['reason']}"])
                continue
            frame.append(
                [
                    r["backend"],
                    r["precision"],
                    str(r["people"]),
                    _fmt(r["det_preprocess_ms"]),
                    _fmt(r["det_inference_ms"]),
                    _fmt(r["det_postprocess_ms"]),
                    _fmt(r["pose_ms"]),
                    _fmt(r["pose_ms_per_person"]),
                    _fmt(r["frame_ms"]),
                ]
            )
        frame_header = [
            "backend",
            "precision",
            "people",
            "det pre ms",
            "det inference ms",
            "det post ms",
            "pose ms",
            "pose ms/person",
            "frame ms",
        ]
        tables.append((f"From pixels, with the detector {report['frame'][0]['detector']}", frame_header, frame))
    return tables


def _parity_tables(report: dict[str, Any]) -> list[Table]:
    rows = []
    for r in report["rows"]:
        if r["status"] != "ok":
            rows.append([r["backend"], r["precision"], f"skipped: {r['reason']}"])
            continue
        s, crop = r["shift"], r["crop_shift"]
        limit = "-" if r["shift_limit_px"] is None else _fmt(r["shift_limit_px"], 3)
        rows.append(
            [
                r["backend"],
                r["precision"],
                _fmt(r["ap"]),
                _fmt(r["delta_ap"], 3),
                _fmt(r["agreement_ap"]),
                f"{_fmt(s['mean_px'], 3)} / {_fmt(s['max_px'])}",
                f"{_fmt(s['confident_mean_px'], 3)} / {_fmt(s['confident_max_px'])}",
                f"{_fmt(crop['confident_median_px'], 3)} / {limit}",
                _fmt(r["max_heatmap_error"], 4),
                f"<= {r['threshold']}",
                _fmt(r["passed"]),
            ]
        )
    ref = report["reference"]
    rows.insert(
        0, ["torch", "fp32", _fmt(ref["ap"]), "reference", _fmt(ref["self_agreement_ap"]), "-", "-", "-", "-", "-", "-"]
    )
    header = [
        "backend",
        "precision",
        "AP",
        "ΔAP",
        "agreement AP",
        "shift px mean / max",
        "confident shift mean / max",
        "crop shift median / limit",
        "max abs Δheatmap",
        "ΔAP limit",
        "verdict",
    ]
    return [(f"AP parity against PyTorch fp32: {report['verdict']}", header, rows)]


def _floor_tables(report: dict[str, Any]) -> list[Table]:
    c = report["ceilings"]
    rows = [[kind_, lib, _fmt(v, 1)] for kind_, found in c["sources"].items() for lib, v in found.items()]
    floors = [[p, _fmt(ms), _fmt(c["gflops"].get(p))] for p, ms in report["floors_ms"].items()]
    return [
        ("GEMM throughput (GFLOP/s; int8 GOP/s)", ["precision", "library and M×K×N", "GFLOP/s"], rows),
        (
            f"Floor of {report['model']['name']} at batch 1 ({report['model']['gmacs']:.2f} GMAC, "
            f"bandwidth {c['bandwidth_gbs']} GB/s)",
            ["precision", "floor ms", "ceiling"],
            floors,
        ),
    ]


def _machine_line(report: dict[str, Any]) -> str:
    m = report["machine"]
    gpu = m["gpu"]["name"] if m["gpu"] else "no GPU"
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
    return f"{m['cpu']}, {m['logical_cores']} logical cores ({' '.join(m['cpu_flags'])}), {gpu}; {versions}"


def console(report: dict[str, Any]) -> str:
    """Aligned plain-text tables, for the terminal."""
    out = [_machine_line(report)]
    for title, header, rows in _kind(report).tables(report):
        full = [header, *(r for r in rows if len(r) == len(header))]  # a skipped row's reason may run past
        width = [max(len(r[i]) for r in full) for i in range(len(header))]
        out += ["", title, "  ".join(h.ljust(w) for h, w in zip(header, width)).rstrip()]
        out += ["  ".join(v.ljust(w) for v, w in zip(row, width)).rstrip() for row in rows]
    return "\n".join(out)


def markdown(report: dict[str, Any]) -> list[str]:
    """The report as Markdown lines: the machine and versions, then one table per section."""
    lines = [f"Machine: {_machine_line(report)}."]
    for title, header, rows in _kind(report).tables(report):
        lines += ["", f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in rows:
            cells = row + [""] * (len(header) - len(row))
            lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return lines


def to_csv(report: dict[str, Any]) -> str:
    """Every row of every table, flattened, with a ``table`` column saying which."""
    kind = _kind(report)
    rows = kind.csv_rows(report) if kind.csv_rows else []
    for table in kind.csv_tables:
        for r in report.get(table, []):  # latency's frame table is there only with --detector
            flat = {"table": table}
            for key, value in r.items():
                if isinstance(value, dict):
                    flat.update({f"{key}.{k}": v for k, v in value.items()})
                else:
                    flat[key] = value
            rows.append(flat)
    fields = list(dict.fromkeys(k for r in rows for k in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fields)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def require_plotting() -> Any:
    """matplotlib's pyplot on the Agg backend, or :class:`MissingDependencyError` with the install command."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise MissingDependencyError("matplotlib", "bench", "benchmark plots") from e
    return plt


def plot(report: dict[str, Any], path: Path) -> None:
    """A PNG: latency per image against batch for each backend/precision with its floor (latency reports), ΔAP
    and agreement AP per runner (parity), or GEMM throughput per library (floor)."""
    plt = require_plotting()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    _kind(report).plot(report, axes)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _plot_latency(report: dict[str, Any], axes: Any) -> None:
    ok = [r for r in report["rows"] if r["status"] == "ok"]
    for key in dict.fromkeys((r["backend"], r["precision"]) for r in ok):
        rs = sorted((r for r in ok if (r["backend"], r["precision"]) == key), key=lambda r: r["batch"])
        axes[0].plot([r["batch"] for r in rs], [r["median_ms"] / r["batch"] for r in rs], "o-", label=" ".join(key))
    for precision, by_batch in report["floors_ms"].items():
        batches = sorted(int(b) for b in by_batch)
        axes[0].plot(batches, [by_batch[str(b)] / b for b in batches], "--", alpha=0.5, label=f"{precision} floor")
    batches = sorted({r["batch"] for r in ok})
    axes[0].set_xscale("log", base=2)
    axes[0].set_xticks(batches, [str(b) for b in batches])
    axes[0].set(xlabel="batch", ylabel="ms per image (median)", title=report["model"]["name"])
    axes[0].legend(fontsize=8)
    pipe = [r for r in report["pipeline"] if r["status"] == "ok"]
    labels = [f"{r['backend']}\n{r['precision']}" for r in pipe]
    bottom = [0.0] * len(pipe)
    for stage in ("preprocess_ms", "inference_ms", "decode_ms"):
        values = [r[stage] for r in pipe]
        axes[1].bar(labels, values, bottom=bottom, label=stage.replace("_ms", ""))
        bottom = [b + v for b, v in zip(bottom, values)]
    axes[1].set(ylabel="ms per frame", title=f"end to end, {report['settings']['people']} people")
    axes[1].legend(fontsize=8)


def _plot_parity(report: dict[str, Any], axes: Any) -> None:
    ok = [r for r in report["rows"] if r["status"] == "ok"]
    labels = [f"{r['backend']}\n{r['precision']}" for r in ok]
    axes[0].bar(labels, [r["delta_ap"] for r in ok], color=["tab:green" if r["passed"] else "tab:red" for r in ok])
    axes[0].scatter(labels, [r["threshold"] for r in ok], marker="_", s=400, color="k", label="limit")
    axes[0].set(ylabel="ΔAP vs PyTorch fp32 (AP points)", title=f"parity: {report['verdict']}")
    axes[0].legend(fontsize=8)
    agreement = [r["agreement_ap"] for r in ok]
    axes[1].bar(labels, agreement)
    axes[1].set(ylabel="agreement AP (OKS vs PyTorch's keypoints)", ylim=(min([90.0, *agreement]), 100.5))


def _plot_floor(report: dict[str, Any], axes: Any) -> None:
    for ax, kind_ in zip(axes, ("fp32", "int8")):
        found = report["ceilings"]["sources"].get(kind_, {})
        ax.barh(list(found), list(found.values()))
        ax.set(xlabel="GFLOP/s" if kind_ == "fp32" else "GOP/s", title=f"{kind_} GEMM")


def _floor_csv(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"table": "ceilings", "precision": p, "source": s, "gflops": v}
        for p, found in report["ceilings"]["sources"].items()
        for s, v in found.items()
    ]


@dataclass(frozen=True)
class ReportKind:
    """How one kind of report (its schema id's middle part) is shown: its tables, its plot, and the row lists that
    its CSV flattens (or a function making the CSV rows)."""

    tables: Callable[[dict[str, Any]], list[Table]]
    plot: Callable[[dict[str, Any], Any], None]
    csv_tables: tuple[str, ...] = ()
    csv_rows: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None


REPORT_KINDS = {
    "latency": ReportKind(_latency_tables, _plot_latency, csv_tables=("rows", "pipeline", "frame")),
    "parity": ReportKind(_parity_tables, _plot_parity, csv_tables=("rows",)),
    "floor": ReportKind(_floor_tables, _plot_floor, csv_rows=_floor_csv),
    "video": ReportKind(video_tables, plot_video, csv_tables=("rows",)),
}


def _kind(report: dict[str, Any]) -> ReportKind:
    kind = report["schema"].split("/")[1]
    if kind not in REPORT_KINDS:
        raise ConfigError(f"report kind {kind!r} is not one of {sorted(REPORT_KINDS)}")
    return REPORT_KINDS[kind]


def write_outputs(
    report: dict[str, Any],
    json_path: Path | None = None,
    csv_path: Path | None = None,
    md_path: Path | None = None,
    png_path: Path | None = None,
) -> list[Path]:
    """Write the asked-for files (each atomically); returns the paths written."""
    written = []
    for path, text in (
        (json_path, lambda: json.dumps(report, indent=2) + "\n"),
        (csv_path, lambda: to_csv(report)),
        (md_path, lambda: "\n".join(markdown(report)) + "\n"),
    ):
        if path is not None:
            with atomic_path(path) as tmp:
                tmp.write_text(text())
            written.append(path)
    if png_path is not None:
        plot(report, png_path)
        written.append(png_path)
    return written
