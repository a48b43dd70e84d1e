// PoseTracker and TrackingPipeline: runtime/tracking/tracker.py and pipeline.py step for step (the numbered steps
// are that module's), so that the same poses give the same boxes, ids and keypoints.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

#include "swinpose/tracking.hpp"

namespace swinpose {
namespace {

using Box4 = std::array<double, 4>;

// runtime.keypoints.COCO_SIGMAS
const std::vector<double> kCocoSigmas = {0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
                                         0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089};
// runtime.results.KEYPOINT_THR: keypoints above it count in an instance's score
constexpr double kInstanceKeypointThr = 0.2;

double area(const Box4& b) { return (b[2] - b[0]) * (b[3] - b[1]); }

// Indices of `scores`, highest first, ties in index order (numpy's stable argsort of -scores).
std::vector<int> by_score(const std::vector<double>& scores) {
  std::vector<int> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] > scores[b]; });
  return order;
}

}  // namespace

void TrackerConfig::check() const {
  if (match != "oks" && match != "iou") throw Error("match must be oks or iou, got '" + match + "'");
  for (const auto& [name, v] : {std::pair<const char*, double>{"match_thr", match_thr}, {"keypoint_thr", keypoint_thr},
                                {"oks_nms_thr", oks_nms_thr}, {"merge_iou_thr", merge_iou_thr},
                                {"new_track_thr", new_track_thr}, {"velocity_weight", velocity_weight}})
    if (!(v >= 0 && v <= 1)) throw Error(std::string(name) + " must be between 0 and 1, got " + std::to_string(v));
  if (max_missing < 0) throw Error("max_missing must be a whole number >= 0");
  if (min_keypoints < -1) throw Error("min_keypoints must be a whole number >= 0, or -1 for ceil(K/2)");
  if (!(min_area >= 0) || !std::isfinite(min_area)) throw Error("min_area must be a number >= 0");
  if (!(box_grow >= 1) || !std::isfinite(box_grow)) throw Error("box_grow must be a number >= 1");
}

std::vector<double> iou_matrix(const std::vector<Box4>& a, const std::vector<Box4>& b) {
  std::vector<double> out(a.size() * b.size());
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = 0; j < b.size(); ++j) {
      const double w = std::max(0.0, std::min(a[i][2], b[j][2]) - std::max(a[i][0], b[j][0]));
      const double h = std::max(0.0, std::min(a[i][3], b[j][3]) - std::max(a[i][1], b[j][1]));
      const double inter = w * h;
      const double area_a = std::max(0.0, a[i][2] - a[i][0]) * std::max(0.0, a[i][3] - a[i][1]);
      const double area_b = std::max(0.0, b[j][2] - b[j][0]) * std::max(0.0, b[j][3] - b[j][1]);
      const double uni = area_a + area_b - inter;
      out[i * b.size() + j] = uni > 0 ? inter / uni : 0.0;
    }
  return out;
}

std::vector<std::pair<int, int>> greedy_pairs(const std::vector<double>& sim, int cols, double thr) {
  std::vector<std::pair<int, int>> pairs;
  if (sim.empty()) return pairs;
  std::vector<int> order = by_score(sim);
  std::set<int> used_rows, used_cols;
  for (int flat : order) {
    const int r = flat / cols, c = flat % cols;
    if (sim[flat] < thr) break;
    if (used_rows.count(r) || used_cols.count(c)) continue;
    pairs.emplace_back(r, c);
    used_rows.insert(r);
    used_cols.insert(c);
  }
  return pairs;
}

std::vector<double> oks_matrix(const std::vector<double>& a, int n_a, const std::vector<double>& b, int n_b,
                               const std::vector<double>& areas, const std::vector<double>& sigmas) {
  const int k = int(sigmas.size());
  std::vector<double> out(size_t(n_a) * n_b);
  const double tiny = std::numeric_limits<double>::epsilon();  // numpy's spacing(1)
  for (int i = 0; i < n_a; ++i)
    for (int j = 0; j < n_b; ++j) {
      const double s = std::max(areas[size_t(i) * n_b + j], tiny);
      double sum = 0;
      for (int q = 0; q < k; ++q) {
        const double dx = a[(size_t(i) * k + q) * 2] - b[(size_t(j) * k + q) * 2];
        const double dy = a[(size_t(i) * k + q) * 2 + 1] - b[(size_t(j) * k + q) * 2 + 1];
        const double var = (2 * sigmas[q]) * (2 * sigmas[q]);
        sum += std::exp(-(dx * dx + dy * dy) / (2 * var * s));
      }
      out[size_t(i) * n_b + j] = sum / k;
    }
  return out;
}

