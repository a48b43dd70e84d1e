"""Person detectors in every layout of runtime.detection, against references that are not our code.

* Ultralytics' layouts (``ultralytics``, ``ultralytics-e2e`` from ``nms=True`` and from YOLOv10's end-to-end head):
  files written by Ultralytics' own exporter, decoded by its own LetterBox, NMS and scale_boxes
  (tests/ultralytics_ref.py), on the COCO sample photos.
* The layouts whose exporters do not install here (YOLOv5, YOLOX, MMDeploy end2end, TensorRT EfficientNMS): graphs
  built in the family's documented layout that output known boxes, placed through the letterbox on odd image sizes,
  so a decoder or letterbox error moves them.
* The letterbox, the NMS and the layout guess by hand-computed goldens; bad files and images by their errors.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from detector_graphs import constant_detector, cxcywh
from onnx import TensorProto, helper
from ultralytics_ref import export_yolo, letterbox, reference_boxes

from runtime.backends.base import TensorSpec
from runtime.detection import LAYOUTS, PRESETS, Detector, guess_layout, nms
from runtime.detection.layouts import STRIDES, grid_cells
from runtime.detection.nms import box_iou
from runtime.errors import BackendError, ConfigError, InputError, InputShapeError

PHOTOS = Path(__file__).parent / "data" / "coco-val2017-sample"
ROOT = Path(__file__).resolve().parents[1]


# --- the letterbox ----------------------------------------------------------------------------------------------


def test_letterbox_geometry_by_hand():
    """Ultralytics: 333×517 into 320×320 → r = 320/517, 320×206, 57 px top and bottom; 241×517 → 149 rows, the odd
    171 px of padding split 85 top / 86 bottom (round(85.5 - 0.1), round(85.5 + 0.1)). YOLOX: int(), top-left."""
    g, size = PRESETS["ultralytics"].geometry((333, 517), (320, 320))
    assert size == (320, 206) and g.matrix.tolist() == [[320 / 517, 0, 0], [0, 206 / 333, 57]]
    g, size = PRESETS["ultralytics"].geometry((241, 517), (320, 320))
    assert size == (320, 149) and g.matrix[1, 2] == 85  # 320 - 149 = 171 = 85 + 86
    g, size = PRESETS["yolox"].geometry((333, 517), (416, 416))
    assert size == (416, 267) and g.matrix.tolist() == [[416 / 517, 0, 0], [0, 267 / 333, 0]]  # int(267.94)


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("image_size", [(333, 517), (517, 333), (241, 640), (320, 320), (17, 1001)])
def test_letterbox_round_trip_is_exact_on_odd_sizes(preset, image_size):
    """A box drawn in the image, mapped into the network input and back, returns to within float64 rounding."""
    boxes = np.array([[0, 0, image_size[1], image_size[0]], [3.25, 1.5, 10.75, 16.0]])
    g, _ = PRESETS[preset].geometry(image_size, (320, 256))
    assert np.abs(g.to_image(g.to_network(boxes)) - boxes).max() <= 1e-9


@pytest.mark.parametrize("shape", [(427, 640), (480, 333), (375, 500), (1, 1000)])
def test_the_ultralytics_letterbox_is_ultralytics_own(shape):
    """Our padded input is Ultralytics' LetterBox output, pixel for pixel, on odd sizes of a real photo."""
    photo = cv2.imread(str(next(PHOTOS.glob("*.jpg"))))
    image = cv2.resize(photo, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    ours, _ = PRESETS["ultralytics"](image, (320, 320))
    theirs = letterbox(image, 320)
    assert np.array_equal(np.rint(ours[0].transpose(1, 2, 0)[..., ::-1] * 255).astype(np.uint8), theirs)


def test_letterbox_refuses_what_is_not_a_colour_image():
    with pytest.raises(InputShapeError, match="h×w×3 BGR image, got shape \\(20, 30\\).*cv2.cvtColor"):
        PRESETS["yolox"](np.zeros((20, 30), np.uint8), (64, 64))
    with pytest.raises(InputShapeError, match="got shape \\(20, 30, 4\\)"):
        PRESETS["yolox"](np.zeros((20, 30, 4), np.uint8), (64, 64))


# --- NMS ---------------------------------------------------------------------------------------------------------


def test_nms_by_hand():
    """Box 1 overlaps box 0 with IoU 81/119 ≈ 0.68 and goes; box 2 (IoU 0 with both) stays; at a threshold of 0.7
    box 1 stays. Another class never suppresses."""
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30.0]])
    scores = np.array([0.9, 0.8, 0.7])
    assert box_iou(boxes[0], boxes[1:]).tolist() == [81 / 100, 0.0]
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]
    assert nms(boxes, scores, 0.85).tolist() == [0, 1, 2]
    assert nms(boxes, scores, 0.5, classes=np.array([0, 1, 0])).tolist() == [0, 1, 2]
    assert nms(boxes, scores[::-1].copy(), 0.5).tolist() == [2, 1]  # box 1 now outscores box 0
    assert nms(boxes, scores, 0.5, max_keep=1).tolist() == [0]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


