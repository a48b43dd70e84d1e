"""``swinpose-serve --package pk``: a local Triton Inference Server on the package's model repository.

    swinpose-serve --package pk                          # repository pk.triton/ beside the package, 127.0.0.1:8000
    swinpose-serve --package pk --repository repo --host 0.0.0.0 --http-port 8000 --grpc-port 8001
    swinpose-serve --package pk --detector det           # also the person detector: requests may leave out boxes

Writes the repository (``runtime.triton.repository``) unless ``--repository`` names one that exists and neither
``--rewrite`` nor ``--detector`` is given (``--detector`` writes it again, with the detector package in it), starts
``tritonserver`` (the system's, else the ``nvidia-pytriton`` wheel's), waits for READY, prints how to call it, and
stops cleanly on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from runtime.exitcodes import nonnegative_int, positive_int, run_guarded

PROG = "swinpose-serve"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--package", type=Path, required=True, help="model package folder from swinpose-export")
    p.add_argument("--repository", type=Path, help="model repository folder (default: <package>.triton beside it)")
    p.add_argument("--rewrite", action="store_true", help="write the repository again even if it exists")
    p.add_argument(
        "--detector",
        type=Path,
        help="a detector package (swinpose-export --detector FILE --out DET) to serve too, so that "
        "requests without boxes get the people it finds (writes the repository again)",
    )
    p.add_argument(
        "--network",
        default="auto",
        choices=("auto", "tensorrt", "onnxruntime", "python"),
        help="the network model: auto = tensorrt_plan with an engine, else ONNX Runtime in the Python "
        "backend (runs on any tritonserver)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--http-port", type=positive_int, default=8000)
    p.add_argument("--grpc-port", type=positive_int, default=8001)
    p.add_argument("--metrics-port", type=positive_int, default=8002)
    p.add_argument("--instances", type=positive_int, default=4, help="pipeline model instances (default 4)")
    p.add_argument(
        "--max-queue-delay-us", type=nonnegative_int, default=2000, help="dynamic batcher delay (default 2000)"
    )
    p.add_argument(
        "--threads", type=nonnegative_int, default=0, help="ONNX Runtime threads of the Python network model"
    )
    return p


def _run(args: argparse.Namespace) -> int:
    from runtime.triton.config import DET, ServingOptions
    from runtime.triton.repository import write_repository
    from runtime.triton.server import TritonServer

    package = args.package.resolve()
    repository = args.repository or package.with_name(f"{package.name}.triton")
    if args.rewrite or args.detector is not None or not (repository / "swinpose" / "config.pbtxt").is_file():
        options = ServingOptions(
            network=args.network,
            pipeline_instances=args.instances,
            max_queue_delay_us=args.max_queue_delay_us,
            threads=args.threads,
        )
        write_repository(args.package, repository, options, detector=args.detector)
        print(f"{PROG}: wrote the model repository {repository}/")
    server = TritonServer(repository, args.host, args.http_port, args.grpc_port, args.metrics_port)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    try:
        host = "127.0.0.1" if args.host == "0.0.0.0" else args.host
        print(
            f"{PROG}: READY. HTTP {host}:{args.http_port}, gRPC {host}:{args.grpc_port}, metrics "
            f"http://{host}:{args.metrics_port}/metrics (log: {server.log_path})"
        )
        print(
            f"  from runtime.triton.client import TritonPoseClient\n"
            f"  TritonPoseClient('{host}:{args.http_port}')('photo.jpg', [[x1, y1, x2, y2]]).keypoints"
        )
        if (repository / DET / "config.pbtxt").is_file():
            print(f"  TritonPoseClient('{host}:{args.http_port}')('photo.jpg').boxes   # no boxes: the detector's")
        print(f"{PROG}: Ctrl-C or SIGTERM stops it", flush=True)
        while not stop.wait(0.5):
            if server.process.poll() is not None:
                print(
                    f"{PROG}: error: tritonserver exited ({server.process.returncode}); its log ends:\n"
                    f"{server.log_tail()}",
                    file=sys.stderr,
                )
                return 1
    finally:
        server.stop()
    print(f"{PROG}: stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_guarded(PROG, _run, build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
