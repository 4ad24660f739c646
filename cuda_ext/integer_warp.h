// The light-field decoder's integer warp (integer_warp.cpp), bound into omnicodec._coder by
// coder.cpp.
#pragma once

#include <torch/extension.h>

#include <tuple>

std::tuple<torch::Tensor, torch::Tensor> integer_warp(const torch::Tensor& source,
                                                      const torch::Tensor& source_disparity,
                                                      const torch::Tensor& target_disparity, int64_t du, int64_t dv,
                                                      const torch::Tensor& cubic, const torch::Tensor& visibility,
                                                      int64_t position_bits, int64_t weight_bits,
                                                      int64_t visibility_floor);
