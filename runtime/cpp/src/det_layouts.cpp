// The table of detector output layouts and their decoders (runtime/detection/layouts.py): each returns the person
// boxes above the threshold in network pixels. A box is a person by its column (its class), not by being its best
// class; scores are as the family defines them (class score; objectness × class score; the graph's own).
#include <cmath>
#include <map>

#include "swinpose/detector.hpp"

namespace swinpose {
namespace {

const std::string kFormatHint = "; pass the detector's layout (--det-format when exporting it)";

// The first output, [1, rows, cols]; throws Error unless it has that form.
const Tensor& one(const Outputs& outputs) {
  if (outputs.empty()) throw Error("the detector gave no outputs");
  const Tensor& y = outputs.front();
  if (y.shape.size() != 3 || y.shape[0] != 1) {
    std::string s;
    for (auto d : y.shape) s += (s.empty() ? "" : ", ") + std::to_string(d);
    throw Error("the detector's output '" + y.name + "' has shape [" + s + "], not this layout's" + kFormatHint);
  }
  return y;
}

// The output `name` of batch 1, or Error.
const Tensor& named(const Outputs& outputs, const std::string& name) {
  for (const auto& t : outputs)
    if (t.name == name) {
      if (t.shape.empty() || t.shape[0] != 1)
        throw Error("the detector's output '" + name + "' is not of batch 1; give it one image at a time");
      return t;
    }
  throw Error("the detector has no output '" + name + "', which this layout reads" + kFormatHint);
}

void check_class(int person, int64_t nc) {
  if (person < 0 || person >= nc)
    throw Error("person class " + std::to_string(person) + " is outside the detector's " + std::to_string(nc) +
                " classes; pass --person-class");
}

Box xywh(double cx, double cy, double w, double h, double score) {
  return {cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, score};
}

// Rows of x1 y1 x2 y2 (stride 4 or more), scores and classes: the person rows above thr.
std::vector<Box> rows(int n, const float* boxes, int box_stride, const float* scores, int score_stride,
                      const float* classes, int class_stride, int person, double thr) {
  std::vector<Box> out;
  for (int i = 0; i < n; ++i) {
    const double score = scores[i * score_stride];
    if (score > thr && std::nearbyint(double(classes[i * class_stride])) == person) {
      const float* b = boxes + i * box_stride;
      out.push_back({b[0], b[1], b[2], b[3], score});
    }
  }
  return out;
}

std::vector<Box> ultralytics(const Outputs& outputs, int person, double thr, std::array<int, 2>) {
  const Tensor& y = one(outputs);  // (4 + nc + extra) × A
  const int64_t c = y.shape[1], a = y.shape[2];
  check_class(person, c - 4);
  const float* p = y.data.data();
  std::vector<Box> out;
  for (int64_t i = 0; i < a; ++i) {
    const double score = p[(4 + person) * a + i];
    if (score > thr) out.push_back(xywh(p[i], p[a + i], p[2 * a + i], p[3 * a + i], score));
  }
  return out;
}

std::vector<Box> ultralytics_e2e(const Outputs& outputs, int person, double thr, std::array<int, 2>) {
  const Tensor& y = one(outputs);  // K × 6
  if (y.shape[2] < 6) throw Error("the detector's output '" + y.name + "' has " + std::to_string(y.shape[2]) +
                                  " columns, not ultralytics-e2e's 6" + kFormatHint);
  const int cols = int(y.shape[2]);
  const float* p = y.data.data();
  return rows(int(y.shape[1]), p, cols, p + 4, cols, p + 5, cols, person, thr);
}

int grid_cells(std::array<int, 2> size) {
  int cells = 0;
  for (int s : {8, 16, 32}) cells += (size[0] / s) * (size[1] / s);
  return cells;
}

// YOLOv5 / YOLOX rows A × (5 + nc): objectness × the person's class score.
std::vector<Box> objectness(const Outputs& outputs, int person, double thr, std::array<int, 2> size, bool yolox) {
  const Tensor& y = one(outputs);
  const int64_t a = y.shape[1], cols = y.shape[2];
  check_class(person, cols - 5);
  if (yolox && a != grid_cells(size))
    throw Error("a raw YOLOX output for a " + std::to_string(size[0]) + "x" + std::to_string(size[1]) + " input has " +
                std::to_string(grid_cells(size)) + " rows, this one " + std::to_string(a) +
                ": pass the size it was exported for, or another --det-format");
  std::vector<Box> out;
  int64_t row = 0;
  for (int s : {8, 16, 32}) {  // YOLOX's demo_postprocess: x varies fastest within each stride's grid
    const int gh = yolox ? size[0] / s : 1, gw = yolox ? size[1] / s : int(a);
    for (int gy = 0; gy < gh; ++gy)
      for (int gx = 0; gx < gw; ++gx, ++row) {
        const float* p = y.data.data() + row * cols;
        const double score = double(p[4]) * double(p[5 + person]);
        if (!(score > thr)) continue;
        if (yolox)
          out.push_back(xywh((double(p[0]) + gx) * s, (double(p[1]) + gy) * s, std::exp(double(p[2])) * s,
                             std::exp(double(p[3])) * s, score));
        else
          out.push_back(xywh(p[0], p[1], p[2], p[3], score));
      }
    if (!yolox) break;  // YOLOv5's rows are already boxes: one pass over all A
  }
  return out;
}

std::vector<Box> yolov5(const Outputs& o, int person, double thr, std::array<int, 2> size) {
  return objectness(o, person, thr, size, false);
}

std::vector<Box> yolox(const Outputs& o, int person, double thr, std::array<int, 2> size) {
  return objectness(o, person, thr, size, true);
}

std::vector<Box> mmdeploy(const Outputs& outputs, int person, double thr, std::array<int, 2>) {
  const Tensor& dets = named(outputs, "dets");  // [1, N, 5]
  const Tensor& labels = named(outputs, "labels");  // [1, N]
  const int n = dets.shape.size() == 3 ? int(dets.shape[1]) : 0;
  if (dets.shape.size() != 3 || dets.shape[2] < 5 || int64_t(labels.data.size()) < n)
    throw Error("the detector's 'dets' must be [1, N, 5] with [1, N] 'labels'" + kFormatHint);
  const float* d = dets.data.data();
  const int cols = int(dets.shape[2]);
  return rows(n, d, cols, d + 4, cols, labels.data.data(), 1, person, thr);
}

std::vector<Box> efficientnms(const Outputs& outputs, int person, double thr, std::array<int, 2>) {
  const Tensor& num = named(outputs, "num_dets");
  const Tensor& boxes = named(outputs, "det_boxes");  // [1, K, 4]
  const Tensor& scores = named(outputs, "det_scores");  // [1, K]
  const Tensor& classes = named(outputs, "det_classes");  // [1, K]
  if (num.data.empty()) throw Error("the detector's 'num_dets' is empty");
  const int64_t k = int64_t(scores.data.size());
  const int n = int(std::max<int64_t>(0, std::min<int64_t>(int64_t(num.data[0]), k)));
  if (int64_t(boxes.data.size()) < 4 * k || int64_t(classes.data.size()) < k)
    throw Error("the detector's det_boxes, det_scores and det_classes disagree in length" + kFormatHint);
  return rows(n, boxes.data.data(), 4, scores.data.data(), 1, classes.data.data(), 1, person, thr);
}

const std::map<std::string, DetLayout>& table() {
  static const std::map<std::string, DetLayout> layouts = {
      {"ultralytics", {"ultralytics", "ultralytics", false, ultralytics}},
      {"ultralytics-e2e", {"ultralytics-e2e", "ultralytics", true, ultralytics_e2e}},
      {"yolov5", {"yolov5", "ultralytics", false, yolov5}},
      {"yolox", {"yolox", "yolox", false, yolox}},
      {"mmdeploy-yolox", {"mmdeploy-yolox", "yolox", true, mmdeploy}},
      {"mmdeploy-rtmdet", {"mmdeploy-rtmdet", "rtmdet", true, mmdeploy}},
      {"efficientnms", {"efficientnms", "ultralytics", true, efficientnms}},
  };
  return layouts;
}

}  // namespace

std::vector<std::string> detector_layout_names() {
  std::vector<std::string> names;
  for (const auto& entry : table()) names.push_back(entry.first);
  return names;
}

const DetLayout& detector_layout(const std::string& name) {
  const auto it = table().find(name);
  if (it == table().end()) {
    std::string have;
    for (const auto& n : detector_layout_names()) have += (have.empty() ? "" : ", ") + n;
    throw Error("no detector layout '" + name + "'; the layouts are: " + have);
  }
  return it->second;
}

}  // namespace swinpose
