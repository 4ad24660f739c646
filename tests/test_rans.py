"""Our chunked rANS coder (omnicodec._coder from cuda_ext/): round trips, deterministic
frequencies, and every kind of bad input and bad stream raising a clear error."""

import os
import shutil
import struct
import subprocess

import numpy as np
import pytest
import torch

from omnicodec.entropy import cdf as cdf_module
from omnicodec.entropy import rans
from omnicodec.errors import BitstreamError

CUDA_SOURCE = os.path.join(os.path.dirname(__file__), os.pardir, "cuda_ext", "coder.cu")
HEADER = struct.Struct("<4sIII")  # magic/version/alphabet/0, symbol count, chunk size, chunk count

requires_coder = pytest.mark.skipif(
    not rans.available(),
    reason="omnicodec._coder is not built (pip install --no-build-isolation -e . builds it)")


def binary_case(count, seed=0, alpha=0.3, beta=0.7):
    """Occupancy-like frequencies (Beta-distributed probabilities) and symbols drawn from them."""
    generator = torch.Generator().manual_seed(seed)
    prob = torch.from_numpy(np.random.default_rng(seed).beta(alpha, beta, count).astype(np.float32))
    freq = cdf_module.binary_frequencies(prob)
    symbols = torch.rand(count, generator=generator, dtype=torch.float64) < freq / 65536
    return freq, symbols


def cdf_case(count, alphabet, seed=0):
    """Random pmfs (many near-zero entries), their CDF rows and symbols drawn from them."""
    generator = torch.Generator().manual_seed(seed)
    pmf = torch.rand(count, alphabet, generator=generator) ** 8
    pmf /= pmf.sum(dim=1, keepdim=True)
    symbols = torch.multinomial(pmf, 1, generator=generator).reshape(-1).to(torch.int32)
    return rans.cdf_from_pmf(pmf), symbols


def assert_binary_round_trip(freq, symbols, **kwargs):
    data = rans.encode_binary(freq, symbols, **kwargs)
    decoded = rans.decode_binary(freq, data)
    assert decoded.dtype == torch.bool
    assert torch.equal(decoded, torch.as_tensor(symbols).reshape(-1).bool())
    return data


