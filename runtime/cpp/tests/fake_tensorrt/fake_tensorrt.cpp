// The fake CUDA runtime and TensorRT of NvInfer.h / cuda_runtime_api.h in this folder. See those headers.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/dnn.hpp>

#include "NvInfer.h"
#include "cuda_runtime_api.h"

namespace {

std::map<const char*, size_t, std::less<>> g_alloc;  // start → size of each live "device" allocation
std::set<cudaStream_t> g_streams;
FakeCudaStats g_cuda{0, 0, 0, 0};
nvinfer1::FakeTrtStats g_trt{0, 0, 0, {}};
int g_next_stream = 1;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "fake CUDA/TensorRT: %s\n", what.c_str());
  std::abort();
}

// True if [p, p + bytes) lies inside one live allocation.
bool on_device(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  auto it = g_alloc.upper_bound(c);
  if (it == g_alloc.begin()) return false;
  --it;
  return c >= it->first && c + bytes <= it->first + it->second;
}

}  // namespace

cudaError_t cudaMalloc(void** devPtr, size_t size) {
  if (!devPtr || !size) return cudaErrorInvalidValue;
  char* p = static_cast<char*>(std::malloc(size));
  if (!p) return cudaErrorMemoryAllocation;
  g_alloc[p] = size;
  *devPtr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* devPtr) {
  const auto it = g_alloc.find(static_cast<const char*>(devPtr));
  if (it == g_alloc.end()) return cudaErrorInvalidValue;
  g_alloc.erase(it);
  std::free(devPtr);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind, cudaStream_t stream) {
  if (!g_streams.count(stream)) return cudaErrorInvalidValue;
  if (kind == cudaMemcpyHostToDevice) {
    if (!on_device(dst, count)) fail("host-to-device copy into memory that is not a live device allocation");
    g_cuda.bytes_to_device += count;
  } else if (kind == cudaMemcpyDeviceToHost) {
    if (!on_device(src, count)) fail("device-to-host copy from memory that is not a live device allocation");
    g_cuda.bytes_to_host += count;
  } else {
    return cudaErrorInvalidValue;
  }
  std::memcpy(dst, src, count);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* pStream) {
  *pStream = reinterpret_cast<cudaStream_t>(static_cast<intptr_t>(0x5000 + g_next_stream++));
  g_streams.insert(*pStream);
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  return g_streams.count(stream) ? cudaSuccess : cudaErrorInvalidValue;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) { return g_streams.erase(stream) ? cudaSuccess : cudaErrorInvalidValue; }

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
  }
  return "unknown error";
}

FakeCudaStats fake_cuda_stats() {
  g_cuda.live_allocations = static_cast<int>(g_alloc.size());
  g_cuda.live_streams = static_cast<int>(g_streams.size());
  return g_cuda;
}

