// OpenCV DNN backends: the pose one runs the package's model.opencv.onnx (swinpose-export --opencv: the fp32 graph
// rewritten for OpenCV >= 4.6, batch 1) on the CPU, one crop at a time; the detector one runs a detector package's
// detector.opencv.onnx (swinpose-export --detector FILE --opencv) on one image. A correctness path that needs nothing beyond OpenCV; it is
// several times slower than ONNX Runtime or TensorRT (runtime/README figures), so it is no speed path.
#include <cstring>

#include <opencv2/dnn.hpp>

#include "swinpose/backends.hpp"
#include "swinpose/detector.hpp"

namespace swinpose {
namespace {

class OpenCvDnnBackend : public Backend {
 public:
  explicit OpenCvDnnBackend(const PackageConfig& cfg) : cfg_(cfg) {
    if (cfg.files.opencv.empty())
      throw Error(cfg.folder + "/model.json lists no OpenCV graph; re-export with swinpose-export --opencv");
    const std::string path = cfg.folder + "/" + cfg.files.opencv;
    try {
      net_ = cv::dnn::readNetFromONNX(path);
    } catch (const cv::Exception& e) {
      throw Error("OpenCV " CV_VERSION " cannot load " + path + " (" + e.what() +
                  "); the file is truncated or not from swinpose-export --opencv: re-export the package");
    }
    if (net_.empty()) throw Error("OpenCV loaded an empty network from " + path + "; re-export the package");
    net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  }

  void infer(const float* input, int batch, float* output) override {
    const int in_shape[] = {1, 3, cfg_.preprocess.input_size[0], cfg_.preprocess.input_size[1]};
    const size_t in_size = 3ull * cfg_.preprocess.input_size[0] * cfg_.preprocess.input_size[1];
    const size_t out_size = size_t(cfg_.num_keypoints()) * cfg_.codec.heatmap_size[0] * cfg_.codec.heatmap_size[1];
    for (int i = 0; i < batch; ++i) {
      // a view of the caller's crop: setInput copies it into the network's own blob
      const cv::Mat blob(4, in_shape, CV_32F, const_cast<float*>(input + i * in_size));
      net_.setInput(blob);
      cv::Mat out;
      try {
        out = net_.forward();
      } catch (const cv::Exception& e) {
        throw Error(std::string("OpenCV DNN failed on ") + cfg_.files.opencv + ": " + e.what());
      }
      if (out.type() != CV_32F || out.total() != out_size || !out.isContinuous())
        throw Error(cfg_.files.opencv + " gives " + std::to_string(out.total()) + " values per crop but model.json " +
                    "describes " + std::to_string(cfg_.num_keypoints()) + "x" + std::to_string(cfg_.codec.heatmap_size[0]) + "x" +
                    std::to_string(cfg_.codec.heatmap_size[1]) + "; the JSON and the graph come from different exports: "
                    "re-export the package");
      std::memcpy(output + i * out_size, out.ptr<float>(), out_size * sizeof(float));
    }
  }

 private:
  PackageConfig cfg_;
  cv::dnn::Net net_;
};

class OpenCvDnnDetectorBackend : public DetectorBackend {
 public:
  explicit OpenCvDnnDetectorBackend(const DetectorConfig& cfg) : cfg_(cfg) {
    if (cfg.opencv_file.empty())
      throw Error(cfg.folder + "/detector.json lists no OpenCV graph; re-export the detector with swinpose-export "
                  "--detector FILE --opencv --out DIR");
    if (cfg.input_dtype != "float32")
      throw Error(cfg.folder + ": the detector takes " + cfg.input_dtype + "; the C++ runtime runs float32 detectors");
    const std::string path = cfg.folder + "/" + cfg.opencv_file;
    try {
      net_ = cv::dnn::readNetFromONNX(path);
    } catch (const cv::Exception& e) {
      throw Error("OpenCV " CV_VERSION " cannot load " + path + " (" + e.what() +
                  "); the file is truncated or not from swinpose-export --detector --opencv: re-export it");
    }
    if (net_.empty()) throw Error("OpenCV loaded an empty network from " + path + "; re-export the detector");
    net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    names_ = net_.getUnconnectedOutLayersNames();
  }

  Outputs infer(const float* input) override {
    const int shape[] = {1, 3, cfg_.input_size[0], cfg_.input_size[1]};
    net_.setInput(cv::Mat(4, shape, CV_32F, const_cast<float*>(input)));  // setInput copies the view
    std::vector<cv::Mat> mats;
    try {
      net_.forward(mats, names_);
    } catch (const cv::Exception& e) {
      throw Error(std::string("OpenCV DNN failed on ") + cfg_.opencv_file + ": " + e.what());
    }
    Outputs outputs;
    for (size_t i = 0; i < mats.size(); ++i) {
      cv::Mat m;
      mats[i].convertTo(m, CV_32F);  // integer outputs (labels, counts) as float32
      Tensor t{names_[i], {}, {}};
      for (int d = 0; d < m.dims; ++d) t.shape.push_back(m.size[d]);
      t.data.assign(m.ptr<float>(), m.ptr<float>() + m.total());
      outputs.push_back(std::move(t));
    }
    return outputs;
  }

 private:
  DetectorConfig cfg_;
  cv::dnn::Net net_;
  std::vector<std::string> names_;
};

}  // namespace

std::unique_ptr<Backend> make_opencv_backend(const PackageConfig& cfg) {
  return std::make_unique<OpenCvDnnBackend>(cfg);
}

std::unique_ptr<DetectorBackend> make_opencv_detector_backend(const DetectorConfig& cfg) {
  return std::make_unique<OpenCvDnnDetectorBackend>(cfg);
}

}  // namespace swinpose
