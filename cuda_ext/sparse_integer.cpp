// Integer sparse convolution: the hot path of the integer occupancy model
// (omnicodec/sparse/integer.py documents the arithmetic).
//
// Every output row is computed on its own (output-stationary: no scatter, no atomics) from
// int16 features and int16 weights with int32 sums, so the result is the same integers
// whatever the threads, the SIMD width or the order of the sums: integer addition wraps
// modulo 2^32 and is associative, and the model's bounds keep every sum inside int32
// anyway. The AVX-512 VNNI, AVX2 and plain C++ paths are interchangeable; the first the
// CPU runs is used, and tests check that all of them agree.
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define OMNICODEC_X86 1
#endif

#include "checks.h"
#include "sparse_integer.h"

using omnicodec::check;

namespace {

// 21 bits per axis spread over every third bit of a 63-bit key, and back.
inline uint64_t spread(uint64_t v) {
  v &= 0x1fffff;
  v = (v | v << 32) & 0x1f00000000ffffULL;
  v = (v | v << 16) & 0x1f0000ff0000ffULL;
  v = (v | v << 8) & 0x100f00f00f00f00fULL;
  v = (v | v << 4) & 0x10c30c30c30c30c3ULL;
  v = (v | v << 2) & 0x1249249249249249ULL;
  return v;
}

inline uint64_t compact(uint64_t v) {
  v &= 0x1249249249249249ULL;
  v = (v ^ (v >> 2)) & 0x10c30c30c30c30c3ULL;
  v = (v ^ (v >> 4)) & 0x100f00f00f00f00fULL;
  v = (v ^ (v >> 8)) & 0x1f0000ff0000ffULL;
  v = (v ^ (v >> 16)) & 0x1f00000000ffffULL;
  v = (v ^ (v >> 32)) & 0x1fffffULL;
  return v;
}

// omnicodec.geometry.morton: child index (x << 2) | (y << 1) | z, so x is the highest bit.
inline uint64_t morton_key(uint64_t x, uint64_t y, uint64_t z) {
  return spread(x) << 2 | spread(y) << 1 | spread(z);
}

// Row of `target` in sorted keys, searched outward from row `start` (neighbours are near
// in Morton order, so this touches few cache lines); -1 when absent.
inline int32_t gallop(const int64_t* keys, int64_t n, int64_t start, int64_t target) {
  int64_t lo, hi;
  if (keys[start] < target) {
    int64_t step = 1;
    lo = start;
    hi = start + 1;
    while (hi < n && keys[hi] < target) {
      lo = hi;
      step <<= 1;
      hi = start + step;
    }
    hi = std::min(hi, n);
    lo += 1;
  } else {
    int64_t step = 1;
    hi = start;
    lo = start - 1;
    while (lo >= 0 && keys[lo] >= target) {
      hi = lo;
      step <<= 1;
      lo = start - step;
    }
    lo = std::max<int64_t>(lo + 1, 0);
  }
  const int64_t* found = std::lower_bound(keys + lo, keys + hi, target);
  return (found != keys + n && *found == target) ? static_cast<int32_t>(found - keys) : -1;
}

// The three implementations of one block of output rows. Weights are packed
// [K][Cin / 2][Cout][2]: the pair of input channels (2p, 2p + 1) of output o sit together,
// as the multiply-add-pairs instructions want them.
struct ConvArgs {
  const int16_t* x;        // (rows_in, cin), already clamped to the layer's input bound
  const int32_t* table;    // (rows_out, K), -1 where the neighbour is absent
  const int16_t* weight;   // packed as above
  const int32_t* bias;     // (cout,) at the accumulator's scale
  const int16_t* residual; // (rows_out, cout) or null, added after the shift
  int16_t* out;            // (rows_out, cout)
  int64_t cin, cout, kernel;
  int64_t offsets;  // kernel offsets visited: kernel, or 0 when there are no input channels
  int shift;
  bool relu;
};

inline int16_t finish_value(uint32_t acc, int shift, const int16_t* residual, int64_t o, bool relu) {
  int32_t value = static_cast<int32_t>(acc) >> shift;  // arithmetic: rounds toward -inf
  if (residual) value += residual[o];
  if (relu && value < 0) value = 0;
  return static_cast<int16_t>(std::min(32767, std::max(-32768, value)));
}

void conv_rows_plain(const ConvArgs& a, int64_t begin, int64_t end) {
  std::vector<uint32_t> acc(a.cout);
  const uint32_t half = a.shift ? (1u << (a.shift - 1)) : 0u;
  for (int64_t i = begin; i < end; ++i) {
    for (int64_t o = 0; o < a.cout; ++o) acc[o] = static_cast<uint32_t>(a.bias[o]) + half;
    for (int64_t k = 0; k < a.offsets; ++k) {
      const int32_t j = a.table[i * a.kernel + k];
      if (j < 0) continue;
      const int16_t* xr = a.x + static_cast<int64_t>(j) * a.cin;
      const int16_t* wk = a.weight + k * a.cin * a.cout;
      for (int64_t p = 0; p < a.cin / 2; ++p) {
        const int32_t x0 = xr[2 * p], x1 = xr[2 * p + 1];
        const int16_t* wp = wk + p * a.cout * 2;
        for (int64_t o = 0; o < a.cout; ++o)
          acc[o] += static_cast<uint32_t>(x0 * wp[2 * o]) + static_cast<uint32_t>(x1 * wp[2 * o + 1]);
      }
    }
    const int16_t* res = a.residual ? a.residual + i * a.cout : nullptr;
    for (int64_t o = 0; o < a.cout; ++o) a.out[i * a.cout + o] = finish_value(acc[o], a.shift, res, o, a.relu);
  }
}

#ifdef OMNICODEC_X86
// The SIMD paths take rows in tiles and kernel offsets outermost within a tile, so one
// offset's weights (Cin * Cout int16) stay in the L1 cache while every row of the tile uses
// them; the tile's sums wait in a small buffer. The two paths are written out in full: GCC
// compiles a function for one instruction set (its target attribute), so a template shared
// by both would be compiled for one of them only.
constexpr int64_t kTile = 32;

template <int V>  // V = cout / 16 vectors of 16 int32
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void conv_rows_vnni(const ConvArgs& a, int64_t begin,
                                                                             int64_t end) {
  const __m512i half = _mm512_set1_epi32(a.shift ? (1 << (a.shift - 1)) : 0);
  alignas(64) int32_t sums[kTile * 16 * V];
  for (int64_t first = begin; first < end; first += kTile) {
    const int64_t count = std::min(kTile, end - first);
    for (int64_t r = 0; r < count; ++r)
      for (int v = 0; v < V; ++v)
        _mm512_store_si512(sums + (r * V + v) * 16, _mm512_add_epi32(_mm512_loadu_si512(a.bias + 16 * v), half));
    for (int64_t k = 0; k < a.offsets; ++k) {
      const int16_t* wk = a.weight + k * a.cin * a.cout;
      for (int64_t r = 0; r < count; ++r) {
        const int32_t j = a.table[(first + r) * a.kernel + k];
        if (j < 0) continue;
        const int16_t* xr = a.x + static_cast<int64_t>(j) * a.cin;
        __m512i acc[V];
        for (int v = 0; v < V; ++v) acc[v] = _mm512_load_si512(sums + (r * V + v) * 16);
        for (int64_t p = 0; p < a.cin / 2; ++p) {
          int32_t pair;
          std::memcpy(&pair, xr + 2 * p, sizeof(pair));
          const __m512i xs = _mm512_set1_epi32(pair);
          const int16_t* wp = wk + p * a.cout * 2;
          for (int v = 0; v < V; ++v) acc[v] = _mm512_dpwssd_epi32(acc[v], xs, _mm512_loadu_si512(wp + 32 * v));
        }
        for (int v = 0; v < V; ++v) _mm512_store_si512(sums + (r * V + v) * 16, acc[v]);
      }
    }
    for (int64_t r = 0; r < count; ++r) {
      const int64_t i = first + r;
      for (int v = 0; v < V; ++v) {
        __m512i value = _mm512_srai_epi32(_mm512_load_si512(sums + (r * V + v) * 16), a.shift);
        if (a.residual)
          value = _mm512_add_epi32(value, _mm512_cvtepi16_epi32(_mm256_loadu_si256(
                                              reinterpret_cast<const __m256i*>(a.residual + i * a.cout + 16 * v))));
        if (a.relu) value = _mm512_max_epi32(value, _mm512_setzero_si512());
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(a.out + i * a.cout + 16 * v), _mm512_cvtsepi32_epi16(value));
      }
    }
  }
}

