"""swinpose export: checkpoint → ONNX (fp32/fp16/int8) → TensorRT engine, written as a model package.

``swinpose-export`` is the command line; :func:`export_package` the same from Python. See ``export/README.md``.
"""

from export.package import ExportOptions, ExportResult, export_package

__all__ = ["ExportOptions", "ExportResult", "export_package"]
