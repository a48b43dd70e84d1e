"""``swinpose-bench``: latency, throughput and AP-parity reports."""

from __future__ import annotations

from runtime._cli import planned_tool


def main(argv: list[str] | None = None) -> int:
    return planned_tool("swinpose-bench", "measure latency and AP parity of model packages", argv)
