// The TensorRT backend against the recording fake of TensorRT and the CUDA runtime (tests/fake_tensorrt/): it must
// give the OpenCV DNN backend's keypoints exactly (the fake engine runs the same graph), split large box sets within
// the engine's profile, free every device buffer and stream, and refuse engines from another TensorRT, another
// TensorRT flavour (an RTX engine on a standard build) or another export.
//   test_trt_fake GOLDEN_DIR PACKAGE OTHER_VERSION OTHER_BATCH OTHER_FLAVOR      exit code 0 = pass
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>

#include <NvInfer.h>
#include <cuda_runtime_api.h>
#include <opencv2/imgcodecs.hpp>

#include "swinpose/swinpose.hpp"

using namespace swinpose;

static int failures = 0;
static void check(bool ok, const std::string& what, double value) {
  std::printf("%s %-64s %.3g\n", ok ? "ok  " : "FAIL", what.c_str(), value);
  failures += !ok;
}

static std::string refusal(const std::string& package) {
  try {
    const auto cfg = read_package(package);
    make_backend("tensorrt", cfg);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s GOLDEN_DIR PACKAGE OTHER_VERSION OTHER_BATCH OTHER_FLAVOR (packages)\n", argv[0]);
    return 2;
  }
  const std::string golden = argv[1];
  try {
    const PackageConfig cfg = read_package(argv[2]);
    const cv::Mat image = cv::imread(golden + "/image.png", cv::IMREAD_COLOR);
    std::ifstream f(golden + "/boxes.txt");
    const std::vector<double> b{std::istream_iterator<double>(f), std::istream_iterator<double>()};
    std::vector<Box> boxes;
    for (size_t i = 0; i + 3 < b.size(); i += 4) boxes.push_back({b[i], b[i + 1], b[i + 2], b[i + 3]});
    std::vector<Box> many;  // more boxes than the engine's batch maximum
    while (static_cast<int>(many.size()) < cfg.batch.max + 8) many.push_back(boxes[many.size() % boxes.size()]);

    PoseEngine reference(cfg, make_backend("opencv", cfg));
    const auto want = reference(image, boxes);
    {
      PoseEngine engine(cfg, make_backend("tensorrt", cfg));
      check(nvinfer1::fake_trt_stats().live_contexts == 1, "one execution context while the engine is open", 1);
      const auto got = engine(image, boxes);
      double err = 0;
      for (size_t n = 0; n < want.size(); ++n)
        for (size_t k = 0; k < want[n].size(); ++k)
          err = std::max({err, std::abs(got[n][k].x - want[n][k].x), std::abs(got[n][k].y - want[n][k].y),
                          double(std::abs(got[n][k].score - want[n][k].score))});
      check(got.size() == boxes.size() && err == 0, "TensorRT keypoints equal OpenCV DNN's (max abs)", err);

      const int before = nvinfer1::fake_trt_stats().executions;
      const auto all = engine(image, many);
      const auto stats = nvinfer1::fake_trt_stats();
      check(all.size() == many.size() && stats.executions - before == 2,
            "batch max + 8 boxes run as two engine calls", stats.executions - before);
      check(stats.last_input_shape.d[0] == 8, "the second call has batch 8", double(stats.last_input_shape.d[0]));
      double same = 0;
      for (size_t n = 0; n < many.size(); ++n)
        same = std::max(same, std::abs(all[n][0].x - want[n % want.size()][0].x));
      check(same == 0, "split runs give each box's own keypoints", same);
      const auto copied = fake_cuda_stats();
      check(copied.bytes_to_host > 0 && copied.bytes_to_device > copied.bytes_to_host, "copies in both directions",
            double(copied.bytes_to_device));

      auto backend = make_backend("tensorrt", cfg);
      std::vector<float> in(3ull * cfg.preprocess.input_size[0] * cfg.preprocess.input_size[1] * (cfg.batch.max + 1)), out(1);
      bool refused = false;
      try {
        backend->infer(in.data(), cfg.batch.max + 1, out.data());
      } catch (const Error& e) {
        refused = std::string(e.what()).find("outside the engine's profile") != std::string::npos;
      }
      check(refused, "a batch above the profile throws swinpose::Error", refused);
    }
    const auto cuda = fake_cuda_stats();
    const auto trt = nvinfer1::fake_trt_stats();
    check(cuda.live_allocations == 0 && cuda.live_streams == 0, "device buffers and streams freed",
          cuda.live_allocations + cuda.live_streams);
    check(trt.live_engines == 0 && trt.live_contexts == 0, "engines and contexts destroyed",
          trt.live_engines + trt.live_contexts);

    const std::string version = refusal(argv[3]);
    check(version.find("another TensorRT version") != std::string::npos, "an engine of another TensorRT is refused",
          !version.empty());
    const std::string batch = refusal(argv[4]);
    check(batch.find("different exports") != std::string::npos, "an engine of another batch range is refused",
          !batch.empty());
    const auto other_flavor = read_package(argv[5]);
    const std::string flavor = refusal(argv[5]);
    check(other_flavor.engine.flavor == "rtx" && other_flavor.engine.compute_capabilities.size() == 2,
          "model.json's engine flavour and compute capabilities are read", other_flavor.engine.compute_capabilities.size());
    check(flavor.find("built by TensorRT for RTX") != std::string::npos &&
              flavor.find("-DSWINPOSE_TRT_FLAVOR=rtx") != std::string::npos &&
              flavor.find("--trt-flavor standard") != std::string::npos,
          "an RTX engine is refused by a standard build, naming both fixes", !flavor.empty());
    check(fake_cuda_stats().live_allocations == 0, "refused engines leave nothing allocated", 0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  std::printf("%s\n", failures ? "FAILED" : "all passed");
  return failures ? 1 : 0;
}
