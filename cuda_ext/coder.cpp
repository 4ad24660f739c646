// omnicodec._coder: the PyTorch face of the chunked rANS coder in rans.h.
//
// Tensors on the CPU are coded here, chunk groups spread over torch's intra-op threads
// (one thread when torch.set_num_threads(1)); CUDA tensors go to the kernels of coder.cu
// when the extension was built with CUDA (OMNICODEC_WITH_CUDA). Both run the same rans.h
// code, so a stream made on either device decodes on the other.
//
// Errors: bad arguments raise ValueError, streams that do not decode raise StreamError
// (a ValueError subclass); nothing is read or written out of bounds.
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "integer_logistic.h"
#include "integer_warp.h"
#include "rans.h"
#include "sparse_integer.h"

#ifdef OMNICODEC_WITH_CUDA
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace py = pybind11;
namespace rans = omnicodec::rans;

namespace {

struct StreamError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(rans::Status status) {
  if (status == rans::kOk) return;
  if (rans::is_stream_error(status)) throw StreamError(rans::status_message(status));
  if (status == rans::kOverflow) throw std::logic_error(rans::status_message(status));
  throw std::invalid_argument(rans::status_message(status));
}

void require(bool condition, const std::string& message) {
  if (!condition) throw std::invalid_argument(message);
}

// ---------------------------------------------------------------------------------------
// Argument preparation: flat, contiguous tensors of the types rans.h reads. Values are
// range-checked by the coder itself; a conversion here must never change one.

bool is_integer(const torch::Tensor& t) { return c10::isIntegralType(t.scalar_type(), /*includeBool=*/false); }

// Refuses values outside [low, high] before a narrowing cast could wrap them into range.
void require_range(const torch::Tensor& t, int64_t low, int64_t high, rans::Status status) {
  if (t.numel() == 0) return;
  const auto [min, max] = torch::aminmax(t);
  if (min.item<int64_t>() < low || max.item<int64_t>() > high) check(status);
}

torch::Tensor as_int32(const torch::Tensor& t, const char* what, rans::Status out_of_range) {
  require(is_integer(t), std::string(what) + " must be an integer tensor");
  if (t.scalar_type() != torch::kInt32) require_range(t, INT32_MIN, INT32_MAX, out_of_range);
  return t.to(torch::kInt32).contiguous();
}

torch::Tensor as_binary_symbols(const torch::Tensor& symbols) {
  if (symbols.scalar_type() == torch::kBool) return symbols.contiguous().view(torch::kUInt8).reshape(-1);
  require(is_integer(symbols), "binary symbols must be a bool or integer tensor");
  if (symbols.scalar_type() != torch::kUInt8) require_range(symbols, 0, 1, rans::kBadSymbol);
  return symbols.to(torch::kUInt8).contiguous().reshape(-1);
}

torch::Tensor as_float32(const torch::Tensor& t, const char* what) {
  require(t.is_floating_point(), std::string(what) + " must be a floating-point tensor");
  return t.to(torch::kFloat32).contiguous();
}

// (..., alphabet + 1) CDF rows -> (rows, alphabet + 1) int32.
torch::Tensor as_cdf_rows(const torch::Tensor& cdf) {
  require(cdf.dim() >= 1 && cdf.size(-1) >= 2 && cdf.size(-1) <= rans::kMaxAlphabet + 1,
          "CDF rows must have 2 to 65537 entries (alphabets of 1 to 65536 symbols)");
  return as_int32(cdf, "a CDF", rans::kBadCdf).reshape({-1, cdf.size(-1)});
}

uint32_t symbol_count(int64_t count) {
  require(count <= UINT32_MAX, "a stream holds at most 2^32 - 1 symbols");
  return static_cast<uint32_t>(count);
}

rans::Chunking chunking_for(int64_t count, int64_t chunk_size) {
  if (chunk_size < 1 || chunk_size > rans::kMaxChunkSize) check(rans::kBadChunkSize);
  return rans::Chunking{symbol_count(count), static_cast<uint32_t>(chunk_size)};
}

// Whether to run on the GPU: all tensors must be on one device, the CPU or a CUDA device
// (which a build without CUDA refuses here, so it never answers true).
bool use_cuda(std::initializer_list<const torch::Tensor*> tensors) {
  const torch::Device device = (*tensors.begin())->device();
  for (const torch::Tensor* t : tensors) require(t->device() == device, "all tensors must be on one device");
  if (device.is_cpu()) return false;
  require(device.is_cuda(), "tensors must be on the CPU or a CUDA device");
#ifdef OMNICODEC_WITH_CUDA
  return true;
#else
  throw std::invalid_argument("omnicodec._coder was built without CUDA: move the tensors to the CPU");
#endif
}

std::pair<const uint8_t*, size_t> bytes_view(const py::bytes& data) {
  char* buffer;
  Py_ssize_t size;
  if (PyBytes_AsStringAndSize(data.ptr(), &buffer, &size) != 0) throw py::error_already_set();
  return {reinterpret_cast<const uint8_t*>(buffer), static_cast<size_t>(size)};
}

// Header, chunk table and payloads as one bytes object; payload(j) points at chunk j's words.
template <class PayloadAt>
py::bytes stream_bytes(rans::Alphabet alphabet, const rans::Chunking& chunking,
                       const std::vector<uint32_t>& payload_words, PayloadAt payload) {
  size_t size = rans::prefix_bytes(chunking.chunks());
  for (uint32_t words : payload_words) size += 4 * static_cast<size_t>(words);
  PyObject* object = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(size));
  if (object == nullptr) throw py::error_already_set();
  py::bytes result = py::reinterpret_steal<py::bytes>(object);
  uint8_t* out = reinterpret_cast<uint8_t*>(PyBytes_AS_STRING(object));
  rans::write_prefix(out, alphabet, chunking, payload_words.data());
  out += rans::prefix_bytes(chunking.chunks());
  for (uint32_t j = 0; j < chunking.chunks(); ++j) {
    memcpy(out, payload(j), 4 * static_cast<size_t>(payload_words[j]));
    out += 4 * static_cast<size_t>(payload_words[j]);
  }
  return result;
}

