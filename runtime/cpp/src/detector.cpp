// NMS (runtime/detection/nms.py) and the Detector (runtime/detection/detector.py): letterbox, network, the layout's
// decoder, NMS where the graph has none, the top_k best, back to image pixels.
#include <algorithm>
#include <chrono>
#include <numeric>

#include "swinpose/detector.hpp"

namespace swinpose {
namespace {

// IoU with areas (x2 - x1)·(y2 - y1), no +1; 0 where the union is empty.
double iou(const Box& a, const Box& b) {
  const double w = std::max(0.0, std::min(a.x2, b.x2) - std::max(a.x1, b.x1));
  const double h = std::max(0.0, std::min(a.y2, b.y2) - std::max(a.y1, b.y1));
  const double inter = w * h;
  const double uni = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return uni > 0 ? inter / uni : 0.0;
}

// Indices by score, highest first, ties in input order (numpy's stable argsort of -score).
std::vector<int> by_score(const std::vector<Box>& boxes) {
  std::vector<int> order(boxes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return boxes[a].score > boxes[b].score; });
  return order;
}

}  // namespace

std::vector<int> nms(const std::vector<Box>& boxes, double iou_thr, int max_keep) {
  std::vector<int> order = by_score(boxes), keep;
  while (!order.empty() && (max_keep < 0 || int(keep.size()) < max_keep)) {
    const int best = order.front();
    keep.push_back(best);
    std::vector<int> rest;
    for (size_t i = 1; i < order.size(); ++i)
      if (iou(boxes[best], boxes[order[i]]) <= iou_thr) rest.push_back(order[i]);
    order.swap(rest);
  }
  return keep;
}

Detector::Detector(DetectorConfig cfg, std::unique_ptr<DetectorBackend> backend, DetectorOptions options)
    : cfg_(std::move(cfg)),
      backend_(std::move(backend)),
      options_(options),
      layout_(detector_layout(cfg_.layout)),
      letterbox_(letterbox_preset(layout_.preset)),
      input_(3ull * cfg_.input_size[0] * cfg_.input_size[1]) {
  if (!backend_) throw Error("Detector needs a backend");
  if (!(options.score_thr >= 0 && options.score_thr <= 1) || !(options.iou_thr >= 0 && options.iou_thr <= 1))
    throw Error("the detector's score and IoU thresholds must be between 0 and 1");
  if (options.top_k < 1) throw Error("the detector's top_k must be a positive integer");
}

std::vector<Box> Detector::postprocess(const Outputs& outputs, const Geometry& geometry) const {
  const std::vector<Box> found = layout_.decode(outputs, cfg_.person_class, options_.score_thr, cfg_.input_size);
  std::vector<int> keep;
  if (layout_.nms_in_graph) {
    keep = by_score(found);
    if (int(keep.size()) > options_.top_k) keep.resize(options_.top_k);
  } else {
    keep = nms(found, options_.iou_thr, options_.top_k);
  }
  std::vector<Box> people;
  for (int i : keep) {
    const Box b = geometry.to_image(found[i]);
    if (b.x2 > b.x1 && b.y2 > b.y1) people.push_back(b);  // a box wholly in the padding has no area
  }
  return people;
}

std::vector<Box> Detector::operator()(const cv::Mat& bgr) {
  const Geometry geometry = letterbox(bgr, letterbox_, cfg_.input_size, input_.data());
  const auto t = std::chrono::steady_clock::now();
  const Outputs outputs = backend_->infer(input_.data());
  infer_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
  return postprocess(outputs, geometry);
}

}  // namespace swinpose
