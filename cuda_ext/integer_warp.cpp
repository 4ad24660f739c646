// The integer prediction of a light-field view from decoded views ((H, W, C) int32 samples in
// fixed point, int32 disparity maps in fixed point): each warped backward by
// the target's disparity (bicubic), weighted by its visibility and distance, blended, and
// the blend's spread. The hot path of omnicodec.lightfield.synthesis_integer.predict,
// which documents the arithmetic and keeps the same computation in torch as its reference.
// Integers only (table weights, int64 sums, rounding shifts, floor divisions), so every
// machine, thread count and compiler gives the same prediction.
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "checks.h"
#include "integer_warp.h"

using omnicodec::check;

namespace {

constexpr int kMaxSources = 8;
constexpr int kMaxChannels = 4;

inline int64_t round_shift(int64_t value, int64_t bits) { return (value + (int64_t(1) << (bits - 1))) >> bits; }

inline int64_t clamp(int64_t value, int64_t low, int64_t high) { return std::min(std::max(value, low), high); }

// floor(a / b) for b > 0, as torch.div(..., rounding_mode="floor").
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

}  // namespace

std::tuple<torch::Tensor, torch::Tensor> integer_predict(
    const std::vector<torch::Tensor>& sources, const std::vector<torch::Tensor>& source_disparities,
    const torch::Tensor& target_disparity, const std::vector<int64_t>& du, const std::vector<int64_t>& dv,
    const std::vector<int64_t>& distance_weights, const torch::Tensor& cubic, const torch::Tensor& visibility,
    int64_t position_bits, int64_t weight_bits, int64_t visibility_floor, int64_t spread_shift) {
  const int64_t count = static_cast<int64_t>(sources.size());
  check(count >= 1 && count <= kMaxSources && source_disparities.size() == sources.size() &&
            du.size() == sources.size() && dv.size() == sources.size() && distance_weights.size() == sources.size(),
        "integer_predict: one disparity map, offset and weight per source, 1 to 8 sources");
  check(target_disparity.dim() == 2 && position_bits >= 1 && weight_bits >= 1 && spread_shift >= 1,
        "integer_predict: shapes do not agree");
  const int64_t height = target_disparity.size(0), width = target_disparity.size(1);
  const int64_t channels = sources[0].dim() == 3 ? sources[0].size(2) : 0;
  check(height >= 1 && width >= 1 && channels >= 1 && channels <= kMaxChannels,
        "integer_predict: 1 to 4 channels of a non-empty view");
  std::vector<const torch::Tensor*> views{&target_disparity};
  for (int64_t r = 0; r < count; ++r) {
    check(sources[r].dim() == 3 && sources[r].size(0) == height && sources[r].size(1) == width &&
              sources[r].size(2) == channels && source_disparities[r].dim() == 2 &&
              source_disparities[r].size(0) == height && source_disparities[r].size(1) == width,
          "integer_predict: shapes do not agree");
    views.push_back(&sources[r]);
    views.push_back(&source_disparities[r]);
  }
  for (const torch::Tensor* t : views)
    check(t->device().is_cpu() && t->scalar_type() == torch::kInt32 && t->is_contiguous(),
          "integer_predict: views and disparity maps must be contiguous int32 CPU tensors");
  for (const torch::Tensor* t : {&cubic, &visibility})
    check(t->device().is_cpu() && t->scalar_type() == torch::kInt64 && t->is_contiguous(),
          "integer_predict: the tables must be contiguous int64 CPU tensors");
  check(cubic.dim() == 2 && cubic.size(1) == 4 && cubic.size(0) == (int64_t(1) << position_bits) &&
            visibility.numel() >= 1,
        "integer_predict: shapes do not agree");
  const int32_t* images[kMaxSources];
  const int32_t* seen_maps[kMaxSources];
  for (int64_t r = 0; r < count; ++r) {
    images[r] = sources[r].data_ptr<int32_t>();
    seen_maps[r] = source_disparities[r].data_ptr<int32_t>();
  }
  const int32_t* target = target_disparity.data_ptr<int32_t>();
  const int64_t* weights = cubic.data_ptr<int64_t>();
  const int64_t* table = visibility.data_ptr<int64_t>();
  const int64_t reach = visibility.numel() - 1, mask = (int64_t(1) << position_bits) - 1;
  const int64_t one = int64_t(1) << position_bits;
  torch::Tensor prediction = torch::empty({height, width, channels}, torch::kInt64);
  torch::Tensor spread = torch::empty({height, width}, torch::kInt64);
  int64_t* out = prediction.data_ptr<int64_t>();
  int64_t* spread_out = spread.data_ptr<int64_t>();
  at::parallel_for(0, height, 16, [&](int64_t begin, int64_t end) {
    int64_t warped[kMaxSources][kMaxChannels], weight[kMaxSources];
    for (int64_t y = begin; y < end; ++y) {
      for (int64_t x = 0; x < width; ++x) {
        const int64_t i = y * width + x, d = target[i];
        int64_t total[kMaxChannels] = {0, 0, 0, 0}, weight_sum = 0;
        for (int64_t r = 0; r < count; ++r) {
          // The source position, clamped into the image (border padding): tap 0 and phase.
          const int64_t py = clamp((y << position_bits) - du[r] * d, 0, (height - 1) << position_bits);
          const int64_t px = clamp((x << position_bits) - dv[r] * d, 0, (width - 1) << position_bits);
          const int64_t y0 = py >> position_bits, x0 = px >> position_bits, fy = py & mask, fx = px & mask;
          // Bicubic: each row of four taps rounded, then down the column, rounded.
          const int64_t* wy = weights + 4 * fy;
          const int64_t* wx = weights + 4 * fx;
          int64_t rows[4], cols[4];  // offsets of the taps' rows and columns in (H, W, C) samples
          for (int k = 0; k < 4; ++k) {
            rows[k] = clamp(y0 + k - 1, 0, height - 1) * width * channels;
            cols[k] = clamp(x0 + k - 1, 0, width - 1) * channels;
          }
          for (int64_t c = 0; c < channels; ++c) {
            const int32_t* p = images[r] + c;
            int64_t result = 0;
            for (int k = 0; k < 4; ++k) {
              const int32_t* row = p + rows[k];
              result += round_shift(row[cols[0]] * wx[0] + row[cols[1]] * wx[1] + row[cols[2]] * wx[2] +
                                        row[cols[3]] * wx[3],
                                    weight_bits) *
                        wy[k];
            }
            warped[r][c] = round_shift(result, weight_bits);
          }
          // Visibility: how well the source's own disparity there (bilinear) agrees.
          const int32_t* seen_map = seen_maps[r];
          const int64_t y1 = std::min(y0 + 1, height - 1) * width, x1 = std::min(x0 + 1, width - 1);
          const int64_t top = seen_map[y0 * width + x0] * (one - fx) + seen_map[y0 * width + x1] * fx;
          const int64_t bottom = seen_map[y1 + x0] * (one - fx) + seen_map[y1 + x1] * fx;
          const int64_t seen = round_shift(top * (one - fy) + bottom * fy, 2 * position_bits);
          weight[r] = (table[std::min<int64_t>(std::abs(seen - d), reach)] + visibility_floor) * distance_weights[r];
          weight_sum += weight[r];
          for (int64_t c = 0; c < channels; ++c) total[c] += warped[r][c] * weight[r];
        }
        weight_sum = std::max<int64_t>(weight_sum, 1);
        int64_t blended[kMaxChannels];
        for (int64_t c = 0; c < channels; ++c) {
          blended[c] = floor_div(total[c] + weight_sum / 2, weight_sum);
          out[i * channels + c] = blended[c];
        }
        int64_t spread_sum = 0;
        for (int64_t r = 0; r < count; ++r) {
          int64_t squares = 0;
          for (int64_t c = 0; c < channels; ++c) {
            const int64_t difference = round_shift(warped[r][c] - blended[c], spread_shift);
            squares += difference * difference;
          }
          spread_sum += weight[r] * squares;
        }
        spread_out[i] = floor_div(spread_sum, channels * weight_sum);
      }
    }
  });
  return {prediction, spread};
}