// ---------------------------------------------------------------------------------------
// CPU.

// Chunks one CPU thread codes in lockstep to overlap their dependency chains: of 1, 2, 4
// and 8, 4 was fastest (8 runs out of x86-64 registers).
constexpr int kCpuLanes = 4;

// Runs code(lanes, j) for every chunk group: kCpuLanes full chunks at once where there
// are that many, else one chunk at a time; groups spread over torch's intra-op threads.
// Returns the status of the first group that failed.
template <class Code>
rans::Status for_each_group(const rans::Chunking& chunking, Code code) {
  const uint32_t chunks = chunking.chunks();
  const int64_t groups = (static_cast<int64_t>(chunks) + kCpuLanes - 1) / kCpuLanes;
  std::vector<rans::Status> statuses(groups, rans::kOk);
  at::parallel_for(0, groups, 1, [&](int64_t begin, int64_t end) {
    for (int64_t group = begin; group < end; ++group) {
      const uint32_t first = static_cast<uint32_t>(group * kCpuLanes);
      const uint32_t last = std::min<uint32_t>(chunks, first + kCpuLanes);
      if (last - first == kCpuLanes && chunking.symbols(last - 1) == chunking.size) {
        statuses[group] = code(std::integral_constant<int, kCpuLanes>(), first);
      } else {
        for (uint32_t j = first; j < last && statuses[group] == rans::kOk; ++j)
          statuses[group] = code(std::integral_constant<int, 1>(), j);
      }
    }
  });
  for (rans::Status status : statuses)
    if (status != rans::kOk) return status;
  return rans::kOk;
}

template <class Model>
py::bytes encode_cpu(const Model& model, const typename Model::Symbol* symbols,
                     const rans::Chunking& chunking) {
  // Left uninitialised: each chunk writes, and the stream copies, only its payload.
  std::unique_ptr<uint32_t[]> scratch(new uint32_t[chunking.chunks() * chunking.capacity()]);
  std::vector<uint32_t> payload_words(chunking.chunks());
  rans::Status status;
  {
    py::gil_scoped_release release;
    status = for_each_group(chunking, [&](auto lanes, uint32_t j) {
      return rans::encode_group<decltype(lanes)::value>(model, symbols, chunking, j, scratch.get(),
                                                        payload_words.data());
    });
  }
  check(status);
  return stream_bytes(Model::kAlphabet, chunking, payload_words, [&](uint32_t j) {
    return scratch.get() + (j + 1) * chunking.capacity() - payload_words[j];
  });
}