@requires_coder
class TestRoundTrips:
    def test_random_probabilities(self):
        generator = torch.Generator().manual_seed(1)
        freq = rans.binary_frequencies(torch.rand(200_000, generator=generator))
        symbols = torch.rand(200_000, generator=generator) < freq / 65536
        assert_binary_round_trip(freq, symbols)

    def test_skewed_probabilities_come_close_to_the_ideal_length(self):
        freq, symbols = binary_case(1_000_000)
        data = assert_binary_round_trip(freq, symbols)
        ideal = cdf_module.ideal_bits(freq.double() / 65536, symbols)
        assert 8 * len(data) < 1.005 * ideal

    def test_least_probable_symbols_every_time(self):
        # 16 bits per symbol, the most a chunk can need: its output bound must hold.
        count = 3 * 65536 + 5
        freq = torch.where(torch.arange(count) % 2 == 0, 1, 65535).to(torch.int32)
        symbols = freq == 1
        data = assert_binary_round_trip(freq, symbols)
        assert len(data) > 2 * count

    def test_empty_input(self):
        data = assert_binary_round_trip(torch.zeros(0, dtype=torch.int32), torch.zeros(0, dtype=torch.bool))
        assert len(data) == HEADER.size and HEADER.unpack(data)[1] == HEADER.unpack(data)[3] == 0
        no_rows = torch.zeros((0, 3), dtype=torch.int32)
        data = rans.encode_cdf(no_rows, torch.zeros(0, dtype=torch.int32))
        assert rans.decode_cdf(no_rows, data).numel() == 0

    @pytest.mark.parametrize("symbol", [False, True])
    def test_one_symbol(self, symbol):
        assert_binary_round_trip(torch.tensor([40000], dtype=torch.int32), torch.tensor([symbol]))

    @pytest.mark.parametrize("chunk_size", [1, 3, 64, 1000, 4095, 1 << 24])
    def test_many_chunks_and_a_partial_last_one(self, chunk_size):
        freq, symbols = binary_case(20_011, seed=chunk_size)
        data = assert_binary_round_trip(freq, symbols, chunk_size=chunk_size)
        magic, count, size, chunks = HEADER.unpack_from(data)
        assert (magic, count, size) == (b"R\x01\x00\x00", 20_011, chunk_size)
        assert chunks == -(-20_011 // chunk_size)
        table = struct.unpack_from(f"<{chunks}I", data, HEADER.size)
        assert HEADER.size + 4 * chunks + sum(table) == len(data)

    def test_each_chunk_codes_as_if_alone(self):
        # Four full chunks take the CPU's lockstep path; alone, each takes the one-chunk path
        # that the GPU runs too.
        freq, symbols = binary_case(4000, seed=9)
        data = rans.encode_binary(freq, symbols, chunk_size=1000)
        lengths = struct.unpack_from("<4I", data, HEADER.size)
        start = HEADER.size + 4 * len(lengths)
        for j, length in enumerate(lengths):
            alone = rans.encode_binary(freq[1000 * j:1000 * (j + 1)], symbols[1000 * j:1000 * (j + 1)],
                                       chunk_size=1000)
            assert alone[HEADER.size + 4:] == data[start:start + length]
            start += length

    def test_accepts_numpy_lists_and_integer_symbols(self):
        freq, symbols = binary_case(1000)
        data = rans.encode_binary(freq.numpy().astype(np.int64), symbols.numpy().astype(np.int16))
        assert data == rans.encode_binary(freq, symbols)
        assert torch.equal(rans.decode_binary(freq.tolist(), bytearray(data)), symbols)

    def test_threads_do_not_change_the_bytes(self):
        freq, symbols = binary_case(40 * 4096 + 17)
        threads = torch.get_num_threads()
        try:
            torch.set_num_threads(1)
            single = rans.encode_binary(freq, symbols, chunk_size=4096)
            torch.set_num_threads(2)
            assert rans.encode_binary(freq, symbols, chunk_size=4096) == single
            assert torch.equal(rans.decode_binary(freq, single), symbols)
        finally:
            torch.set_num_threads(threads)

    @pytest.mark.parametrize("alphabet", [1, 2, 5, 256])
    def test_small_alphabets(self, alphabet):
        cdf, symbols = cdf_case(30_000, alphabet, seed=alphabet)
        data = rans.encode_cdf(cdf, symbols, chunk_size=4096)
        decoded = rans.decode_cdf(cdf, data)
        assert decoded.dtype == torch.int32
        assert torch.equal(decoded, symbols)

    def test_256_ary_symbols_come_close_to_the_ideal_length(self):
        cdf, symbols = cdf_case(100_000, 256)
        data = rans.encode_cdf(cdf, symbols)
        freq = (cdf[:, 1:] - cdf[:, :-1]).gather(1, symbols.long()[:, None]).double()
        ideal = float(-(freq / 65536).log2().sum())
        assert 8 * len(data) < 1.005 * ideal


@requires_coder
class TestFrequencies:
    def test_binary_frequencies_match_the_python_function(self):
        generator = torch.Generator().manual_seed(2)
        ties = (torch.arange(0, 65536, 97, dtype=torch.float64) + 0.5) / 65536  # round half to even
        prob = torch.cat([torch.rand(100_000, generator=generator, dtype=torch.float64), ties,
                          torch.tensor([0.0, -0.0, 1.0, 1e-30, 1e-6, 1 - 1e-7, 0.5])])
        assert torch.equal(rans.binary_frequencies(prob), cdf_module.binary_frequencies(prob))

    def test_binary_frequencies_keep_the_shape(self):
        assert rans.binary_frequencies(torch.full((3, 4), 0.25)).tolist() == [[16384] * 4] * 3

    def test_cdf_rows_are_valid_and_deterministic(self):
        generator = torch.Generator().manual_seed(3)
        pmf = torch.rand(2, 500, 256, generator=generator) ** 16  # most entries near zero
        cdf = rans.cdf_from_pmf(pmf)
        assert cdf.shape == (2, 500, 257) and cdf.dtype == torch.int32
        assert bool((cdf[..., 0] == 0).all()) and bool((cdf[..., -1] == 65536).all())
        assert bool((cdf.diff(dim=-1) >= 1).all())
        assert torch.equal(rans.cdf_from_pmf(pmf), cdf)

    def test_cdf_of_a_certain_symbol_leaves_one_to_each_other(self):
        assert rans.cdf_from_pmf([0.0, 1.0, 0.0, 0.0]).tolist() == [0, 1, 65534, 65535, 65536]

    def test_cdf_follows_the_pmf(self):
        assert rans.cdf_from_pmf([0.25, 0.25, 0.5]).tolist() == [0, 16384, 32768, 65536]


@requires_coder
class TestBadArguments:
    @pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.01, 1.01])
    def test_probability_outside_zero_one(self, value):
        with pytest.raises(ValueError, match="probabilities"):
            rans.binary_frequencies(torch.tensor([0.5, value]))

    @pytest.mark.parametrize("row", [[0.5, float("nan")], [0.5, -0.5], [0.0, 0.0], [2.0, 0.0]])
    def test_bad_pmf(self, row):
        with pytest.raises(ValueError, match="pmf"):
            rans.cdf_from_pmf(torch.tensor([[0.5, 0.5], row]))

    @pytest.mark.parametrize("value", [0, 65536, -1, 2**32 + 5])
    def test_frequency_out_of_range_on_encode(self, value):
        with pytest.raises(ValueError, match="frequencies"):
            rans.encode_binary(torch.tensor([100, value]), torch.tensor([True, False]))

    @pytest.mark.parametrize("value", [0, 65536])
    def test_frequency_out_of_range_on_decode(self, value):
        data = rans.encode_binary(torch.tensor([100, 100]), torch.tensor([True, False]))
        with pytest.raises(ValueError, match="frequencies"):
            rans.decode_binary(torch.tensor([100, value]), data)

    @pytest.mark.parametrize("symbols", [torch.tensor([0, 2]), torch.tensor([-1, 1]),
                                         torch.tensor([0, 2], dtype=torch.uint8), torch.tensor([0, 256])])
    def test_binary_symbol_out_of_range(self, symbols):
        with pytest.raises(ValueError, match="symbol"):
            rans.encode_binary(torch.tensor([100, 100]), symbols)

    def test_float_symbols(self):
        with pytest.raises(ValueError, match="bool or integer"):
            rans.encode_binary(torch.tensor([100]), torch.tensor([1.0]))

    @pytest.mark.parametrize("symbol", [-1, 3, 2**31])
    def test_cdf_symbol_out_of_range(self, symbol):
        with pytest.raises(ValueError, match="symbol"):
            rans.encode_cdf(torch.tensor([[0, 100, 200, 65536]] * 2), torch.tensor([0, symbol]))

    @pytest.mark.parametrize("row", [[0, 100, 100, 65536], [1, 100, 200, 65536], [0, 100, 200, 65535],
                                     [0, 300, 200, 65536]])
    def test_bad_cdf_row(self, row):
        good = [0, 100, 200, 65536]
        with pytest.raises(ValueError, match="CDF"):
            rans.encode_cdf(torch.tensor([good, row]), torch.tensor([0, 2]))
        data = rans.encode_cdf(torch.tensor([good, good]), torch.tensor([0, 2]))
        with pytest.raises(ValueError, match="CDF"):
            rans.decode_cdf(torch.tensor([good, row]), data)

    def test_one_frequency_per_symbol(self):
        with pytest.raises(ValueError, match="one frequency per symbol"):
            rans.encode_binary(torch.tensor([100, 100]), torch.tensor([True]))

    @pytest.mark.parametrize("chunk_size", [0, -1, (1 << 24) + 1])
    def test_chunk_size_out_of_range(self, chunk_size):
        with pytest.raises(ValueError, match="chunk size"):
            rans.encode_binary(torch.tensor([100]), torch.tensor([True]), chunk_size=chunk_size)

    def test_stream_of_another_type(self):
        with pytest.raises(ValueError, match="must be bytes"):
            rans.decode_binary(torch.tensor([100]), "not bytes")


