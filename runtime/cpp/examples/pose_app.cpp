// pose_app [--backend NAME] [--threads N] [--repeat N] [--flip-test] PACKAGE IMAGE x1 y1 x2 y2 [...]
// pose_app --print-package PACKAGE      what this runtime reads of model.json, as one line of JSON
// Keypoints of each box (xyxy image pixels), one "person N KEYPOINT x y score" line each, then the time per crop of
// each stage averaged over --repeat runs. Exit codes: 0 ok, 1 error (one line on stderr), 2 usage.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <opencv2/core/utility.hpp>
#include <opencv2/imgcodecs.hpp>

#include "swinpose/swinpose.hpp"

// A whole argument as a number; throws Error naming it otherwise.
static double number(const char* text) {
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  if (end == text || *end != '\0')
    throw swinpose::Error(std::string("'") + text + "' is not a number; boxes are x1 y1 x2 y2");
  return value;
}

static int usage(const char* prog) {
  std::string names;
  for (const auto& n : swinpose::backend_names()) names += " " + n;
  std::fprintf(stderr,
               "usage: %s [--backend NAME] [--threads N] [--repeat N] [--flip-test] PACKAGE IMAGE x1 y1 x2 y2 [...]\n"
               "       %s --print-package PACKAGE\n"
               "backends in this build:%s\n",
               prog, prog, names.empty() ? " none" : names.c_str());
  return 2;
}

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--print-package") {
    try {
      std::printf("%s\n", swinpose::package_summary_json(swinpose::read_package(argv[2])).c_str());
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    }
  }
  const auto names = swinpose::backend_names();
  std::string backend = names.empty() ? "" : names.front();
  int threads = 0, repeat = 1, i = 1;
  bool flip_test = false;
  for (; i + 1 < argc && std::string(argv[i]).rfind("--", 0) == 0; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--flip-test") {
      flip_test = true;
      --i;  // a switch: no value follows
    } else if (flag == "--backend") backend = argv[i + 1];
    else if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    else if (flag == "--repeat") repeat = std::max(1, std::atoi(argv[i + 1]));
    else return usage(argv[0]);
  }
  if (argc - i < 6 || (argc - i - 2) % 4) return usage(argv[0]);
  try {
    if (threads > 0) cv::setNumThreads(threads);
    const auto cfg = swinpose::read_package(argv[i]);
    swinpose::PoseEngine engine(cfg, swinpose::make_backend(backend, cfg), flip_test);
    const cv::Mat image = cv::imread(argv[i + 1], cv::IMREAD_COLOR);
    if (image.empty()) throw swinpose::Error(std::string("cannot read the image ") + argv[i + 1]);
    std::vector<swinpose::Box> boxes;
    for (int j = i + 2; j + 3 < argc; j += 4)
      boxes.push_back({number(argv[j]), number(argv[j + 1]), number(argv[j + 2]), number(argv[j + 3])});
    auto poses = engine(image, boxes);  // the first run also warms the backend up
    engine.reset_times();
    for (int r = 0; r < repeat; ++r) poses = engine(image, boxes);
    for (size_t n = 0; n < poses.size(); ++n)
      for (size_t k = 0; k < poses[n].size(); ++k)
        std::printf("person %zu %s %.9g %.9g %.9g\n", n, cfg.keypoints.names[k].c_str(), poses[n][k].x, poses[n][k].y,
                    double(poses[n][k].score));
    const auto& t = engine.times();
    const double per = t.crops ? 1.0 / t.crops : 0.0;
    std::printf("ms per crop (%s, %ld crops): preprocess %.3f infer %.3f decode %.3f\n", backend.c_str(), t.crops,
                t.preprocess_ms * per, t.infer_ms * per, t.decode_ms * per);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pose_app: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
