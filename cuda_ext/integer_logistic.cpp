// Masses of the integer discretized logistic: the hot path of omnicodec.entropy.logistic's
// IntegerLogistic, which documents the arithmetic and keeps the same computation in torch
// as its reference. Integers only: int64 products and shifts, table look-ups and linear
// interpolation, so every machine, thread count and compiler gives the same masses.
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <cstdint>

#include "checks.h"
#include "integer_logistic.h"

using omnicodec::check;

namespace {

struct Tables {
  const int64_t* cdf;
  int64_t cdf_size;
  const int64_t* reciprocals;
  const int64_t* reaches;
  int64_t location_bits, shift, top, fraction_bits, one;
};

// CDF at edge - 1/2 of the logistic at `location` (location_bits) with scale index `k`.
inline int64_t cdf_at(const Tables& t, int64_t edge, int64_t location, int64_t k, int64_t low, int64_t high) {
  if (edge <= low) return 0;
  if (edge > high) return t.one;
  const int64_t reach = t.reaches[k];
  int64_t distance = ((2 * edge - 1) << (t.location_bits - 1)) - location;
  distance = std::min(std::max(distance, -reach), reach);
  int64_t position = (distance * t.reciprocals[k]) >> t.shift;  // arithmetic shift: floor
  position = std::min(std::max(position, -t.top), t.top) + t.top;
  const int64_t entry = position >> t.fraction_bits;
  const int64_t fraction = position & ((int64_t(1) << t.fraction_bits) - 1);
  const int64_t below = t.cdf[entry];
  const int64_t above = t.cdf[std::min(entry + 1, t.cdf_size - 1)];
  return below + (((above - below) * fraction) >> t.fraction_bits);
}

}  // namespace

torch::Tensor integer_logistic_masses(const torch::Tensor& first, const torch::Tensor& last,
                                      const torch::Tensor& location, const torch::Tensor& indices,
                                      const torch::Tensor& weights, int64_t low, int64_t high,
                                      const torch::Tensor& cdf, const torch::Tensor& reciprocals,
                                      const torch::Tensor& reaches, int64_t location_bits, int64_t shift,
                                      int64_t top, int64_t fraction_bits, int64_t one) {
  for (const torch::Tensor* t : {&first, &last, &location, &indices, &weights, &cdf, &reciprocals, &reaches})
    check(t->device().is_cpu() && t->scalar_type() == torch::kInt64 && t->is_contiguous(),
          "integer_logistic_masses: every tensor must be a contiguous int64 CPU tensor");
  const int64_t n = first.numel(), components = weights.numel();
  check(last.numel() == n && location.numel() == n && indices.dim() == 2 && indices.size(0) == components &&
            indices.size(1) == n,
        "integer_logistic_masses: shapes do not agree");
  const Tables t{cdf.data_ptr<int64_t>(), cdf.numel(), reciprocals.data_ptr<int64_t>(), reaches.data_ptr<int64_t>(),
                 location_bits, shift, top, fraction_bits, one};
  const int64_t* fp = first.data_ptr<int64_t>();
  const int64_t* lp = last.data_ptr<int64_t>();
  const int64_t* mp = location.data_ptr<int64_t>();
  const int64_t* kp = indices.data_ptr<int64_t>();
  const int64_t* wp = weights.data_ptr<int64_t>();
  torch::Tensor out = torch::empty({n}, torch::kInt64);
  int64_t* op = out.data_ptr<int64_t>();
  at::parallel_for(0, n, 8192, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      int64_t total = 0;
      for (int64_t c = 0; c < components; ++c) {
        const int64_t k = kp[c * n + i];
        total += (cdf_at(t, lp[i] + 1, mp[i], k, low, high) - cdf_at(t, fp[i], mp[i], k, low, high)) * wp[c];
      }
      op[i] = total;
    }
  });
  return out;
}