PoseTracker::PoseTracker(TrackerConfig config, std::vector<double> sigmas, double fps)
    : config_(std::move(config)), sigmas_(std::move(sigmas)), fps_(fps) {
  config_.check();
  OneEuroFilter(config_.smoothing.value_or(OneEuroConfig{}), fps);  // checks the frame rate and the filter
}

void PoseTracker::reset() {
  tracks_.clear();
  pending_.clear();
  has_pending_ = false;
}

int PoseTracker::following() const {
  int n = 0;
  for (const auto& [id, t] : tracks_) n += t.missing == 0 && t.next_box.has_value();
  return n;
}

Box4 PoseTracker::grown(const Box4& b) const {
  const double cx = (b[0] + b[2]) / 2, cy = (b[1] + b[3]) / 2;
  const double hx = (b[2] - b[0]) / 2 * config_.box_grow, hy = (b[3] - b[1]) / 2 * config_.box_grow;
  return {cx - hx, cy - hy, cx + hx, cy + hy};
}

std::vector<Box> PoseTracker::boxes(const std::vector<Box>* detections, int w, int h) {
  std::vector<Box> tracked;
  std::vector<int64_t> ids;
  for (const auto& [id, t] : tracks_)
    if (t.missing == 0 && t.next_box) {
      const Box4& b = *t.next_box;
      tracked.push_back({b[0], b[1], b[2], b[3], t.score});
      ids.push_back(id);
    }
  std::vector<Box> all;
  std::vector<int64_t> all_ids;
  if (detections) {
    std::vector<Box4> a, d;
    for (const auto& b : tracked) a.push_back({b.x1, b.y1, b.x2, b.y2});
    for (const auto& b : *detections) d.push_back({b.x1, b.y1, b.x2, b.y2});
    std::vector<bool> covered(tracked.size(), false);
    for (const auto& [r, c] : greedy_pairs(iou_matrix(a, d), int(d.size()), config_.merge_iou_thr))
      covered[r] = true;
    all = *detections;
    all_ids.assign(detections->size(), -1);
    for (size_t i = 0; i < tracked.size(); ++i)
      if (!covered[i]) {
        all.push_back(tracked[i]);
        all_ids.push_back(ids[i]);
      }
  } else {
    all = tracked;
    all_ids = ids;
  }
  std::vector<Box> out;
  pending_.clear();
  for (size_t i = 0; i < all.size(); ++i) {
    Box b = all[i];
    b.x1 = std::clamp(b.x1, 0.0, double(w));
    b.x2 = std::clamp(b.x2, 0.0, double(w));
    b.y1 = std::clamp(b.y1, 0.0, double(h));
    b.y2 = std::clamp(b.y2, 0.0, double(h));
    if (b.x2 > b.x1 + 1 && b.y2 > b.y1 + 1) {
      out.push_back(b);
      pending_.push_back(all_ids[i]);
    }
  }
  has_pending_ = true;
  return out;
}

