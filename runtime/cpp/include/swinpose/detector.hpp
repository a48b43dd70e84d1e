// swinpose C++ runtime: the person detector. The Python runtime's runtime.detection on raw buffers: the detector
// package (detector.json), each family's letterbox, the table of output layouts and their decoders, NMS, and a
// Detector over a backend interface (OpenCV DNN on detector.opencv.onnx, TensorRT on detector.engine).
//
// Shape legend: N boxes, A anchors (candidate boxes), nc classes, H×W network input, h×w image. Boxes are
// (x1, y1, x2, y2) corner coordinates (pixel i spans [i, i+1)); Box::score is the detector's score.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "swinpose/swinpose.hpp"

namespace swinpose {

// detector.json (format version 1), field for field as runtime/detection/package.py's DetectorSpec. Files are ""
// when absent.
struct DetectorConfig {
  std::string folder;
  std::string layout;  // a detector_layout() name
  int person_class = 0;
  std::map<int, std::string> class_names;  // empty: the file had none
  std::string input_name, input_dtype;  // input_dtype: float32 (the backends here take float32 only)
  std::array<int, 2> input_size{};  // (H, W)
  std::string onnx_file, engine_file, opencv_file;
  EngineInfo engine;  // defaults when detector.json's engine is null
  std::map<std::string, FileRecord> records;  // file name → its recorded size and SHA-256
};

// Reads and checks <folder>/detector.json as runtime.detection.read_detector_package does; throws Error naming the
// field and the fix. A pose model package (model.json) is refused with the way to pass it.
DetectorConfig read_detector_package(const std::string& folder);

// Throws Error unless <folder>/<name> has the size and SHA-256 detector.json recorded for it.
void verify_detector_file(const DetectorConfig& cfg, const std::string& name);

// One family's pre-processing (runtime.detection.letterbox.Letterbox): the image resized with its aspect kept to
// round(w·r) × round(h·r) ("round", half to even) or int(w·r) × int(h·r) ("floor"), r = min(H/h, W/w), placed
// "centre" (Ultralytics' round(pad ∓ 0.1) split) or "top-left" on a pad_value canvas, then (x - mean) / std per
// channel in color_order on 0..255.
struct Letterbox {
  std::string name, placement, rounding, color_order;
  std::array<float, 3> mean{}, std{};
  int pad_value = 114;
};

// The presets by name: "ultralytics", "yolox", "rtmdet" (the values of runtime.detection.letterbox.PRESETS).
const Letterbox& letterbox_preset(const std::string& name);

// Where one image went in the network input: network = (scale_x·x + left, scale_y·y + top), image (h, w).
struct Geometry {
  double scale_x = 1, scale_y = 1, left = 0, top = 0;
  int image_h = 0, image_w = 0;
  // A box in network pixels → image pixels, clipped to the image.
  Box to_image(const Box& b) const;
};

// The geometry of an h×w image in an H×W input, and the resized (w, h) before padding.
Geometry letterbox_geometry(const Letterbox& lb, int image_h, int image_w, std::array<int, 2> input_size,
                            int* new_w = nullptr, int* new_h = nullptr);

// BGR uint8 image → 1×3×H×W float32 network input in `out` (caller-owned, 3·H·W floats); returns its geometry.
Geometry letterbox(const cv::Mat& bgr, const Letterbox& lb, std::array<int, 2> input_size, float* out);

// One output of a detector network, converted to float32 whatever its type (int32/int64 counts and classes too).
struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
};
using Outputs = std::vector<Tensor>;  // in the graph's output order

// Person boxes above `thr` in network pixels, as the layout's decoder finds them (NMS not yet run), from the
// network's outputs for one image.
using DetDecoder = std::vector<Box> (*)(const Outputs& outputs, int person_class, double thr,
                                        std::array<int, 2> input_size);

// One layout of the table (runtime.detection.layouts.LAYOUTS): its name, letterbox preset, whether NMS is in the
// graph, its decoder.
struct DetLayout {
  std::string name, preset;
  bool nms_in_graph;
  DetDecoder decode;
};

// The layout `name`: ultralytics, ultralytics-e2e, yolov5, yolox, mmdeploy-yolox, mmdeploy-rtmdet, efficientnms;
// throws Error listing them otherwise.
const DetLayout& detector_layout(const std::string& name);
std::vector<std::string> detector_layout_names();

// Greedy NMS as runtime.detection.nms.nms: indices of the kept boxes, highest score first (ties in input order), a box
// suppressed when its IoU with a kept one is greater than `iou_thr`; at most `max_keep` (< 0: all).
std::vector<int> nms(const std::vector<Box>& boxes, double iou_thr, int max_keep = -1);

// One contract for every detector backend: a 1×3×H×W float32 input in, the network's outputs out.
class DetectorBackend {
 public:
  virtual ~DetectorBackend() = default;
  virtual Outputs infer(const float* input) = 0;
};

// The thresholds of runtime.detection.Detector, with its defaults (Ultralytics' conf 0.25, YOLOX's NMS IoU 0.45).
struct DetectorOptions {
  double score_thr = 0.25, iou_thr = 0.45;
  int top_k = 100;
};

class Detector {
 public:
  Detector(DetectorConfig cfg, std::unique_ptr<DetectorBackend> backend, DetectorOptions options = {});
  // The people in a BGR uint8 image, best first, in image pixels; none is an empty result.
  std::vector<Box> operator()(const cv::Mat& bgr);
  // The network's outputs → the people (NMS where the graph has none, top_k, mapped back, boxes with no area dropped).
  std::vector<Box> postprocess(const Outputs& outputs, const Geometry& geometry) const;
  const DetectorConfig& config() const { return cfg_; }
  const DetLayout& layout() const { return layout_; }
  double infer_ms() const { return infer_ms_; }  // wall time in the backend since the detector was made

 private:
  DetectorConfig cfg_;
  std::unique_ptr<DetectorBackend> backend_;
  DetectorOptions options_;
  const DetLayout& layout_;
  const Letterbox& letterbox_;
  std::vector<float> input_;
  double infer_ms_ = 0;
};

// The detector backends compiled into this build ("opencv", "tensorrt"), and one opened on a package (the file it
// opens is checked against detector.json's record first); throws Error naming the backends when `name` is not one.
std::vector<std::string> detector_backend_names();
std::unique_ptr<DetectorBackend> make_detector_backend(const std::string& name, const DetectorConfig& cfg);

}  // namespace swinpose
