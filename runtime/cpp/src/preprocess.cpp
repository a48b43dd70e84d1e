#include <cmath>

#include <opencv2/imgproc.hpp>

#include "swinpose/swinpose.hpp"

namespace swinpose {

Affine box_affine(Box b, int image_w, int image_h, const PackageConfig& cfg) {
  if (!std::isfinite(b.x1) || !std::isfinite(b.y1) || !std::isfinite(b.x2) || !std::isfinite(b.y2))
    throw Error("a box has NaN/inf coordinates; drop it before calling");
  b.x1 = std::clamp(b.x1, 0.0, double(image_w));
  b.x2 = std::clamp(b.x2, 0.0, double(image_w));
  b.y1 = std::clamp(b.y1, 0.0, double(image_h));
  b.y2 = std::clamp(b.y2, 0.0, double(image_h));
  if (b.x2 <= b.x1 || b.y2 <= b.y1) throw Error("a box has no area inside the image (xyxy, x2 > x1, y2 > y1)");
  const double aspect = double(cfg.preprocess.input_size[1]) / cfg.preprocess.input_size[0];
  double w = b.x2 - b.x1, h = b.y2 - b.y1;
  const double cx = b.x1 + w * 0.5, cy = b.y1 + h * 0.5;
  if (!(w > aspect * h)) w = h * aspect;
  h = w / aspect;
  const double sw = w * cfg.preprocess.box_padding, sh = h * cfg.preprocess.box_padding;
  const double sx = cfg.preprocess.input_size[1] / sw, sy = cfg.preprocess.input_size[0] / sh;
  const double offset = cfg.preprocess.warp == "mmpose" ? 0.5 : 0.0;  // MMPose: the centre lands on (W/2, H/2)
  return {sx, 0.0, (cfg.preprocess.input_size[1] - 1) * 0.5 + offset - sx * cx,
          0.0, sy, (cfg.preprocess.input_size[0] - 1) * 0.5 + offset - sy * cy};
}

void preprocess(const cv::Mat& bgr, const std::vector<Box>& boxes, const PackageConfig& cfg, float* out,
                std::vector<Affine>& affines) {
  if (bgr.empty() || bgr.type() != CV_8UC3) throw Error("preprocess needs a non-empty 8-bit BGR image (CV_8UC3)");
  const int H = cfg.preprocess.input_size[0], W = cfg.preprocess.input_size[1], plane = H * W;
  const bool to_rgb = cfg.preprocess.color_order == "RGB";
  // mean/std apply on 0..pixel_scale; in uint8 units (×1 for pixel_scale 255) as runtime.transforms.Preprocess does
  const double to_255 = 255.0 / cfg.preprocess.pixel_scale;
  std::array<float, 3> mean{}, std{};
  for (int c = 0; c < 3; ++c) {
    mean[c] = static_cast<float>(cfg.preprocess.mean[c] * to_255);
    std[c] = static_cast<float>(cfg.preprocess.std[c] * to_255);
  }
  affines.clear();
  cv::Mat crop;
  for (size_t n = 0; n < boxes.size(); ++n) {
    const Affine a = box_affine(boxes[n], bgr.cols, bgr.rows, cfg);
    affines.push_back(a);
    const cv::Mat m = (cv::Mat_<double>(2, 3) << a[0], a[1], a[2], a[3], a[4], a[5]);
    cv::warpAffine(bgr, crop, m, cv::Size(W, H), cv::INTER_LINEAR);
    float* dst = out + n * 3 * plane;
    for (int y = 0; y < H; ++y) {
      const uint8_t* row = crop.ptr<uint8_t>(y);
      for (int x = 0; x < W; ++x)
        for (int c = 0; c < 3; ++c) {
          const float v = row[3 * x + (to_rgb ? 2 - c : c)];
          dst[c * plane + y * W + x] = (v - mean[c]) / std[c];
        }
    }
  }
}

void to_image(Keypoint* kps, int count, const Affine& m) {
  const double det = m[0] * m[4] - m[1] * m[3];
  const double i0 = m[4] / det, i1 = -m[1] / det, i3 = -m[3] / det, i4 = m[0] / det;
  const double t0 = -(i0 * m[2] + i1 * m[5]), t1 = -(i3 * m[2] + i4 * m[5]);
  for (int i = 0; i < count; ++i) {
    const double x = kps[i].x, y = kps[i].y;
    kps[i].x = i0 * x + i1 * y + t0;
    kps[i].y = i3 * x + i4 * y + t1;
  }
}

}  // namespace swinpose