template <class Model>
void decode_cpu(const Model& model, typename Model::Symbol* symbols, uint32_t count, const py::bytes& data) {
  const auto [stream, size] = bytes_view(data);
  rans::Chunking chunking;
  std::vector<uint64_t> offsets;
  check(rans::read_layout(stream, size, Model::kAlphabet, count, &chunking, &offsets));
  rans::Status status;
  {
    py::gil_scoped_release release;
    status = for_each_group(chunking, [&](auto lanes, uint32_t j) {
      return rans::decode_group<decltype(lanes)::value>(model, symbols, chunking, j, stream, offsets.data());
    });
  }
  check(status);
}

// ---------------------------------------------------------------------------------------
// CUDA: the same steps around the launchers of coder.cu.

#ifdef OMNICODEC_WITH_CUDA
void* current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

uint32_t* words_of(const torch::Tensor& int32_tensor) {
  return reinterpret_cast<uint32_t*>(int32_tensor.data_ptr<int32_t>());
}

void check_launch(int error) { C10_CUDA_CHECK(static_cast<cudaError_t>(error)); }

// The first failing chunk's status (or the one status of an element-wise kernel).
rans::Status first_failure(const torch::Tensor& statuses) {
  const torch::Tensor host = statuses.cpu();
  const int32_t* status = host.data_ptr<int32_t>();
  for (int64_t i = 0; i < host.numel(); ++i)
    if (status[i] != rans::kOk) return static_cast<rans::Status>(status[i]);
  return rans::kOk;
}

torch::TensorOptions int32_on(const torch::Device& device) {
  return torch::TensorOptions().device(device).dtype(torch::kInt32);
}

// launch(scratch, payload_words, statuses, stream) runs the encode kernel; the payloads
// are then packed on the device and copied back once.
template <class Launch>
py::bytes encode_cuda(rans::Alphabet alphabet, const rans::Chunking& chunking, const torch::Device& device,
                      Launch launch) {
  const c10::cuda::CUDAGuard guard(device);
  const int64_t chunks = chunking.chunks();
  const int64_t capacity = static_cast<int64_t>(chunking.capacity());
  const torch::Tensor scratch = torch::empty({chunks * capacity}, int32_on(device));
  const torch::Tensor words = torch::empty({chunks}, int32_on(device));
  const torch::Tensor statuses = torch::empty({chunks}, int32_on(device));
  check_launch(launch(words_of(scratch), words_of(words), statuses.data_ptr<int32_t>(), current_stream()));
  check(first_failure(statuses));
  const torch::Tensor host_words = words.cpu();
  const std::vector<uint32_t> payload_words(words_of(host_words), words_of(host_words) + chunks);
  std::vector<int64_t> word_offsets(chunks);
  int64_t total = 0;
  for (int64_t j = 0; j < chunks; ++j) word_offsets[j] = total, total += payload_words[j];
  const torch::Tensor device_offsets =
      torch::from_blob(word_offsets.data(), {chunks}, torch::kInt64).to(device);
  const torch::Tensor packed = torch::empty({total}, int32_on(device));
  check_launch(omnicodec_cuda_gather_payloads(
      words_of(scratch), chunking.count, chunking.size, words_of(words),
      reinterpret_cast<const uint64_t*>(device_offsets.data_ptr<int64_t>()), words_of(packed), current_stream()));
  const torch::Tensor host_packed = packed.cpu();
  return stream_bytes(alphabet, chunking, payload_words,
                      [&](uint32_t j) { return words_of(host_packed) + word_offsets[j]; });
}

// launch(chunking, stream bytes, offsets, statuses, stream) runs the decode kernel.
template <class Launch>
void decode_cuda(rans::Alphabet alphabet, uint32_t count, const py::bytes& data, const torch::Device& device,
                 Launch launch) {
  const auto [stream, size] = bytes_view(data);
  rans::Chunking chunking;
  std::vector<uint64_t> offsets;
  check(rans::read_layout(stream, size, alphabet, count, &chunking, &offsets));
  const c10::cuda::CUDAGuard guard(device);
  // A fresh device allocation is aligned, so every word of the stream is too.
  const torch::Tensor device_stream =
      torch::from_blob(const_cast<uint8_t*>(stream), {static_cast<int64_t>(size)}, torch::kUInt8).to(device);
  const torch::Tensor device_offsets =
      torch::from_blob(offsets.data(), {static_cast<int64_t>(offsets.size())}, torch::kInt64).to(device);
  const torch::Tensor statuses = torch::empty({static_cast<int64_t>(chunking.chunks())}, int32_on(device));
  check_launch(launch(chunking, device_stream.data_ptr<uint8_t>(),
                      reinterpret_cast<const uint64_t*>(device_offsets.data_ptr<int64_t>()),
                      statuses.data_ptr<int32_t>(), current_stream()));
  check(first_failure(statuses));
}
#endif