template <int V>  // V = cout / 8 vectors of 8 int32
__attribute__((target("avx2"))) void conv_rows_avx2(const ConvArgs& a, int64_t begin, int64_t end) {
  const __m256i half = _mm256_set1_epi32(a.shift ? (1 << (a.shift - 1)) : 0);
  alignas(32) int32_t sums[kTile * 8 * V];
  for (int64_t first = begin; first < end; first += kTile) {
    const int64_t count = std::min(kTile, end - first);
    for (int64_t r = 0; r < count; ++r)
      for (int v = 0; v < V; ++v)
        _mm256_store_si256(reinterpret_cast<__m256i*>(sums + (r * V + v) * 8),
                           _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.bias + 8 * v)), half));
    for (int64_t k = 0; k < a.offsets; ++k) {
      const int16_t* wk = a.weight + k * a.cin * a.cout;
      for (int64_t r = 0; r < count; ++r) {
        const int32_t j = a.table[(first + r) * a.kernel + k];
        if (j < 0) continue;
        const int16_t* xr = a.x + static_cast<int64_t>(j) * a.cin;
        __m256i acc[V];
        for (int v = 0; v < V; ++v) acc[v] = _mm256_load_si256(reinterpret_cast<const __m256i*>(sums + (r * V + v) * 8));
        for (int64_t p = 0; p < a.cin / 2; ++p) {
          int32_t pair;
          std::memcpy(&pair, xr + 2 * p, sizeof(pair));
          const __m256i xs = _mm256_set1_epi32(pair);
          const int16_t* wp = wk + p * a.cout * 2;
          for (int v = 0; v < V; ++v)
            acc[v] = _mm256_add_epi32(acc[v], _mm256_madd_epi16(xs, _mm256_loadu_si256(
                                                                    reinterpret_cast<const __m256i*>(wp + 16 * v))));
        }
        for (int v = 0; v < V; ++v) _mm256_store_si256(reinterpret_cast<__m256i*>(sums + (r * V + v) * 8), acc[v]);
      }
    }
    for (int64_t r = 0; r < count; ++r) {
      const int64_t i = first + r;
      const int16_t* res = a.residual ? a.residual + i * a.cout : nullptr;
      for (int64_t o = 0; o < a.cout; ++o)
        a.out[i * a.cout + o] = finish_value(static_cast<uint32_t>(sums[r * a.cout + o]), a.shift, res, o, a.relu);
    }
  }
}
#endif

