// Integer sparse convolution (sparse_integer.cpp), bound into omnicodec._coder by coder.cpp.
#pragma once

#include <torch/extension.h>

#include <string>
#include <vector>

torch::Tensor neighbour_table(const torch::Tensor& keys, int64_t bits);
torch::Tensor integer_conv(const torch::Tensor& features, const torch::Tensor& table, const torch::Tensor& weight,
                           const torch::Tensor& bias, int64_t shift, int64_t input_bound,
                           const c10::optional<torch::Tensor>& residual, bool relu, const std::string& path);
std::vector<std::string> integer_conv_paths();
torch::Tensor integer_dot(const torch::Tensor& features, const torch::Tensor& weight);
torch::Tensor integer_linear(const torch::Tensor& features, const torch::Tensor& weight, const torch::Tensor& bias,
                             int64_t shift, bool relu, const std::string& path);
