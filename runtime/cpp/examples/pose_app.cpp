// pose_app PACKAGE IMAGE x1 y1 x2 y2 [...]: keypoints of each box, printed as "name x y score" lines.
#include <cstdio>
#include <cstdlib>

#include <opencv2/imgcodecs.hpp>

#include "swinpose/swinpose.hpp"

int main(int argc, char** argv) {
  if (argc < 7 || (argc - 3) % 4) {
    std::fprintf(stderr, "usage: %s PACKAGE IMAGE x1 y1 x2 y2 [x1 y1 x2 y2 ...]\n", argv[0]);
    return 2;
  }
  try {
    const auto cfg = swinpose::read_package(argv[1]);
    swinpose::PoseEngine engine(cfg, swinpose::make_tensorrt_backend(cfg));
    const cv::Mat image = cv::imread(argv[2], cv::IMREAD_COLOR);
    if (image.empty()) throw swinpose::Error(std::string("cannot read ") + argv[2]);
    std::vector<swinpose::Box> boxes;
    for (int i = 3; i + 3 < argc; i += 4)
      boxes.push_back({std::atof(argv[i]), std::atof(argv[i + 1]), std::atof(argv[i + 2]), std::atof(argv[i + 3])});
    const auto poses = engine(image, boxes);
    for (size_t n = 0; n < poses.size(); ++n)
      for (size_t k = 0; k < poses[n].size(); ++k)
        std::printf("person %zu %s %.2f %.2f %.3f\n", n, cfg.keypoint_names[k].c_str(), poses[n][k].x, poses[n][k].y,
                    poses[n][k].score);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