using RowsFunction = void (*)(const ConvArgs&, int64_t, int64_t);

// The requested path, or the next slower one where it has no kernel for this many output
// channels (every path computes the same integers, so falling back changes nothing).
RowsFunction pick_rows(int64_t cout, const std::string& path) {
  check(path == "auto" || path == "avx512vnni" || path == "avx2" || path == "plain",
        "integer_conv: unknown path " + path);
#ifdef OMNICODEC_X86
  const bool from_vnni = path == "auto" || path == "avx512vnni";
  const bool from_avx2 = from_vnni || path == "avx2";
  if (from_vnni && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) {
    if (cout == 16) return conv_rows_vnni<1>;
    if (cout == 32) return conv_rows_vnni<2>;
    if (cout == 64) return conv_rows_vnni<4>;
  }
  if (from_avx2 && __builtin_cpu_supports("avx2")) {
    if (cout == 8) return conv_rows_avx2<1>;
    if (cout == 16) return conv_rows_avx2<2>;
    if (cout == 32) return conv_rows_avx2<4>;
    if (cout == 64) return conv_rows_avx2<8>;
  }
#endif
  return conv_rows_plain;
}

}  // namespace

std::vector<std::string> integer_conv_paths() {
  std::vector<std::string> paths;
#ifdef OMNICODEC_X86
  if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) paths.push_back("avx512vnni");
  if (__builtin_cpu_supports("avx2")) paths.push_back("avx2");
