"""MinkowskiEngine 0.5.4 behind omnicodec's sparse layer. No other module imports it.

MinkowskiEngine is unmaintained; its Python code still does ``from collections import
Sequence``, removed in Python 3.10, so the aliases are restored here, once, before import.

Determinism. By default its coordinate managers build kernel maps on as many threads as
OMP_NUM_THREADS (or the cores) and its operations run OpenMP loops; the order of a map's
pairs and of the sums then changes from run to run, the float features differ in their last
bits, and a stream may not decode (measured: on a 2-core AMD EPYC, 0.1.0 could not decode
the sample scan it had just coded). Here every manager has one thread and every operation
runs on one OpenMP thread (torch's own operations, which share the OpenMP runtime, get
their threads back after each), so maps, sums and probabilities are the same on every run;
for MinkowskiEngine's part it is also the fastest setting measured. Its matrix products
(OpenBLAS, which it links) run on one thread too: with two, OpenBLAS rounds otherwise, and
a stream written on one machine would not decode on one with another number of cores.
"""

import collections
import collections.abc
import contextlib

for _name in ("Sequence", "Mapping", "MutableMapping", "Iterable", "Callable", "Iterator"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

import ctypes  # noqa: E402
import warnings  # noqa: E402

import torch  # noqa: E402

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*CPU_ONLY.*")
    import MinkowskiEngine as ME  # noqa: E402


def _single_threaded_blas():
    """Pin the OpenBLAS that MinkowskiEngine's products run on to one thread."""
    try:
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(1)
    except (OSError, AttributeError):  # linked against another BLAS: nothing to pin
        pass


_single_threaded_blas()
NAME = "minkowski"
VERSION = ME.__version__


KERNEL_MAP_THREADS = 1


@contextlib.contextmanager
def _one_thread():
    """Run MinkowskiEngine's operations on one OpenMP thread (its parallel loops sum in an
    order that changes with the threads), then give torch's own operations, which share
    the OpenMP runtime, their threads back."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def make_tensor(coordinates, features, stride=1):
    """Coordinates (N, 1 + D) int32 with the batch index first, features (N, C)."""
    with _one_thread():
        manager = ME.CoordinateManager(D=coordinates.shape[1] - 1, num_threads=KERNEL_MAP_THREADS)
        return ME.SparseTensor(features=features, coordinates=coordinates, tensor_stride=stride,
                               coordinate_manager=manager)


def with_features(native, features):
    return ME.SparseTensor(
        features=features,
        coordinate_map_key=native.coordinate_map_key,
        coordinate_manager=native.coordinate_manager,
    )


def features(native):
    return native.F


def coordinates(native):
    return native.C


def stride(native):
    return native.tensor_stride[0]


def make_conv(in_channels, out_channels, kernel_size, stride, dimension, transpose, generative):
    """An engine operator; its kernel and bias are handed over at call time."""
    if generative:
        cls = ME.MinkowskiGenerativeConvolutionTranspose
    elif transpose:
        cls = ME.MinkowskiConvolutionTranspose
    else:
        cls = ME.MinkowskiConvolution
    return cls(in_channels, out_channels, kernel_size=kernel_size, stride=stride, bias=False,
               dimension=dimension)


def conv(op, native, weight, bias, out=None):
    # Our parameter is lent to the operator for this call (ME keeps 1x1x1 kernels as matrices).
    op._parameters["kernel"] = weight if weight.shape[0] > 1 else weight[0]
    with _one_thread():
        result = op(native, out.coordinate_map_key if out is not None else None)
    if bias is not None:
        result = with_features(result, result.F + bias)
    return result


_POOLS = {"max": "MinkowskiMaxPooling", "avg": "MinkowskiAvgPooling", "sum": "MinkowskiSumPooling"}


def make_pool(mode, kernel_size, stride, dimension):
    return getattr(ME, _POOLS[mode])(kernel_size=kernel_size, stride=stride, dimension=dimension)


def pool(op, native):
    with _one_thread():
        return op(native)


def prune(native, keep):
    with _one_thread():
        return ME.MinkowskiPruning()(native, keep)