std::vector<TrackedPose> PoseTracker::update(const std::vector<Pose>& poses, double timestamp) {
  const TrackerConfig& cfg = config_;
  const int n = int(poses.size()), k = n ? int(poses[0].keypoints.size()) : 0;
  std::vector<int64_t> origin(n, -1);
  if (has_pending_ && int(pending_.size()) == n) origin = pending_;
  pending_.clear();
  has_pending_ = false;
  const std::vector<double>& sigmas =
      !sigmas_.empty() ? sigmas_ : k == int(kCocoSigmas.size()) ? kCocoSigmas : std::vector<double>(k, 0.05);
  if (int(sigmas.size()) != k && n)
    throw Error("the tracker has " + std::to_string(sigmas.size()) + " OKS sigmas for " + std::to_string(k) +
                " keypoints; pass the package's keypoints.oks_sigmas");
  const int min_kp = std::max(cfg.min_keypoints >= 0 ? cfg.min_keypoints : (k + 1) / 2, 1);
  // keypoint boxes of each pose's confident keypoints, and whether it had min_kp of them
  std::vector<Box4> kp_boxes(n, Box4{0, 0, 0, 0});
  std::vector<bool> confident(n, false);
  for (int i = 0; i < n; ++i) {
    double lo_x = INFINITY, lo_y = INFINITY, hi_x = -INFINITY, hi_y = -INFINITY;
    int count = 0;
    for (const auto& p : poses[i].keypoints)
      if (p.score >= cfg.keypoint_thr) {
        ++count;
        lo_x = std::min(lo_x, p.x), lo_y = std::min(lo_y, p.y), hi_x = std::max(hi_x, p.x), hi_y = std::max(hi_y, p.y);
      }
    if (count >= min_kp) {
      confident[i] = true;
      const double cx = (lo_x + hi_x) / 2, cy = (lo_y + hi_y) / 2, hx = (hi_x - lo_x) / 2, hy = (hi_y - lo_y) / 2;
      kp_boxes[i] = {cx - hx, cy - hy, cx + hx, cy + hy};
    }
  }
  const auto crop = [&](int i) { return Box4{poses[i].box.x1, poses[i].box.y1, poses[i].box.x2, poses[i].box.y2}; };
  std::vector<std::vector<double>> flat(n, std::vector<double>(2 * k));  // each pose's K×2 (x, y), once
  for (int i = 0; i < n; ++i)
    for (int q = 0; q < k; ++q) flat[i][2 * q] = poses[i].keypoints[q].x, flat[i][2 * q + 1] = poses[i].keypoints[q].y;
  // 1. the poses of tracked boxes whose person has gone, then duplicates (OKS-NMS by instance score)
  std::vector<int> alive;
  for (int i = 0; i < n; ++i)
    if (origin[i] < 0 || confident[i]) alive.push_back(i);
  if (!alive.empty()) {
    const int m = int(alive.size());
    std::vector<double> inst(m), areas(m), xy;
    for (int j = 0; j < m; ++j) {
      const Pose& p = poses[alive[j]];
      double sum = 0;
      int count = 0;
      for (const auto& q : p.keypoints)
        if (q.score > kInstanceKeypointThr) sum += q.score, ++count;
      inst[j] = p.box.score * (count ? sum / count : 0.0);
      areas[j] = area(crop(alive[j]));
      xy.insert(xy.end(), flat[alive[j]].begin(), flat[alive[j]].end());
    }
    std::vector<double> pair_areas(size_t(m) * m);
    for (int a = 0; a < m; ++a)
      for (int b = 0; b < m; ++b) pair_areas[size_t(a) * m + b] = 0.5 * (areas[a] + areas[b]);
    const std::vector<double> oks = oks_matrix(xy, m, xy, m, pair_areas, sigmas);
    std::vector<bool> suppressed(m, false);
    std::vector<int> kept;
    for (int i : by_score(inst)) {
      if (suppressed[i]) continue;
      kept.push_back(alive[i]);
      for (int j = 0; j < m; ++j) suppressed[j] = suppressed[j] || oks[size_t(i) * m + j] > cfg.oks_nms_thr;
    }
    alive = kept;
  }
  const int m = int(alive.size());
  std::vector<Box4> pose_boxes(m);
  for (int j = 0; j < m; ++j) pose_boxes[j] = confident[alive[j]] ? kp_boxes[alive[j]] : crop(alive[j]);
  // 2. greedy matching against the tracks' predicted poses (OKS) or boxes (IoU)
  std::vector<Track*> tracks;
  for (auto& [id, t] : tracks_) tracks.push_back(&t);
  const int nt = int(tracks.size());
  std::vector<double> sim;
  if (cfg.match == "iou") {
    std::vector<Box4> predicted;
    for (const Track* t : tracks) {
      const double sx = t->velocity[0] * (t->missing + 1), sy = t->velocity[1] * (t->missing + 1);
      predicted.push_back({t->box[0] + sx, t->box[1] + sy, t->box[2] + sx, t->box[3] + sy});
    }
    sim = iou_matrix(predicted, pose_boxes);
  } else {
    std::vector<double> moved, found, areas(size_t(nt) * m);
    for (const Track* t : tracks)
      for (int q = 0; q < k; ++q) {
        moved.push_back(t->keypoints[2 * q] + t->velocity[0] * (t->missing + 1));
        moved.push_back(t->keypoints[2 * q + 1] + t->velocity[1] * (t->missing + 1));
      }
    for (int j = 0; j < m; ++j) {
      found.insert(found.end(), flat[alive[j]].begin(), flat[alive[j]].end());
    }
    for (int r = 0; r < nt; ++r)
      for (int j = 0; j < m; ++j) areas[size_t(r) * m + j] = area(pose_boxes[j]);
    sim = oks_matrix(moved, nt, found, m, areas, sigmas);
  }
  std::map<int, Track*> matched;
  for (const auto& [r, c] : greedy_pairs(sim, m, cfg.match_thr)) matched[c] = tracks[r];
  struct Row {
    int64_t id;
    int pose;
    std::vector<double> xy;
  };
  std::vector<Row> rows;
  for (int j = 0; j < m; ++j) {
    const int i = alive[j];
    const Box4& box = pose_boxes[j];
    const auto it = matched.find(j);
    Track* track = it == matched.end() ? nullptr : it->second;
    if (!track) {
      const bool weak = origin[i] >= 0 || poses[i].box.score < cfg.new_track_thr || !confident[i];
      if (weak || area(box) < cfg.min_area) continue;  // 3. not enough to start a track on
      Track t{next_id_, box, flat[i], poses[i].box.score, std::nullopt, {0, 0}, 0, std::nullopt};
      if (cfg.smoothing) t.smoother.emplace(*cfg.smoothing, fps_);
      track = &tracks_.emplace(next_id_, std::move(t)).first->second;
      ++next_id_;
    } else {
      for (int a = 0; a < 2; ++a) {
        const double step = ((box[a] + box[a + 2]) - (track->box[a] + track->box[a + 2])) / 2 / (track->missing + 1);
        track->velocity[a] = cfg.velocity_weight * step + (1 - cfg.velocity_weight) * track->velocity[a];
      }
      track->box = box;
      track->keypoints = flat[i];
      track->missing = 0;
      if (origin[i] < 0) track->score = poses[i].box.score;  // a detector box: its score is the one to carry on
    }
    if (confident[i]) {
      Box4 next = grown(box);
      for (int a = 0; a < 4; ++a) next[a] += track->velocity[a % 2];
      track->next_box = next;
    } else {
      track->next_box.reset();
    }
    std::vector<double> xy = flat[i];
    if (track->smoother) xy = track->smoother->filter(xy, timestamp);
    rows.push_back({track->id, i, std::move(xy)});
  }
  // 4. tracks not seen this frame
  std::set<int64_t> seen;
  for (const auto& r : rows) seen.insert(r.id);
  for (Track* t : tracks)
    if (!seen.count(t->id) && ++t->missing > cfg.max_missing) tracks_.erase(t->id);
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.id < b.id; });
  std::vector<TrackedPose> out;
  for (const auto& r : rows) {
    TrackedPose p{r.id, poses[r.pose].box, poses[r.pose].keypoints};
    for (int q = 0; q < k; ++q) p.keypoints[q].x = r.xy[2 * q], p.keypoints[q].y = r.xy[2 * q + 1];
    out.push_back(std::move(p));
  }
  return out;
}