#endif
  paths.push_back("plain");
  return paths;
}

torch::Tensor neighbour_table(const torch::Tensor& keys, int64_t bits) {
  check(keys.device().is_cpu() && keys.scalar_type() == torch::kInt64 && keys.dim() == 1,
        "neighbour_table: keys must be a 1-D int64 CPU tensor");
  check(bits >= 0 && bits <= 21, "neighbour_table: bits must lie in [0, 21]");
  const torch::Tensor sorted = keys.contiguous();
  const int64_t n = sorted.numel();
  const int64_t* k = sorted.data_ptr<int64_t>();
  for (int64_t i = 1; i < n; ++i) check(k[i - 1] < k[i], "neighbour_table: keys must be sorted and unique");
  torch::Tensor table = torch::full({n, 27}, -1, torch::kInt32);
  int32_t* t = table.data_ptr<int32_t>();
  const int64_t side = int64_t{1} << bits;
  // The 13 offsets after the centre in MinkowskiEngine's numbering (first axis fastest) are
  // searched; each found pair also fills the mirrored offset 26 - k of the neighbour.
  at::parallel_for(0, n, 2048, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const uint64_t key = static_cast<uint64_t>(k[i]);
      const int64_t x = compact(key >> 2), y = compact(key >> 1), z = compact(key);
      t[i * 27 + 13] = static_cast<int32_t>(i);
      for (int kk = 14; kk < 27; ++kk) {
        const int64_t nx = x + kk % 3 - 1, ny = y + (kk / 3) % 3 - 1, nz = z + kk / 9 - 1;
        if (nx < 0 || ny < 0 || nz < 0 || nx >= side || ny >= side || nz >= side) continue;
        const int32_t j = gallop(k, n, i, static_cast<int64_t>(morton_key(nx, ny, nz)));
        t[i * 27 + kk] = j;
      }
    }
  });
  // Mirror: (i, k) -> j means (j, 26 - k) -> i. Each (j, 26 - k) has exactly one i.
  at::parallel_for(0, n, 2048, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      for (int kk = 14; kk < 27; ++kk) {
        const int32_t j = t[i * 27 + kk];
        if (j >= 0) t[static_cast<int64_t>(j) * 27 + 26 - kk] = static_cast<int32_t>(i);
      }
  });
  return table;
}

