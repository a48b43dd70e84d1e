// pose_app [OPTIONS] PACKAGE IMAGE x1 y1 x2 y2 [...]       the keypoints of each box (xyxy image pixels)
// pose_app [OPTIONS] --detector DET PACKAGE IMAGE           the detector finds the people first
// pose_app [OPTIONS] --detector DET --track [--det-interval N] [--smooth] [--fps F] PACKAGE FRAME [FRAME ...]
//                                                          tracked people across frames (image files, or a video
//                                                          file where OpenCV's videoio is built in; --fps: the
//                                                          video's own, else 25)
// pose_app --print-package PACKAGE                         what this runtime reads of model.json, as one line of JSON
// OPTIONS: --backend NAME, --threads N, --repeat N, --flip-test.
//
// Output: "box N x1 y1 x2 y2 score" per detected person; "person N KEYPOINT x y score" per keypoint; with --track,
// "track FRAME ID x1 y1 x2 y2 box_score x y score ..." per tracked person (its crop box, then its K keypoints); then
// the time per crop of each stage. Exit codes: 0 ok, 1 error (one line on stderr; a video that stops early is one,
// after the frames it did read), 2 usage.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include <opencv2/core/utility.hpp>
#include <opencv2/imgcodecs.hpp>
#ifdef SWINPOSE_WITH_VIDEOIO
#include <opencv2/videoio.hpp>
#endif

#include "swinpose/detector.hpp"
#include "swinpose/swinpose.hpp"
#include "swinpose/tracking.hpp"

namespace {

// A whole argument as a number; throws Error naming it (and `what` it is) otherwise.
double number(const char* text, const char* what = "boxes are x1 y1 x2 y2") {
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  if (end == text || *end != '\0') throw swinpose::Error(std::string("'") + text + "' is not a number; " + what);
  return value;
}

int usage(const char* prog, const std::string& problem = "") {
  std::string names;
  for (const auto& n : swinpose::backend_names()) names += " " + n;
  if (!problem.empty()) std::fprintf(stderr, "%s: error: %s\n", prog, problem.c_str());
  std::fprintf(stderr,
               "usage: %s [--backend NAME] [--threads N] [--repeat N] [--flip-test] PACKAGE IMAGE x1 y1 x2 y2 [...]\n"
               "       %s [OPTIONS] --detector DET PACKAGE IMAGE\n"
               "       %s [OPTIONS] --detector DET --track [--det-interval N] [--smooth] [--fps F] PACKAGE FRAME...\n"
               "       %s --print-package PACKAGE\n"
               "backends in this build:%s\n",
               prog, prog, prog, prog, names.empty() ? " none" : names.c_str());
  return 2;
}

struct Args {
  std::string backend, detector;
  int threads = 0, repeat = 1, det_interval = 1;
  double fps = 0;  // 0: the video's own frame rate, else 25
  bool flip_test = false, track = false, smooth = false;
  std::vector<std::string> rest;
};

void print_poses(const swinpose::PackageConfig& cfg, const std::vector<std::vector<swinpose::Keypoint>>& poses) {
  for (size_t n = 0; n < poses.size(); ++n)
    for (size_t k = 0; k < poses[n].size(); ++k)
      std::printf("person %zu %s %.9g %.9g %.9g\n", n, cfg.keypoints.names[k].c_str(), poses[n][k].x, poses[n][k].y,
                  double(poses[n][k].score));
}

// The frames of --track: each argument an image file, or one video file (videoio builds).
class Frames {
 public:
  explicit Frames(const std::vector<std::string>& paths) : paths_(paths) {
    if (paths.size() == 1 && cv::imread(paths[0], cv::IMREAD_COLOR).empty()) {
#ifdef SWINPOSE_WITH_VIDEOIO
      video_.open(paths[0]);
      if (!video_.isOpened()) throw swinpose::Error("cannot read " + paths[0] + " as an image or a video");
#else
      throw swinpose::Error("cannot read the image " + paths[0] + "; this build reads videos as image files (it has "
                            "no OpenCV videoio): extract the frames first, e.g. ffmpeg -i VIDEO %05d.png");
#endif
    }
  }
  // The video's frame rate where it records one, else `fallback`.
  double fps(double fallback) const {
#ifdef SWINPOSE_WITH_VIDEOIO
    const double rate = video_.isOpened() ? video_.get(cv::CAP_PROP_FPS) : 0.0;
    if (rate > 0 && std::isfinite(rate)) return rate;
#endif
    return fallback;
  }
  // Why the frames stopped early ("" if they did not): a video that decodes fewer frames than its header lists.
  std::string problem() const {
#ifdef SWINPOSE_WITH_VIDEOIO
    if (video_.isOpened()) {
      const double total = video_.get(cv::CAP_PROP_FRAME_COUNT);
      if (read_ == 0) return paths_[0] + " has no frame OpenCV can decode";
      if (total > 0 && read_ < long(total))
        return paths_[0] + " stopped at frame " + std::to_string(read_) + ": " + std::to_string(read_) + " of the " +
               std::to_string(long(total)) + " frames its header lists decode; the file is truncated or damaged "
               "there (the frames before it are printed above)";
    }
#endif
    return "";
  }
  bool next(cv::Mat& frame) {
#ifdef SWINPOSE_WITH_VIDEOIO
    if (video_.isOpened()) {
      const bool ok = video_.read(frame);
      read_ += ok;
      return ok;
    }
#endif
    if (index_ >= paths_.size()) return false;
    frame = cv::imread(paths_[index_], cv::IMREAD_COLOR);
    if (frame.empty()) throw swinpose::Error("cannot read the frame " + paths_[index_]);
    ++index_;
    return true;
  }

