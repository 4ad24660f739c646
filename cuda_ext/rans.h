// Chunked rANS coder for occupancy symbols: plain C++ shared by the CPU build (coder.cpp)
// and the CUDA kernels (coder.cu), so both produce and accept the same bytes.
//
// Coder: 64-bit state kept in [2^31, 2^63), 16-bit frequencies (an alphabet's frequencies
// sum to 2^16), renormalisation by 32-bit words. The state is far larger than the
// frequency total, so rounding costs well under 0.01% of the ideal code length.
//
// Stream (all fields little-endian):
//   header  16 bytes: 'R', version 1, alphabet (0 binary, 1 CDF), 0,
//                     u32 symbol count, u32 chunk size, u32 chunk count
//   table   u32 payload byte length of each chunk
//   chunks  the payloads one after another; each is the u64 final encoder state followed
//           by the u32 words in the order the decoder reads them.
// Chunk j codes symbols [j * chunk size, min((j + 1) * chunk size, symbol count)) on its
// own, so chunks encode and decode in parallel. Every chunk starts its encoding in state
// 2^31 and its decoding must end there having read exactly its payload: most corruption
// fails that check.
#pragma once

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <vector>

#if defined(__CUDACC__)
#define OMNI_HD __host__ __device__ __forceinline__
#else
#define OMNI_HD inline
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the stream's words are copied as they lie in memory: little-endian machines only"
#endif

