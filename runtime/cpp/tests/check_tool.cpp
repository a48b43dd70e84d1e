// check_tool: runs the C++ detector's letterbox and decoding, and the tracker, on inputs the Python tests write, and
// prints what they give as JSON for tests/test_cpp_tracking.py to compare with the Python runtime's.
//
//   check_tool letterbox PRESET H W IMAGE OUT.f32   the 1×3×H×W input into OUT.f32; prints the geometry
//   check_tool decode CASE.json                     {layout, person_class, score_thr, iou_thr, top_k, input_size,
//                                                   image_size, outputs: [{name, shape, data}]} → {"boxes": N×5}
//   check_tool track CASE.json                      {config, sigmas, fps, frames: [{detections | null, size: [w, h],
//                                                   timestamp | null, poses: N×K×3}]} → per frame the boxes the
//                                                   tracker gave and the tracked people
// Exit codes: 0 ok, 1 error (one line on stderr), 2 usage.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "swinpose/detector.hpp"
#include "swinpose/tracking.hpp"

using json = nlohmann::json;

namespace {

json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw swinpose::Error("cannot read " + path);
  return json::parse(f);
}

json box_json(const swinpose::Box& b) { return {b.x1, b.y1, b.x2, b.y2, b.score}; }

// A backend that gives back the outputs it was made with.
class Recorded : public swinpose::DetectorBackend {
 public:
  explicit Recorded(swinpose::Outputs outputs) : outputs_(std::move(outputs)) {}
  swinpose::Outputs infer(const float*) override { return outputs_; }

 private:
  swinpose::Outputs outputs_;
};

int letterbox(char** argv) {
  const auto& lb = swinpose::letterbox_preset(argv[2]);
  const std::array<int, 2> size{std::stoi(argv[3]), std::stoi(argv[4])};
  const cv::Mat image = cv::imread(argv[5], cv::IMREAD_COLOR);
  if (image.empty()) throw swinpose::Error(std::string("cannot read ") + argv[5]);
  std::vector<float> input(3ull * size[0] * size[1]);
  const auto g = swinpose::letterbox(image, lb, size, input.data());
  std::ofstream(argv[6], std::ios::binary).write(reinterpret_cast<const char*>(input.data()), input.size() * 4);
  std::printf("%s\n", json{{"scale_x", g.scale_x}, {"scale_y", g.scale_y}, {"left", g.left}, {"top", g.top}}
                          .dump()
                          .c_str());
  return 0;
}

int decode(const char* path) {
  const json c = read_json(path);
  swinpose::Outputs outputs;
  for (const auto& o : c.at("outputs"))
    outputs.push_back({o.at("name"), o.at("shape").get<std::vector<int64_t>>(), o.at("data").get<std::vector<float>>()});
  swinpose::DetectorConfig cfg;
  cfg.layout = c.at("layout");
  cfg.person_class = c.at("person_class");
  cfg.input_size = c.at("input_size").get<std::array<int, 2>>();
  const auto image = c.at("image_size").get<std::array<int, 2>>();  // (h, w)
  const swinpose::DetectorOptions options{c.at("score_thr"), c.at("iou_thr"), c.at("top_k")};
  swinpose::Detector detector(cfg, std::make_unique<Recorded>(outputs), options);
  const auto geometry = swinpose::letterbox_geometry(swinpose::letterbox_preset(detector.layout().preset), image[0],
                                                     image[1], cfg.input_size);
  json boxes = json::array();
  for (const auto& b : detector.postprocess(outputs, geometry)) boxes.push_back(box_json(b));
  std::printf("%s\n", json{{"boxes", boxes}}.dump().c_str());
  return 0;
}

double number_or_nan(const json& j) { return j.is_null() ? std::nan("") : j.get<double>(); }

int track(const char* path) {
  const json c = read_json(path);
  const json& jc = c.at("config");
  swinpose::TrackerConfig config;
  config.match_thr = jc.at("match_thr");
  config.match = jc.at("match");
  config.max_missing = jc.at("max_missing");
  config.min_area = jc.at("min_area");
  config.keypoint_thr = jc.at("keypoint_thr");
  config.min_keypoints = jc.at("min_keypoints").is_null() ? -1 : jc.at("min_keypoints").get<int>();
  config.box_grow = jc.at("box_grow");
  config.oks_nms_thr = jc.at("oks_nms_thr");
  config.merge_iou_thr = jc.at("merge_iou_thr");
  config.new_track_thr = jc.at("new_track_thr");
  config.velocity_weight = jc.at("velocity_weight");
  if (!jc.at("smoothing").is_null()) {
    const json& s = jc["smoothing"];
    config.smoothing = swinpose::OneEuroConfig{s.at("min_cutoff"), s.at("beta"), s.at("d_cutoff")};
  }
  swinpose::PoseTracker tracker(config, c.at("sigmas").get<std::vector<double>>(), c.at("fps"));
  json frames = json::array();
  for (const auto& f : c.at("frames")) {
    std::vector<swinpose::Box> detections;
    for (const auto& d : f.at("detections").is_null() ? json::array() : f["detections"])
      detections.push_back({d[0], d[1], d[2], d[3], d[4]});
    const auto size = f.at("size").get<std::array<int, 2>>();
    const auto boxes = tracker.boxes(f["detections"].is_null() ? nullptr : &detections, size[0], size[1]);
    const json& recorded = f.at("poses");
    if (recorded.size() != boxes.size())
      throw swinpose::Error("the tracker gave " + std::to_string(boxes.size()) + " boxes where Python's gave " +
                            std::to_string(recorded.size()));
    std::vector<swinpose::Pose> poses;
    for (size_t i = 0; i < boxes.size(); ++i) {
      swinpose::Pose p{boxes[i], {}};
      for (const auto& k : recorded[i]) p.keypoints.push_back({k[0], k[1], k[2].get<float>()});
      poses.push_back(std::move(p));
    }
    json out_boxes = json::array(), tracks = json::array();
    for (const auto& b : boxes) out_boxes.push_back(box_json(b));
    for (const auto& t : tracker.update(poses, number_or_nan(f.at("timestamp")))) {
      json kps = json::array();
      for (const auto& k : t.keypoints) kps.push_back({k.x, k.y, k.score});
      tracks.push_back({{"id", t.track_id}, {"box", box_json(t.box)}, {"keypoints", kps}});
    }
    frames.push_back({{"boxes", out_boxes}, {"tracks", tracks}});
  }
  std::printf("%s\n", json{{"frames", frames}}.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  try {
    if (cmd == "letterbox" && argc == 7) return letterbox(argv);
    if (cmd == "decode" && argc == 3) return decode(argv[2]);
    if (cmd == "track" && argc == 3) return track(argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "check_tool: error: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "usage: check_tool letterbox PRESET H W IMAGE OUT.f32 | decode CASE.json | track CASE.json\n");
  return 2;
}
