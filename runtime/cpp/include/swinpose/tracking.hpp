// swinpose C++ runtime: tracking people across video frames, as runtime/tracking does in Python, with the same
// parameters and defaults (see runtime/tracking/tracker.py for where each default comes from): the One Euro filter,
// PoseTracker (detector boxes merged with the boxes of tracked poses, OKS-NMS, greedy OKS or IoU matching, an
// id → track map, tracks kept for max_missing frames) and TrackingPipeline (the detector every det_interval frames).
//
// Shape legend: N poses of a frame, T tracks, K keypoints. Boxes are (x1, y1, x2, y2) image pixels.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <vector>

#include "swinpose/detector.hpp"
#include "swinpose/swinpose.hpp"

namespace swinpose {

// The One Euro filter's parameters (runtime.tracking.OneEuroConfig), for pixels and seconds.
struct OneEuroConfig {
  double min_cutoff = 1.0;  // Hz: the cutoff of a still value
  double beta = 0.05;       // Hz per (pixel/s): how fast the cutoff rises with speed
  double d_cutoff = 1.0;    // Hz: the cutoff of the speed estimate
};

// One Euro filters for a fixed-size array of values sharing the timestamps (runtime.tracking.OneEuroFilter, the
// authors' arithmetic): the first sample passes through; NaN values pass through and leave their filter as it was.
class OneEuroFilter {
 public:
  explicit OneEuroFilter(OneEuroConfig config = {}, double fps = 25.0);
  // The next sample taken at `timestamp` seconds (NaN: 1/fps after the last); throws Error if time goes back.
  std::vector<double> filter(const std::vector<double>& x, double timestamp = std::nan(""));
  void reset();

 private:
  OneEuroConfig config_;
  double fps_;
  std::vector<double> x_, dx_;  // last filtered values and speeds (units per second); empty before the first sample
  std::optional<double> t_;
};

// Every threshold of PoseTracker (runtime.tracking.TrackerConfig), with its default.
struct TrackerConfig {
  double match_thr = 0.4;         // similarity from which a pose and a track match
  std::string match = "oks";      // "oks" (keypoint similarity) or "iou" (box overlap)
  int max_missing = 10;           // frames a track may go unseen and still take its id back
  double min_area = 1000.0;       // px² a pose's box needs to start a track
  double keypoint_thr = 0.5;      // keypoint score from which a keypoint counts for the next box
  int min_keypoints = -1;         // confident keypoints a pose needs for a box of its own (-1: ceil(K/2))
  double box_grow = 1.25;         // factor the box of the confident keypoints is grown by for the next frame
  double oks_nms_thr = 0.5;       // OKS above which the weaker of two poses of a frame is a duplicate
  double merge_iou_thr = 0.5;     // IoU from which a detector box stands in for a tracked box
  double new_track_thr = 0.5;     // box score a detection needs to start a track
  double velocity_weight = 0.5;   // weight of the newest step in a track's velocity
  std::optional<OneEuroConfig> smoothing;  // the One Euro filter of each track's keypoints (none: raw keypoints)
  // Throws Error naming a field out of its range.
  void check() const;
};

// One pose the pose model found: its crop box (clipped, score = the box's score) and K keypoints.
struct Pose {
  Box box;
  std::vector<Keypoint> keypoints;
};

// One tracked person of a frame: the pose's crop box, its keypoints (smoothed where the tracker smooths) and its id.
struct TrackedPose {
  int64_t track_id;
  Box box;
  std::vector<Keypoint> keypoints;
};

class PoseTracker {
 public:
  // sigmas: K OKS sigmas (empty: COCO's for K = 17, else 0.05 each); fps: the smoothing's step without timestamps.
  explicit PoseTracker(TrackerConfig config = {}, std::vector<double> sigmas = {}, double fps = 25.0);
  // The boxes to run the pose model on: `detections` (null between detections) merged with the boxes of the tracks
  // seen last frame, clipped to a w×h image.
  std::vector<Box> boxes(const std::vector<Box>* detections, int image_w, int image_h);
  // The tracked people of this frame, from the poses found in boxes()' boxes (in their order), in the order of
  // their ids. timestamp: seconds (NaN: 1/fps after the last).
  std::vector<TrackedPose> update(const std::vector<Pose>& poses, double timestamp = std::nan(""));
  // How many people the last frame's poses give a box for (0: only a detector can find anyone).
  int following() const;
  void reset();
  const TrackerConfig& config() const { return config_; }

 private:
  struct Track {
    int64_t id;
    std::array<double, 4> box;  // the box of its last pose (confident keypoints, else the crop box)
    std::vector<double> keypoints;  // K×2 raw keypoints of its last pose
    double score;  // the box score it carries to the boxes made from its poses
    std::optional<std::array<double, 4>> next_box;  // where to look next frame
    std::array<double, 2> velocity{0, 0};  // box centre px/frame
    int missing = 0;
    std::optional<OneEuroFilter> smoother;
  };
  std::array<double, 4> grown(const std::array<double, 4>& box) const;

  TrackerConfig config_;
  std::vector<double> sigmas_;
  double fps_;
  std::map<int64_t, Track> tracks_;  // by id; ids only grow, so this is also their order of creation
  int64_t next_id_ = 1;
  std::vector<int64_t> pending_;  // per box of the last boxes(): its track id, or -1 for the detector's
  bool has_pending_ = false;
};

// What a pipeline has run so far.
struct TrackingStats {
  long frames = 0, detector_runs = 0, poses = 0;
};

// Tracked poses of the frames of one video, in order (runtime.tracking.TrackingPipeline): the detector when
// det_interval frames have passed since its last run or when nobody is followed, the tracked boxes in between.
class TrackingPipeline {
 public:
  TrackingPipeline(PoseEngine& engine, Detector& detector, int det_interval = 1, TrackerConfig config = {},
                   double fps = 25.0);
  std::vector<TrackedPose> operator()(const cv::Mat& bgr, double timestamp = std::nan(""));
  const TrackingStats& stats() const { return stats_; }
  const PoseTracker& tracker() const { return tracker_; }

 private:
  PoseEngine& engine_;
  Detector& detector_;
  int det_interval_;
  PoseTracker tracker_;
  TrackingStats stats_;
  int since_detection_;
};

// The pieces PoseTracker is made of, shared with tests.
// IoU of every box of `a` with every box of `b`: A×B row-major.
std::vector<double> iou_matrix(const std::vector<std::array<double, 4>>& a, const std::vector<std::array<double, 4>>& b);
// (row, column) pairs of an A×B similarity (row-major, B = cols), most similar first, each row and column once,
// similarity >= thr.
std::vector<std::pair<int, int>> greedy_pairs(const std::vector<double>& similarity, int cols, double thr);
// OKS of every pose of A×K×2 `a` with every pose of B×K×2 `b` (flat x, y), area[i·B + j] the pair's area: A×B.
std::vector<double> oks_matrix(const std::vector<double>& a, int n_a, const std::vector<double>& b, int n_b,
                               const std::vector<double>& areas, const std::vector<double>& sigmas);

}  // namespace swinpose