// ---------------------------------------------------------------------------------------
// The module's functions.

torch::Tensor binary_frequencies(const torch::Tensor& prob_one) {
  const torch::Tensor prob = as_float32(prob_one, "probabilities");
  torch::Tensor freq = torch::empty_like(prob, prob.options().dtype(torch::kInt32));
  const float* p = prob.data_ptr<float>();
  int32_t* f = freq.data_ptr<int32_t>();
  if (use_cuda({&prob})) {
#ifdef OMNICODEC_WITH_CUDA
    const c10::cuda::CUDAGuard guard(prob.device());
    const torch::Tensor status = torch::zeros({1}, int32_on(prob.device()));
    check_launch(
        omnicodec_cuda_binary_frequencies(p, f, prob.numel(), status.data_ptr<int32_t>(), current_stream()));
    check(first_failure(status));
#endif
    return freq;
  }
  std::atomic<bool> bad{false};
  at::parallel_for(0, prob.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      if (rans::binary_frequency(p[i], &f[i]) != rans::kOk) bad = true;
  });
  if (bad) check(rans::kBadProbability);
  return freq;
}

torch::Tensor cdf_from_pmf(const torch::Tensor& pmf) {
  require(pmf.dim() >= 1 && pmf.size(-1) >= 1 && pmf.size(-1) <= rans::kMaxAlphabet,
          "pmf rows must have 1 to 65536 entries");
  const torch::Tensor rows = as_float32(pmf, "a pmf");
  const uint32_t alphabet = static_cast<uint32_t>(pmf.size(-1));
  std::vector<int64_t> shape(pmf.sizes().begin(), pmf.sizes().end());
  shape.back() = alphabet + 1;
  torch::Tensor cdf = torch::empty(shape, rows.options().dtype(torch::kInt32));
  const int64_t count = rows.numel() / alphabet;
  const float* p = rows.data_ptr<float>();
  int32_t* c = cdf.data_ptr<int32_t>();
  if (use_cuda({&rows})) {
#ifdef OMNICODEC_WITH_CUDA
    const c10::cuda::CUDAGuard guard(rows.device());
    const torch::Tensor status = torch::zeros({1}, int32_on(rows.device()));
    check_launch(
        omnicodec_cuda_cdf_from_pmf(p, c, count, alphabet, status.data_ptr<int32_t>(), current_stream()));
    check(first_failure(status));
#endif
    return cdf;
  }
  std::atomic<bool> bad{false};
  at::parallel_for(0, count, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      if (rans::cdf_from_pmf(p + i * alphabet, alphabet, c + i * (alphabet + 1)) != rans::kOk) bad = true;
  });
  if (bad) check(rans::kBadPmf);
  return cdf;
}

py::bytes encode_binary(const torch::Tensor& freq_one, const torch::Tensor& symbols, int64_t chunk_size) {
  const torch::Tensor freq = as_int32(freq_one, "frequencies", rans::kBadFrequency).reshape(-1);
  const torch::Tensor bits = as_binary_symbols(symbols);
  require(freq.numel() == bits.numel(), "one frequency per symbol is needed");
  const rans::Chunking chunking = chunking_for(bits.numel(), chunk_size);
  const rans::BinaryModel model{freq.data_ptr<int32_t>()};
  if (use_cuda({&freq, &bits})) {
#ifdef OMNICODEC_WITH_CUDA
    return encode_cuda(rans::Alphabet::kBinary, chunking, freq.device(),
                       [&](uint32_t* scratch, uint32_t* words, int32_t* statuses, void* stream) {
                         return omnicodec_cuda_encode_binary(model.freq_one, bits.data_ptr<uint8_t>(), chunking.count,
                                                             chunking.size, scratch, words, statuses, stream);
                       });
#endif
  }
  return encode_cpu(model, bits.data_ptr<uint8_t>(), chunking);
}