torch::Tensor integer_conv(const torch::Tensor& features, const torch::Tensor& table, const torch::Tensor& weight,
                           const torch::Tensor& bias, int64_t shift, int64_t input_bound,
                           const c10::optional<torch::Tensor>& residual, bool relu, const std::string& path) {
  check(features.device().is_cpu() && features.scalar_type() == torch::kInt16 && features.dim() == 2,
        "integer_conv: features must be a 2-D int16 CPU tensor");
  check(table.scalar_type() == torch::kInt32 && table.dim() == 2, "integer_conv: table must be a 2-D int32 tensor");
  check(weight.scalar_type() == torch::kInt16 && weight.dim() == 4 && weight.size(3) == 2,
        "integer_conv: weight must be int16 packed as (K, Cin / 2, Cout, 2)");
  const int64_t kernel = weight.size(0), cin = 2 * weight.size(1), cout = weight.size(2);
  check(features.size(1) == cin, "integer_conv: features have " + std::to_string(features.size(1)) +
                                     " channels, the weight wants " + std::to_string(cin));
  check(table.size(1) == kernel, "integer_conv: table and weight disagree on the kernel size");
  check(bias.scalar_type() == torch::kInt32 && bias.numel() == cout, "integer_conv: bias must be int32 (Cout,)");
  check(shift >= 0 && shift < 31, "integer_conv: shift must lie in [0, 30]");
  check(input_bound >= 1 && input_bound <= 32767, "integer_conv: input bound must lie in [1, 32767]");
  const int64_t rows = table.size(0);
  torch::Tensor res;
  if (residual.has_value()) {
    res = residual->contiguous();
    check(res.scalar_type() == torch::kInt16 && res.dim() == 2 && res.size(0) == rows && res.size(1) == cout,
          "integer_conv: residual must be int16 (rows, Cout)");
  }
  const torch::Tensor tab = table.contiguous();
  {
    const int32_t* t = tab.data_ptr<int32_t>();
    const int64_t n_in = features.size(0);
    std::atomic<bool> outside{false};
    at::parallel_for(0, tab.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
      bool bad = false;
      for (int64_t e = begin; e < end; ++e) bad |= t[e] >= n_in;
      if (bad) outside = true;
    });
    check(!outside, "integer_conv: table points past the features' rows");
  }
  const torch::Tensor x = features.clamp(-input_bound, input_bound).contiguous();
  const torch::Tensor w = weight.contiguous();
  const torch::Tensor b = bias.contiguous();
  torch::Tensor out = torch::empty({rows, cout}, torch::kInt16);
  // With no input channels only the bias and the residual remain (no offset is visited).
  ConvArgs args{x.data_ptr<int16_t>(), tab.data_ptr<int32_t>(), w.data_ptr<int16_t>(), b.data_ptr<int32_t>(),
                res.defined() ? res.data_ptr<int16_t>() : nullptr, out.data_ptr<int16_t>(), cin, cout, kernel,
                cin ? kernel : 0, static_cast<int>(shift), relu};
  const RowsFunction run = pick_rows(cout, path);
  at::parallel_for(0, rows, 512, [&](int64_t begin, int64_t end) { run(args, begin, end); });
  return out;
}

torch::Tensor integer_dot(const torch::Tensor& features, const torch::Tensor& weight) {
  check(features.device().is_cpu() && features.scalar_type() == torch::kInt16 && features.dim() == 2,
        "integer_dot: features must be a 2-D int16 CPU tensor");
  check(weight.scalar_type() == torch::kInt64 && weight.dim() == 1 && weight.numel() == features.size(1),
        "integer_dot: weight must be int64 with one value per feature channel");
  const torch::Tensor x = features.contiguous(), w = weight.contiguous();
  const int64_t rows = x.size(0), channels = x.size(1);
  torch::Tensor out = torch::empty({rows}, torch::kInt64);
  const int16_t* xp = x.data_ptr<int16_t>();
  const int64_t* wp = w.data_ptr<int64_t>();
  int64_t* op = out.data_ptr<int64_t>();
  at::parallel_for(0, rows, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      int64_t total = 0;
      for (int64_t c = 0; c < channels; ++c) total += xp[i * channels + c] * wp[c];
      op[i] = total;
    }
  });
  return out;
}

