// The light-field decoder's integer prediction of a view (integer_warp.cpp), bound into
// omnicodec._coder by coder.cpp.
#pragma once

#include <torch/extension.h>

#include <tuple>
#include <vector>

std::tuple<torch::Tensor, torch::Tensor> integer_predict(
    const std::vector<torch::Tensor>& sources, const std::vector<torch::Tensor>& source_disparities,
    const torch::Tensor& target_disparity, const std::vector<int64_t>& du, const std::vector<int64_t>& dv,
    const std::vector<int64_t>& distance_weights, const torch::Tensor& cubic, const torch::Tensor& visibility,
    int64_t position_bits, int64_t weight_bits, int64_t visibility_floor, int64_t spread_shift);
