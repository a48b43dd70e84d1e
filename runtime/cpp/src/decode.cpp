// The Python codec's decoding (runtime/codec.py), line for line: argmax (first maximum), quarter offset, and DARK
// (edge-replicated separable Gaussian blur rescaled to the map's peak, log, 3×3 Taylor step, raw map near borders).
// As in Python, only the 3×3 neighbourhood of the maximum is blurred; the whole map is blurred and rescaled only
// when a neighbourhood value is at or below the log's 1e-10 floor, where the rescale can change the result.
#include <algorithm>
#include <cmath>

#include "swinpose/swinpose.hpp"

namespace swinpose {
namespace {

double sign(double v) { return (v > 0) - (v < 0); }

// The normalised Gaussian of an odd kernel size, with OpenCV's sigma for that size.
std::vector<double> blur_taps(int kernel) {
  const int r = kernel / 2;
  const double s = 0.3 * (r - 1) + 0.8;
  std::vector<double> taps(kernel);
  double sum = 0;
  for (int i = -r; i <= r; ++i) sum += taps[i + r] = std::exp(-double(i * i) / (2 * s * s));
  for (auto& t : taps) t /= sum;
  return taps;
}

// One map's blur, as runtime.codec.gaussian_blur: float64, edge-replicated, rescaled to keep the maximum.
std::vector<double> blur(const float* map, int h, int w, const std::vector<double>& taps) {
  const int kernel = static_cast<int>(taps.size()), r = kernel / 2;
  std::vector<double> tmp(h * w, 0.0), out(h * w, 0.0);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int i = 0; i < kernel; ++i) tmp[y * w + x] += taps[i] * map[std::clamp(y + i - r, 0, h - 1) * w + x];
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int i = 0; i < kernel; ++i) out[y * w + x] += taps[i] * tmp[y * w + std::clamp(x + i - r, 0, w - 1)];
  const double peak_in = *std::max_element(map, map + h * w);
  const double peak_out = *std::max_element(out.begin(), out.end());
  const double scale = peak_out > 0 ? peak_in / peak_out : 0.0;
  for (auto& v : out) v *= scale;
  return out;
}

}  // namespace

void decode(const float* heatmaps, int n, int k, int h, int w, const PackageConfig& cfg, Keypoint* out) {
  const int kernel = 2 * static_cast<int>(std::nearbyint(2.5 * cfg.codec.sigma)) + 1;  // Python's round: half to even
  const int r = kernel / 2;
  const auto taps = blur_taps(kernel);
  for (int m = 0; m < n * k; ++m) {
    const float* map = heatmaps + static_cast<size_t>(m) * h * w;
    const int idx = static_cast<int>(std::max_element(map, map + h * w) - map);  // the first maximum, as numpy
    const int x = idx % w, y = idx / w;
    const auto at = [&](int yy, int xx) { return double(map[yy * w + xx]); };
    const int stride = cfg.codec.stride();
    if (cfg.codec.convention == "msra" && !cfg.codec.use_dark) {  // MMPose's MSRAHeatmap, exactly
      const bool positive = map[idx] > 0;
      const int mx = positive ? x : -1, my = positive ? y : -1;
      double px = mx, py = my;
      if (1 < mx && mx < w - 1 && 0 < my && my < h) px += 0.25 * sign(at(my, mx + 1) - at(my, mx - 1));
      if (1 < my && my < h - 1 && 0 < mx && mx < w) py += 0.25 * sign(at(my + 1, mx) - at(my - 1, mx));
      out[m] = {px * stride, py * stride, map[idx]};
      continue;
    }
    double qx = x, qy = y;  // the quarter-offset estimate
    if (x > 0 && x < w - 1) qx += 0.25 * sign(at(y, x + 1) - at(y, x - 1));
    if (y > 0 && y < h - 1) qy += 0.25 * sign(at(y + 1, x) - at(y - 1, x));
    double rx = qx, ry = qy;
    if (cfg.codec.use_dark) {
      const bool near_border = x < r + 1 || x > w - 2 - r || y < r + 1 || y > h - 2 - r;
      const int xs = std::clamp(x, 1, w - 2), ys = std::clamp(y, 1, h - 2);
      double values[3][3];  // the raw (near the border) or blurred 3×3 neighbourhood of (xs, ys)
      bool floored = false;
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx) {
          double v = at(ys + dy, xs + dx);
          if (!near_border) {  // inside: the blur window needs no edge replication
            v = 0;
            for (int j = -r; j <= r; ++j) {  // vertical pass, then horizontal: gaussian_blur's order of sums
              double vertical = 0;
              for (int i = -r; i <= r; ++i) vertical += taps[i + r] * at(ys + dy + i, xs + dx + j);
              v += taps[j + r] * vertical;
            }
            floored = floored || v <= 1e-10;
          }
          values[dy + 1][dx + 1] = v;
        }
      if (floored) {  // where the floor makes DARK's rescale matter: the full blur, rescaled
        const auto b = blur(map, h, w, taps);
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx) values[dy + 1][dx + 1] = b[(ys + dy) * w + xs + dx];
      }
      const auto L = [&](int dy, int dx) { return std::log(std::max(values[dy + 1][dx + 1], 1e-10)); };
      const double c = L(0, 0);
      const double dx = 0.5 * (L(0, 1) - L(0, -1)), dy = 0.5 * (L(1, 0) - L(-1, 0));
      const double dxx = L(0, 1) - 2 * c + L(0, -1), dyy = L(1, 0) - 2 * c + L(-1, 0);
      const double dxy = 0.25 * (L(1, 1) - L(-1, 1) - L(1, -1) + L(-1, -1));
      const double det = dxx * dyy - dxy * dxy;
      bool ok = det > 1e-12 && dxx < 0 && x >= 1 && x <= w - 2 && y >= 1 && y <= h - 2;
      if (ok) {
        const double ox = -(dyy * dx - dxy * dy) / det, oy = -(dxx * dy - dxy * dx) / det;
        if (std::abs(ox) <= 1 && std::abs(oy) <= 1) {
          rx = x + ox;
          ry = y + oy;
        }
      }
    }
    if (cfg.codec.convention == "msra")
      out[m] = {rx * stride, ry * stride, map[idx]};
    else
      out[m] = {(rx + 0.5) * stride - 0.5, (ry + 0.5) * stride - 0.5, map[idx]};
  }
}

std::vector<int> flip_perm(const Keypoints& keypoints) {
  std::vector<int> perm(keypoints.names.size());
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int>(i);
  for (const auto& p : keypoints.flip_pairs) std::swap(perm[p[0]], perm[p[1]]);
  return perm;
}

void flip_heatmaps(const float* flipped, int n, int k, int h, int w, const std::vector<int>& perm, bool shift,
                   float* out) {
  if (static_cast<int>(perm.size()) != k) throw Error("flip_heatmaps: the flip permutation has the wrong length");
  const size_t plane = static_cast<size_t>(h) * w;
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < k; ++c) {
      const float* src = flipped + (static_cast<size_t>(i) * k + perm[c]) * plane;
      float* dst = out + (static_cast<size_t>(i) * k + c) * plane;
      for (int y = 0; y < h; ++y) {
        const float* row = src + static_cast<size_t>(y) * w;
        float* o = dst + static_cast<size_t>(y) * w;
        for (int x = 0; x < w; ++x) o[x] = row[w - 1 - x];
        if (shift)  // out[..., 1:] = out[..., :-1]: column 0 keeps its value
          for (int x = w - 1; x >= 1; --x) o[x] = o[x - 1];
      }
    }
}

}  // namespace swinpose
