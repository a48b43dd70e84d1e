// The One Euro filter (Casiez, Roussel and Vogel, CHI 2012), as runtime/tracking/one_euro.py computes it.
#include <cmath>

#include "swinpose/tracking.hpp"

namespace swinpose {
namespace {

double alpha(double cutoff, double dt) {
  const double tau = 1.0 / (2 * M_PI * cutoff);
  return 1.0 / (1.0 + tau / dt);
}

}  // namespace

OneEuroFilter::OneEuroFilter(OneEuroConfig config, double fps) : config_(config), fps_(fps) {
  if (!std::isfinite(fps) || fps <= 0)
    throw Error("the frame rate must be a positive number of frames per second, got " + std::to_string(fps));
  if (!(config.min_cutoff > 0) || !(config.d_cutoff > 0) || !(config.beta >= 0) || !std::isfinite(config.min_cutoff) ||
      !std::isfinite(config.d_cutoff) || !std::isfinite(config.beta))
    throw Error("One Euro min_cutoff and d_cutoff must be > 0 and beta >= 0");
}

void OneEuroFilter::reset() {
  x_.clear();
  dx_.clear();
  t_.reset();
}

std::vector<double> OneEuroFilter::filter(const std::vector<double>& x, double timestamp) {
  if (!x_.empty() && x.size() != x_.size())
    throw Error("this filter smooths " + std::to_string(x_.size()) + " values, got " + std::to_string(x.size()));
  const bool stamped = !std::isnan(timestamp);
  double dt = 1.0 / fps_;
  if (stamped && t_) {
    if (timestamp <= *t_)
      throw Error("timestamps must increase: " + std::to_string(timestamp) + " after " + std::to_string(*t_));
    dt = timestamp - *t_;
  }
  if (stamped) t_ = timestamp;
  else if (t_) *t_ += dt;
  if (x_.empty()) {
    x_ = x;
    dx_.assign(x.size(), 0.0);
    return x;
  }
  std::vector<double> out(x.size());
  const double a_d = alpha(config_.d_cutoff, dt);
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) {  // not seen: passes through, its filter as it was
      out[i] = x[i];
      continue;
    }
    const double prev = std::isfinite(x_[i]) ? x_[i] : x[i];  // a value seen for the first time starts there
    const double dx = (x[i] - prev) / dt;
    const double edx = a_d * dx + (1 - a_d) * dx_[i];
    const double a = alpha(config_.min_cutoff + config_.beta * std::abs(edx), dt);
    out[i] = a * x[i] + (1 - a) * prev;
    x_[i] = out[i];
    dx_[i] = edx;
  }
  return out;
}

}  // namespace swinpose