namespace omnicodec {
namespace rans {

constexpr uint32_t kPrecisionBits = 16;
constexpr uint32_t kTotal = 1u << kPrecisionBits;  // frequencies of one alphabet sum to this
constexpr uint64_t kStateLow = 1ull << 31;         // the state lives in [kStateLow, 2^63)
constexpr uint32_t kWordBits = 32;

constexpr uint8_t kMagic = 'R';
constexpr uint8_t kVersion = 1;
constexpr size_t kHeaderBytes = 16;
constexpr uint32_t kMaxChunkSize = 1u << 24;
// 2^16 symbols keep the 12 bytes each chunk costs (state and table entry) under 0.4% of a
// chunk's payload down to 0.4 bits per symbol, and still give a GPU 1500 chunks (threads)
// per 10^8 symbols.
constexpr uint32_t kDefaultChunkSize = 1u << 16;
constexpr uint32_t kMaxAlphabet = kTotal;  // every symbol needs a frequency of at least 1

enum class Alphabet : uint8_t { kBinary = 0, kCdf = 1 };

enum Status : int32_t {
  kOk = 0,
  // bad arguments
  kBadProbability,
  kBadPmf,
  kBadFrequency,
  kBadCdf,
  kBadSymbol,
  kBadChunkSize,
  // bad streams
  kTruncated,
  kBadHeader,
  kWrongAlphabet,
  kWrongSymbolCount,
  kBadChunkTable,
  kCorruptChunk,
  // a bug: the encoder's output outgrew its proven bound
  kOverflow,
};

inline const char* status_message(Status status) {
  switch (status) {
    case kOk: return "ok";
    case kBadProbability: return "probabilities must be finite and lie in [0, 1]";
    case kBadPmf: return "a pmf row must hold finite values in [0, 1] with a positive sum";
    case kBadFrequency: return "frequencies of a one must lie in [1, 65535]";
    case kBadCdf: return "a CDF row must start at 0, end at 65536 and rise strictly";
    case kBadSymbol: return "a symbol lies outside its alphabet";
    case kBadChunkSize: return "the chunk size must lie in [1, 2^24]";
    case kTruncated: return "the entropy-coded stream is truncated";
    case kBadHeader: return "the entropy-coded stream has a bad header (not a rANS stream of version 1)";
    case kWrongAlphabet: return "the entropy-coded stream holds another kind of symbols";
    case kWrongSymbolCount: return "the entropy-coded stream holds another number of symbols";
    case kBadChunkTable: return "the entropy-coded stream's chunk table does not match its payload";
    case kCorruptChunk: return "the entropy-coded stream is corrupted (a chunk does not decode)";
    case kOverflow: return "internal error: encoder output exceeded its bound";
  }
  return "unknown status";
}

inline bool is_stream_error(Status status) { return status >= kTruncated && status <= kCorruptChunk; }

// ---------------------------------------------------------------------------------------
// Probabilities -> integer frequencies. Exact integer arithmetic after one exact float
// product, so every device gets the same integers from the same floats.

// float32 probability of a one -> its frequency, round(p * 2^16) (half to even, as
// torch.round) clamped to [1, 2^16 - 1]. p * 2^16 is exact in float32, so rintf decides.
OMNI_HD Status binary_frequency(float prob_one, int32_t* freq_one) {
  if (!(prob_one >= 0.0f && prob_one <= 1.0f)) return kBadProbability;  // NaN fails too
  const int32_t freq = static_cast<int32_t>(rintf(prob_one * static_cast<float>(kTotal)));
  *freq_one = freq < 1 ? 1 : (freq > static_cast<int32_t>(kTotal - 1) ? kTotal - 1 : freq);
  return kOk;
}

// One pmf row of `alphabet` float32 values -> CDF row of alphabet + 1 ints, 0 ... kTotal.
// Each symbol gets 1 plus its share of the rest, in proportion to round(p * 2^24);
// what rounding leaves over goes to the most probable symbol (the first of equals).
OMNI_HD Status cdf_from_pmf(const float* pmf, uint32_t alphabet, int32_t* cdf) {
  uint64_t weight_sum = 0;
  uint32_t mode = 0, mode_weight = 0;
  for (uint32_t s = 0; s < alphabet; ++s) {
    if (!(pmf[s] >= 0.0f && pmf[s] <= 1.0f)) return kBadPmf;
    const uint32_t weight = static_cast<uint32_t>(rintf(pmf[s] * 16777216.0f));  // exact
    if (weight > mode_weight) mode = s, mode_weight = weight;
    weight_sum += weight;
  }
  if (weight_sum == 0) return kBadPmf;
  const uint64_t spare = kTotal - alphabet;
  // weight * scale <= weight_sum * scale <= spare * 2^32 < 2^48: no overflow.
  const uint64_t scale = (spare << 32) / weight_sum;
  uint32_t assigned = 0;
  cdf[0] = 0;
  for (uint32_t s = 0; s < alphabet; ++s) {
    const uint32_t weight = static_cast<uint32_t>(rintf(pmf[s] * 16777216.0f));
    assigned += 1 + static_cast<uint32_t>((weight * scale) >> 32);
    cdf[s + 1] = static_cast<int32_t>(assigned);
  }
  const uint32_t leftover = kTotal - assigned;
  for (uint32_t s = mode + 1; s <= alphabet; ++s) cdf[s] += static_cast<int32_t>(leftover);
  return kOk;
}

OMNI_HD bool valid_cdf_row(const int32_t* row, uint32_t alphabet) {
  if (row[0] != 0 || row[alphabet] != static_cast<int32_t>(kTotal)) return false;
  for (uint32_t s = 0; s < alphabet; ++s)
    if (row[s + 1] <= row[s]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------
// Symbol models: where symbol i's interval [start, start + freq) of [0, kTotal) lies.

// Binary symbols, each with its own frequency of a one: a one is [0, f1), a zero [f1, 2^16).
struct BinaryModel {
  using Symbol = uint8_t;
  static constexpr Alphabet kAlphabet = Alphabet::kBinary;
  const int32_t* freq_one;

  // With masks rather than branches: the symbols are unpredictable by design.
  OMNI_HD static void interval(uint32_t one, uint32_t f1, uint32_t* start, uint32_t* freq) {
    const uint32_t mask = 0u - one;
    *start = f1 & ~mask;
    *freq = (kTotal - f1) ^ ((f1 ^ (kTotal - f1)) & mask);
  }
  OMNI_HD Status frequency(size_t i, uint32_t* f1) const {
    *f1 = static_cast<uint32_t>(freq_one[i]);
    return *f1 - 1u < kTotal - 1u ? kOk : kBadFrequency;  // negative values wrap high
  }
  OMNI_HD Status encode_interval(size_t i, Symbol symbol, uint32_t* start, uint32_t* freq) const {
    uint32_t f1;
    if (frequency(i, &f1) != kOk) return kBadFrequency;
    if (symbol > 1) return kBadSymbol;
    interval(symbol, f1, start, freq);
    return kOk;
  }
  OMNI_HD Status decode_symbol(size_t i, uint32_t slot, Symbol* symbol, uint32_t* start, uint32_t* freq) const {
    uint32_t f1;
    if (frequency(i, &f1) != kOk) return kBadFrequency;
    *symbol = slot < f1;
    interval(*symbol, f1, start, freq);
    return kOk;
  }
};

// Symbols of a small alphabet, each with its own CDF row (alphabet + 1 ints from 0 to 2^16).
struct CdfModel {
  using Symbol = int32_t;
  static constexpr Alphabet kAlphabet = Alphabet::kCdf;
  const int32_t* cdf;
  uint32_t alphabet;

  OMNI_HD const int32_t* row(size_t i) const { return cdf + i * (alphabet + 1); }
  OMNI_HD Status encode_interval(size_t i, Symbol symbol, uint32_t* start, uint32_t* freq) const {
    const int32_t* r = row(i);
    if (!valid_cdf_row(r, alphabet)) return kBadCdf;
    if (symbol < 0 || static_cast<uint32_t>(symbol) >= alphabet) return kBadSymbol;
    *start = static_cast<uint32_t>(r[symbol]);
    *freq = static_cast<uint32_t>(r[symbol + 1] - r[symbol]);
    return kOk;
  }
  OMNI_HD Status decode_symbol(size_t i, uint32_t slot, Symbol* symbol, uint32_t* start, uint32_t* freq) const {
    const int32_t* r = row(i);
    if (!valid_cdf_row(r, alphabet)) return kBadCdf;
    uint32_t low = 0, high = alphabet;  // r[low] <= slot < r[high]
    while (high - low > 1) {
      const uint32_t mid = (low + high) / 2;
      if (static_cast<uint32_t>(r[mid]) <= slot) low = mid; else high = mid;
    }
    *symbol = static_cast<Symbol>(low);
    *start = static_cast<uint32_t>(r[low]);
    *freq = static_cast<uint32_t>(r[low + 1] - r[low]);
    return kOk;
  }
};

// ---------------------------------------------------------------------------------------
// The coder proper.

// floor(x / d) and x mod d for d in [1, 2^16] and x < d * 2^47 (as encode_step ensures),
// from a double-precision estimate instead of a 64-bit integer division, which GPUs
// emulate in software and many CPUs take 40 to 90 cycles over (the newest x86 cores divide
// about as fast as this). The estimate is scaled by (1 - 2^-50), which outweighs its three
// roundings (each < 2^-53 relative): since x / d < 2^47 it lies in (x / d - 0.2, x / d), so
// its floor is the quotient or one less, which one integer step corrects. The result is
// exact, so every device agrees.
OMNI_HD void divide(uint64_t x, uint32_t d, uint64_t* quotient, uint32_t* remainder) {
  const double shrunk_one = 1.0 - 0x1p-50;
  uint64_t q = static_cast<uint64_t>(static_cast<double>(static_cast<int64_t>(x)) * (shrunk_one / d));
  uint64_t r = x - q * d;
  const uint64_t low = 0 - static_cast<uint64_t>(r >= d);  // all ones when the estimate is one short
  *quotient = q - low;
  *remainder = static_cast<uint32_t>(r - (d & low));
}

// Pushes the interval [start, start + freq) onto state x, first moving x's low word to
// *--out (output grows downwards: rANS encodes backwards) when x would leave its range.
OMNI_HD bool encode_step(uint64_t* x, uint32_t start, uint32_t freq, uint32_t** out, const uint32_t* limit) {
  if (*x >= static_cast<uint64_t>(freq) << (63 - kPrecisionBits)) {
    if (*out == limit) return false;
    *--*out = static_cast<uint32_t>(*x);
    *x >>= kWordBits;
  }
  uint64_t q;
  uint32_t r;
  divide(*x, freq, &q, &r);
  *x = (q << kPrecisionBits) + r + start;
  return true;
}

OMNI_HD uint32_t load_word(const uint8_t* p) {
#if defined(__CUDA_ARCH__)
  return *reinterpret_cast<const uint32_t*>(p);  // device buffers are aligned and so are all words
#else
  uint32_t word;
  memcpy(&word, p, sizeof word);  // the stream may lie at any address
  return word;
#endif
}

// Pops the symbol whose interval [start, start + freq) holds slot = x mod 2^16, then
// refills x from the next word when it fell below its range.
OMNI_HD bool decode_step(uint64_t* x, uint32_t slot, uint32_t start, uint32_t freq,
                         const uint8_t** in, const uint8_t* end) {
  *x = freq * (*x >> kPrecisionBits) + (slot - start);
  if (*x < kStateLow) {
    if (end - *in < 4) return false;
    *x = (*x << kWordBits) | load_word(*in);
    *in += 4;
  }
  return true;
}

// Words one chunk of `count` symbols can need, state included: each symbol adds at most
// 16 + 2^-15 bits to the state, and each word written takes 32 bits out of it.
OMNI_HD uint32_t chunk_capacity_words(uint32_t count) { return count / 2 + count / 65536 + 4; }

// How `count` symbols split into chunks of `size` (the last one may be shorter), and where
// each chunk encodes: chunk j owns scratch words [j * capacity, (j + 1) * capacity) and
// writes its payload at their end, downwards (rANS encodes backwards).
struct Chunking {
  uint32_t count;
  uint32_t size;

  OMNI_HD uint32_t chunks() const { return count == 0 ? 0 : (count - 1) / size + 1; }
  OMNI_HD size_t first(uint32_t j) const { return static_cast<size_t>(j) * size; }
  OMNI_HD uint32_t symbols(uint32_t j) const { return j + 1 < chunks() ? size : count - j * size; }
  OMNI_HD size_t capacity() const { return chunk_capacity_words(size); }
};

// Encodes chunks j ... j + G - 1 in lockstep: independent states, so a CPU overlaps their
// dependency chains (the GPU runs one chunk per thread, G = 1). With G > 1 all of them must
// be full chunks. payload_words[k] receives the length of chunk k's payload.
template <int G, class Model>
OMNI_HD Status encode_group(const Model& model, const typename Model::Symbol* symbols,
                            const Chunking& chunking, uint32_t j, uint32_t* scratch, uint32_t* payload_words) {
  const Model local_model = model;  // locals: the compiler knows the output stores miss them
  const uint32_t count = chunking.symbols(j);
  uint64_t x[G];
  size_t first[G];
  uint32_t* out[G];
  const uint32_t* limit[G];
  for (int g = 0; g < G; ++g) {
    x[g] = kStateLow;
    first[g] = chunking.first(j + g);
    limit[g] = scratch + (j + g) * chunking.capacity();
    out[g] = scratch + (j + g + 1) * chunking.capacity();
  }
  for (uint32_t i = count; i-- > 0;) {
    for (int g = 0; g < G; ++g) {
      const size_t k = first[g] + i;
      uint32_t start, freq;
      const Status status = local_model.encode_interval(k, symbols[k], &start, &freq);
      if (status != kOk) return status;
      if (!encode_step(&x[g], start, freq, &out[g], limit[g])) return kOverflow;
    }
  }
  for (int g = 0; g < G; ++g) {
    if (out[g] - limit[g] < 2) return kOverflow;
    *--out[g] = static_cast<uint32_t>(x[g] >> kWordBits);
    *--out[g] = static_cast<uint32_t>(x[g]);
    payload_words[j + g] = static_cast<uint32_t>(limit[g] + chunking.capacity() - out[g]);
  }
  return kOk;
}

// Inverse of encode_group: chunk k's payload is stream bytes [offsets[k], offsets[k + 1]),
// as checked by read_layout.
template <int G, class Model>
OMNI_HD Status decode_group(const Model& model, typename Model::Symbol* symbols, const Chunking& chunking,
                            uint32_t j, const uint8_t* stream, const uint64_t* offsets) {
  const Model local_model = model;  // locals: the compiler knows the output stores miss them
  const uint32_t count = chunking.symbols(j);
  uint64_t x[G];
  size_t first[G];
  const uint8_t* in[G];
  const uint8_t* end[G];
  for (int g = 0; g < G; ++g) {
    first[g] = chunking.first(j + g);
    in[g] = stream + offsets[j + g];
    end[g] = stream + offsets[j + g + 1];
    if (end[g] - in[g] < 8) return kCorruptChunk;
    x[g] = load_word(in[g]) | static_cast<uint64_t>(load_word(in[g] + 4)) << kWordBits;
    if (x[g] < kStateLow || x[g] >> 63) return kCorruptChunk;
    in[g] += 8;
  }
  for (uint32_t i = 0; i < count; ++i) {
    for (int g = 0; g < G; ++g) {
      const size_t k = first[g] + i;
      const uint32_t slot = static_cast<uint32_t>(x[g]) & (kTotal - 1);
      uint32_t start, freq;
      const Status status = local_model.decode_symbol(k, slot, &symbols[k], &start, &freq);
      if (status != kOk) return status;
      if (!decode_step(&x[g], slot, start, freq, &in[g], end[g])) return kCorruptChunk;
    }
  }
  for (int g = 0; g < G; ++g)
    if (in[g] != end[g] || x[g] != kStateLow) return kCorruptChunk;
  return kOk;
}

// ---------------------------------------------------------------------------------------
// Stream layout (host side).

inline size_t prefix_bytes(uint32_t chunks) { return kHeaderBytes + 4 * static_cast<size_t>(chunks); }

inline void store_u32(uint8_t* p, uint32_t value) { memcpy(p, &value, sizeof value); }

// Writes the header and the chunk table: prefix_bytes(chunking.chunks()) bytes.
inline void write_prefix(uint8_t* out, Alphabet alphabet, const Chunking& chunking, const uint32_t* payload_words) {
  out[0] = kMagic;
  out[1] = kVersion;
  out[2] = static_cast<uint8_t>(alphabet);
  out[3] = 0;
  store_u32(out + 4, chunking.count);
  store_u32(out + 8, chunking.size);
  store_u32(out + 12, chunking.chunks());
  for (uint32_t j = 0; j < chunking.chunks(); ++j)
    store_u32(out + kHeaderBytes + 4 * static_cast<size_t>(j), 4 * payload_words[j]);
}

// Checks a stream's header and chunk table against what the caller expects, reading
// nothing past `size`. On success chunk j's payload is bytes [offsets[j], offsets[j + 1]).
inline Status read_layout(const uint8_t* data, size_t size, Alphabet alphabet, uint32_t symbol_count,
                          Chunking* chunking, std::vector<uint64_t>* offsets) {
  if (size < kHeaderBytes) return kTruncated;
  if (data[0] != kMagic || data[1] != kVersion || data[3] != 0) return kBadHeader;
  if (data[2] != static_cast<uint8_t>(alphabet)) return kWrongAlphabet;
  *chunking = Chunking{load_word(data + 4), load_word(data + 8)};
  if (chunking->size == 0 || chunking->size > kMaxChunkSize || load_word(data + 12) != chunking->chunks())
    return kBadHeader;
  if (chunking->count != symbol_count) return kWrongSymbolCount;
  const uint32_t chunks = chunking->chunks();
  if (size < prefix_bytes(chunks)) return kTruncated;
  offsets->assign(chunks + 1, 0);
  uint64_t position = prefix_bytes(chunks);
  for (uint32_t j = 0; j < chunks; ++j) {
    const uint32_t bytes = load_word(data + kHeaderBytes + 4 * static_cast<size_t>(j));
    if (bytes % 4 != 0 || bytes < 8 || bytes > 4 * static_cast<uint64_t>(chunk_capacity_words(chunking->symbols(j))))
      return kBadChunkTable;
    if (bytes > size - position) return kTruncated;
    (*offsets)[j] = position;
    position += bytes;
  }
  (*offsets)[chunks] = position;
  return position == size ? kOk : kBadChunkTable;
}

// Decodes one stream's symbols in order, over as many calls as the caller likes: for
// coders whose later probabilities depend on symbols decoded earlier (the point-cloud
// codec's stages), which encode all their symbols, in decoding order, as one stream.
// Chunks are crossed as decoding reaches them, each checked as it ends.
struct SequentialDecoder {
  const uint8_t* data = nullptr;
  Chunking chunking{0, 1};
  std::vector<uint64_t> offsets;
  uint32_t position = 0;  // symbols decoded so far
  uint64_t x = 0;
  const uint8_t* in = nullptr;
  const uint8_t* end = nullptr;

  // The stream must stay alive and unmoved while this decoder is used.
  Status open(const uint8_t* stream, size_t size, Alphabet alphabet) {
    if (size < kHeaderBytes) return kTruncated;
    data = stream;
    position = 0;
    const Status status = read_layout(stream, size, alphabet, load_word(stream + 4), &chunking, &offsets);
    return status == kOk && chunking.count > 0 ? start_chunk(0) : status;
  }

  template <class Model>
  Status decode(const Model& model, size_t count, typename Model::Symbol* symbols) {
    for (size_t i = 0; i < count; ++i) {
      if (position == chunking.count) return kWrongSymbolCount;
      if (position > 0 && position % chunking.size == 0) {
        if (!chunk_done()) return kCorruptChunk;
        const Status status = start_chunk(position / chunking.size);
        if (status != kOk) return status;
      }
      const uint32_t slot = static_cast<uint32_t>(x) & (kTotal - 1);
      uint32_t start, freq;
      const Status status = model.decode_symbol(i, slot, &symbols[i], &start, &freq);
      if (status != kOk) return status;
      if (!decode_step(&x, slot, start, freq, &in, end)) return kCorruptChunk;
      ++position;
    }
    return kOk;
  }

  // Every symbol decoded and the last chunk ended exactly where its encoding began.
  Status finish() const {
    if (position != chunking.count) return kWrongSymbolCount;
    return chunking.count == 0 || chunk_done() ? kOk : kCorruptChunk;
  }

 private:
  bool chunk_done() const { return in == end && x == kStateLow; }

  Status start_chunk(uint32_t j) {
    in = data + offsets[j];
    end = data + offsets[j + 1];
    x = load_word(in) | static_cast<uint64_t>(load_word(in + 4)) << kWordBits;  // read_layout: >= 8 bytes
    in += 8;
    return x < kStateLow || x >> 63 ? kCorruptChunk : kOk;
  }
};

}  // namespace rans
}  // namespace omnicodec

#if defined(__CUDACC__) || defined(OMNICODEC_WITH_CUDA)
// CUDA launchers, defined in coder.cu and called by coder.cpp. Pointers are device
// pointers, `stream` is a cudaStream_t; each call queues its kernel there and returns the
// launch's cudaError_t. Encoding and decoding write one Status per chunk; the other two
// write their Status (zeroed by the caller) only on failure.
extern "C" {
int omnicodec_cuda_binary_frequencies(const float* prob_one, int32_t* freq_one, uint64_t count,
                                      int32_t* status, void* stream);
int omnicodec_cuda_cdf_from_pmf(const float* pmf, int32_t* cdf, uint64_t rows, uint32_t alphabet,
                                int32_t* status, void* stream);
// Chunk j of `count` symbols encodes into scratch words [j * capacity, (j + 1) * capacity)
// (capacity = chunk_capacity_words(chunk_size)) and puts its payload's length in words into
// payload_words[j]; gather_payloads then packs the payloads at word_offsets into `out`.
int omnicodec_cuda_encode_binary(const int32_t* freq_one, const uint8_t* symbols, uint32_t count,
                                 uint32_t chunk_size, uint32_t* scratch, uint32_t* payload_words,
                                 int32_t* statuses, void* stream);
int omnicodec_cuda_encode_cdf(const int32_t* cdf, uint32_t alphabet, const int32_t* symbols, uint32_t count,
                              uint32_t chunk_size, uint32_t* scratch, uint32_t* payload_words,
                              int32_t* statuses, void* stream);
int omnicodec_cuda_gather_payloads(const uint32_t* scratch, uint32_t count, uint32_t chunk_size,
                                   const uint32_t* payload_words, const uint64_t* word_offsets,
                                   uint32_t* out, void* stream);
// `data` is the whole stream, 4-byte aligned; offsets come from read_layout.
int omnicodec_cuda_decode_binary(const int32_t* freq_one, const uint8_t* data, const uint64_t* offsets,
                                 uint32_t count, uint32_t chunk_size, uint8_t* symbols,
                                 int32_t* statuses, void* stream);
int omnicodec_cuda_decode_cdf(const int32_t* cdf, uint32_t alphabet, const uint8_t* data, const uint64_t* offsets,
                              uint32_t count, uint32_t chunk_size, int32_t* symbols,
                              int32_t* statuses, void* stream);
}
#endif