 private:
  std::vector<std::string> paths_;
  size_t index_ = 0;
  long read_ = 0;
#ifdef SWINPOSE_WITH_VIDEOIO
  cv::VideoCapture video_;
#endif
};

int run(const Args& a) {
  if (a.threads > 0) cv::setNumThreads(a.threads);
  const auto cfg = swinpose::read_package(a.rest[0]);
  swinpose::PoseEngine engine(cfg, swinpose::make_backend(a.backend, cfg), a.flip_test);
  std::optional<swinpose::Detector> detector;
  if (!a.detector.empty()) {
    auto det_cfg = swinpose::read_detector_package(a.detector);
    auto backend = swinpose::make_detector_backend(a.backend, det_cfg);
    detector.emplace(std::move(det_cfg), std::move(backend));
  }
  if (a.track) {
    swinpose::TrackerConfig config;
    if (a.smooth) config.smoothing = swinpose::OneEuroConfig{};
    Frames frames({a.rest.begin() + 1, a.rest.end()});
    const double fps = a.fps > 0 ? a.fps : frames.fps(25.0);
    swinpose::TrackingPipeline pipeline(engine, *detector, a.det_interval, config, fps);
    cv::Mat frame;
    for (long f = 0; frames.next(frame); ++f)
      for (const auto& p : pipeline(frame, double(f) / fps)) {
        std::printf("track %ld %lld %.17g %.17g %.17g %.17g %.17g", f, static_cast<long long>(p.track_id), p.box.x1,
                    p.box.y1, p.box.x2, p.box.y2, p.box.score);
        for (const auto& k : p.keypoints) std::printf(" %.17g %.17g %.9g", k.x, k.y, double(k.score));
        std::printf("\n");
      }
    const auto& s = pipeline.stats();
    std::printf("frames %ld detector runs %ld poses %ld\n", s.frames, s.detector_runs, s.poses);
    const std::string problem = frames.problem();
    if (!problem.empty()) throw swinpose::Error(problem);
    return 0;
  }
  const cv::Mat image = cv::imread(a.rest[1], cv::IMREAD_COLOR);
  if (image.empty()) throw swinpose::Error("cannot read the image " + a.rest[1]);
  std::vector<swinpose::Box> boxes;
  if (detector) {
    boxes = (*detector)(image);
    for (size_t n = 0; n < boxes.size(); ++n)
      std::printf("box %zu %.17g %.17g %.17g %.17g %.17g\n", n, boxes[n].x1, boxes[n].y1, boxes[n].x2, boxes[n].y2,
                  boxes[n].score);
  } else {
    for (size_t j = 2; j + 3 < a.rest.size(); j += 4)
      boxes.push_back({number(a.rest[j].c_str()), number(a.rest[j + 1].c_str()), number(a.rest[j + 2].c_str()),
                       number(a.rest[j + 3].c_str())});
  }
  auto poses = engine(image, boxes);  // the first run also warms the backend up
  engine.reset_times();
  for (int r = 0; r < a.repeat; ++r) poses = engine(image, boxes);
  print_poses(cfg, poses);
  const auto& t = engine.times();
  const double per = t.crops ? 1.0 / t.crops : 0.0;
  std::printf("ms per crop (%s, %ld crops): preprocess %.3f infer %.3f decode %.3f\n", a.backend.c_str(), t.crops,
              t.preprocess_ms * per, t.infer_ms * per, t.decode_ms * per);
  if (detector) std::printf("ms per detector run (%s): %.3f\n", a.backend.c_str(), detector->infer_ms());
  return 0;
}

}  // namespace

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
  Args a;
  a.backend = names.empty() ? "" : names.front();
  int i = 1;
  bool fps_given = false;
  try {
    for (; i < argc && std::string(argv[i]).rfind("--", 0) == 0; ++i) {
      const std::string flag = argv[i];
      if (flag == "--flip-test") a.flip_test = true;
      else if (flag == "--track") a.track = true;
      else if (flag == "--smooth") a.smooth = true;
      else if (i + 1 >= argc) return usage(argv[0], flag + " needs a value");
      else if (flag == "--backend") a.backend = argv[++i];
      else if (flag == "--detector") a.detector = argv[++i];
      else if (flag == "--threads") a.threads = std::atoi(argv[++i]);
      else if (flag == "--repeat") a.repeat = std::max(1, std::atoi(argv[++i]));
      else if (flag == "--fps") {
        a.fps = number(argv[++i], "--fps is frames per second");
        fps_given = true;
      }
      else if (flag == "--det-interval") {
        const double n = number(argv[++i], "--det-interval is a whole number of frames >= 1");
        if (n < 1 || n != double(int(n)))
          return usage(argv[0], std::string("--det-interval must be a whole number of frames >= 1, got ") + argv[i]);
        a.det_interval = int(n);
      } else return usage(argv[0], "unknown option " + flag);
    }
  } catch (const std::exception& e) {
    return usage(argv[0], e.what());
  }
  a.rest.assign(argv + i, argv + argc);
  if (a.track && a.detector.empty()) return usage(argv[0], "--track needs --detector DET: it finds the people to track");
  if (!(a.fps >= 0) || (a.fps == 0 && fps_given))
    return usage(argv[0], "--fps must be a positive number of frames per second");
  if (a.track ? a.rest.size() < 2 : a.detector.empty() ? a.rest.size() < 6 || (a.rest.size() - 2) % 4
                                                       : a.rest.size() != 2)
    return usage(argv[0]);
  try {
    return run(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pose_app: error: %s\n", e.what());
    return 1;
  }
}
