// CUDA side of the occupancy coder: one thread per chunk, running the same rans.h code as
// the CPU, so both produce and accept the same bytes. No torch here: coder.cpp owns the
// tensors and calls the extern "C" launchers declared at the end of rans.h.
#include <cuda_runtime.h>

#include "rans.h"

namespace rans = omnicodec::rans;

namespace {

constexpr unsigned kThreads = 128;
// Streams have few chunks (a thousand for 10^8 symbols at the default size): one warp per
// block spreads them over all the multiprocessors.
constexpr unsigned kChunkThreads = 32;
constexpr unsigned kMaxBlocks = 1u << 16;  // kernels stride over what more blocks would take

unsigned blocks_for(uint64_t items, unsigned threads) {
  const uint64_t blocks = (items + threads - 1) / threads;
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

// Kernels loop over their items with a grid stride: item i, i + stride, ...
__device__ uint64_t first_item() { return blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; }
__device__ uint64_t stride() { return gridDim.x * static_cast<uint64_t>(blockDim.x); }

__global__ void binary_frequencies_kernel(const float* prob_one, int32_t* freq_one, uint64_t count,
                                          int32_t* status) {
  for (uint64_t i = first_item(); i < count; i += stride())
    if (rans::binary_frequency(prob_one[i], &freq_one[i]) != rans::kOk) *status = rans::kBadProbability;
}

__global__ void cdf_from_pmf_kernel(const float* pmf, int32_t* cdf, uint64_t rows, uint32_t alphabet,
                                    int32_t* status) {
  for (uint64_t i = first_item(); i < rows; i += stride())
    if (rans::cdf_from_pmf(pmf + i * alphabet, alphabet, cdf + i * (alphabet + 1)) != rans::kOk)
      *status = rans::kBadPmf;
}

template <class Model>
__global__ void encode_kernel(Model model, const typename Model::Symbol* symbols, rans::Chunking chunking,
                              uint32_t* scratch, uint32_t* payload_words, int32_t* statuses) {
  for (uint64_t j = first_item(); j < chunking.chunks(); j += stride())
    statuses[j] = rans::encode_group<1>(model, symbols, chunking, static_cast<uint32_t>(j), scratch, payload_words);
}

template <class Model>
__global__ void decode_kernel(Model model, typename Model::Symbol* symbols, rans::Chunking chunking,
                              const uint8_t* data, const uint64_t* offsets, int32_t* statuses) {
  for (uint64_t j = first_item(); j < chunking.chunks(); j += stride())
    statuses[j] = rans::decode_group<1>(model, symbols, chunking, static_cast<uint32_t>(j), data, offsets);
}

// One block per chunk copies its payload from the end of its scratch region.
__global__ void gather_kernel(const uint32_t* scratch, rans::Chunking chunking, const uint32_t* payload_words,
                              const uint64_t* word_offsets, uint32_t* out) {
  const uint32_t j = blockIdx.x;
  const uint32_t* payload = scratch + (j + 1) * chunking.capacity() - payload_words[j];
  for (uint32_t w = threadIdx.x; w < payload_words[j]; w += blockDim.x) out[word_offsets[j] + w] = payload[w];
}

cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

template <class Model>
int launch_encode(const Model& model, const typename Model::Symbol* symbols, uint32_t count, uint32_t chunk_size,
                  uint32_t* scratch, uint32_t* payload_words, int32_t* statuses, void* stream) {
  const rans::Chunking chunking{count, chunk_size};
  if (chunking.chunks() == 0) return cudaSuccess;
  encode_kernel<<<blocks_for(chunking.chunks(), kChunkThreads), kChunkThreads, 0, as_stream(stream)>>>(
      model, symbols, chunking, scratch, payload_words, statuses);
  return cudaGetLastError();
}

template <class Model>
int launch_decode(const Model& model, typename Model::Symbol* symbols, uint32_t count, uint32_t chunk_size,
                  const uint8_t* data, const uint64_t* offsets, int32_t* statuses, void* stream) {
  const rans::Chunking chunking{count, chunk_size};
  if (chunking.chunks() == 0) return cudaSuccess;
  decode_kernel<<<blocks_for(chunking.chunks(), kChunkThreads), kChunkThreads, 0, as_stream(stream)>>>(
      model, symbols, chunking, data, offsets, statuses);
  return cudaGetLastError();
}

}  // namespace

extern "C" {

int omnicodec_cuda_binary_frequencies(const float* prob_one, int32_t* freq_one, uint64_t count,
                                      int32_t* status, void* stream) {
  if (count == 0) return cudaSuccess;
  binary_frequencies_kernel<<<blocks_for(count, kThreads), kThreads, 0, as_stream(stream)>>>(prob_one, freq_one,
                                                                                          count, status);
  return cudaGetLastError();
}

int omnicodec_cuda_cdf_from_pmf(const float* pmf, int32_t* cdf, uint64_t rows, uint32_t alphabet,
                                int32_t* status, void* stream) {
  if (rows == 0) return cudaSuccess;
  cdf_from_pmf_kernel<<<blocks_for(rows, kThreads), kThreads, 0, as_stream(stream)>>>(pmf, cdf, rows, alphabet,
                                                                                    status);
  return cudaGetLastError();
}

int omnicodec_cuda_encode_binary(const int32_t* freq_one, const uint8_t* symbols, uint32_t count,
                                 uint32_t chunk_size, uint32_t* scratch, uint32_t* payload_words,
                                 int32_t* statuses, void* stream) {
  return launch_encode(rans::BinaryModel{freq_one}, symbols, count, chunk_size, scratch, payload_words, statuses,
                       stream);
}

int omnicodec_cuda_encode_cdf(const int32_t* cdf, uint32_t alphabet, const int32_t* symbols, uint32_t count,
                              uint32_t chunk_size, uint32_t* scratch, uint32_t* payload_words,
                              int32_t* statuses, void* stream) {
  return launch_encode(rans::CdfModel{cdf, alphabet}, symbols, count, chunk_size, scratch, payload_words, statuses,
                       stream);
}

int omnicodec_cuda_gather_payloads(const uint32_t* scratch, uint32_t count, uint32_t chunk_size,
                                   const uint32_t* payload_words, const uint64_t* word_offsets,
                                   uint32_t* out, void* stream) {
  const rans::Chunking chunking{count, chunk_size};
  if (chunking.chunks() == 0) return cudaSuccess;
  gather_kernel<<<chunking.chunks(), kThreads, 0, as_stream(stream)>>>(scratch, chunking, payload_words,
                                                                        word_offsets, out);
  return cudaGetLastError();
}

int omnicodec_cuda_decode_binary(const int32_t* freq_one, const uint8_t* data, const uint64_t* offsets,
                                 uint32_t count, uint32_t chunk_size, uint8_t* symbols,
                                 int32_t* statuses, void* stream) {
  return launch_decode(rans::BinaryModel{freq_one}, symbols, count, chunk_size, data, offsets, statuses, stream);
}

int omnicodec_cuda_decode_cdf(const int32_t* cdf, uint32_t alphabet, const uint8_t* data, const uint64_t* offsets,
                              uint32_t count, uint32_t chunk_size, int32_t* symbols,
                              int32_t* statuses, void* stream) {
  return launch_decode(rans::CdfModel{cdf, alphabet}, symbols, count, chunk_size, data, offsets, statuses, stream);
}

}  // extern "C"
