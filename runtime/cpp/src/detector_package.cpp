// read_detector_package: detector.json into the typed DetectorConfig, with runtime/detection/package.py's checks.
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "swinpose/detector.hpp"

namespace swinpose {
namespace {

using json = nlohmann::json;
const char* const kReexport = "re-export it with swinpose-export --detector FILE --out DIR";

struct Reader {
  std::string path;
  [[noreturn]] void fail(const std::string& what) const { throw Error(path + ": " + what + "; " + kReexport); }
  void check(bool ok, const std::string& what) const {
    if (!ok) fail(what);
  }
  // files.<field>: a file name inside the package folder ("" for null where `optional`)
  std::string file_name(const json& files, const std::string& field, bool optional) const {
    if (!files.contains(field) || files[field].is_null()) {
      check(optional, "files." + field + " must be a file name inside the package folder");
      return "";
    }
    check(files[field].is_string(), "files." + field + " must be a file name inside the package folder");
    const std::string name = files[field];
    check(!name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos,
          "files." + field + " must be a file name inside the package folder, got '" + name + "'");
    return name;
  }
};

}  // namespace

DetectorConfig read_detector_package(const std::string& folder) {
  const std::string path = folder + "/detector.json";
  std::ifstream file(path);
  if (!file) {
    if (std::ifstream(folder + "/model.json"))
      throw Error(folder + " is a pose model package (model.json), not a detector package: pass it as the package, "
                  "and a detector package as --detector (make one with: swinpose-export --detector FILE --out DIR)");
    throw Error(path + " does not exist; make a detector package with: swinpose-export --detector FILE --out DIR");
  }
  const Reader r{path};
  json j;
  try {
    file >> j;
  } catch (const json::exception& e) {
    r.fail(std::string("is not valid JSON (") + e.what() + ")");
  }
  r.check(j.is_object(), "must hold a JSON object");
  r.check(j.value("kind", json()) == "swinpose-detector", "is not a swinpose detector package (kind " +
                                                              j.value("kind", json()).dump() + ")");
  const json version = j.value("format_version", json());
  if (version.is_number_integer() && version.get<int>() > 1)
    throw Error(path + " has format version " + version.dump() +
                ", newer than this swinpose reads (1); upgrade swinpose");
  r.check(version == 1, "format version " + version.dump() + " is not one this swinpose reads (1)");
  static const std::set<std::string> fields = {"format_version", "kind",  "layout", "person_class", "class_names",
                                               "input",          "files", "onnx",   "engine",       "opencv",
                                               "tools",          "created"};
  for (const auto& item : j.items())
    if (!fields.count(item.key()))
      throw Error(path + " has the unknown field '" + item.key() +
                  "': a newer swinpose wrote it? upgrade swinpose or re-export it");
  try {
    DetectorConfig c;
    c.folder = folder;
    c.layout = j.at("layout");
    try {
      detector_layout(c.layout);  // a known layout, or an Error listing them
    } catch (const Error& e) {
      r.fail(e.what());
    }
    const auto& klass = j.at("person_class");
    r.check(klass.is_number_integer() && klass.get<int>() >= 0, "person_class must be a class index >= 0");
    c.person_class = klass;
    if (j.contains("class_names") && !j["class_names"].is_null()) {
      r.check(j["class_names"].is_object(), "class_names must map class indices (as JSON keys) to names");
      for (const auto& item : j["class_names"].items()) {
        const std::string& key = item.key();
        r.check(!key.empty() && key.find_first_not_of("0123456789") == std::string::npos && item.value().is_string(),
                "class_names must map class indices (as JSON keys) to names");
        c.class_names[std::stoi(key)] = item.value();
      }
      r.check(c.class_names.count(c.person_class) > 0,
              "person_class " + std::to_string(c.person_class) + " is not one of the class_names");
    }
    const auto& input = j.at("input");
    const auto& size = input.at("size");
    r.check(size.is_array() && size.size() == 2 && size[0].is_number_integer() && size[1].is_number_integer() &&
                size[0].get<int>() > 0 && size[1].get<int>() > 0,
            "input.size must be [H, W], two positive integers");
    c.input_size = {size[0].get<int>(), size[1].get<int>()};
    c.input_name = input.at("name");
    r.check(!c.input_name.empty(), "input.name must be the graph's input name");
    c.input_dtype = input.at("dtype");
    r.check(c.input_dtype == "float32" || c.input_dtype == "float16" || c.input_dtype == "uint8",
            "input.dtype must be float32, float16 or uint8");
    const auto& files = j.at("files");
    r.check(files.is_object(), "'files' must be an object");
    c.onnx_file = r.file_name(files, "onnx", false);
    c.engine_file = r.file_name(files, "engine", true);
    c.opencv_file = r.file_name(files, "opencv", true);
    for (const auto& [section, name] : {std::pair<const char*, std::string>{"onnx", c.onnx_file},
                                        {"engine", c.engine_file}, {"opencv", c.opencv_file}}) {
      const bool listed = j.contains(section) && j[section].is_object();
      r.check(listed == !name.empty() || std::string(section) == "onnx",
              std::string("files.") + section + " and " + section + " must both be set or both be null");
      r.check(std::string(section) != "onnx" || listed, "'onnx' must be an object");
      if (!listed) continue;
      const auto& record = j[section];
      FileRecord f;
      if (record.contains("bytes") && record["bytes"].is_number_integer()) f.bytes = record["bytes"];
      if (record.contains("sha256") && record["sha256"].is_string()) f.sha256 = record["sha256"];
      c.records[name] = f;
    }
    if (!c.engine_file.empty()) {
      const auto& engine = j["engine"];
      if (engine.contains("flavor")) c.engine.flavor = engine["flavor"];
      if (engine.contains("compute_capabilities") && !engine["compute_capabilities"].is_null())
        c.engine.compute_capabilities = engine["compute_capabilities"].get<std::vector<std::string>>();
    }
    r.check(j.at("tools").is_object(), "'tools' must be an object");
    return c;
  } catch (const json::exception& e) {
    r.fail(std::string("is malformed (") + e.what() + ")");
  }
}

void verify_detector_file(const DetectorConfig& cfg, const std::string& name) {
  verify_record(cfg.folder, "detector.json", cfg.records, name, kReexport);
}

}  // namespace swinpose