namespace {

// One row block of a dense layer whose features and weights all fit in int32 (the usual
// case): the weights transposed to (in, out), so that the sums of all outputs advance
// together over a contiguous row, and zero features skipped. Sums are int64, exact, in
// any order.
template <bool Relu>
void linear_rows_narrow(const int32_t* x, const int32_t* wt, const int64_t* bias, int64_t* out, int64_t begin,
                        int64_t end, int64_t cin, int64_t cout, int64_t shift) {
  const int64_t half = int64_t(1) << (shift - 1);
  std::vector<int64_t> sums(cout);
  for (int64_t i = begin; i < end; ++i) {
    for (int64_t o = 0; o < cout; ++o) sums[o] = bias[o] + half;
    const int32_t* row = x + i * cin;
    for (int64_t c = 0; c < cin; ++c) {
      const int64_t value = row[c];
      if (value == 0) continue;
      const int32_t* w = wt + c * cout;
      for (int64_t o = 0; o < cout; ++o) sums[o] += value * static_cast<int64_t>(w[o]);
    }
    for (int64_t o = 0; o < cout; ++o) {
      const int64_t total = sums[o] >> shift;  // arithmetic shift: (sum + half) >> shift rounds half up
      out[i * cout + o] = Relu && total < 0 ? 0 : total;
    }
  }
}

#ifdef OMNICODEC_X86
constexpr int64_t kMaxLinearVectors = 16;  // the SIMD paths' sums live in registers: up to 16 vectors

// One row's sums in plain int64 arithmetic from the (in, out) weights: for int64 features
// beyond int32, which vpmuldq cannot multiply.
template <bool Relu>
void linear_row_exact(const int64_t* row, const int64_t* wt, const int64_t* bias, int64_t* out, int64_t cin,
                      int64_t cout, int64_t shift) {
  for (int64_t o = 0; o < cout; ++o) {
    int64_t total = bias[o] + (int64_t(1) << (shift - 1));
    for (int64_t c = 0; c < cin; ++c) total += row[c] * wt[c * cout + o];
    total >>= shift;  // arithmetic shift: floor, so (sum + half) >> shift rounds half up
    out[o] = Relu && total < 0 ? 0 : total;
  }
}

inline bool row_fits_int32(const int64_t* row, int64_t cin) {
  for (int64_t c = 0; c < cin; ++c)
    if (row[c] < INT32_MIN || row[c] > INT32_MAX) return false;
  return true;
}

// The same sums with explicit 32 x 32 -> 64-bit multiplies (vpmuldq) of the weights, held
// sign-extended in int64 lanes; Cout = 8 x Vectors. Two rows at a time share each load of
// the weights, and the sums stay in registers. Features are int32, or int64 read as they
// are (no converted copy): a row of those beyond int32 is summed by linear_row_exact.
template <int Vectors, bool Relu, typename T>
__attribute__((target("avx512f"))) void linear_rows_avx512(const T* x, const int64_t* wt, const int64_t* bias,
                                                           int64_t* out, int64_t begin, int64_t end, int64_t cin,
                                                           int64_t shift) {
  constexpr int64_t cout = 8 * Vectors;
  const __m512i half = _mm512_set1_epi64(int64_t(1) << (shift - 1));
  for (int64_t i = begin; i < end; i += 2) {
    const bool pair = i + 1 < end;
    const T* row = x + i * cin;
    const T* next = pair ? row + cin : row;
    if constexpr (std::is_same_v<T, int64_t>) {
      if (!row_fits_int32(row, cin) || !row_fits_int32(next, cin)) {
        for (int r = 0; r < (pair ? 2 : 1); ++r)
          linear_row_exact<Relu>(row + r * cin, wt, bias, out + (i + r) * cout, cin, cout, shift);
        continue;
      }
    }
    __m512i first[Vectors], second[Vectors];
    for (int v = 0; v < Vectors; ++v) first[v] = second[v] = _mm512_add_epi64(_mm512_loadu_si512(bias + 8 * v), half);
    for (int64_t c = 0; c < cin; ++c) {
      if ((row[c] | next[c]) == 0) continue;  // absent neighbours' features: whole runs of zeros
      const __m512i a = _mm512_set1_epi64(row[c]), b = _mm512_set1_epi64(next[c]);
      const int64_t* w = wt + c * cout;
      for (int v = 0; v < Vectors; ++v) {
        const __m512i weights = _mm512_loadu_si512(w + 8 * v);
        first[v] = _mm512_add_epi64(first[v], _mm512_mul_epi32(a, weights));
        second[v] = _mm512_add_epi64(second[v], _mm512_mul_epi32(b, weights));
      }
    }
    for (int r = 0; r < (pair ? 2 : 1); ++r) {
      int64_t* o = out + (i + r) * cout;
      for (int v = 0; v < Vectors; ++v) {
        __m512i total = _mm512_srai_epi64(r ? second[v] : first[v], static_cast<unsigned>(shift));
        if (Relu) total = _mm512_max_epi64(total, _mm512_setzero_si512());
        _mm512_storeu_si512(o + 8 * v, total);
      }
    }
  }
}

// The output widths linear_avx512 serves.
inline bool avx512_linear_width(int64_t cout) { return cout == 8 || cout == 16 || cout == 32 || cout == 64; }

template <bool Relu, typename T>
void linear_avx512(const T* x, const int64_t* wt, const int64_t* bias, int64_t* out, int64_t begin, int64_t end,
                   int64_t cin, int64_t cout, int64_t shift) {
  switch (cout) {
    case 8: linear_rows_avx512<1, Relu>(x, wt, bias, out, begin, end, cin, shift); break;
    case 16: linear_rows_avx512<2, Relu>(x, wt, bias, out, begin, end, cin, shift); break;
    case 32: linear_rows_avx512<4, Relu>(x, wt, bias, out, begin, end, cin, shift); break;
    default: linear_rows_avx512<8, Relu>(x, wt, bias, out, begin, end, cin, shift); break;  // 64
  }
}

template <bool Relu>
__attribute__((target("avx2"))) void linear_rows_avx2(const int32_t* x, const int64_t* wt, const int64_t* bias,
                                                       int64_t* out, int64_t begin, int64_t end, int64_t cin,
                                                       int64_t cout, int64_t shift) {
  const int64_t half = int64_t(1) << (shift - 1);
  const int64_t vectors = cout / 4;
  __m256i sums[kMaxLinearVectors];
  for (int64_t i = begin; i < end; ++i) {
    for (int64_t v = 0; v < vectors; ++v)
      sums[v] = _mm256_add_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bias + 4 * v)),
                                 _mm256_set1_epi64x(half));
    const int32_t* row = x + i * cin;
    for (int64_t c = 0; c < cin; ++c) {
      const __m256i value = _mm256_set1_epi64x(row[c]);
      const int64_t* w = wt + c * cout;
      for (int64_t v = 0; v < vectors; ++v)
        sums[v] = _mm256_add_epi64(
            sums[v], _mm256_mul_epi32(value, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 4 * v))));
    }
    // AVX2 has no 64-bit arithmetic shift: finish the row in scalar code.
    alignas(32) int64_t lanes[4];
    for (int64_t v = 0; v < vectors; ++v) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), sums[v]);
      for (int k = 0; k < 4; ++k) {
        const int64_t total = lanes[k] >> shift;
        out[i * cout + 4 * v + k] = Relu && total < 0 ? 0 : total;
      }
    }
  }
}
#endif