@pytest.fixture(scope="module")
def stream():
    """Frequencies and the stream of 3000 binary symbols in 6 chunks."""
    freq, symbols = binary_case(3000, seed=5)
    return freq, rans.encode_binary(freq, symbols, chunk_size=500)


@requires_coder
class TestBadStreams:
    def test_truncated_at_every_offset(self, stream):
        freq, data = stream
        for end in range(len(data)):
            with pytest.raises(BitstreamError):
                rans.decode_binary(freq, data[:end])

    def test_every_flipped_byte(self, stream):
        freq, data = stream
        for position in range(len(data)):
            for mask in (0x01, 0x80):
                corrupted = bytearray(data)
                corrupted[position] ^= mask
                with pytest.raises(BitstreamError):
                    rans.decode_binary(freq, corrupted)

    @pytest.mark.parametrize("chunk", [0, 5])
    def test_chunk_table_pointing_outside_the_stream(self, stream, chunk):
        freq, data = stream
        corrupted = bytearray(data)
        offset = HEADER.size + 4 * chunk
        struct.pack_into("<I", corrupted, offset, struct.unpack_from("<I", data, offset)[0] + 400)
        with pytest.raises(BitstreamError, match="truncated"):
            rans.decode_binary(freq, corrupted)

    @pytest.mark.parametrize("length", [0xFFFFFFFC, 1 << 20, 4, 0])
    def test_chunk_table_with_impossible_lengths(self, stream, length):
        freq, data = stream
        corrupted = bytearray(data)
        struct.pack_into("<I", corrupted, HEADER.size, length)
        with pytest.raises(BitstreamError, match="chunk table"):
            rans.decode_binary(freq, corrupted)

    def test_chunk_table_entries_that_are_not_whole_words(self, stream):
        freq, data = stream
        corrupted = bytearray(data)
        first, second = struct.unpack_from("<II", data, HEADER.size)
        struct.pack_into("<II", corrupted, HEADER.size, first - 2, second + 2)
        with pytest.raises(BitstreamError, match="chunk table"):
            rans.decode_binary(freq, corrupted)

    def test_trailing_bytes(self, stream):
        freq, data = stream
        with pytest.raises(BitstreamError, match="chunk table"):
            rans.decode_binary(freq, data + b"\0\0\0\0")

    def test_another_symbol_count(self, stream):
        freq, data = stream
        with pytest.raises(BitstreamError, match="number of symbols"):
            rans.decode_binary(freq[:-1], data)

    def test_another_kind_of_symbols(self, stream):
        freq, data = stream
        with pytest.raises(BitstreamError, match="another kind"):
            rans.decode_cdf(torch.tensor([[0, 100, 65536]] * len(freq)), data)

    def test_other_frequencies_than_the_encoder_used(self, stream):
        freq, data = stream
        with pytest.raises(BitstreamError, match="corrupted"):
            rans.decode_binary(torch.clamp(freq + 1, max=65535), data)

    @pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 64, 1000])
    def test_random_bytes(self, size):
        data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
        with pytest.raises(BitstreamError):
            rans.decode_binary(torch.full((3000,), 100, dtype=torch.int32), data)

    def test_corrupted_cdf_stream(self):
        cdf, symbols = cdf_case(2000, 256)
        data = rans.encode_cdf(cdf, symbols, chunk_size=300)
        for position in range(0, len(data), 7):
            corrupted = bytearray(data)
            corrupted[position] ^= 0x10
            with pytest.raises(BitstreamError):
                rans.decode_cdf(cdf, corrupted)


