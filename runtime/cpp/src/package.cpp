#include <fstream>

#include <nlohmann/json.hpp>

#include "swinpose/swinpose.hpp"

namespace swinpose {

PackageConfig read_package(const std::string& folder) {
  const std::string path = folder + "/model.json";
  std::ifstream file(path);
  if (!file) throw Error(path + " does not exist; make a package with: swinpose-export --weights W --out DIR");
  nlohmann::json j;
  try {
    file >> j;
    if (j.at("schema_version").get<int>() != 1)
      throw Error(path + ": schema_version is not 1; re-export it with this swinpose");
    PackageConfig c;
    c.folder = folder;
    c.input_name = j.at("input").at("name");
    c.output_name = j.at("output").at("name");
    c.onnx_file = j.at("files").at("onnx");
    if (!j.at("files").at("engine").is_null()) c.engine_file = j["files"]["engine"];
    if (j.contains("engine") && j["engine"].is_object()) {
      const auto& engine = j["engine"];
      if (engine.contains("flavor")) c.engine_flavor = engine["flavor"];
      if (engine.contains("compute_capabilities") && !engine["compute_capabilities"].is_null())
        c.engine_compute_capabilities = engine["compute_capabilities"].get<std::vector<std::string>>();
    }
    if (j["files"].contains("opencv") && !j["files"]["opencv"].is_null()) c.opencv_file = j["files"]["opencv"];
    const auto& pre = j.at("preprocess");
    c.input_h = pre.at("input_size")[0];
    c.input_w = pre.at("input_size")[1];
    for (int i = 0; i < 3; ++i) {
      c.mean[i] = pre.at("mean")[i].get<float>();
      c.std[i] = pre.at("std")[i].get<float>();
    }
    c.bgr_to_rgb = pre.at("color_order") == "RGB";
    c.box_padding = pre.at("box_padding");
    const auto& codec = j.at("codec");
    c.heatmap_h = codec.at("heatmap_size")[0];
    c.heatmap_w = codec.at("heatmap_size")[1];
    c.sigma = codec.at("sigma");
    c.use_dark = codec.at("use_dark");
    c.batch_min = j.at("batch").at("min");
    c.batch_max = j.at("batch").at("max");
    const auto& kp = j.at("keypoints");
    c.keypoint_names = kp.at("names").get<std::vector<std::string>>();
    c.num_keypoints = static_cast<int>(c.keypoint_names.size());
    c.flip_pairs = kp.at("flip_pairs").get<std::vector<std::array<int, 2>>>();
    c.skeleton = kp.at("skeleton").get<std::vector<std::array<int, 2>>>();
    if (c.input_h <= 0 || c.heatmap_h <= 0 || c.input_h % c.heatmap_h || c.input_w != c.heatmap_w * c.stride())
      throw Error(path + ": input_size and heatmap_size disagree; re-export the package");
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + " is malformed (" + e.what() + "); re-export the package with swinpose-export");
  }
}

}  // namespace swinpose