bool fits_int32(const torch::Tensor& values) {
  if (values.numel() == 0) return true;
  const auto range = torch::aminmax(values);
  return std::get<0>(range).item<int64_t>() >= INT32_MIN && std::get<1>(range).item<int64_t>() <= INT32_MAX;
}

}  // namespace

torch::Tensor integer_linear(const torch::Tensor& features, const torch::Tensor& weight, const torch::Tensor& bias,
                             int64_t shift, bool relu, const std::string& path) {
  check(path == "auto" || path == "avx512vnni" || path == "avx2" || path == "plain",
        "integer_linear: unknown path " + path);
  check(features.device().is_cpu() && features.dim() == 2 &&
            (features.scalar_type() == torch::kInt64 || features.scalar_type() == torch::kInt32),
        "integer_linear: features must be a 2-D int64 or int32 CPU tensor");
  check(weight.scalar_type() == torch::kInt64 && weight.dim() == 2 && weight.size(1) == features.size(1) &&
            bias.scalar_type() == torch::kInt64 && bias.numel() == weight.size(0) && shift > 0,
        "integer_linear: weight must be (out, in) int64 and bias (out,) int64");
  const bool narrow = features.scalar_type() == torch::kInt32;
  const torch::Tensor x = narrow ? features.contiguous() : features.contiguous().to(torch::kInt64);
  const torch::Tensor w = weight.contiguous(), b = bias.contiguous();
  const int64_t rows = x.size(0), cin = x.size(1), cout = w.size(0);
  torch::Tensor out = torch::empty({rows, cout}, torch::kInt64);
  const int64_t* bp = b.data_ptr<int64_t>();
  int64_t* op = out.data_ptr<int64_t>();
  // The same paths as integer_conv's: the AVX-512 one serves "avx512vnni" (it needs only AVX-512F).
  const bool from_avx512 = path == "auto" || path == "avx512vnni";
  const bool from_avx2 = from_avx512 || path == "avx2";
  const bool weights_fit = fits_int32(w);
#ifdef OMNICODEC_X86
  if (weights_fit && from_avx512 && __builtin_cpu_supports("avx512f")) {
    if (cout % 8 && cout < 64) {
      // A few outputs (a head's location and scale): padded with zero weights to the SIMD
      // width, the padding's sums dropped.
      const int64_t padded = (cout + 7) / 8 * 8;
      const torch::Tensor wide = torch::cat({w, torch::zeros({padded - cout, cin}, torch::kInt64)});
      const torch::Tensor wide_bias = torch::cat({b, torch::zeros({padded - cout}, torch::kInt64)});
      return integer_linear(x, wide, wide_bias, shift, relu, path).narrow(1, 0, cout).contiguous();
    }
    if (avx512_linear_width(cout)) {
      // int64 features are read as they are (rows beyond int32 summed exactly), not copied.
      const torch::Tensor wt = w.t().contiguous();
      const int64_t* wp64 = wt.data_ptr<int64_t>();
      at::parallel_for(0, rows, 256, [&](int64_t begin, int64_t end) {
        if (narrow)
          (relu ? linear_avx512<true, int32_t> : linear_avx512<false, int32_t>)(
              x.data_ptr<int32_t>(), wp64, bp, op, begin, end, cin, cout, shift);
        else
          (relu ? linear_avx512<true, int64_t> : linear_avx512<false, int64_t>)(
              x.data_ptr<int64_t>(), wp64, bp, op, begin, end, cin, cout, shift);
      });
      return out;
    }
  }
#endif
  if ((narrow || fits_int32(x)) && weights_fit) {
    const torch::Tensor x32 = narrow ? x : x.to(torch::kInt32), wt = w.t().contiguous();
    const torch::Tensor wt32 = wt.to(torch::kInt32);
    const int32_t* xp = x32.data_ptr<int32_t>();
    const int32_t* wp = wt32.data_ptr<int32_t>();
    const int64_t* wp64 = wt.data_ptr<int64_t>();
    at::parallel_for(0, rows, 256, [&](int64_t begin, int64_t end) {
#ifdef OMNICODEC_X86
      if (from_avx2 && cout % 4 == 0 && cout <= 4 * kMaxLinearVectors && __builtin_cpu_supports("avx2")) {
        (relu ? linear_rows_avx2<true> : linear_rows_avx2<false>)(xp, wp64, bp, op, begin, end, cin, cout, shift);
        return;
      }
#endif
      (relu ? linear_rows_narrow<true> : linear_rows_narrow<false>)(xp, wp, bp, op, begin, end, cin, cout, shift);
    });
    return out;
  }
  const torch::Tensor x64 = x.to(torch::kInt64);
  const int64_t* xp = x64.data_ptr<int64_t>();
  const int64_t* wp = w.data_ptr<int64_t>();
  const int64_t half = int64_t(1) << (shift - 1);
  at::parallel_for(0, rows, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t* row = xp + i * cin;
      for (int64_t o = 0; o < cout; ++o) {
        const int64_t* wr = wp + o * cin;
        int64_t total = bp[o] + half;
        for (int64_t c = 0; c < cin; ++c) total += row[c] * wr[c];
        total >>= shift;  // arithmetic shift: floor, so (sum + half) >> shift rounds half up
        op[i * cout + o] = relu && total < 0 ? 0 : total;
      }
    }
  });
  return out;
}