torch::Tensor decode_binary(const torch::Tensor& freq_one, const py::bytes& data) {
  const torch::Tensor freq = as_int32(freq_one, "frequencies", rans::kBadFrequency).reshape(-1);
  const uint32_t count = symbol_count(freq.numel());
  torch::Tensor symbols = torch::empty({freq.numel()}, freq.options().dtype(torch::kBool));
  uint8_t* out = reinterpret_cast<uint8_t*>(symbols.data_ptr<bool>());
  const rans::BinaryModel model{freq.data_ptr<int32_t>()};
  if (use_cuda({&freq})) {
#ifdef OMNICODEC_WITH_CUDA
    decode_cuda(rans::Alphabet::kBinary, count, data, freq.device(),
                [&](const rans::Chunking& chunking, const uint8_t* stream, const uint64_t* offsets,
                    int32_t* statuses, void* cuda_stream) {
                  return omnicodec_cuda_decode_binary(model.freq_one, stream, offsets, chunking.count,
                                                      chunking.size, out, statuses, cuda_stream);
                });
#endif
    return symbols;
  }
  decode_cpu(model, out, count, data);
  return symbols;
}

py::bytes encode_cdf(const torch::Tensor& cdf, const torch::Tensor& symbols, int64_t chunk_size) {
  const torch::Tensor rows = as_cdf_rows(cdf);
  const torch::Tensor values = as_int32(symbols, "symbols", rans::kBadSymbol).reshape(-1);
  require(rows.size(0) == values.numel(), "one CDF row per symbol is needed");
  const rans::Chunking chunking = chunking_for(values.numel(), chunk_size);
  const rans::CdfModel model{rows.data_ptr<int32_t>(), static_cast<uint32_t>(rows.size(1) - 1)};
  if (use_cuda({&rows, &values})) {
#ifdef OMNICODEC_WITH_CUDA
    return encode_cuda(rans::Alphabet::kCdf, chunking, rows.device(),
                       [&](uint32_t* scratch, uint32_t* words, int32_t* statuses, void* stream) {
                         return omnicodec_cuda_encode_cdf(model.cdf, model.alphabet, values.data_ptr<int32_t>(),
                                                          chunking.count, chunking.size, scratch, words, statuses,
                                                          stream);
                       });
#endif
  }
  return encode_cpu(model, values.data_ptr<int32_t>(), chunking);
}

torch::Tensor decode_cdf(const torch::Tensor& cdf, const py::bytes& data) {
  const torch::Tensor rows = as_cdf_rows(cdf);
  const uint32_t count = symbol_count(rows.size(0));
  torch::Tensor symbols = torch::empty({rows.size(0)}, rows.options());
  const rans::CdfModel model{rows.data_ptr<int32_t>(), static_cast<uint32_t>(rows.size(1) - 1)};
  if (use_cuda({&rows})) {
#ifdef OMNICODEC_WITH_CUDA
    decode_cuda(rans::Alphabet::kCdf, count, data, rows.device(),
                [&](const rans::Chunking& chunking, const uint8_t* stream, const uint64_t* offsets,
                    int32_t* statuses, void* cuda_stream) {
                  return omnicodec_cuda_decode_cdf(model.cdf, model.alphabet, stream, offsets, chunking.count,
                                                   chunking.size, symbols.data_ptr<int32_t>(), statuses,
                                                   cuda_stream);
                });
#endif
    return symbols;
  }
  decode_cpu(model, symbols.data_ptr<int32_t>(), count, data);
  return symbols;
}

// Binary symbols of one stream, decoded in successive calls (rans::SequentialDecoder):
// decode(freq_one) returns the next freq_one.numel() symbols; finish() checks that the
// stream held exactly the symbols decoded. CPU only: the calls are sequential by nature.
class BinaryDecoder {
 public:
  explicit BinaryDecoder(const py::bytes& data) : stream_(data) {
    check(decoder_.open(reinterpret_cast<const uint8_t*>(stream_.data()), stream_.size(), rans::Alphabet::kBinary));
  }

  torch::Tensor decode(const torch::Tensor& freq_one) {
    const torch::Tensor freq = as_int32(freq_one, "frequencies", rans::kBadFrequency).reshape(-1);
    require(freq.device().is_cpu(), "sequential decoding runs on the CPU");
    torch::Tensor symbols = torch::empty({freq.numel()}, freq.options().dtype(torch::kBool));
    const rans::BinaryModel model{freq.data_ptr<int32_t>()};
    check(decoder_.decode(model, freq.numel(), reinterpret_cast<uint8_t*>(symbols.data_ptr<bool>())));
    return symbols;
  }

  void finish() const { check(decoder_.finish()); }