# --- Ultralytics' own files and post-processing ------------------------------------------------------------------


def _clear_iou_threshold(boxes: np.ndarray, margin: float = 1e-4) -> float:
    """An IoU threshold no pair of ``boxes`` comes within ``margin`` of, so that Ultralytics' float32 NMS and ours in
    float64 decide every pair alike (their IoUs differ by ~1e-6)."""
    ious = np.concatenate([box_iou(b, boxes) for b in boxes]) if len(boxes) else np.zeros(0)
    for thr in np.arange(0.40, 0.70, 0.0125):
        if not len(ious) or np.abs(ious - thr).min() > margin:
            return float(thr)
    raise AssertionError("no IoU threshold clear of every pair")


@pytest.fixture(scope="module")
def ultralytics_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ultralytics")
    return {
        "ultralytics": export_yolo("yolov8n.yaml", folder / "v8"),
        "ultralytics-e2e": export_yolo("yolov8n.yaml", folder / "v8nms", nms=True),
        "yolov10-e2e": export_yolo("yolov10n.yaml", folder / "v10", end2end=True),
    }


@pytest.mark.parametrize("name", ["ultralytics", "ultralytics-e2e", "yolov10-e2e"])
def test_ultralytics_files_decode_as_ultralytics_does(ultralytics_files, name):
    """The layout is recognised from the file; on each COCO sample photo (and a mirrored, cropped odd-sized one) the
    person boxes and scores are Ultralytics' own, to float32 rounding. The score threshold keeps about 40 boxes an
    image (a random model scores hundreds alike), and the IoU threshold is one no pair of them comes near."""
    path = ultralytics_files[name]
    end2end = name != "ultralytics"
    images = [cv2.imread(str(p)) for p in sorted(PHOTOS.glob("*.jpg"))]
    images.append(np.ascontiguousarray(images[0][7:340, 3:520][:, ::-1]))
    found = 0
    with Detector(path, score_thr=0.0) as probe:
        assert probe.layout.name == ("ultralytics" if name == "ultralytics" else "ultralytics-e2e")
        assert probe.input_size == (320, 320) and probe.person_class == 0 and probe.class_names[0] == "person"
        for image in images:
            inputs, _ = probe.preprocess(image)
            every = probe.candidates(probe.backend.infer({probe.input_name: inputs}))
            ranked = np.sort(every.scores)[::-1]
            cut = min(40, len(ranked) - 2)
            conf = float(ranked[cut] + ranked[cut + 1]) / 2  # between two scores, never on one
            iou = _clear_iou_threshold(every.boxes[every.scores > conf])
            with Detector(path, score_thr=conf, iou_thr=iou, top_k=100) as detector:
                ours = detector(image)
            boxes, scores = reference_boxes(path, image, 320, conf, iou, 100, end2end)
            assert len(ours) == len(boxes)
            assert np.abs(ours.scores - scores).max(initial=0) <= 1e-6
            assert np.abs(ours.boxes - boxes).max(initial=0) <= 1e-3
            found += len(ours)
    assert found > 20


def test_a_dynamic_ultralytics_file_takes_its_size_from_the_metadata(tmp_path):
    path = export_yolo("yolov8n.yaml", tmp_path, imgsz=256, dynamic=True)
    with Detector(path) as detector:
        assert detector.backend.inputs[0].shape[2:] == (-1, -1) and detector.input_size == (256, 256)
        assert detector.layout.name == "ultralytics"


# --- families whose exporters do not install here: their documented layouts, built by hand ------------------------


#: people drawn in a 333×517 image (x1, y1, x2, y2), their scores; and one box of another class that must go
PEOPLE = np.array([[30.0, 40.0, 130.0, 300.0], [260.5, 12.25, 340.0, 200.0], [400.0, 100.0, 510.0, 330.0]])
PEOPLE_SCORES = np.array([0.9, 0.8, 0.6])
IMAGE_SIZE = (333, 517)


