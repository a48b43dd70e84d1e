// swinpose C++ runtime: the Python runtime's pre-processing and decoding on raw buffers, and a PoseEngine over a
// backend interface. Shapes are explicit: N boxes, K keypoints, H×W network input, h×w heatmaps. Points are (x, y)
// with pixel centres at integers; affines are 2×3 row-major [a b tx; c d ty] mapping image pixels into the crop.
#pragma once

#include <array>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace swinpose {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What model.json says; nothing here is hard-coded.
struct PackageConfig {
  std::string folder, input_name, output_name, onnx_file, engine_file, opencv_file;  // files: "" when absent
  // The engine's TensorRT flavour ("standard" TensorRT or "rtx", TensorRT for RTX; model.json's engine.flavor,
  // "standard" for packages written before it) and the GPU architectures it was built for ("sm86" …; empty: the
  // GPU it was built on).
  std::string engine_flavor = "standard";
  std::vector<std::string> engine_compute_capabilities;
  int input_h = 0, input_w = 0, heatmap_h = 0, heatmap_w = 0, num_keypoints = 0, batch_min = 1, batch_max = 1;
  std::array<float, 3> mean{}, std{};
  bool bgr_to_rgb = true, use_dark = true;
  double box_padding = 1.25, sigma = 2.0;
  std::vector<std::array<int, 2>> flip_pairs, skeleton;
  std::vector<std::string> keypoint_names;
  int stride() const { return input_h / heatmap_h; }
};

// Reads and checks <folder>/model.json (schema version 1); throws Error naming the problem.
PackageConfig read_package(const std::string& folder);

struct Box {
  double x1, y1, x2, y2, score = 1.0;  // xyxy image pixels
};

using Affine = std::array<double, 6>;

// The crop affine of one box: aspect-fixed to W/H, padded, centred (the Python runtime's box_to_center_scale +
// get_warp_matrix). Boxes are clipped to the image first; an empty or non-finite box throws Error.
Affine box_affine(Box box, int image_w, int image_h, const PackageConfig& cfg);

// BGR uint8 image + N boxes → N×3×H×W float32 network input in `out` (caller-owned, N·3·H·W floats) and the N affines.
void preprocess(const cv::Mat& bgr, const std::vector<Box>& boxes, const PackageConfig& cfg, float* out,
                std::vector<Affine>& affines);

struct Keypoint {
  double x, y;  // image pixels after to_image, input pixels before
  float score;
};

// N×K×h×w heatmaps → N×K keypoints in network-input pixels (argmax + quarter offset, or DARK), into `out`.
void decode(const float* heatmaps, int n, int k, int h, int w, const PackageConfig& cfg, Keypoint* out);

// Maps `count` keypoints from input pixels to image pixels through the inverse of `affine`.
void to_image(Keypoint* keypoints, int count, const Affine& affine);

// One contract for every backend: B×3×H×W float32 in, B×K×h×w float32 out.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual void infer(const float* input, int batch, float* output) = 0;
};

// Wall time spent in each stage since the engine was made (or since reset), in milliseconds.
struct StageTimes {
  double preprocess_ms = 0, infer_ms = 0, decode_ms = 0;
  long crops = 0;
};

class PoseEngine {
 public:
  PoseEngine(PackageConfig cfg, std::unique_ptr<Backend> backend);
  // Keypoints (image pixels) of each box; boxes beyond the batch maximum run in several batches.
  std::vector<std::vector<Keypoint>> operator()(const cv::Mat& bgr, const std::vector<Box>& boxes);
  const PackageConfig& config() const { return cfg_; }
  const StageTimes& times() const { return times_; }
  void reset_times() { times_ = StageTimes{}; }

 private:
  PackageConfig cfg_;
  std::unique_ptr<Backend> backend_;
  StageTimes times_;
};

// The backends compiled into this build, by name: "opencv" (OpenCV DNN on the CPU, running the package's
// model.opencv.onnx; built when OpenCV has its dnn module) and "tensorrt" (the package's model.engine on a GPU; built
// when TensorRT is found).
std::vector<std::string> backend_names();

// Opens backend `name` on the package; throws Error naming the backends this build has when `name` is not one.
std::unique_ptr<Backend> make_backend(const std::string& name, const PackageConfig& cfg);

}  // namespace swinpose
