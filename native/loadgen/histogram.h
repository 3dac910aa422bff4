// Latency histogram with HDR-style log-linear buckets: exact below 256 ns,
// then 128 equal sub-buckets per power of two, so any recorded value is known
// to within 1/128 (< 0.8 %) and a percentile reported at a bucket's midpoint is
// within 0.4 %. Fixed size (7424 counters), no allocation while recording.
// min, max, mean and deviation are exact.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace nm::loadgen {

class Histogram {
 public:
  void Record(uint64_t value) {
    ++counts_[Index(value)];
    ++total_;
    if (value > max_) max_ = value;
    if (value < min_) min_ = value;
    // Exact sums (not bucket midpoints) for the mean and the deviation; a
    // double holds them to 53 bits, far past any run's precision needs.
    const double v = static_cast<double>(value);
    sum_ += v;
    sum_sq_ += v * v;
  }

  void Merge(const Histogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    if (other.max_ > max_) max_ = other.max_;
    if (other.min_ < min_) min_ = other.min_;
    sum_ += other.sum_;
    sum_sq_ += other.sum_sq_;
  }

  uint64_t count() const { return total_; }
  uint64_t max() const { return max_; }
  uint64_t min() const { return total_ == 0 ? 0 : min_; }
  double mean() const { return total_ == 0 ? 0 : sum_ / static_cast<double>(total_); }
  // Population standard deviation (as wrk and autocannon report it).
  double stdev() const {
    if (total_ == 0) return 0;
    const double m = mean();
    const double var = sum_sq_ / static_cast<double>(total_) - m * m;
    return var > 0 ? std::sqrt(var) : 0;
  }

  // The value at quantile q in [0, 1]: the smallest bucket holding the
  // ceil(q * count)-th sample, reported at its midpoint (never above max()).
  uint64_t ValueAt(double q) const {
    if (total_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total_)));
    if (rank < 1) rank = 1;
    if (rank > total_) rank = total_;
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        uint64_t mid = Midpoint(i);
        return mid < max_ ? mid : max_;
      }
    }
    return max_;
  }

 private:
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;  // 128
  static constexpr uint64_t kExact = 2 * kSub;                // values below are exact
  static constexpr size_t kBuckets = kExact + (64 - kSubBits - 1) * kSub;

  static size_t Index(uint64_t v) {
    if (v < kExact) return static_cast<size_t>(v);
    const int msb = 63 - __builtin_clzll(v);  // >= 8
    const int shift = msb - kSubBits;          // bucket width is 2^shift
    const uint64_t top = v >> shift;           // in [128, 256)
    return static_cast<size_t>(kExact + static_cast<uint64_t>(msb - kSubBits - 1) * kSub +
                               (top - kSub));
  }

  static uint64_t Midpoint(size_t i) {
    if (i < kExact) return i;
    const uint64_t j = i - kExact;
    const int shift = static_cast<int>(j / kSub) + 1;
    const uint64_t lower = (kSub + j % kSub) << shift;
    return lower + ((uint64_t{1} << shift) >> 1);
  }

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
  double sum_ = 0;
  double sum_sq_ = 0;
};

}  // namespace nm::loadgen