def _in_network(preset: str, size: tuple[int, int]) -> np.ndarray:
    g, _ = PRESETS[preset].geometry(IMAGE_SIZE, size)
    return g.to_network(PEOPLE)


def _check(path: Path, layout: str | None, expect_layout: str, tol: float = 2e-4, **options) -> None:
    image = np.full((*IMAGE_SIZE, 3), 90, np.uint8)
    with Detector(path, layout=layout, **options) as detector:
        assert detector.layout.name == expect_layout
        found = detector(image)
    assert len(found) == len(PEOPLE), found
    assert np.abs(found.scores - PEOPLE_SCORES).max() <= 1e-6
    assert np.abs(found.boxes - PEOPLE).max() <= tol


def test_yolov5_layout(tmp_path):
    """[1, 3·cells, 5+nc]: decoded cx cy w h in network pixels, objectness, class scores (after YOLOv5's Detect
    sigmoid). Each person appears twice (a lower-scoring near copy that NMS removes), a car scores higher than any
    person, a person row below the threshold; score = objectness × class."""
    size, nc = (320, 256), 3
    rows = np.zeros((3 * grid_cells(size), 5 + nc), np.float32)
    boxes = cxcywh(_in_network("ultralytics", size))
    for i, (b, s) in enumerate(zip(boxes, PEOPLE_SCORES)):
        rows[i, :4], rows[i, 4], rows[i, 5] = b, 1.0, s
        rows[100 + i, :4], rows[100 + i, 4], rows[100 + i, 5] = b + [1, 0, 0, 0], 0.5, s  # 0.5·s: NMS removes it
    rows[200, :4], rows[200, 4], rows[200, 6] = [50, 50, 40, 40], 1.0, 0.99  # a car
    rows[201, :4], rows[201, 4], rows[201, 5] = [80, 80, 40, 40], 0.5, 0.4  # 0.2: under the threshold
    constant_detector({"output0": rows[None]}, size, path=tmp_path / "v5.onnx")
    _check(tmp_path / "v5.onnx", None, "yolov5")


