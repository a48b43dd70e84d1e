// read_package: model.json into the typed PackageConfig, with runtime/package.py's checks and migration.
#include <cmath>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "swinpose/swinpose.hpp"

namespace swinpose {
namespace {

using json = nlohmann::json;

struct Reader {
  std::string path;
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(path + ": " + what + "; re-export the package with swinpose-export");
  }
  void check(bool ok, const std::string& what) const {
    if (!ok) fail(what);
  }
  std::array<int, 2> size(const json& j, const std::string& field) const {
    check(j.is_array() && j.size() == 2 && j[0].is_number_integer() && j[1].is_number_integer() && j[0] > 0 &&
              j[1] > 0,
          "'" + field + "' must be two positive integers (H, W)");
    return {j[0].get<int>(), j[1].get<int>()};
  }
  std::array<float, 3> three(const json& j, const std::string& field) const {
    check(j.is_array() && j.size() == 3, "'" + field + "' must be 3 numbers");
    std::array<float, 3> out{};
    for (int i = 0; i < 3; ++i) {
      check(j[i].is_number() && std::isfinite(j[i].get<double>()), "'" + field + "' must be 3 finite numbers");
      out[i] = j[i].get<float>();
    }
    return out;
  }
  std::vector<std::array<int, 2>> pairs(const json& j, int k, const std::string& field) const {
    check(j.is_array(), "'" + field + "' must be a list of [a, b] keypoint index pairs");
    std::vector<std::array<int, 2>> out;
    for (const auto& p : j) {
      check(p.is_array() && p.size() == 2 && p[0].is_number_integer() && p[1].is_number_integer() && p[0] >= 0 &&
                p[1] >= 0 && p[0] < k && p[1] < k,
            "'" + field + "' entry " + p.dump() + " must be two keypoint indices in 0.." + std::to_string(k - 1));
      out.push_back({p[0].get<int>(), p[1].get<int>()});
    }
    return out;
  }
  TensorSpec tensor(const json& j, const std::string& field) const {
    TensorSpec t{j.at("name"), j.at("shape").get<std::vector<int64_t>>(), j.at("dtype"), j.at("layout")};
    check(t.shape.size() == 4 && t.shape[0] == -1, "'" + field + ".shape' must be [-1, C, H, W]");
    check(t.dtype == "float32" && t.layout == "NCHW", "'" + field + "' must be float32 NCHW");
    return t;
  }
};

std::string opt_string(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

}  // namespace

PackageConfig read_package(const std::string& folder) {
  const std::string path = folder + "/model.json";
  std::ifstream file(path);
  if (!file) throw Error(path + " does not exist; make a package with: swinpose-export --weights W --out DIR");
  const Reader r{path};
  json j;
  try {
    file >> j;
  } catch (const json::exception& e) {
    r.fail(std::string("is not valid JSON (") + e.what() + ")");
  }
  try {
    // format version 2, or 1 (migrated: its pre-processing had pixel_scale 255 and a fixed aspect)
    const int version = j.contains("format_version") ? j["format_version"].get<int>()
                        : j.contains("schema_version") ? j["schema_version"].get<int>() : 0;
    if (version > 2)
      throw Error(path + " has format version " + std::to_string(version) +
                  ", newer than this swinpose reads (2); upgrade swinpose");
    r.check(version == 1 || version == 2, "format version " + std::to_string(version) + " is not one this swinpose "
                                          "reads (1 or 2)");
    PackageConfig c;
    c.folder = folder;
    c.format_version = 2;
    c.precision = j.at("precision");
    r.check(c.precision == "fp32" || c.precision == "fp16" || c.precision == "int8",
            "precision '" + c.precision + "' is not one of fp32, fp16, int8");
    const auto& model = j.at("model");
    c.model = {model.at("name"), model.at("config").dump(), opt_string(model, "weights")};
    const auto& files = j.at("files");
    c.files = {files.at("onnx"), opt_string(files, "engine"), opt_string(files, "calibration"),
               opt_string(files, "opencv")};
    c.input = r.tensor(j.at("input"), "input");
    c.output = r.tensor(j.at("output"), "output");
    const auto& batch = j.at("batch");
    c.batch = {batch.at("min"), batch.at("opt"), batch.at("max")};
    r.check(1 <= c.batch.min && c.batch.min <= c.batch.opt && c.batch.opt <= c.batch.max,
            "'batch' must satisfy 1 <= min <= opt <= max");

    const auto& pre = j.at("preprocess");
    auto& p = c.preprocess;
    p.input_size = r.size(pre.at("input_size"), "preprocess.input_size");
    p.color_order = pre.at("color_order");
    r.check(p.color_order == "RGB" || p.color_order == "BGR", "'preprocess.color_order' must be RGB or BGR");
    p.mean = r.three(pre.at("mean"), "preprocess.mean");
    p.std = r.three(pre.at("std"), "preprocess.std");
    r.check(p.std[0] > 0 && p.std[1] > 0 && p.std[2] > 0, "'preprocess.std' must be positive");
    p.pixel_scale = version == 1 ? 255.0 : pre.at("pixel_scale").get<double>();
    p.box_padding = pre.at("box_padding");
    p.aspect = version == 1 ? "fixed" : pre.at("aspect").get<std::string>();
    r.check(std::isfinite(p.pixel_scale) && p.pixel_scale > 0, "'preprocess.pixel_scale' must be positive");
    r.check(std::isfinite(p.box_padding) && p.box_padding > 0, "'preprocess.box_padding' must be positive");
    r.check(p.aspect == "fixed", "'preprocess.aspect' must be fixed");
    if (pre.contains("warp")) p.warp = pre["warp"];
    r.check(p.warp == "centre" || p.warp == "mmpose", "'preprocess.warp' must be centre or mmpose");

    const auto& codec = j.at("codec");
    c.codec.input_size = r.size(codec.at("input_size"), "codec.input_size");
    c.codec.heatmap_size = r.size(codec.at("heatmap_size"), "codec.heatmap_size");
    c.codec.sigma = codec.at("sigma");
    c.codec.use_dark = codec.at("use_dark");
    if (codec.contains("convention")) c.codec.convention = codec["convention"];
    if (codec.contains("flip_shift")) c.codec.flip_shift = codec["flip_shift"];
    r.check(c.codec.convention == "centre" || c.codec.convention == "msra",
            "'codec.convention' must be centre or msra");
    r.check(std::isfinite(c.codec.sigma) && c.codec.sigma > 0, "'codec.sigma' must be a positive number");
    const auto [ih, iw] = c.codec.input_size;
    const auto [hh, hw] = c.codec.heatmap_size;
    r.check(ih % hh == 0 && iw % hw == 0 && ih / hh == iw / hw,
            "'codec.input_size' must be the same integer multiple of codec.heatmap_size on both axes");

    const auto& kp = j.at("keypoints");
    c.keypoints.names = kp.at("names").get<std::vector<std::string>>();
    const int k = c.num_keypoints();
    r.check(k > 0 && std::set<std::string>(c.keypoints.names.begin(), c.keypoints.names.end()).size() == size_t(k),
            "'keypoints.names' must be distinct names");
    c.keypoints.skeleton = r.pairs(kp.at("skeleton"), k, "keypoints.skeleton");
    c.keypoints.flip_pairs = r.pairs(kp.at("flip_pairs"), k, "keypoints.flip_pairs");
    c.keypoints.oks_sigmas = kp.at("oks_sigmas").get<std::vector<double>>();
    r.check(c.keypoints.oks_sigmas.empty() || int(c.keypoints.oks_sigmas.size()) == k,
            "'keypoints.oks_sigmas' must be one per keypoint or empty");

    // the parts agree: input B×3×H×W, output B×K×h×w
    const std::vector<int64_t> in_shape{-1, 3, p.input_size[0], p.input_size[1]};
    const std::vector<int64_t> out_shape{-1, k, hh, hw};
    r.check(c.codec.input_size == p.input_size && c.input.shape == in_shape && c.output.shape == out_shape,
            "codec.input_size, input.shape and output.shape disagree with preprocess.input_size, the keypoint "
            "names and codec.heatmap_size");

    for (const auto& [section, name] : {std::pair<const char*, std::string>{"onnx", c.files.onnx},
                                        {"engine", c.files.engine}, {"opencv", c.files.opencv}}) {
      if (name.empty() || !j.contains(section) || !j[section].is_object()) continue;
      const auto& record = j[section];
      FileRecord f;
      if (record.contains("bytes") && record["bytes"].is_number_integer()) f.bytes = record["bytes"];
      if (record.contains("sha256") && record["sha256"].is_string()) f.sha256 = record["sha256"];
      c.records[name] = f;
    }
    if (j.contains("engine") && j["engine"].is_object()) {
      const auto& engine = j["engine"];
      if (engine.contains("flavor")) c.engine.flavor = engine["flavor"];
      if (engine.contains("compute_capabilities") && !engine["compute_capabilities"].is_null())
        c.engine.compute_capabilities = engine["compute_capabilities"].get<std::vector<std::string>>();
    }
    return c;
  } catch (const json::exception& e) {
    r.fail(std::string("is malformed (") + e.what() + ")");
  }
}

std::string package_summary_json(const PackageConfig& c) {
  const auto or_null = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  const auto tensor = [](const TensorSpec& t) {
    return json{{"name", t.name}, {"shape", t.shape}, {"dtype", t.dtype}, {"layout", t.layout}};
  };
  const auto& p = c.preprocess;
  json j = {
      {"format_version", c.format_version},
      {"precision", c.precision},
      {"model", {{"name", c.model.name}, {"config", json::parse(c.model.config_json)}, {"weights", or_null(c.model.weights)}}},
      {"files", {{"onnx", c.files.onnx}, {"engine", or_null(c.files.engine)}, {"calibration", or_null(c.files.calibration)},
                 {"opencv", or_null(c.files.opencv)}}},
      {"input", tensor(c.input)},
      {"output", tensor(c.output)},
      {"batch", {{"min", c.batch.min}, {"opt", c.batch.opt}, {"max", c.batch.max}}},
      {"preprocess", {{"input_size", p.input_size}, {"color_order", p.color_order}, {"mean", p.mean}, {"std", p.std},
                      {"pixel_scale", p.pixel_scale}, {"box_padding", p.box_padding}, {"aspect", p.aspect},
                      {"warp", p.warp}}},
      {"codec", {{"input_size", c.codec.input_size}, {"heatmap_size", c.codec.heatmap_size}, {"sigma", c.codec.sigma},
                 {"use_dark", c.codec.use_dark}, {"convention", c.codec.convention},
                 {"flip_shift", c.codec.flip_shift}}},
      {"keypoints", {{"names", c.keypoints.names}, {"skeleton", c.keypoints.skeleton},
                     {"flip_pairs", c.keypoints.flip_pairs}, {"oks_sigmas", c.keypoints.oks_sigmas}}},
      {"engine", {{"flavor", c.engine.flavor}, {"compute_capabilities", c.engine.compute_capabilities}}},
  };
  return j.dump();
}

}  // namespace swinpose
