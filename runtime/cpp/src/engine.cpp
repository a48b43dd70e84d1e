#include <algorithm>
#include <chrono>

#include "swinpose/swinpose.hpp"

namespace swinpose {
namespace {

double ms_since(std::chrono::steady_clock::time_point& t) {
  const auto now = std::chrono::steady_clock::now();
  const double ms = std::chrono::duration<double, std::milli>(now - t).count();
  t = now;
  return ms;
}

}  // namespace

PoseEngine::PoseEngine(PackageConfig cfg, std::unique_ptr<Backend> backend, bool flip_test)
    : cfg_(std::move(cfg)), backend_(std::move(backend)), flip_test_(flip_test), flip_perm_(flip_perm(cfg_.keypoints)) {
  if (!backend_) throw Error("PoseEngine needs a backend");
}

std::vector<std::vector<Keypoint>> PoseEngine::operator()(const cv::Mat& bgr, const std::vector<Box>& boxes) {
  const int k = cfg_.num_keypoints(), hm = cfg_.codec.heatmap_size[0] * cfg_.codec.heatmap_size[1];
  const size_t in_size = 3ull * cfg_.preprocess.input_size[0] * cfg_.preprocess.input_size[1];
  std::vector<std::vector<Keypoint>> result;
  for (size_t start = 0; start < boxes.size(); start += cfg_.batch.max) {
    auto t = std::chrono::steady_clock::now();
    const std::vector<Box> chunk(boxes.begin() + start,
                                 boxes.begin() + std::min(boxes.size(), start + size_t(cfg_.batch.max)));
    const int n = static_cast<int>(chunk.size()), batch = std::max(n, cfg_.batch.min);
    std::vector<float> input(batch * in_size), heatmaps(static_cast<size_t>(batch) * k * hm);
    std::vector<Affine> affines;
    preprocess(bgr, chunk, cfg_, input.data(), affines);
    for (int i = n; i < batch; ++i)  // pad a short run up to the engine's minimum batch
      std::copy_n(input.begin() + (n - 1) * in_size, in_size, input.begin() + i * in_size);
    times_.preprocess_ms += ms_since(t);
    backend_->infer(input.data(), batch, heatmaps.data());
    if (flip_test_) {  // the mirrored crops through the network, flipped back and averaged in (PoseEngine.infer)
      const int in_w = cfg_.preprocess.input_size[1], rows = static_cast<int>(batch * in_size / in_w);
      std::vector<float> mirrored(input.size()), flipped(heatmaps.size()), back(heatmaps.size());
      for (int r = 0; r < rows; ++r)
        std::reverse_copy(input.begin() + r * in_w, input.begin() + (r + 1) * in_w, mirrored.begin() + r * in_w);
      backend_->infer(mirrored.data(), batch, flipped.data());
      flip_heatmaps(flipped.data(), batch, k, cfg_.codec.heatmap_size[0], cfg_.codec.heatmap_size[1], flip_perm_,
                    cfg_.codec.flip_shift, back.data());
      for (size_t j = 0; j < heatmaps.size(); ++j) heatmaps[j] = 0.5f * (heatmaps[j] + back[j]);
    }
    times_.infer_ms += ms_since(t);
    std::vector<Keypoint> kps(static_cast<size_t>(n) * k);
    decode(heatmaps.data(), n, k, cfg_.codec.heatmap_size[0], cfg_.codec.heatmap_size[1], cfg_, kps.data());
    for (int i = 0; i < n; ++i) {
      to_image(kps.data() + i * k, k, affines[i]);
      result.emplace_back(kps.begin() + i * k, kps.begin() + (i + 1) * k);
    }
    times_.decode_ms += ms_since(t);
    times_.crops += n;
  }
  return result;
}

}  // namespace swinpose