def _yolox_rows(size: tuple[int, int], nc: int) -> np.ndarray:
    rows = np.zeros((grid_cells(size), 5 + nc), np.float32)
    rows[:, 2:4] = -5  # tiny boxes where nothing is
    boxes = cxcywh(_in_network("yolox", size))
    offsets = np.cumsum([0] + [(size[0] // s) * (size[1] // s) for s in STRIDES])
    for b, s, stride, offset in zip(boxes, PEOPLE_SCORES, STRIDES, offsets):  # one person per stride
        gx, gy = int(b[0] // stride), int(b[1] // stride)
        row = offset + gy * (size[1] // stride) + gx  # x fastest within a stride's grid
        rows[row, :2] = b[:2] / stride - [gx, gy]
        rows[row, 2:4] = np.log(b[2:4] / stride)
        rows[row, 4], rows[row, 5] = 1.0, s
    return rows


def test_yolox_raw_layout(tmp_path):
    """YOLOX's official export: per grid cell of strides 8, 16, 32 (x fastest), raw offsets and log sizes, decoded as
    YOLOX's demo_postprocess does: (xy + grid)·stride, exp(wh)·stride; BGR 0..255, top-left padding."""
    size = (416, 320)
    constant_detector({"output": _yolox_rows(size, 80)[None]}, size, path=tmp_path / "yolox.onnx")
    _check(tmp_path / "yolox.onnx", None, "yolox", tol=1e-3)


def test_yolox_and_yolov5_are_told_apart_by_their_rows_only(tmp_path):
    """Both are [1, A, 5+nc]: with a fixed input the row count tells (cells or 3·cells); with a dynamic one it cannot,
    and the guess is refused with the layouts."""
    cells = grid_cells((320, 320))
    assert guess_layout([TensorSpec("o", (1, cells, 85), "float32")], {}, (320, 320)).name == "yolox"
    assert guess_layout([TensorSpec("o", (1, 3 * cells, 85), "float32")], {}, (320, 320)).name == "yolov5"
    with pytest.raises(ConfigError, match="ambiguous.*yolov5, yolox; pass --det-format.*efficientnms"):
        guess_layout([TensorSpec("o", (1, -1, 85), "float32")], {}, (320, 320))
    with pytest.raises(ConfigError, match="fits neither YOLOX \\(2100 rows at 320x320\\) nor YOLOv5 \\(6300\\)"):
        guess_layout([TensorSpec("o", (1, 1234, 85), "float32")], {}, (320, 320))


@pytest.mark.parametrize("layout, preset", [("mmdeploy-yolox", "yolox"), ("mmdeploy-rtmdet", "rtmdet")])
def test_mmdeploy_end2end_layout(tmp_path, layout, preset):
    """MMDeploy's end2end (what rtmlib ships): dets [1, N, 5] in network pixels with labels [1, N] (int64). The graph
    cannot say which normalisation it takes, so without --det-format it is refused with the two names."""
    size = (320, 320)
    dets = np.zeros((1, 10, 5), np.float32)
    labels = np.zeros((1, 10), np.int64)
    dets[0, :3, :4], dets[0, :3, 4] = _in_network(preset, size), PEOPLE_SCORES
    dets[0, 3], labels[0, 3] = [0, 0, 50, 50, 0.95], 2  # a car
    dets[0, 4], labels[0, 4] = [0, 0, 50, 50, 0.1], 0  # a person under the threshold
    constant_detector({"dets": dets, "labels": labels}, size, path=tmp_path / "end2end.onnx")
    with pytest.raises(ConfigError, match="ambiguous.*mmdeploy-yolox, mmdeploy-rtmdet; pass --det-format"):
        Detector(tmp_path / "end2end.onnx")
    _check(tmp_path / "end2end.onnx", layout, layout)
    assert PRESETS["rtmdet"].mean == (103.53, 116.28, 123.675) and PRESETS["rtmdet"].color_order == "BGR"


def test_a_detector_over_an_open_backend_takes_the_packages_settings_and_opens_no_file(tmp_path):
    """As the Triton pipeline runs it (a BLS backend to the detector model, runtime/triton/pipeline_model.py): a
    DetectorSpec read already, whose folder holds no files, and a backend opened elsewhere. The spec's layout, person
    class and input size decode the backend's outputs to the known people; the Detector closes the backend."""
    from runtime.backends import open_backend
    from runtime.detection import DetectorSpec

    size = (320, 320)
    dets, labels = np.zeros((1, 10, 5), np.float32), np.zeros((1, 10), np.int64)
    dets[0, :3, :4], dets[0, :3, 4] = _in_network("yolox", size), PEOPLE_SCORES
    constant_detector({"dets": dets, "labels": labels}, size, path=tmp_path / "elsewhere.onnx")
    spec = DetectorSpec(
        tmp_path / "no-files-here", "mmdeploy-yolox", 0, "images", "float32", size, "detector.onnx", {}, {}
    )
    backend = open_backend("onnxruntime", tmp_path / "elsewhere.onnx")
    with Detector(spec, backend=backend) as detector:
        assert detector.backend is backend and detector.path == tmp_path / "elsewhere.onnx"
        found = detector(np.full((*IMAGE_SIZE, 3), 90, np.uint8))
    assert np.abs(found.boxes - PEOPLE).max() <= 2e-4 and np.abs(found.scores - PEOPLE_SCORES).max() <= 1e-6
    with pytest.raises(BackendError, match="closed"):
        backend.infer({"images": np.zeros((1, 3, *size), np.float32)})


def test_efficientnms_layout(tmp_path):
    """TensorRT's EfficientNMS outputs: num_dets [1, 1] (int32) rows of det_boxes [1, K, 4] (xyxy), det_scores,
    det_classes [1, K] (int32); the rows past num_dets are padding and never read."""
    size, k = (320, 320), 8
    boxes = np.zeros((1, k, 4), np.float32)
    scores = np.zeros((1, k), np.float32)
    classes = np.zeros((1, k), np.int32)
    boxes[0, :3], scores[0, :3] = _in_network("ultralytics", size), PEOPLE_SCORES
    boxes[0, 3], scores[0, 3], classes[0, 3] = [0, 0, 9, 9], 0.99, 5  # another class
    boxes[0, 4], scores[0, 4] = [0, 0, 9, 9], 0.99  # past num_dets: padding
    outputs = {"num_dets": np.array([[4]], np.int32), "det_boxes": boxes, "det_scores": scores, "det_classes": classes}
    constant_detector(outputs, size, path=tmp_path / "e2e.onnx")
    _check(tmp_path / "e2e.onnx", None, "efficientnms")


def test_a_graph_with_tensorrts_nms_plugin_names_the_plugin_and_the_way_out(tmp_path):
    size = (320, 320)
    plugin = helper.make_node("EfficientNMS_TRT", ["images"], ["num_dets"], domain="TRT", score_threshold=0.25)
    model = constant_detector({}, size, extra_nodes=[plugin])
    model.graph.output.append(helper.make_tensor_value_info("num_dets", TensorProto.INT32, [1, 1]))
    model.opset_import.append(helper.make_opsetid("TRT", 1))
    onnx.save(model, tmp_path / "plugin.onnx")
    with pytest.raises(
        BackendError, match="EfficientNMS plugin \\(EfficientNMS_TRT\\), which only TensorRT runs.*without --end2end"
    ):
        Detector(tmp_path / "plugin.onnx")


# --- the guess and bad input --------------------------------------------------------------------------------------


def test_every_layout_is_in_the_table_with_a_preset():
    assert set(LAYOUTS) == {
        "ultralytics",
        "ultralytics-e2e",
        "yolov5",
        "yolox",
        "mmdeploy-yolox",
        "mmdeploy-rtmdet",
        "efficientnms",
    }
    assert all(layout.preset in PRESETS for layout in LAYOUTS.values())


def test_an_unknown_layout_lists_the_layouts_and_the_flag(tmp_path):
    outputs = {"a": np.zeros((1, 4), np.float32), "b": np.zeros((1, 4), np.float32)}
    constant_detector(outputs, (64, 64), path=tmp_path / "x.onnx")
    with pytest.raises(ConfigError, match="no known detector layout.*pass --det-format.*ultralytics-e2e"):
        Detector(tmp_path / "x.onnx")
    with pytest.raises(ConfigError, match="no detector layout 'yolo9000'; the layouts are: ultralytics"):
        Detector(tmp_path / "x.onnx", layout="yolo9000")


def test_a_detector_without_a_person_class_says_so(tmp_path):
    model = constant_detector({"output0": np.zeros((1, 6, 100), np.float32)}, (64, 64))
    meta = {"names": "{0: 'cat', 1: 'dog'}", "stride": "32", "author": "Ultralytics"}
    helper.set_model_props(model, meta)
    onnx.save(model, tmp_path / "pets.onnx")
    with pytest.raises(ConfigError, match="no class named 'person' \\(its classes: 0: cat, 1: dog\\).*--person-class"):
        Detector(tmp_path / "pets.onnx")
    with Detector(tmp_path / "pets.onnx", person_class=1) as detector:
        assert detector.person_class == 1
    with pytest.raises(ConfigError, match="has no class 7 \\(its classes: 0: cat, 1: dog\\)"):
        Detector(tmp_path / "pets.onnx", person_class=7)


def test_a_dynamic_input_needs_its_size(tmp_path):
    model = constant_detector({"output0": np.zeros((1, 85, 2100), np.float32)}, (320, 320))
    for d in model.graph.input[0].type.tensor_type.shape.dim[2:]:
        d.dim_param = "side"
    onnx.save(model, tmp_path / "dyn.onnx")
    with pytest.raises(InputShapeError, match="dynamic.*does not say its size; pass input_size=\\(H, W\\)"):
        Detector(tmp_path / "dyn.onnx")
    with Detector(tmp_path / "dyn.onnx", input_size=(320, 320)) as detector:
        assert detector.input_size == (320, 320)


def test_bad_images_and_settings_are_refused_and_no_people_is_no_error(tmp_path):
    constant_detector({"output0": np.zeros((1, 84, 2100), np.float32)}, (320, 320), path=tmp_path / "empty.onnx")
    with Detector(tmp_path / "empty.onnx") as detector:
        found = detector(np.zeros((50, 70, 3), np.uint8))
        assert len(found) == 0 and found.with_scores().shape == (0, 5)
        with pytest.raises(InputError, match="uint8 BGR image"):
            detector(np.zeros((50, 70, 3), np.float32))
        with pytest.raises(InputShapeError, match="h×w×3 BGR image"):
            detector(np.zeros((50, 70), np.uint8))
    for bad in ({"score_thr": 1.5}, {"iou_thr": -0.1}, {"top_k": 0}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            Detector(tmp_path / "empty.onnx", **bad)
    with pytest.raises(InputError, match="no detector file"):
        Detector(tmp_path / "missing.onnx")
    with pytest.raises(ConfigError, match="fixed at 320x320, not 256x256"):
        Detector(tmp_path / "empty.onnx", input_size=(256, 256))


def test_the_library_never_imports_ultralytics():
    """Ultralytics is AGPL-3.0: a reference in the tests only."""
    pattern = re.compile(r"^\s*(import|from)\s+ultralytics\b", re.M)
    offenders = [
        str(p.relative_to(ROOT))
        for pkg in ("runtime", "swinpose", "export", "benchmarks")
        for p in (ROOT / pkg).rglob("*.py")
        if pattern.search(p.read_text())
    ]
    assert offenders == []
