"""``config.pbtxt`` of the repository's models, written from a package's ``model.json`` (and a detector package's
``detector.json`` with its graph's tensors, :class:`DetectorIO`), and read back through ``tritonclient``'s
``model_config_pb2`` (the protobuf Triton itself parses) when it is installed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from runtime.backends.base import TensorSpec
from runtime.detection import DEFAULT_IOU_THR, DEFAULT_SCORE_THR, DEFAULT_TOP_K
from runtime.errors import ConfigError, MissingDependencyError
from runtime.package import PackageSpec

__all__ = [
    "ServingOptions",
    "DetectorIO",
    "network_config",
    "detector_config",
    "pipeline_config",
    "parse_config",
    "NETWORKS",
    "NET",
    "PIPELINE",
    "DET",
    "DETECTOR_IO_JSON",
]

#: the network model's flavours: Triton's TensorRT and ONNX Runtime backends, or ONNX Runtime in the Python backend
NETWORKS = ("tensorrt", "onnxruntime", "python")
NET, PIPELINE, DET = "swinpose_net", "swinpose", "swinpose_det"
#: the detector graph's tensors, beside the pipeline's model.py (the pipeline's detector backend declares them)
DETECTOR_IO_JSON = "detector_io.json"
_DTYPES = {
    "float32": "TYPE_FP32",
    "float16": "TYPE_FP16",
    "uint8": "TYPE_UINT8",
    "int32": "TYPE_INT32",
    "int64": "TYPE_INT64",
}
_REWRITE = "write the repository again (swinpose-serve --rewrite, or swinpose-export --triton DIR)"


@dataclass(frozen=True)
class ServingOptions:
    """How the repository serves: the network flavour (``auto``: tensorrt with an engine, else python, which runs
    everywhere; onnxruntime needs Triton's onnxruntime backend), instances, the dynamic batcher's delay and
    preferred sizes (empty: the package's opt and max batch), GPU or CPU instances, the largest encoded image a
    request may send, and the intra-op threads of the Python network's and detector's ONNX Runtime (0: its
    default). With a detector in the repository: its instances and ``max_batch_size`` (images per execution), and
    the decoding of :class:`runtime.detection.Detector` (score threshold, NMS IoU, the ``top_k`` best)."""

    network: str = "auto"
    kind: str = "auto"  #: "auto" (GPU for tensorrt, else CPU), "gpu" or "cpu"
    network_instances: int = 1
    pipeline_instances: int = 4
    max_queue_delay_us: int = 2000
    preferred_batch_sizes: tuple[int, ...] = ()
    max_image_bytes: int = 20_000_000
    max_image_pixels: int = 40_000_000
    threads: int = 0
    detector_instances: int = 1
    detector_max_batch: int = 8
    det_score_thr: float = DEFAULT_SCORE_THR
    det_iou_thr: float = DEFAULT_IOU_THR
    det_top_k: int = DEFAULT_TOP_K

    def resolve(self, spec: PackageSpec) -> ServingOptions:
        network = self.network
        if network == "auto":
            network = "tensorrt" if spec.engine_path is not None else "python"
        if network not in NETWORKS:
            raise ConfigError(f"network must be auto or one of {NETWORKS}, got {network!r}")
        if network == "tensorrt" and spec.engine_path is None:
            raise ConfigError(
                f"{spec.folder} has no TensorRT engine for a tensorrt_plan model; export one with "
                "swinpose-export --engine, or serve the ONNX graph (--network python or "
                "onnxruntime)"
            )
        kind = self.kind if self.kind != "auto" else ("gpu" if network == "tensorrt" else "cpu")
        if kind not in ("gpu", "cpu"):
            raise ConfigError(f"kind must be auto, gpu or cpu, got {self.kind!r}")
        for name in (
            "network_instances",
            "pipeline_instances",
            "max_image_bytes",
            "max_image_pixels",
            "detector_instances",
            "detector_max_batch",
            "det_top_k",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_queue_delay_us < 0 or self.threads < 0:
            raise ConfigError("max_queue_delay_us and threads must be >= 0")
        for name in ("det_score_thr", "det_iou_thr"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        b = spec.batch
        preferred = self.preferred_batch_sizes or tuple(sorted({b.opt, b.max}))
        if any(not 1 <= p <= b.max for p in preferred):
            raise ConfigError(f"preferred batch sizes {list(preferred)} must lie in 1..{b.max} (the package's batch)")
        return dataclasses.replace(self, network=network, kind=kind, preferred_batch_sizes=preferred)


@dataclass(frozen=True)
class DetectorIO:
    """The detector graph's tensors as it declares them, batch first (-1: dynamic): ``inputs`` its one B×3×H×W
    image, ``outputs`` its layout's (:mod:`runtime.detection.layouts`). The batch must be 1 or dynamic; the
    detector model's config holds the rest of each shape, and the pipeline's detector backend declares these
    (``detector_io.json``)."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        if len(self.inputs) != 1 or not self.outputs:
            raise ConfigError(
                f"a detector model takes one image input and gives outputs; this one has inputs "
                f"{[t.name for t in self.inputs]} and outputs {[t.name for t in self.outputs]}"
            )
        for t in (*self.inputs, *self.outputs):
            if t.dtype not in _DTYPES:
                raise ConfigError(
                    f"the detector's tensor {t.name} is {t.dtype}; Triton configs here take {sorted(_DTYPES)}"
                )
            if len(t.shape) < 2 or t.shape[0] not in (1, -1):
                raise ConfigError(
                    f"the detector's tensor {t.name} has shape {list(t.shape)}: a served detector needs a batch "
                    "axis first, fixed at 1 or dynamic, and one more axis at least; export the detector with "
                    "batch 1 (or a dynamic batch)"
                )

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": [t.to_dict() for t in self.inputs], "outputs": [t.to_dict() for t in self.outputs]}

    @classmethod
    def from_dict(cls, data: Any) -> DetectorIO:
        try:
            return cls(
                *(
                    tuple(TensorSpec(t["name"], tuple(int(d) for d in t["shape"]), t["dtype"]) for t in data[key])
                    for key in ("inputs", "outputs")
                )
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"{DETECTOR_IO_JSON} is not a detector's tensors ({e!r}); {_REWRITE}") from e


def _dims(shape: tuple[int, ...]) -> str:
    return "[ " + ", ".join(str(d) for d in shape) + " ]"


def _tensor(name: str, dtype: str, dims: tuple[int, ...], optional: bool = False) -> str:
    opt = " optional: true" if optional else ""
    return f'  {{ name: "{name}" data_type: {dtype} dims: {_dims(dims)}{opt} }}'


def _parameters(values: dict[str, Any]) -> str:
    return "\n".join(f'parameters {{ key: "{k}" value: {{ string_value: "{v}" }} }}' for k, v in values.items())


def network_config(spec: PackageSpec, o: ServingOptions) -> str:
    """The network model: the package's input and output without the batch dimension, its batch maximum as
    ``max_batch_size``, the dynamic batcher, and the instances. ``o`` is resolved (:meth:`ServingOptions.resolve`)."""
    for t in (spec.input, spec.output):
        if t.dtype not in _DTYPES:
            raise ConfigError(f"{spec.folder}: tensor {t.name} is {t.dtype}; the configs take {sorted(_DTYPES)}")
    head = {
        "tensorrt": 'platform: "tensorrt_plan"\ndefault_model_filename: "model.plan"',
        "onnxruntime": 'platform: "onnxruntime_onnx"\ndefault_model_filename: "model.onnx"',
        "python": 'backend: "python"',
    }[o.network]
    lines = [
        f'name: "{NET}"',
        head,
        f"max_batch_size: {spec.batch.max}",
        "input [\n" + _tensor(spec.input.name, _DTYPES[spec.input.dtype], spec.input.shape[1:]) + "\n]",
        "output [\n" + _tensor(spec.output.name, _DTYPES[spec.output.dtype], spec.output.shape[1:]) + "\n]",
        f"dynamic_batching {{ preferred_batch_size: {_dims(o.preferred_batch_sizes)} "
        f"max_queue_delay_microseconds: {o.max_queue_delay_us} }}",
        f"instance_group [ {{ count: {o.network_instances} kind: KIND_{o.kind.upper()} }} ]",
    ]
    if o.network == "python":
        lines.append(_parameters({"threads": o.threads}))
    return "\n".join(lines) + "\n"


def detector_config(io: DetectorIO, o: ServingOptions) -> str:
    """The detector model (Python backend, :mod:`runtime.triton.network_model` on the detector's ONNX): its graph's
    input and outputs without the batch axis, ``max_batch_size`` images per execution, the dynamic batcher (no
    preferred sizes: it takes what is queued, up to the maximum, within the delay), and CPU instances."""
    lines = [
        f'name: "{DET}"',
        'backend: "python"',
        f"max_batch_size: {o.detector_max_batch}",
        "input [\n" + ",\n".join(_tensor(t.name, _DTYPES[t.dtype], t.shape[1:]) for t in io.inputs) + "\n]",
        "output [\n" + ",\n".join(_tensor(t.name, _DTYPES[t.dtype], t.shape[1:]) for t in io.outputs) + "\n]",
        f"dynamic_batching {{ max_queue_delay_microseconds: {o.max_queue_delay_us} }}",
        f"instance_group [ {{ count: {o.detector_instances} kind: KIND_CPU }} ]",
        _parameters({"threads": o.threads}),
    ]
    return "\n".join(lines) + "\n"


def pipeline_config(spec: PackageSpec, o: ServingOptions, detector: bool = False) -> str:
    """The pipeline model: an encoded image (``IMAGE_BYTES``, uint8 bytes) or a decoded BGR one (``IMAGE``, H×W×3
    uint8), optional ``BOXES`` N×4 xyxy (or N×5 with scores; without them the ``detector`` model finds the people,
    where the repository has one) and an optional ``FLIP_TEST``; ``KEYPOINTS`` N×K×2 image pixels, ``SCORES`` N×K
    and ``BOXES_OUT`` N×5 (the boxes used, x1 y1 x2 y2 score, image pixels) out. Not batched itself: each request
    is one image, and its detector input and crops batch in the detector and network models."""
    k = spec.num_keypoints
    inputs = [
        _tensor("IMAGE_BYTES", "TYPE_UINT8", (-1,), True),
        _tensor("IMAGE", "TYPE_UINT8", (-1, -1, 3), True),
        _tensor("BOXES", "TYPE_FP32", (-1, -1), True),
        _tensor("FLIP_TEST", "TYPE_BOOL", (1,), True),
    ]
    outputs = [
        _tensor("KEYPOINTS", "TYPE_FP32", (-1, k, 2)),
        _tensor("SCORES", "TYPE_FP32", (-1, k)),
        _tensor("BOXES_OUT", "TYPE_FP32", (-1, 5)),
    ]
    params: dict[str, Any] = {
        "network": NET,
        "detector": DET if detector else "",
        "max_image_bytes": o.max_image_bytes,
        "max_image_pixels": o.max_image_pixels,
    }
    if detector:
        params.update(det_score_thr=o.det_score_thr, det_iou_thr=o.det_iou_thr, det_top_k=o.det_top_k)
    return (
        "\n".join(
            [
                f'name: "{PIPELINE}"',
                'backend: "python"',
                "max_batch_size: 0",
                "input [\n" + ",\n".join(inputs) + "\n]",
                "output [\n" + ",\n".join(outputs) + "\n]",
                f"instance_group [ {{ count: {o.pipeline_instances} kind: KIND_CPU }} ]",
                _parameters(params),
            ]
        )
        + "\n"
    )


def parse_config(text: str) -> Any:
    """A ``config.pbtxt`` parsed into ``tritonclient``'s ``ModelConfig`` protobuf; ConfigError naming the problem
    when Triton would not parse it."""
    try:
        from google.protobuf import text_format
        from tritonclient.grpc import model_config_pb2
    except ImportError as e:
        raise MissingDependencyError("tritonclient[grpc]", "serve", "checking Triton model configs") from e
    try:
        return text_format.Parse(text, model_config_pb2.ModelConfig())
    except text_format.ParseError as e:
        raise ConfigError(f"the model config does not parse as Triton's ModelConfig: {e}") from e
