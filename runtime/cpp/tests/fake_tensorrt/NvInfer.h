// A recording fake of the part of TensorRT's C++ runtime API (NvInfer.h, TensorRT 10/11) that swinpose's TensorRT
// backend uses, with TensorRT's names, signatures and conventions (null on failure, the reason to the logger), so that
// the backend compiles and runs in tests without TensorRT. An engine file is the Python fake's (tests/fake_tensorrt.py:
// "FAKE-TRT-ENGINE\n" + JSON with the profile, the ONNX it was built from and the TensorRT version); the execution
// context runs model.opencv.onnx (or the JSON's "opencv" file) beside that ONNX with OpenCV DNN, one crop at a time, on the bytes at the tensors'
// addresses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "cuda_runtime_api.h"

#define NV_TENSORRT_MAJOR 11
#define NV_TENSORRT_MINOR 4
#define NV_TENSORRT_PATCH 0

namespace nvinfer1 {

using AsciiChar = char;

class Dims64 {
 public:
  static constexpr int32_t MAX_DIMS{8};
  int32_t nbDims;
  int64_t d[MAX_DIMS];
};
using Dims = Dims64;

class Dims4 : public Dims {
 public:
  Dims4(int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    nbDims = 4;
    d[0] = d0;
    d[1] = d1;
    d[2] = d2;
    d[3] = d3;
  }
};

enum class TensorIOMode : int32_t { kNONE = 0, kINPUT = 1, kOUTPUT = 2 };
enum class DataType : int32_t { kFLOAT = 0, kHALF = 1, kINT8 = 2, kINT32 = 3, kBOOL = 4, kUINT8 = 5, kINT64 = 8 };
enum class OptProfileSelector : int32_t { kMIN = 0, kOPT = 1, kMAX = 2 };
enum class ExecutionContextAllocationStrategy : int32_t { kSTATIC = 0, kON_PROFILE_CHANGE = 1, kUSER_MANAGED = 2 };

class ILogger {
 public:
  enum class Severity : int32_t { kINTERNAL_ERROR = 0, kERROR = 1, kWARNING = 2, kINFO = 3, kVERBOSE = 4 };
  virtual void log(Severity severity, AsciiChar const* msg) noexcept = 0;
  ILogger() = default;
  virtual ~ILogger() = default;
};

struct FakeEngine;
struct FakeContext;

class IExecutionContext {
 public:
  explicit IExecutionContext(std::shared_ptr<FakeEngine> engine);
  virtual ~IExecutionContext() noexcept;
  bool setInputShape(char const* tensorName, Dims const& dims) noexcept;
  bool setTensorAddress(char const* tensorName, void* data) noexcept;
  bool enqueueV3(cudaStream_t stream) noexcept;
  Dims getTensorShape(char const* tensorName) const noexcept;

 private:
  std::unique_ptr<FakeContext> impl_;
};

class ICudaEngine {
 public:
  explicit ICudaEngine(std::shared_ptr<FakeEngine> impl);
  virtual ~ICudaEngine() noexcept;
  IExecutionContext* createExecutionContext(
      ExecutionContextAllocationStrategy strategy = ExecutionContextAllocationStrategy::kSTATIC) noexcept;
  int32_t getNbIOTensors() const noexcept;
  char const* getIOTensorName(int32_t index) const noexcept;
  TensorIOMode getTensorIOMode(char const* tensorName) const noexcept;
  DataType getTensorDataType(char const* tensorName) const noexcept;
  Dims getTensorShape(char const* tensorName) const noexcept;
  Dims getProfileShape(char const* tensorName, int32_t profileIndex, OptProfileSelector select) const noexcept;

 private:
  std::shared_ptr<FakeEngine> impl_;
};

class IRuntime {
 public:
  explicit IRuntime(ILogger& logger) : logger_(logger) {}
  virtual ~IRuntime() noexcept = default;
  ICudaEngine* deserializeCudaEngine(void const* blob, std::size_t size) noexcept;

 private:
  ILogger& logger_;
};

IRuntime* createInferRuntime(ILogger& logger) noexcept;

// What the fake saw (not TensorRT API): live engines and contexts, executions, and the last input shape.
struct FakeTrtStats {
  int live_engines, live_contexts, executions;
  Dims last_input_shape;
};
FakeTrtStats fake_trt_stats();

}  // namespace nvinfer1
