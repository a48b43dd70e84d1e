// TensorRT backends: each deserialises its package's engine and runs it with the name-based tensor API on one CUDA
// stream. The pose backend's engine I/O (names, float32, the profile's batch range) is checked against model.json when
// it opens; the detector backend's (its input, batch 1, H×W) against detector.json, and it gives every output of the
// engine, float32 or integer. Device buffers are sized once (the pose profile's maximum, the detector's fixed
// shapes), allocated once and freed in the destructor; every call is checked.
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
#include "swinpose/detector.hpp"

#ifndef SWINPOSE_TRT_FLAVOR
#define SWINPOSE_TRT_FLAVOR "standard"
#endif

namespace swinpose {
namespace {

const char* flavor_name(const std::string& flavor) {
  return flavor == "rtx" ? "TensorRT for RTX" : "standard TensorRT";
}

// An engine is run only by the flavour that built it; the error says both ways out. `json_name`: the file that
// recorded the flavour (model.json, detector.json), `file` the engine's name in `folder`.
void check_flavor(const std::string& folder, const std::string& json_name, const std::string& file,
                  const EngineInfo& engine) {
  const std::string linked = SWINPOSE_TRT_FLAVOR;
  if (engine.flavor != "standard" && engine.flavor != "rtx")
    throw Error(folder + "/" + json_name + " names the TensorRT flavour '" + engine.flavor +
                "', which this swinpose does not know (standard, rtx); upgrade swinpose or re-export the engine");
  if (engine.flavor == linked) return;
  throw Error(folder + "/" + file + " was built by " + flavor_name(engine.flavor) +
              ", and this swinpose build links " + flavor_name(linked) + "; rebuild swinpose_cpp with -DSWINPOSE_TRT_FLAVOR=" +
              engine.flavor + " (" + (engine.flavor == "rtx" ? "the TensorRT-RTX SDK" : "TensorRT") +
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

// What both backends hold, declared in the order it must outlive itself: the logger the runtime logs to, the
// runtime, the engine, its context; the stream is destroyed first.
struct Session {
  Logger logger;
  std::unique_ptr<nvinfer1::IRuntime> runtime;
  std::unique_ptr<nvinfer1::ICudaEngine> engine;
  std::unique_ptr<nvinfer1::IExecutionContext> context;
  cudaStream_t stream = nullptr;
  ~Session() {
    if (stream) cudaStreamDestroy(stream);
  }
};

// Deserialises the engine at `path` into `s` (runtime and engine); Error naming the way to rebuild it.
void load_engine(Session& s, const std::string& path, const EngineInfo& info) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read " + path + "; rebuild it with swinpose-export --engine");
  const std::vector<char> blob{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  s.runtime.reset(nvinfer1::createInferRuntime(s.logger));
  if (!s.runtime) throw Error("createInferRuntime failed; check the TensorRT installation");
  s.engine.reset(s.runtime->deserializeCudaEngine(blob.data(), blob.size()));
  if (!s.engine) {
    std::string built_for;
    for (const auto& cc : info.compute_capabilities) built_for += (built_for.empty() ? "" : ",") + cc;
    throw Error(path + " was built by another TensorRT version or for another GPU" +
                (built_for.empty() ? "" : " (it holds code for " + built_for + ")") +
                ", or it is truncated; rebuild it here with swinpose-export --engine" +
                (built_for.empty() ? "" : " --compute-capability <this GPU's, e.g. sm86>"));
  }
}

class TrtBackend : public Backend {
 public:
  explicit TrtBackend(const PackageConfig& cfg) : cfg_(cfg) {
    if (cfg.files.engine.empty())
      throw Error(cfg.folder + "/model.json lists no engine; build one with swinpose-export --engine");
    check_flavor(cfg.folder, "model.json", cfg.files.engine, cfg.engine);
    load_engine(s_, cfg.folder + "/" + cfg.files.engine, cfg.engine);
    check_io();
    s_.context.reset(s_.engine->createExecutionContext());
    if (!s_.context) throw Error("createExecutionContext failed (out of GPU memory?)");
    try {
      check_cuda(cudaStreamCreate(&s_.stream), "cudaStreamCreate");
      check_cuda(cudaMalloc(&input_, sizeof(float) * cfg.batch.max * in_size()), "cudaMalloc");
      check_cuda(cudaMalloc(&output_, sizeof(float) * cfg.batch.max * out_size()), "cudaMalloc");
    } catch (...) {
      release();
      throw;
    }
    if (!s_.context->setTensorAddress(cfg.input.name.c_str(), input_) ||
        !s_.context->setTensorAddress(cfg.output.name.c_str(), output_)) {
      release();
      throw Error("TensorRT refused the tensor addresses of '" + cfg.input.name + "'/'" + cfg.output.name + "'");
    }
  }
  ~TrtBackend() override { release(); }

  void infer(const float* input, int batch, float* output) override {
    if (batch < cfg_.batch.min || batch > cfg_.batch.max)
      throw Error("batch " + std::to_string(batch) + " is outside the engine's profile " +
                  std::to_string(cfg_.batch.min) + ".." + std::to_string(cfg_.batch.max));
    if (!s_.context->setInputShape(cfg_.input.name.c_str(), nvinfer1::Dims4{batch, 3, cfg_.preprocess.input_size[0], cfg_.preprocess.input_size[1]}))
      throw Error("TensorRT refused the input shape of batch " + std::to_string(batch));
    check_cuda(cudaMemcpyAsync(input_, input, sizeof(float) * batch * in_size(), cudaMemcpyHostToDevice, s_.stream),
               "cudaMemcpyAsync");
    if (!s_.context->enqueueV3(s_.stream)) throw Error("TensorRT enqueueV3 failed; see the TensorRT log above");
    check_cuda(cudaMemcpyAsync(output, output_, sizeof(float) * batch * out_size(), cudaMemcpyDeviceToHost, s_.stream),
               "cudaMemcpyAsync");
    check_cuda(cudaStreamSynchronize(s_.stream), "cudaStreamSynchronize");
  }

 private:
  size_t in_size() const { return 3ull * cfg_.preprocess.input_size[0] * cfg_.preprocess.input_size[1]; }
  size_t out_size() const { return size_t(cfg_.num_keypoints()) * cfg_.codec.heatmap_size[0] * cfg_.codec.heatmap_size[1]; }

  // The engine must have model.json's input and output, in float32, built for model.json's batch range.
  void check_io() const {
    const char* in = cfg_.input.name.c_str();
    const char* out = cfg_.output.name.c_str();
    std::string problem;
    if (s_.engine->getTensorIOMode(in) != nvinfer1::TensorIOMode::kINPUT ||
        s_.engine->getTensorIOMode(out) != nvinfer1::TensorIOMode::kOUTPUT)
      problem = "has no input '" + cfg_.input.name + "' and output '" + cfg_.output.name + "'";
    else if (s_.engine->getTensorDataType(in) != nvinfer1::DataType::kFLOAT ||
             s_.engine->getTensorDataType(out) != nvinfer1::DataType::kFLOAT)
      problem = "does not take and give float32";
    else {
      const auto lo = s_.engine->getProfileShape(in, 0, nvinfer1::OptProfileSelector::kMIN);
      const auto hi = s_.engine->getProfileShape(in, 0, nvinfer1::OptProfileSelector::kMAX);
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
    input_ = output_ = nullptr;
  }

  PackageConfig cfg_;
  Session s_;
  void* input_ = nullptr;
  void* output_ = nullptr;
};

size_t element_size(nvinfer1::DataType type) {
  switch (type) {
    case nvinfer1::DataType::kFLOAT:
    case nvinfer1::DataType::kINT32: return 4;
#if NV_TENSORRT_MAJOR >= 10
    case nvinfer1::DataType::kINT64: return 8;
#endif
    default: return 0;  // not an output type the detector decoders read
  }
}

// A detector package's engine (batch 1): its one input, every output copied back as float32.
class TrtDetectorBackend : public DetectorBackend {
 public:
  explicit TrtDetectorBackend(const DetectorConfig& cfg) : cfg_(cfg) {
    if (cfg.engine_file.empty())
      throw Error(cfg.folder + "/detector.json lists no engine; build one with swinpose-export --detector FILE --engine");
    check_flavor(cfg.folder, "detector.json", cfg.engine_file, cfg.engine);
    const std::string path = cfg.folder + "/" + cfg.engine_file;
    load_engine(s_, path, cfg.engine);
    const char* in = cfg.input_name.c_str();
    if (s_.engine->getTensorIOMode(in) != nvinfer1::TensorIOMode::kINPUT ||
        s_.engine->getTensorDataType(in) != nvinfer1::DataType::kFLOAT)
      throw Error(path + " has no float32 input '" + cfg.input_name + "' as detector.json says; the JSON and the "
                  "engine come from different exports: re-export the detector");
    s_.context.reset(s_.engine->createExecutionContext());
    if (!s_.context) throw Error("createExecutionContext failed (out of GPU memory?)");
    if (!s_.context->setInputShape(in, nvinfer1::Dims4{1, 3, cfg.input_size[0], cfg.input_size[1]}))
      throw Error(path + " does not take a 1x3x" + std::to_string(cfg.input_size[0]) + "x" +
                  std::to_string(cfg.input_size[1]) + " input as detector.json says; re-export the detector");
    try {
      check_cuda(cudaStreamCreate(&s_.stream), "cudaStreamCreate");
      input_bytes_ = sizeof(float) * 3 * cfg.input_size[0] * cfg.input_size[1];
      check_cuda(cudaMalloc(&input_, input_bytes_), "cudaMalloc");
      if (!s_.context->setTensorAddress(in, input_)) throw Error("TensorRT refused the input address");
      for (int i = 0; i < s_.engine->getNbIOTensors(); ++i) {
        const char* name = s_.engine->getIOTensorName(i);
        if (s_.engine->getTensorIOMode(name) != nvinfer1::TensorIOMode::kOUTPUT) continue;
        Output o{name, s_.engine->getTensorDataType(name), s_.context->getTensorShape(name), nullptr, 0};
        const size_t size = element_size(o.type);
        if (!size)
          throw Error(path + ": the output '" + o.name + "' has a type the decoders do not read (float32, int32, "
                      "int64); export the detector with float32 outputs");
        o.bytes = size;
        for (int d = 0; d < o.dims.nbDims; ++d) {
          if (o.dims.d[d] < 0) throw Error(path + ": the output '" + o.name + "' has a dynamic shape " + dims_text(o.dims));
          o.bytes *= size_t(o.dims.d[d]);
        }
        check_cuda(cudaMalloc(&o.device, o.bytes), "cudaMalloc");
        outputs_.push_back(o);
        if (!s_.context->setTensorAddress(name, o.device)) throw Error("TensorRT refused the address of '" + o.name + "'");
      }
    } catch (...) {
      release();
      throw;
    }
  }
  ~TrtDetectorBackend() override { release(); }

  Outputs infer(const float* input) override {
    check_cuda(cudaMemcpyAsync(input_, input, input_bytes_, cudaMemcpyHostToDevice, s_.stream), "cudaMemcpyAsync");
    if (!s_.context->enqueueV3(s_.stream)) throw Error("TensorRT enqueueV3 failed; see the TensorRT log above");
    std::vector<std::vector<char>> host(outputs_.size());
    for (size_t i = 0; i < outputs_.size(); ++i) {
      host[i].resize(outputs_[i].bytes);
      check_cuda(cudaMemcpyAsync(host[i].data(), outputs_[i].device, outputs_[i].bytes, cudaMemcpyDeviceToHost,
                                 s_.stream), "cudaMemcpyAsync");
    }
    check_cuda(cudaStreamSynchronize(s_.stream), "cudaStreamSynchronize");
    Outputs out;
    for (size_t i = 0; i < outputs_.size(); ++i) {
      const Output& o = outputs_[i];
      Tensor t{o.name, {}, {}};
      for (int d = 0; d < o.dims.nbDims; ++d) t.shape.push_back(o.dims.d[d]);
      const size_t n = o.bytes / element_size(o.type);
      t.data.resize(n);
      const char* p = host[i].data();
      for (size_t j = 0; j < n; ++j) {
        if (o.type == nvinfer1::DataType::kFLOAT) t.data[j] = reinterpret_cast<const float*>(p)[j];
        else if (o.type == nvinfer1::DataType::kINT32) t.data[j] = float(reinterpret_cast<const int32_t*>(p)[j]);
        else t.data[j] = float(reinterpret_cast<const int64_t*>(p)[j]);
      }
      out.push_back(std::move(t));
    }
    return out;
  }

 private:
  struct Output {
    std::string name;
    nvinfer1::DataType type;
    nvinfer1::Dims dims;
    void* device;
    size_t bytes;
  };

  void release() noexcept {
    for (auto& o : outputs_)
      if (o.device) cudaFree(o.device);
    outputs_.clear();
    if (input_) cudaFree(input_);
    input_ = nullptr;
  }

  DetectorConfig cfg_;
  Session s_;
  void* input_ = nullptr;
  size_t input_bytes_ = 0;
  std::vector<Output> outputs_;
};

}  // namespace

std::unique_ptr<Backend> make_tensorrt_backend(const PackageConfig& cfg) { return std::make_unique<TrtBackend>(cfg); }

std::unique_ptr<DetectorBackend> make_tensorrt_detector_backend(const DetectorConfig& cfg) {
  return std::make_unique<TrtDetectorBackend>(cfg);
}

}  // namespace swinpose