namespace nvinfer1 {

struct FakeEngine {
  std::string input, output;
  Dims profile[3];  // min, opt, max of the input
  Dims output_dims;  // -1 for the batch
  cv::dnn::Net net;
  ~FakeEngine() { --g_trt.live_engines; }
};

struct FakeContext {
  std::shared_ptr<FakeEngine> engine;
  Dims input_shape{0, {}};
  std::map<std::string, void*> addresses;
};

namespace {

Dims dims_of(const nlohmann::json& j) {
  Dims d{static_cast<int32_t>(j.size()), {}};
  for (size_t i = 0; i < j.size(); ++i) d.d[i] = j[i].get<int64_t>();
  return d;
}

int64_t volume(const Dims& d) {
  int64_t v = 1;
  for (int i = 0; i < d.nbDims; ++i) v *= d.d[i];
  return v;
}

}  // namespace

IRuntime* createInferRuntime(ILogger& logger) noexcept { return new IRuntime(logger); }

ICudaEngine* IRuntime::deserializeCudaEngine(void const* blob, std::size_t size) noexcept {
  static const std::string magic = "FAKE-TRT-ENGINE\n";
  const std::string data(static_cast<const char*>(blob), size);
  if (data.compare(0, magic.size(), magic) != 0) {
    logger_.log(ILogger::Severity::kERROR, "Serialization assertion failed: magic tag mismatch");
    return nullptr;
  }
  try {
    const auto j = nlohmann::json::parse(data.substr(magic.size()));
    const std::string version = std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + "." +
                                std::to_string(NV_TENSORRT_PATCH);
    if (j.at("version") != version) {
      logger_.log(ILogger::Severity::kERROR, ("engine plan from TensorRT " + j.at("version").get<std::string>() +
                                              ", this is " + version).c_str());
      return nullptr;
    }
    auto engine = std::make_shared<FakeEngine>();
    const auto profile = j.at("profile").begin();
    engine->input = profile.key();
    for (int i = 0; i < 3; ++i) engine->profile[i] = dims_of(profile.value()[i]);
    const auto output = j.at("outputs").begin();
    engine->output = output.key();
    engine->output_dims = dims_of(output.value());
    std::string onnx = j.at("onnx");
    // the OpenCV graph beside that ONNX: the engine JSON's "opencv" (a detector's), else the pose package's
    const std::string opencv = j.contains("opencv") ? j["opencv"].get<std::string>() : "model.opencv.onnx";
    const std::string graph = onnx.substr(0, onnx.find_last_of('/') + 1) + opencv;
    engine->net = cv::dnn::readNetFromONNX(graph);
    ++g_trt.live_engines;
    return new ICudaEngine(engine);
  } catch (const std::exception& e) {
    logger_.log(ILogger::Severity::kERROR, (std::string("corrupt engine: ") + e.what()).c_str());
    return nullptr;
  }
}

ICudaEngine::ICudaEngine(std::shared_ptr<FakeEngine> impl) : impl_(std::move(impl)) {}
ICudaEngine::~ICudaEngine() noexcept = default;

IExecutionContext* ICudaEngine::createExecutionContext(ExecutionContextAllocationStrategy) noexcept {
  return new IExecutionContext(impl_);
}

int32_t ICudaEngine::getNbIOTensors() const noexcept { return 2; }

char const* ICudaEngine::getIOTensorName(int32_t index) const noexcept {
  return index == 0 ? impl_->input.c_str() : index == 1 ? impl_->output.c_str() : nullptr;
}

TensorIOMode ICudaEngine::getTensorIOMode(char const* name) const noexcept {
  return name == impl_->input ? TensorIOMode::kINPUT : name == impl_->output ? TensorIOMode::kOUTPUT
                                                                             : TensorIOMode::kNONE;
}

DataType ICudaEngine::getTensorDataType(char const*) const noexcept { return DataType::kFLOAT; }

Dims ICudaEngine::getTensorShape(char const* name) const noexcept {
  Dims d = name == impl_->input ? impl_->profile[2] : impl_->output_dims;
  d.d[0] = -1;
  return d;
}

Dims ICudaEngine::getProfileShape(char const* name, int32_t profileIndex, OptProfileSelector select) const noexcept {
  if (profileIndex != 0 || name != impl_->input) return Dims{-1, {}};
  return impl_->profile[static_cast<int>(select)];
}

IExecutionContext::IExecutionContext(std::shared_ptr<FakeEngine> engine) : impl_(new FakeContext{engine, {}, {}}) {
  ++g_trt.live_contexts;
}

IExecutionContext::~IExecutionContext() noexcept { --g_trt.live_contexts; }

bool IExecutionContext::setInputShape(char const* name, Dims const& dims) noexcept {
  const auto& e = *impl_->engine;
  if (name != e.input || dims.nbDims != e.profile[0].nbDims) return false;
  for (int i = 0; i < dims.nbDims; ++i)
    if (dims.d[i] < e.profile[0].d[i] || dims.d[i] > e.profile[2].d[i]) return false;
  impl_->input_shape = dims;
  return true;
}

bool IExecutionContext::setTensorAddress(char const* name, void* data) noexcept {
  const auto& e = *impl_->engine;
  if (name != e.input && name != e.output) return false;
  impl_->addresses[name] = data;
  return true;
}

Dims IExecutionContext::getTensorShape(char const* name) const noexcept {
  const auto& e = *impl_->engine;
  if (name == e.input) return impl_->input_shape;
  Dims d = e.output_dims;
  d.d[0] = impl_->input_shape.d[0];
  return d;
}

bool IExecutionContext::enqueueV3(cudaStream_t stream) noexcept {
  auto& e = *impl_->engine;
  const Dims in = impl_->input_shape;
  if (!g_streams.count(stream) || in.nbDims != 4) return false;
  Dims out = getTensorShape(e.output.c_str());
  const int64_t batch = in.d[0], in_crop = volume(in) / batch, out_crop = volume(out) / batch;
  void* src = impl_->addresses[e.input];
  void* dst = impl_->addresses[e.output];
  if (!on_device(src, sizeof(float) * volume(in))) fail("TensorRT read an input address that is not live device memory");
  if (!on_device(dst, sizeof(float) * volume(out))) fail("TensorRT wrote an output address that is not live device memory");
  const int crop_shape[] = {1, static_cast<int>(in.d[1]), static_cast<int>(in.d[2]), static_cast<int>(in.d[3])};
  for (int64_t i = 0; i < batch; ++i) {
    e.net.setInput(cv::Mat(4, crop_shape, CV_32F, static_cast<float*>(src) + i * in_crop));
    const cv::Mat y = e.net.forward();
    if (static_cast<int64_t>(y.total()) != out_crop) fail("the OpenCV graph's output does not match the engine's");
    std::memcpy(static_cast<float*>(dst) + i * out_crop, y.ptr<float>(), sizeof(float) * out_crop);
  }
  ++g_trt.executions;
  g_trt.last_input_shape = in;
  return true;
}

FakeTrtStats fake_trt_stats() { return g_trt; }

}  // namespace nvinfer1
