// Masses of the integer discretized logistic (integer_logistic.cpp), bound into
// omnicodec._coder by coder.cpp.
#pragma once

#include <torch/extension.h>

torch::Tensor integer_logistic_masses(const torch::Tensor& first, const torch::Tensor& last,
                                      const torch::Tensor& location, const torch::Tensor& indices,
                                      const torch::Tensor& weights, int64_t low, int64_t high,
                                      const torch::Tensor& cdf, const torch::Tensor& reciprocals,
                                      const torch::Tensor& reaches, int64_t location_bits, int64_t shift,
                                      int64_t top, int64_t fraction_bits, int64_t one);
