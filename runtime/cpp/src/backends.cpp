// The table of the backends this build has: one entry per compiled backend, no if/else over names.
#include <map>

#include "swinpose/backends.hpp"

namespace swinpose {
namespace {

// One row per compiled backend: its pose factory and its detector factory.
struct Entry {
  std::unique_ptr<Backend> (*pose)(const PackageConfig&);
  std::unique_ptr<DetectorBackend> (*detector)(const DetectorConfig&);
};

const std::map<std::string, Entry>& table() {
  static const std::map<std::string, Entry> backends = {
#ifdef SWINPOSE_WITH_OPENCV_DNN
      {"opencv", {make_opencv_backend, make_opencv_detector_backend}},
#endif
#ifdef SWINPOSE_WITH_TENSORRT
      {"tensorrt", {make_tensorrt_backend, make_tensorrt_detector_backend}},
#endif
  };
  return backends;
}

const Entry& entry(const std::string& name) {
  const auto it = table().find(name);
  if (it == table().end()) {
    std::string have;
    for (const auto& n : backend_names()) have += (have.empty() ? "" : ", ") + n;
    throw Error("this build has no '" + name + "' backend (it has: " + (have.empty() ? "none" : have) +
                "); TensorRT is built when CMake finds it, OpenCV DNN when OpenCV has its dnn module");
  }
  return it->second;
}

}  // namespace

std::vector<std::string> backend_names() {
  std::vector<std::string> names;
  for (const auto& row : table()) names.push_back(row.first);
  return names;
}

std::vector<std::string> detector_backend_names() { return backend_names(); }

std::unique_ptr<Backend> make_backend(const std::string& name, const PackageConfig& cfg) {
  const Entry& row = entry(name);
  verify_file(cfg, name == "tensorrt" ? cfg.files.engine : cfg.files.opencv);  // the bytes the export wrote
  return row.pose(cfg);
}

std::unique_ptr<DetectorBackend> make_detector_backend(const std::string& name, const DetectorConfig& cfg) {
  const Entry& row = entry(name);
  verify_detector_file(cfg, name == "tensorrt" ? cfg.engine_file : cfg.opencv_file);
  return row.detector(cfg);
}

}  // namespace swinpose
