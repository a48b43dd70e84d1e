// The table of the backends this build has: one entry per compiled backend, no if/else over names.
#include <map>

#include "swinpose/backends.hpp"

namespace swinpose {
namespace {

using Factory = std::unique_ptr<Backend> (*)(const PackageConfig&);

const std::map<std::string, Factory>& table() {
  static const std::map<std::string, Factory> backends = {
#ifdef SWINPOSE_WITH_OPENCV_DNN
      {"opencv", make_opencv_backend},
#endif
#ifdef SWINPOSE_WITH_TENSORRT
      {"tensorrt", make_tensorrt_backend},
#endif
  };
  return backends;
}

}  // namespace

std::vector<std::string> backend_names() {
  std::vector<std::string> names;
  for (const auto& entry : table()) names.push_back(entry.first);
  return names;
}

std::unique_ptr<Backend> make_backend(const std::string& name, const PackageConfig& cfg) {
  const auto it = table().find(name);
  if (it == table().end()) {
    std::string have;
    for (const auto& n : backend_names()) have += (have.empty() ? "" : ", ") + n;
    throw Error("this build has no '" + name + "' backend (it has: " + (have.empty() ? "none" : have) +
                "); TensorRT is built when CMake finds it, OpenCV DNN when OpenCV has its dnn module");
  }
  verify_file(cfg, name == "tensorrt" ? cfg.files.engine : cfg.files.opencv);  // the bytes the export wrote
  return it->second(cfg);
}

}  // namespace swinpose
