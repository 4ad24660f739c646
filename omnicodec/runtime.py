"""What must hold wherever a codec runs, set when it first runs (never at import).

Reproducible probabilities: Intel MKL (torch's CPU BLAS on x86) may round the same sums
differently depending on memory alignment, and an encoder and a decoder that round
differently disagree on a probability, so the stream does not decode. MKL's conditional
numerical reproducibility in strict mode (``MKL_CBWR=AUTO,STRICT``) makes its results
depend only on the inputs. :func:`configure` sets the variable (for this process, before
torch loads MKL, and for its children) and, where torch has already loaded MKL, asks MKL
itself for strict mode; if MKL has already fixed another mode, it warns, because streams
this process writes may then fail to decode elsewhere. Setting ``MKL_CBWR`` yourself
before starting Python always works.
"""

import ctypes
import os
import sys
import warnings

MKL_CBWR = "AUTO,STRICT"


def other_machines():
    """Settings of a fresh process under which this machine's libraries compute as other
    machines' do (a float decoder's results may change with them; an integer one's must
    not): torch's plain and AVX2 kernels, MKL's portable path, numpy without its AVX-512
    and without its AVX2 code (the run-time targets this numpy has of each), one and two
    threads. {name: environment variables}."""
    avx512 = [name for name in _numpy_dispatch() if name.startswith("AVX512") or name == "X86_V4"]
    avx2 = [name for name in _numpy_dispatch() if name in ("X86_V3", "AVX2", "FMA3", "F16C")]
    return {
        "torch plain kernels": {"ATEN_CPU_CAPABILITY": "default"},
        "torch AVX2 kernels": {"ATEN_CPU_CAPABILITY": "avx2"},
        "MKL portable path": {"MKL_CBWR": "COMPATIBLE"},
        "numpy without AVX-512": {"NPY_DISABLE_CPU_FEATURES": " ".join(avx512)},
        "numpy without AVX2": {"NPY_DISABLE_CPU_FEATURES": " ".join(avx2 + avx512)},
        "1 thread": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
        "2 threads": {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"},
    }


def _numpy_dispatch():
    """The optimizations this numpy picks at run time (what NPY_DISABLE_CPU_FEATURES may
    turn off: never its baseline)."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__
    except ImportError:  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_dispatch__
    return list(__cpu_dispatch__)


_MKL_CBWR_STRICT, _MKL_CBWR_AUTO, _MKL_CBWR_ALL = 0x10000, 2, -1
_configured = []


def configure():
    """Make this process's probabilities reproducible (idempotent)."""
    if _configured:
        return
    if not os.environ.get("MKL_CBWR"):
        os.environ["MKL_CBWR"] = MKL_CBWR
    if "torch" in sys.modules:
        _ask_mkl_for_strict_mode()
    _configured.append(True)


def _mkl():
    """torch's MKL service functions, or None where torch has no MKL."""
    import torch

    path = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")
    try:
        library = ctypes.CDLL(path)
        get, set_mode = library.mkl_serv_cbwr_get, library.mkl_serv_cbwr_set
    except (OSError, AttributeError):
        return None
    get.argtypes, get.restype = [ctypes.c_int], ctypes.c_int
    set_mode.argtypes, set_mode.restype = [ctypes.c_int], ctypes.c_int
    return get, set_mode


def mkl_strict():
    """True where MKL runs in strict reproducible mode, None where torch has no MKL."""
    functions = _mkl()
    return None if functions is None else bool(functions[0](_MKL_CBWR_ALL) & _MKL_CBWR_STRICT)


def _ask_mkl_for_strict_mode():
    functions = _mkl()
    if functions is None:
        return
    get, set_mode = functions
    if set_mode(_MKL_CBWR_AUTO | _MKL_CBWR_STRICT) != 0 and not get(_MKL_CBWR_ALL) & _MKL_CBWR_STRICT:
        warnings.warn("MKL already runs in a non-reproducible mode (torch used it before omnicodec "
                      f"could set MKL_CBWR): set MKL_CBWR={MKL_CBWR} before starting Python, or "
                      "streams written here may not decode on another machine", RuntimeWarning,
                      stacklevel=3)