@requires_coder
@pytest.mark.skipif(not (torch.cuda.is_available() and rans.available() and rans._coder.WITH_CUDA),
                    reason="needs a CUDA GPU and the extension built with CUDA")
def test_cpu_and_gpu_make_and_read_the_same_bytes():
    freq, symbols = binary_case(1_000_003)
    on_cpu = rans.encode_binary(freq, symbols, chunk_size=4096)
    on_gpu = rans.encode_binary(freq.cuda(), symbols.cuda(), chunk_size=4096)
    assert on_gpu == on_cpu
    assert torch.equal(rans.decode_binary(freq.cuda(), on_cpu).cpu(), symbols)
    prob = torch.rand(100_000, dtype=torch.float64)
    assert torch.equal(rans.binary_frequencies(prob.cuda()).cpu(), rans.binary_frequencies(prob))
    pmf = torch.rand(1000, 256, dtype=torch.float64)
    assert torch.equal(rans.cdf_from_pmf(pmf.cuda()).cpu(), rans.cdf_from_pmf(pmf))
    cdf, values = cdf_case(50_000, 256)
    data = rans.encode_cdf(cdf.cuda(), values.cuda(), chunk_size=1024)
    assert data == rans.encode_cdf(cdf, values, chunk_size=1024)
    assert torch.equal(rans.decode_cdf(cdf.cuda(), data).cpu(), values)
    corrupted = bytearray(on_cpu)
    corrupted[-5] ^= 0x01  # caught by a chunk's final-state check in the kernel
    with pytest.raises(BitstreamError, match="corrupted"):
        rans.decode_binary(freq.cuda(), corrupted)
    with pytest.raises(ValueError, match="symbol"):
        rans.encode_binary(freq.cuda(), torch.full_like(freq, 2, dtype=torch.uint8).cuda())
    with pytest.raises(ValueError, match="probabilities"):
        rans.binary_frequencies(torch.tensor([0.5, float("nan")]).cuda())


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH, so coder.cu cannot be compile-checked")
def test_cuda_kernels_compile(tmp_path):
    result = subprocess.run(["nvcc", "-std=c++17", "-c", "-o", str(tmp_path / "coder.o"), CUDA_SOURCE],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@requires_coder
@pytest.mark.parametrize("chunk_size", [7, 1000, 1 << 20])
def test_sequential_decoder_reads_one_stream_in_pieces(chunk_size):
    freq, symbols = binary_case(20000, seed=3)
    data = rans.encode_binary(freq, symbols, chunk_size=chunk_size)
    decoder = rans.BinaryDecoder(data)
    cuts = [0, 1, 999, 999, 7000, 20000]
    pieces = [decoder.decode(freq[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
    decoder.finish()
    assert torch.equal(torch.cat(pieces), symbols)


@requires_coder
def test_sequential_decoder_refuses_too_few_or_too_many_symbols():
    freq, symbols = binary_case(5000, seed=4)
    data = rans.encode_binary(freq, symbols)
    decoder = rans.BinaryDecoder(data)
    decoder.decode(freq[:100])
    with pytest.raises(BitstreamError, match="another number of symbols"):
        decoder.finish()
    decoder = rans.BinaryDecoder(data)
    decoder.decode(freq)
    with pytest.raises(BitstreamError):
        decoder.decode(freq[:1])


@requires_coder
def test_sequential_decoder_refuses_damaged_streams():
    freq, symbols = binary_case(5000, seed=5)
    data = rans.encode_binary(freq, symbols, chunk_size=1000)
    for cut in range(0, len(data), 97):
        with pytest.raises(BitstreamError):
            decoder = rans.BinaryDecoder(data[:cut])
            decoder.decode(freq)
            decoder.finish()
    for position in range(HEADER.size, len(data), 53):
        damaged = bytearray(data)
        damaged[position] ^= 0x21
        try:
            decoder = rans.BinaryDecoder(bytes(damaged))
            decoded = decoder.decode(freq)
            decoder.finish()
        except BitstreamError:
            continue
        assert not torch.equal(decoded, symbols) or bytes(damaged) == data
