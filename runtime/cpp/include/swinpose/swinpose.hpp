// swinpose C++ runtime: the Python runtime's pre-processing and decoding on raw buffers, and a PoseEngine over a
// backend interface. Shapes are explicit: N boxes, K keypoints, H×W network input, h×w heatmaps. Points are (x, y)
// with pixel centres at integers; affines are 2×3 row-major [a b tx; c d ty] mapping image pixels into the crop.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace swinpose {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// model.json (format version 2; version 1 is migrated), part for part and field for field as runtime/package.py's
// dataclasses: nothing here is hard-coded. Sizes are (H, W); files are "" when absent.
struct TensorSpec {  // TensorSpec
  std::string name;
  std::vector<int64_t> shape;  // [-1, C, H, W]
  std::string dtype, layout;
};
struct BatchRange {  // BatchRange
  int min = 1, opt = 1, max = 1;
};
struct Files {  // Files
  std::string onnx, engine, calibration, opencv;
};
struct ModelInfo {  // ModelInfo (its config stays JSON text)
  std::string name, config_json, weights;
};
struct Preprocess {  // runtime.transforms.Preprocess
  std::array<int, 2> input_size{};
  std::string color_order;  // "RGB" or "BGR": the order the network takes; images arrive BGR
  std::array<float, 3> mean{}, std{};
  double pixel_scale = 255.0;  // mean/std apply to pixels on 0..pixel_scale
  double box_padding = 0.0;
  std::string aspect;  // "fixed"
  std::string warp = "centre";  // where the box centre lands: "centre" ((W-1)/2, (H-1)/2) or "mmpose" (W/2, H/2)
};
struct Codec {  // runtime.codec.HeatmapCodec
  std::array<int, 2> input_size{}, heatmap_size{};
  double sigma = 0.0;
  bool use_dark = true;
  std::string convention = "centre";  // "centre": pixel i covers stride·i…; "msra": pixel i is input stride·i
  bool flip_shift = false;            // the flip test's one-pixel shift of the flipped-back heatmaps (MMPose)
  int stride() const { return input_size[0] / heatmap_size[0]; }
};
struct Keypoints {  // runtime.keypoints.KeypointSpec
  std::vector<std::string> names;
  std::vector<std::array<int, 2>> skeleton, flip_pairs;
  std::vector<double> oks_sigmas;  // empty: the set has none
};
struct EngineInfo {  // the engine provenance a runtime reads: who built it, for which GPUs
  std::string flavor = "standard";  // "standard" TensorRT or "rtx" (TensorRT for RTX)
  std::vector<std::string> compute_capabilities;  // "sm86" …; empty: the GPU it was built on
};

struct FileRecord {  // what the export recorded of a file: model.json's onnx / engine / opencv {bytes, sha256}
  int64_t bytes = -1;  // -1: not recorded
  std::string sha256;  // lowercase hex; empty: not recorded
};

struct PackageConfig {  // PackageSpec
  std::string folder;
  int format_version = 2;
  std::string precision;
  ModelInfo model;
  Files files;
  TensorSpec input, output;
  BatchRange batch;
  Preprocess preprocess;
  Codec codec;
  Keypoints keypoints;
  EngineInfo engine;  // defaults when model.json's engine is null
  std::map<std::string, FileRecord> records;  // file name → its recorded size and SHA-256
  int num_keypoints() const { return static_cast<int>(keypoints.names.size()); }
};

// Reads and checks <folder>/model.json as runtime.package.read_package does; throws Error naming the field and the fix.
PackageConfig read_package(const std::string& folder);

// Throws Error unless <folder>/<name> has the size and SHA-256 model.json recorded for it (files it records
// nothing for pass); make_backend runs it on the file each backend opens.
void verify_file(const PackageConfig& cfg, const std::string& name);

// Throws Error (ending in `fix`) unless <folder>/<name> has the size and SHA-256 of records[name] (names with no
// record pass); `json_name` is the file that recorded them. verify_file and verify_detector_file call it.
void verify_record(const std::string& folder, const std::string& json_name,
                   const std::map<std::string, FileRecord>& records, const std::string& name, const std::string& fix);

// SHA-256 of a file as lowercase hex.
std::string sha256_file(const std::string& path);

// The parts a runtime reads, as model.json spells them (one line of JSON): what tests compare with Python's reading.
std::string package_summary_json(const PackageConfig& cfg);

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

// (K,) permutation of the flip pairs: channel k of a flipped input's heatmaps is keypoint perm[k] (flip_index).
std::vector<int> flip_perm(const Keypoints& keypoints);

// N×K×h×w heatmaps of mirrored crops → the unflipped frame, into `out`: mirrored, left/right channels swapped by
// `perm`, then (`shift`) moved one pixel right, as runtime.transforms.flip_heatmaps does.
void flip_heatmaps(const float* flipped, int n, int k, int h, int w, const std::vector<int>& perm, bool shift,
                   float* out);

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
  // flip_test: also run the mirrored crops and average their flipped-back heatmaps in (the package's flip_shift).
  PoseEngine(PackageConfig cfg, std::unique_ptr<Backend> backend, bool flip_test = false);
  // Keypoints (image pixels) of each box; boxes beyond the batch maximum run in several batches.
  std::vector<std::vector<Keypoint>> operator()(const cv::Mat& bgr, const std::vector<Box>& boxes);
  const PackageConfig& config() const { return cfg_; }
  const StageTimes& times() const { return times_; }
  void reset_times() { times_ = StageTimes{}; }

 private:
  PackageConfig cfg_;
  std::unique_ptr<Backend> backend_;
  bool flip_test_;
  std::vector<int> flip_perm_;
  StageTimes times_;
};

// The backends compiled into this build, by name: "opencv" (OpenCV DNN on the CPU, running the package's
// model.opencv.onnx; built when OpenCV has its dnn module) and "tensorrt" (the package's model.engine on a GPU; built
// when TensorRT is found).
std::vector<std::string> backend_names();

// Opens backend `name` on the package; throws Error naming the backends this build has when `name` is not one.
std::unique_ptr<Backend> make_backend(const std::string& name, const PackageConfig& cfg);

}  // namespace swinpose
