// TensorRT backend: deserialises the package's engine and runs it with the name-based tensor API on one CUDA stream.
// The engine's I/O (names, float32, the profile's batch range) is checked against model.json when it opens; device
// buffers are sized from the profile maximum, allocated once and freed in the destructor; every call is checked.
//
// One source for both TensorRT flavours. Standard TensorRT (libnvinfer) and TensorRT for RTX (libtensorrt_rtx) share
// NvInfer.h's names for every call made here: createInferRuntime, deserializeCudaEngine, the engine's name-based
// getters, createExecutionContext, setInputShape, setTensorAddress and enqueueV3. What differs is the library
// CMake links (SWINPOSE_TRT_FLAVOR, see CMakeLists.txt) and, on RTX, when kernels are made: an RTX engine holds
// ahead-of-time code for the compute capabilities it was built for and is specialised just in time for the GPU at
// createExecutionContext, so the first context takes longer. An engine of one flavour is not an engine of the
// other; the flavour model.json records is checked before anything is deserialised.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include <NvInfer.h>
#include <cuda_runtime_api.h>

#include "swinpose/backends.hpp"

#ifndef SWINPOSE_TRT_FLAVOR
#define SWINPOSE_TRT_FLAVOR "standard"
#endif

namespace swinpose {
namespace {

const char* flavor_name(const std::string& flavor) {
  return flavor == "rtx" ? "TensorRT for RTX" : "standard TensorRT";
}

// An engine is run only by the flavour that built it; the error says both ways out.
void check_flavor(const PackageConfig& cfg) {
  const std::string linked = SWINPOSE_TRT_FLAVOR;
  if (cfg.engine.flavor != "standard" && cfg.engine.flavor != "rtx")
    throw Error(cfg.folder + "/model.json names the TensorRT flavour '" + cfg.engine.flavor +
                "', which this swinpose does not know (standard, rtx); upgrade swinpose or re-export the engine");
  if (cfg.engine.flavor == linked) return;
  throw Error(cfg.folder + "/" + cfg.files.engine + " was built by " + flavor_name(cfg.engine.flavor) +
              ", and this swinpose build links " + flavor_name(linked) + "; rebuild swinpose_cpp with -DSWINPOSE_TRT_FLAVOR=" +
              cfg.engine.flavor + " (" + (cfg.engine.flavor == "rtx" ? "the TensorRT-RTX SDK" : "TensorRT") +
              " installed), or re-export the engine for this build with swinpose-export --engine --trt-flavor " + linked);
}

void check_cuda(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw Error(std::string(what) + " failed: " + cudaGetErrorString(err) +
                "; check the GPU driver and that a CUDA device is visible");
}

class Logger : public nvinfer1::ILogger {
 public:
  void log(Severity severity, const char* msg) noexcept override {
    if (severity <= Severity::kWARNING) std::fprintf(stderr, "TensorRT: %s\n", msg);
  }
};

std::string dims_text(const nvinfer1::Dims& d) {
  std::string s = "(";
  for (int i = 0; i < d.nbDims; ++i) s += (i ? "," : "") + std::to_string(d.d[i]);
  return s + ")";
}

class TrtBackend : public Backend {
 public:
  explicit TrtBackend(const PackageConfig& cfg) : cfg_(cfg) {
    if (cfg.files.engine.empty())
      throw Error(cfg.folder + "/model.json lists no engine; build one with swinpose-export --engine");
    check_flavor(cfg);
    const std::string path = cfg.folder + "/" + cfg.files.engine;
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error("cannot read " + path + "; rebuild it with swinpose-export --engine");
    const std::vector<char> blob{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
    runtime_.reset(nvinfer1::createInferRuntime(logger_));
    if (!runtime_) throw Error("createInferRuntime failed; check the TensorRT installation");
    engine_.reset(runtime_->deserializeCudaEngine(blob.data(), blob.size()));
    if (!engine_) {
      std::string built_for;
      for (const auto& cc : cfg.engine.compute_capabilities) built_for += (built_for.empty() ? "" : ",") + cc;
      throw Error(path + " was built by another TensorRT version or for another GPU" +
                  (built_for.empty() ? "" : " (it holds code for " + built_for + ")") +
                  ", or it is truncated; rebuild it here with swinpose-export --engine" +
                  (built_for.empty() ? "" : " --compute-capability <this GPU's, e.g. sm86>"));
    }
    check_io();
    context_.reset(engine_->createExecutionContext());
    if (!context_) throw Error("createExecutionContext failed (out of GPU memory?)");
    try {
      check_cuda(cudaStreamCreate(&stream_), "cudaStreamCreate");
      check_cuda(cudaMalloc(&input_, sizeof(float) * cfg.batch.max * in_size()), "cudaMalloc");
      check_cuda(cudaMalloc(&output_, sizeof(float) * cfg.batch.max * out_size()), "cudaMalloc");
    } catch (...) {
      release();
      throw;
    }
    if (!context_->setTensorAddress(cfg.input.name.c_str(), input_) ||
        !context_->setTensorAddress(cfg.output.name.c_str(), output_)) {
      release();
      throw Error("TensorRT refused the tensor addresses of '" + cfg.input.name + "'/'" + cfg.output.name + "'");
    }
  }
  ~TrtBackend() override { release(); }

  void infer(const float* input, int batch, float* output) override {
    if (batch < cfg_.batch.min || batch > cfg_.batch.max)
      throw Error("batch " + std::to_string(batch) + " is outside the engine's profile " +
                  std::to_string(cfg_.batch.min) + ".." + std::to_string(cfg_.batch.max));
    if (!context_->setInputShape(cfg_.input.name.c_str(), nvinfer1::Dims4{batch, 3, cfg_.preprocess.input_size[0], cfg_.preprocess.input_size[1]}))
      throw Error("TensorRT refused the input shape of batch " + std::to_string(batch));
    check_cuda(cudaMemcpyAsync(input_, input, sizeof(float) * batch * in_size(), cudaMemcpyHostToDevice, stream_),
               "cudaMemcpyAsync");
    if (!context_->enqueueV3(stream_)) throw Error("TensorRT enqueueV3 failed; see the TensorRT log above");
    check_cuda(cudaMemcpyAsync(output, output_, sizeof(float) * batch * out_size(), cudaMemcpyDeviceToHost, stream_),
               "cudaMemcpyAsync");
    check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }

 private:
  size_t in_size() const { return 3ull * cfg_.preprocess.input_size[0] * cfg_.preprocess.input_size[1]; }
  size_t out_size() const { return size_t(cfg_.num_keypoints()) * cfg_.codec.heatmap_size[0] * cfg_.codec.heatmap_size[1]; }

  // The engine must have model.json's input and output, in float32, built for model.json's batch range.
  void check_io() const {
    const char* in = cfg_.input.name.c_str();
    const char* out = cfg_.output.name.c_str();
    std::string problem;
    if (engine_->getTensorIOMode(in) != nvinfer1::TensorIOMode::kINPUT ||
        engine_->getTensorIOMode(out) != nvinfer1::TensorIOMode::kOUTPUT)
      problem = "has no input '" + cfg_.input.name + "' and output '" + cfg_.output.name + "'";
    else if (engine_->getTensorDataType(in) != nvinfer1::DataType::kFLOAT ||
             engine_->getTensorDataType(out) != nvinfer1::DataType::kFLOAT)
      problem = "does not take and give float32";
    else {
      const auto lo = engine_->getProfileShape(in, 0, nvinfer1::OptProfileSelector::kMIN);
      const auto hi = engine_->getProfileShape(in, 0, nvinfer1::OptProfileSelector::kMAX);
      if (lo.nbDims != 4 || lo.d[0] != cfg_.batch.min || hi.d[0] != cfg_.batch.max || hi.d[1] != 3 ||
          hi.d[2] != cfg_.preprocess.input_size[0] || hi.d[3] != cfg_.preprocess.input_size[1])
        problem = "was built for inputs " + dims_text(lo) + ".." + dims_text(hi) + ", not batch " +
                  std::to_string(cfg_.batch.min) + ".." + std::to_string(cfg_.batch.max) + " of 3x" +
                  std::to_string(cfg_.preprocess.input_size[0]) + "x" + std::to_string(cfg_.preprocess.input_size[1]);
    }
    if (!problem.empty())
      throw Error(cfg_.folder + "/" + cfg_.files.engine + " " + problem +
                  " as model.json says; the JSON and the engine come from different exports: re-export the package");
  }

  void release() noexcept {
    if (input_) cudaFree(input_);
    if (output_) cudaFree(output_);
    if (stream_) cudaStreamDestroy(stream_);
    input_ = output_ = nullptr;
    stream_ = nullptr;
  }

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