TrackingPipeline::TrackingPipeline(PoseEngine& engine, Detector& detector, int det_interval, TrackerConfig config,
                                   double fps)
    : engine_(engine),
      detector_(detector),
      det_interval_(det_interval),
      tracker_(std::move(config), engine.config().keypoints.oks_sigmas, fps),
      since_detection_(det_interval) {
  if (det_interval < 1) throw Error("det_interval must be a whole number of frames >= 1");
}

std::vector<TrackedPose> TrackingPipeline::operator()(const cv::Mat& bgr, double timestamp) {
  std::optional<std::vector<Box>> detections;
  if (since_detection_ >= det_interval_ || tracker_.following() == 0) {
    detections = detector_(bgr);
    ++stats_.detector_runs;
    since_detection_ = 0;
  }
  ++since_detection_;
  const std::vector<Box> boxes = tracker_.boxes(detections ? &*detections : nullptr, bgr.cols, bgr.rows);
  const auto keypoints = engine_(bgr, boxes);
  std::vector<Pose> poses;
  for (size_t i = 0; i < boxes.size(); ++i) poses.push_back({boxes[i], keypoints[i]});
  ++stats_.frames;
  stats_.poses += long(boxes.size());
  return tracker_.update(poses, timestamp);
}

}  // namespace swinpose
