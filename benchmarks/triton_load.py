"""Throughput and latency through Triton (``swinpose-serve``'s repository on a local ``tritonserver``) against
PoseEngine in-process, at several concurrencies: a bounded client loop (PyPI's ``perf-analyzer`` 0.1.0 holds no binary).

    python -m benchmarks.triton_load --package pk/bundled/fp32 --people 4 --requests 40 --out results/triton.md

Each of C client threads (its own tritonclient object, as tritonclient asks) sends ``--requests`` frames of
``--people`` boxes, encoded JPEG, one after the other; in-process, C threads share one PoseEngine. Reported: frames/s
over the wall time, and p50/p99 of the per-request latency.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from benchmarks.latency import bench_frame
from benchmarks.machine import describe_machine
from runtime import PoseEngine
from runtime.exitcodes import nonnegative_int, positive_int
from runtime.triton.client import TritonPoseClient
from runtime.triton.config import NET, ServingOptions
from runtime.triton.repository import write_repository
from runtime.triton.server import TritonServer, free_port


def _run(make_call, concurrency: int, requests: int) -> tuple[float, np.ndarray]:
    """(frames/s, per-request latencies in ms) of ``concurrency`` threads, each ``requests`` calls of its own."""
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)

    def work() -> None:
        call = make_call()
        call()  # warm-up, untimed
        start.wait()
        mine = []
        for _ in range(requests):
            t = time.perf_counter()
            call()
            mine.append(1e3 * (time.perf_counter() - t))
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(concurrency)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return concurrency * requests / wall, np.array(latencies)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.triton_load", description=__doc__.split("\n\n")[0])
    p.add_argument("--package", type=Path, required=True)
    p.add_argument("--people", type=positive_int, default=4)
    p.add_argument("--requests", type=positive_int, default=40, help="requests per client thread")
    p.add_argument("--concurrency", default="1,4,16")
    p.add_argument(
        "--threads", type=nonnegative_int, default=2, help="ONNX Runtime threads, in-process and in the server"
    )
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    image, boxes = bench_frame(args.people)
    encoded = cv2.imencode(".jpg", image)[1].tobytes()
    rows = []
    with PoseEngine(args.package, threads=args.threads) as engine:
        for c in levels:
            fps, lat = _run(
                lambda: lambda: engine(cv2.imdecode(np.frombuffer(encoded, np.uint8), 1), boxes), c, args.requests
            )
            rows.append(("PoseEngine in-process", c, fps, *np.percentile(lat, [50, 99]), "-"))
    repo = write_repository(args.package, Path(tempfile.mkdtemp()) / "repo", ServingOptions(threads=args.threads))
    with TritonServer(repo, "127.0.0.1", free_port(), free_port(), free_port()) as server:
        for c in levels:
            stats0 = TritonPoseClient(server.http_url).statistics(NET)

            def make_call() -> Callable[[], object]:
                client = TritonPoseClient(server.grpc_url, "grpc")
                return lambda: client(encoded, boxes)

            fps, lat = _run(make_call, c, args.requests)
            stats1 = TritonPoseClient(server.http_url).statistics(NET)
            success = [int(s["inference_stats"]["success"]["count"]) for s in (stats0, stats1)]
            runs = int(stats1["execution_count"]) - int(stats0["execution_count"])
            per_run = f"{(success[1] - success[0]) / max(runs, 1):.2f}"
            rows.append(("Triton (gRPC, encoded JPEG)", c, fps, *np.percentile(lat, [50, 99]), per_run))
    m = describe_machine()
    machine = f"{m['cpu']}, {m['logical_cores']} logical cores ({' '.join(m['cpu_flags'])})"
    setup = f"{args.people} people a frame, {args.requests} requests per client, ONNX Runtime {args.threads} threads"
    table = [
        f"{machine}; {setup}",
        "",
        "| path | concurrency | frames/s | p50 ms | p99 ms | network requests per execution |",
        "|---|---|---|---|---|---|",
    ]
    table += [f"| {r[0]} | {r[1]} | {r[2]:.1f} | {r[3]:.1f} | {r[4]:.1f} | {r[5]} |" for r in rows]
    text = "\n".join(table) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
