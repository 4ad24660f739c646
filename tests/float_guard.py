"""A decoder run that fails on float arithmetic: what the integer models promise.

:func:`no_float` makes every torch operation that takes or makes a floating-point tensor
raise :class:`FloatArithmetic` (a float tensor turned into a numpy array included), and
numpy's and math's transcendental functions (exp, log, pow, sqrt...) raise too: these
differ between machines (SIMD paths, libm), and no integer decoder may depend on them.
"""

import contextlib
import math

import numpy as np
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

_TRANSCENDENTAL = {np: ("exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "power",
                        "float_power", "sin", "cos", "tan", "arctan2", "tanh", "cbrt"),
                   math: ("exp", "expm1", "log", "log2", "log10", "log1p", "sqrt", "pow", "sin", "cos",
                          "tan", "atan2", "lgamma", "erf")}


class FloatArithmetic(AssertionError):
    """A decoder computed in floating point."""


class _NoFloatTensors(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        for leaf in tree_leaves((args, kwargs, result)):
            if isinstance(leaf, torch.Tensor) and (leaf.is_floating_point() or leaf.is_complex()):
                raise FloatArithmetic(f"{getattr(func, '__name__', func)} on a {leaf.dtype} tensor")
        return result


def _refuse(module, name):
    def refused(*args, **kwargs):
        raise FloatArithmetic(f"{module.__name__}.{name} called")

    return refused


@contextlib.contextmanager
def no_float(monkeypatch):
    """Within this block, float arithmetic in torch and transcendental functions in numpy
    and math raise :class:`FloatArithmetic`."""
    with monkeypatch.context() as patch:
        for module, names in _TRANSCENDENTAL.items():
            for name in names:
                patch.setattr(module, name, _refuse(module, name))
        with _NoFloatTensors():
            yield
