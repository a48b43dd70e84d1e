// The backend factories, each compiled only where its library is found (see CMakeLists.txt). Applications call
// swinpose::make_backend(name, cfg) instead, which knows which ones this build has.
#pragma once

#include <memory>

#include "swinpose/detector.hpp"
#include "swinpose/swinpose.hpp"

namespace swinpose {

#ifdef SWINPOSE_WITH_OPENCV_DNN
std::unique_ptr<Backend> make_opencv_backend(const PackageConfig& cfg);
std::unique_ptr<DetectorBackend> make_opencv_detector_backend(const DetectorConfig& cfg);
#endif

#ifdef SWINPOSE_WITH_TENSORRT
std::unique_ptr<Backend> make_tensorrt_backend(const PackageConfig& cfg);
std::unique_ptr<DetectorBackend> make_tensorrt_detector_backend(const DetectorConfig& cfg);
#endif

}  // namespace swinpose
