// The integer backward warp of a view by disparity: the hot path of
// omnicodec.lightfield.synthesis_integer.warp, which documents the arithmetic and keeps the
// same computation in torch as its reference. Integers only (table weights, int64 sums,
// rounding shifts), so every machine, thread count and compiler gives the same samples.
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>

#include "integer_warp.h"

namespace {

inline int64_t round_shift(int64_t value, int64_t bits) { return (value + (int64_t(1) << (bits - 1))) >> bits; }

inline int64_t clamp(int64_t value, int64_t low, int64_t high) { return std::min(std::max(value, low), high); }

}  // namespace

std::tuple<torch::Tensor, torch::Tensor> integer_warp(const torch::Tensor& source,
                                                      const torch::Tensor& source_disparity,
                                                      const torch::Tensor& target_disparity, int64_t du, int64_t dv,
                                                      const torch::Tensor& cubic, const torch::Tensor& visibility,
                                                      int64_t position_bits, int64_t weight_bits,
                                                      int64_t visibility_floor) {
  for (const torch::Tensor* t : {&source, &source_disparity, &target_disparity, &cubic, &visibility})
    if (!(t->device().is_cpu() && t->scalar_type() == torch::kInt64 && t->is_contiguous()))
      throw std::invalid_argument("integer_warp: every tensor must be a contiguous int64 CPU tensor");
  if (source.dim() != 3 || source.size(1) < 1 || source.size(2) < 1 || position_bits < 1 || weight_bits < 1 ||
      !source_disparity.sizes().equals(source.sizes().slice(1)) ||
      !target_disparity.sizes().equals(source.sizes().slice(1)) || cubic.dim() != 2 || cubic.size(1) != 4 ||
      cubic.size(0) != (int64_t(1) << position_bits) || visibility.numel() < 1)
    throw std::invalid_argument("integer_warp: shapes do not agree");
  const int64_t channels = source.size(0), height = source.size(1), width = source.size(2);
  const int64_t reach = visibility.numel() - 1, mask = (int64_t(1) << position_bits) - 1;
  const int64_t* image = source.data_ptr<int64_t>();
  const int64_t* seen_map = source_disparity.data_ptr<int64_t>();
  const int64_t* target = target_disparity.data_ptr<int64_t>();
  const int64_t* weights = cubic.data_ptr<int64_t>();
  const int64_t* table = visibility.data_ptr<int64_t>();
  torch::Tensor warped = torch::empty({channels, height, width}, torch::kInt64);
  torch::Tensor visible = torch::empty({height, width}, torch::kInt64);
  int64_t* out = warped.data_ptr<int64_t>();
  int64_t* vis = visible.data_ptr<int64_t>();
  const int64_t plane = height * width, one = int64_t(1) << position_bits;
  at::parallel_for(0, height, 16, [&](int64_t begin, int64_t end) {
    for (int64_t y = begin; y < end; ++y) {
      for (int64_t x = 0; x < width; ++x) {
        const int64_t i = y * width + x;
        // The source position, clamped into the image (border padding): tap 0 and phase.
        const int64_t py = clamp((y << position_bits) - du * target[i], 0, (height - 1) << position_bits);
        const int64_t px = clamp((x << position_bits) - dv * target[i], 0, (width - 1) << position_bits);
        const int64_t y0 = py >> position_bits, x0 = px >> position_bits, fy = py & mask, fx = px & mask;
        // Bicubic: a row of four taps at a time, rounded, then down the column, rounded.
        const int64_t* wy = weights + 4 * fy;
        const int64_t* wx = weights + 4 * fx;
        int64_t rows[4], cols[4];
        for (int k = 0; k < 4; ++k) {
          rows[k] = clamp(y0 + k - 1, 0, height - 1) * width;
          cols[k] = clamp(x0 + k - 1, 0, width - 1);
        }
        for (int64_t c = 0; c < channels; ++c) {
          const int64_t* p = image + c * plane;
          int64_t result = 0;
          for (int k = 0; k < 4; ++k) {
            const int64_t* row = p + rows[k];
            result += round_shift(row[cols[0]] * wx[0] + row[cols[1]] * wx[1] + row[cols[2]] * wx[2] +
                                      row[cols[3]] * wx[3],
                                  weight_bits) *
                      wy[k];
          }
          out[c * plane + i] = round_shift(result, weight_bits);
        }
        // Bilinear sample of the source's disparity there, and its agreement with the target's.
        const int64_t y1 = std::min(y0 + 1, height - 1) * width, x1 = std::min(x0 + 1, width - 1);
        const int64_t top = seen_map[y0 * width + x0] * (one - fx) + seen_map[y0 * width + x1] * fx;
        const int64_t bottom = seen_map[y1 + x0] * (one - fx) + seen_map[y1 + x1] * fx;
        const int64_t seen = round_shift(top * (one - fy) + bottom * fy, 2 * position_bits);
        vis[i] = table[std::min<int64_t>(std::abs(seen - target[i]), reach)] + visibility_floor;
      }
    }
  });
  return {warped, visible};
}
