"""omnicodec's build: the Python package, its shipped weights, the ``omnicodec`` command,
and the C++/CUDA sources of ``cuda_ext/`` as a PyTorch extension (``omnicodec._coder``).

The CPU part (every ``cuda_ext/*.cpp``) is built whenever cuda_ext has sources; the CUDA
part (``cuda_ext/*.cu``) only when nvcc and a CUDA-enabled torch are both present.
Install with ``pip install --no-build-isolation -e .`` so the extension builds against the
torch already installed (scripts/bootstrap.sh does this).
"""

import glob
import os
import shutil

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def extension_modules():
    cpp = sorted(glob.glob(os.path.join("cuda_ext", "*.cpp")))
    if not cpp:
        return [], {}
    try:
        import torch
        from torch.utils import cpp_extension
    except ImportError as exc:
        raise SystemExit("building cuda_ext needs torch installed first "
                         "(pip install torch==2.13.0, then pip install --no-build-isolation .)") from exc
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        raise SystemExit("building cuda_ext needs a C++ compiler: apt-get install g++")
    cu = sorted(glob.glob(os.path.join("cuda_ext", "*.cu")))
    with_cuda = bool(cu) and shutil.which("nvcc") is not None and torch.version.cuda is not None
    # -fopenmp: at::parallel_for (ATen's OpenMP backend) runs on torch's threads only when
    # the extension itself is compiled with OpenMP; without it every loop runs serially.
    args = {"cxx": ["-O3", "-std=c++17", "-fopenmp"]}
    if with_cuda:
        args["nvcc"] = ["-O3", "-DOMNICODEC_WITH_CUDA"]
        args["cxx"].append("-DOMNICODEC_WITH_CUDA")
        ext = cpp_extension.CUDAExtension("omnicodec._coder", cpp + cu, extra_compile_args=args,
                                          extra_link_args=["-fopenmp"])
    else:
        ext = cpp_extension.CppExtension("omnicodec._coder", cpp, extra_compile_args=args,
                                         extra_link_args=["-fopenmp"])
    return [ext], {"build_ext": cpp_extension.BuildExtension}


ext_modules, cmdclass = extension_modules()

setup(
    name="omnicodec",
    version="0.2.0.dev0",
    description="Learned sparse-convolution codec for point clouds",
    long_description=open(os.path.join(HERE, "README.md")).read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["omnicodec", "omnicodec.*", "datasets", "benchmarks"]),
    package_data={"omnicodec": ["weights/*.pt", "weights/*.toml"]},
    install_requires=["torch==2.13.0", "numpy", "plyfile", "h5py", "torchac==0.9.3", "tqdm", "scipy"],
    # batch coding on a Ray cluster (omnicodec/cluster.py); a version whose cp311 wheel installs
    extras_require={"ray": ["ray==2.60.0"]},
    entry_points={"console_scripts": ["omnicodec = omnicodec.cli.main:main"]},
    ext_modules=ext_modules,
    cmdclass=cmdclass,
)
