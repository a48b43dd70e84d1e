"""What benchmark reports are made of: the types their schemas use, and the check of a report against its schema.

A schema is ``(top-level entries, {row table: {status: row entries}})``; an entry maps a key to a type, a tuple of
types or a nested entry dict. Each report's schema lives beside the code that produces its rows
(:data:`benchmarks.latency.LATENCY_SCHEMA`, :data:`benchmarks.parity.PARITY_SCHEMA`,
:data:`benchmarks.floor.FLOOR_SCHEMA`); :data:`benchmarks.report.SCHEMAS` collects them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NUM", "OPT_NUM", "MACHINE", "CEILINGS", "MODEL", "SKIPPED", "HEADER", "Schema", "schema_problems"]

#: (top-level entries, {row table: {status: row entries}})
Schema = tuple[dict[str, Any], dict[str, dict[str, dict[str, Any]]]]

NUM = (int, float)
OPT_NUM = (int, float, type(None))
MACHINE = {
    "cpu": str,
    "logical_cores": int,
    "cpu_flags": list,
    "memory_gb": OPT_NUM,
    "os": str,
    "python": str,
    "gpu": (dict, type(None)),
}
CEILINGS = {"device": str, "gflops": {"fp32": NUM, "int8": NUM}, "bandwidth_gbs": NUM, "sources": dict}
MODEL = {"name": str, "gflops": NUM, "gmacs": NUM, "params": int, "weight_mb": dict}
SKIPPED = {"backend": str, "precision": str, "status": str, "reason": str}
#: what every report opens with: its schema id, when and where it was made, and the libraries' versions
HEADER = {"schema": str, "created": str, "machine": MACHINE, "versions": dict}


def _check(obj: Any, schema: Any, where: str, problems: list[str]) -> None:
    if isinstance(schema, dict):
        if not isinstance(obj, dict):
            problems.append(f"{where or 'report'} is not an object")
            return
        for key, sub in schema.items():
            if key not in obj:
                problems.append(f"{where}{key} is missing")
            else:
                _check(obj[key], sub, f"{where}{key}.", problems)
    elif not isinstance(obj, schema) or (schema is int and isinstance(obj, bool)):
        problems.append(f"{where.rstrip('.')} is {type(obj).__name__}")


def schema_problems(report: dict[str, Any], schemas: dict[str, Schema]) -> list[str]:
    """What in ``report`` disagrees with its schema, the one of ``schemas`` its ``schema`` entry names (empty
    when it conforms)."""
    if report.get("schema") not in schemas:
        return [f"unknown schema {report.get('schema')!r}; known: {sorted(schemas)}"]
    top, tables = schemas[report["schema"]]
    problems: list[str] = []
    _check(report, top, "", problems)
    for table, by_status in tables.items():
        for i, row in enumerate(report.get(table, [])):
            status = row.get("status")
            if status not in by_status:
                problems.append(f"{table}[{i}].status is {status!r}, not one of {sorted(by_status)}")
            else:
                _check(row, by_status[status], f"{table}[{i}].", problems)
    return problems
