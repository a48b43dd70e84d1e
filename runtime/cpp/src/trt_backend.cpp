// TensorRT backend: deserialises the package's engine and runs it with the name-based tensor API on one CUDA stream.
// Buffers are sized from the optimisation profile's maximum and freed in the destructor; every call is checked.
#include <cstdio>
#include <fstream>
#include <iterator>

#include <NvInfer.h>
#include <cuda_runtime_api.h>

#include "swinpose/backends.hpp"

namespace swinpose {
namespace {

void check_cuda(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw Error(std::string(what) + " failed: " + cudaGetErrorString(err));
}

class Logger : public nvinfer1::ILogger {
  void log(Severity severity, const char* msg) noexcept override {
    if (severity <= Severity::kWARNING) std::fprintf(stderr, "TensorRT: %s\n", msg);
  }
};

class TrtBackend : public Backend {
 public:
  explicit TrtBackend(const PackageConfig& cfg) : cfg_(cfg) {
    if (cfg.engine_file.empty()) throw Error(cfg.folder + " has no model.engine; build one with swinpose-export --engine");
    std::ifstream f(cfg.folder + "/" + cfg.engine_file, std::ios::binary);
    const std::vector<char> blob{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
    runtime_.reset(nvinfer1::createInferRuntime(logger_));
    if (!runtime_) throw Error("createInferRuntime failed");
    engine_.reset(runtime_->deserializeCudaEngine(blob.data(), blob.size()));
    if (!engine_)
      throw Error(cfg.engine_file + " was built by another TensorRT version or for another GPU; rebuild it here with "
                  "swinpose-export --engine");
    context_.reset(engine_->createExecutionContext());
    if (!context_) throw Error("createExecutionContext failed");
    check_cuda(cudaStreamCreate(&stream_), "cudaStreamCreate");
    const size_t in_bytes = sizeof(float) * cfg.batch_max * 3 * cfg.input_h * cfg.input_w;
    const size_t out_bytes = sizeof(float) * cfg.batch_max * cfg.num_keypoints * cfg.heatmap_h * cfg.heatmap_w;
    check_cuda(cudaMalloc(&input_, in_bytes), "cudaMalloc");
    check_cuda(cudaMalloc(&output_, out_bytes), "cudaMalloc");
    if (!context_->setTensorAddress(cfg.input_name.c_str(), input_) ||
        !context_->setTensorAddress(cfg.output_name.c_str(), output_))
      throw Error("the engine's tensor names differ from model.json's; re-export the package");
  }
  ~TrtBackend() override {
    if (input_) cudaFree(input_);
    if (output_) cudaFree(output_);
    if (stream_) cudaStreamDestroy(stream_);
  }
  void infer(const float* input, int batch, float* output) override {
    if (batch < cfg_.batch_min || batch > cfg_.batch_max) throw Error("batch outside the engine's profile");
    const size_t in_bytes = sizeof(float) * batch * 3 * cfg_.input_h * cfg_.input_w;
    const size_t out_bytes = sizeof(float) * batch * cfg_.num_keypoints * cfg_.heatmap_h * cfg_.heatmap_w;
    if (!context_->setInputShape(cfg_.input_name.c_str(),
                                 nvinfer1::Dims4{batch, 3, cfg_.input_h, cfg_.input_w}))
      throw Error("TensorRT refused the input shape");
    check_cuda(cudaMemcpyAsync(input_, input, in_bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync");
    if (!context_->enqueueV3(stream_)) throw Error("TensorRT enqueueV3 failed");
    check_cuda(cudaMemcpyAsync(output, output_, out_bytes, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync");
    check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }

 private:
  PackageConfig cfg_;
  Logger logger_;
  std::unique_ptr<nvinfer1::IRuntime> runtime_;
  std::unique_ptr<nvinfer1::ICudaEngine> engine_;
  std::unique_ptr<nvinfer1::IExecutionContext> context_;
  cudaStream_t stream_ = nullptr;
  void* input_ = nullptr;
  void* output_ = nullptr;
};

}  // namespace

std::unique_ptr<Backend> make_tensorrt_backend(const PackageConfig& cfg) { return std::make_unique<TrtBackend>(cfg); }

}  // namespace swinpose
