// The families' letterboxes (runtime/detection/letterbox.py) and the way back from network to image pixels.
#include <algorithm>
#include <cmath>
#include <map>

#include <opencv2/imgproc.hpp>

#include "swinpose/detector.hpp"

namespace swinpose {
namespace {

// Python's round(): half to even (the default floating-point rounding mode).
double round_even(double v) { return std::nearbyint(v); }

}  // namespace

const Letterbox& letterbox_preset(const std::string& name) {
  static const std::map<std::string, Letterbox> presets = {
      {"ultralytics", {"ultralytics", "centre", "round", "RGB", {0, 0, 0}, {255, 255, 255}, 114}},
      {"yolox", {"yolox", "top-left", "floor", "BGR", {0, 0, 0}, {1, 1, 1}, 114}},
      // MMDetection's RTMDet normalisation, BGR order on 0..255
      {"rtmdet", {"rtmdet", "top-left", "floor", "BGR", {103.53f, 116.28f, 123.675f}, {57.375f, 57.12f, 58.395f}, 114}},
  };
  const auto it = presets.find(name);
  if (it == presets.end()) throw Error("no letterbox preset '" + name + "'; the presets are rtmdet, ultralytics, yolox");
  return it->second;
}

Geometry letterbox_geometry(const Letterbox& lb, int h, int w, std::array<int, 2> input_size, int* new_w_out,
                            int* new_h_out) {
  if (h <= 0 || w <= 0) throw Error("the detector takes a non-empty image");
  const int big_h = input_size[0], big_w = input_size[1];
  const double r = std::min(double(big_h) / h, double(big_w) / w);
  double sw = w * r, sh = h * r;
  if (lb.rounding == "round") {
    sw = round_even(sw);
    sh = round_even(sh);
  } else {
    sw = std::floor(sw);
    sh = std::floor(sh);
  }
  const int new_w = std::max(1, std::min(big_w, int(sw))), new_h = std::max(1, std::min(big_h, int(sh)));
  Geometry g;
  if (lb.placement == "centre") {  // Ultralytics: round(d - 0.1) left/top, the rest right/bottom
    g.left = round_even((big_w - new_w) / 2.0 - 0.1);
    g.top = round_even((big_h - new_h) / 2.0 - 0.1);
  }
  g.scale_x = double(new_w) / w;
  g.scale_y = double(new_h) / h;
  g.image_h = h;
  g.image_w = w;
  if (new_w_out) *new_w_out = new_w;
  if (new_h_out) *new_h_out = new_h;
  return g;
}

Box Geometry::to_image(const Box& b) const {
  // the exact inverse of the forward map, as runtime.transforms.invert_affine computes it
  const double ix = 1.0 / scale_x, iy = 1.0 / scale_y, tx = -left * ix, ty = -top * iy;
  Box out{b.x1 * ix + tx, b.y1 * iy + ty, b.x2 * ix + tx, b.y2 * iy + ty, b.score};
  out.x1 = std::clamp(out.x1, 0.0, double(image_w));
  out.x2 = std::clamp(out.x2, 0.0, double(image_w));
  out.y1 = std::clamp(out.y1, 0.0, double(image_h));
  out.y2 = std::clamp(out.y2, 0.0, double(image_h));
  return out;
}

Geometry letterbox(const cv::Mat& bgr, const Letterbox& lb, std::array<int, 2> input_size, float* out) {
  if (bgr.empty() || bgr.type() != CV_8UC3)
    throw Error("the detector takes an h×w×3 BGR uint8 image (cv::imread); convert grey or BGRA images with "
                "cv::cvtColor first");
  int new_w = 0, new_h = 0;
  const Geometry g = letterbox_geometry(lb, bgr.rows, bgr.cols, input_size, &new_w, &new_h);
  const int big_h = input_size[0], big_w = input_size[1], plane = big_h * big_w;
  cv::Mat canvas(big_h, big_w, CV_8UC3, cv::Scalar::all(lb.pad_value));
  const cv::Rect where(int(g.left), int(g.top), new_w, new_h);
  if (new_w == bgr.cols && new_h == bgr.rows)
    bgr.copyTo(canvas(where));
  else
    cv::resize(bgr, canvas(where), cv::Size(new_w, new_h), 0, 0, cv::INTER_LINEAR);
  const bool to_rgb = lb.color_order == "RGB";
  for (int y = 0; y < big_h; ++y) {
    const uint8_t* row = canvas.ptr<uint8_t>(y);
    for (int x = 0; x < big_w; ++x)
      for (int c = 0; c < 3; ++c) {  // float32 (x - mean) / std, as runtime.transforms.normalize_batch
        const float v = row[3 * x + (to_rgb ? 2 - c : c)];
        out[c * plane + y * big_w + x] = (v - lb.mean[c]) / lb.std[c];
      }
  }
  return g;
}

}  // namespace swinpose