 private:
  std::string stream_;  // owns the bytes the decoder points into
  rans::SequentialDecoder decoder_;
};

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "Chunked rANS entropy coder for occupancy symbols (CPU, and CUDA when built with it).";
  py::register_exception<StreamError>(m, "StreamError", PyExc_ValueError);
  m.attr("PRECISION") = rans::kPrecisionBits;
  m.attr("DEFAULT_CHUNK_SIZE") = rans::kDefaultChunkSize;
  m.attr("MAX_CHUNK_SIZE") = rans::kMaxChunkSize;
#ifdef OMNICODEC_WITH_CUDA
  m.attr("WITH_CUDA") = true;
#else
  m.attr("WITH_CUDA") = false;
#endif
  m.def("binary_frequencies", &binary_frequencies, py::arg("prob_one"),
        "float probabilities of a one -> int32 frequencies round(p * 65536) clamped to [1, 65535]");
  m.def("cdf_from_pmf", &cdf_from_pmf, py::arg("pmf"),
        "(..., K) float pmfs -> (..., K + 1) int32 CDFs from 0 to 65536, every symbol at least 1");
  m.def("encode_binary", &encode_binary, py::arg("freq_one"), py::arg("symbols"),
        py::arg("chunk_size") = rans::kDefaultChunkSize,
        "binary symbols with their frequencies of a one -> bytes");
  m.def("decode_binary", &decode_binary, py::arg("freq_one"), py::arg("data"),
        "inverse of encode_binary: a bool tensor, one symbol per frequency");
  py::class_<BinaryDecoder>(m, "BinaryDecoder",
                            "decodes one binary stream in successive calls (symbols in encoding order)")
      .def(py::init<const py::bytes&>(), py::arg("data"))
      .def("decode", &BinaryDecoder::decode, py::arg("freq_one"),
           "the next freq_one.numel() symbols, as a bool tensor")
      .def("finish", &BinaryDecoder::finish, "check that every symbol of the stream was decoded");
  m.def("encode_cdf", &encode_cdf, py::arg("cdf"), py::arg("symbols"),
        py::arg("chunk_size") = rans::kDefaultChunkSize,
        "symbols of a small alphabet with one CDF row each -> bytes");
  m.def("decode_cdf", &decode_cdf, py::arg("cdf"), py::arg("data"),
        "inverse of encode_cdf: an int32 tensor, one symbol per CDF row");
  m.def("neighbour_table", &neighbour_table, py::arg("keys"), py::arg("bits"),
        "sorted unique Morton keys -> (N, 27) int32 rows of each 3x3x3 neighbour, -1 where absent");
  m.def("integer_conv", &integer_conv, py::arg("features"), py::arg("table"), py::arg("weight"),
        py::arg("bias"), py::arg("shift"), py::arg("input_bound"), py::arg("residual") = py::none(),
        py::arg("relu") = false, py::arg("path") = "auto",
        "int16 sparse convolution with int32 sums over a neighbour table (see sparse_integer.cpp)");
  m.def("integer_conv_paths", &integer_conv_paths, "the integer_conv paths this CPU runs, fastest first");
  m.def("integer_dot", &integer_dot, py::arg("features"), py::arg("weight"),
        "(N, C) int16 features . (C,) int64 weight -> (N,) int64, exact");
  m.def("integer_linear", &integer_linear, py::arg("features"), py::arg("weight"), py::arg("bias"),
        py::arg("shift"), py::arg("relu"), py::arg("path") = "auto",
        "(N, in) int64 or int32 features -> (N, out) int64 ((x . w + b + 2^(shift-1)) >> shift, then ReLU if "
        "asked); path as integer_conv's");
  m.def("integer_logistic_masses", &integer_logistic_masses, py::arg("first"), py::arg("last"),
        py::arg("location"), py::arg("indices"), py::arg("weights"), py::arg("low"), py::arg("high"),
        py::arg("cdf"), py::arg("reciprocals"), py::arg("reaches"), py::arg("location_bits"), py::arg("shift"),
        py::arg("top"), py::arg("fraction_bits"), py::arg("one"),
        "masses of [first, last] under integer logistic mixtures (see integer_logistic.cpp)");
  m.def("integer_predict", &integer_predict, py::arg("sources"), py::arg("source_disparities"),
        py::arg("target_disparity"), py::arg("du"), py::arg("dv"), py::arg("distance_weights"), py::arg("cubic"),
        py::arg("visibility"), py::arg("position_bits"), py::arg("weight_bits"), py::arg("visibility_floor"),
        py::arg("spread_shift"),
        "(C, H, W) int64 views warped by fixed-point disparity and blended -> (prediction, spread) (see "
        "integer_warp.cpp)");
}
