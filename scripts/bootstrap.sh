#!/usr/bin/env bash
# Idempotent set-up of omnicodec's environment on Debian 12 + Python 3.11 (root).
# Creates ./.venv with torch 2.13.0 (CPU), MinkowskiEngine 0.5.4 built from PyPI,
# torchac, plyfile, h5py, numpy, Ray (the optional cluster batch: its tests run) and
# omnicodec itself (with its C++ coder).
# A stamp file makes the second run a no-op unless the requirements changed.
# OMNICODEC_MINKOWSKI=0 skips MinkowskiEngine: omnicodec then runs on its torch engine.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${OMNICODEC_VENV:-$here/.venv}"
stamp="$venv/.omnicodec-bootstrap"
# Anything that changes what gets installed or compiled invalidates the stamp.
with_minkowski="${OMNICODEC_MINKOWSKI:-1}"
want="$( (echo "minkowski=$with_minkowski $here"; cat "$here/scripts/bootstrap.sh" "$here/requirements.txt" \
  "$here/setup.py" $(find "$here/cuda_ext" -type f 2>/dev/null | sort)) | sha256sum | cut -c1-16)"
# The C++ coder is built into this tree (editable install): a fresh clone needs it built.
built() { compgen -G "$here/omnicodec/_coder*.so" >/dev/null; }
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && built; then
  exit 0
fi
say() { printf '[bootstrap] %s\n' "$*" >&2; }

# libusb, GL, EGL and Vulkan (llvmpipe): what open3d needs to import and render off screen.
apt_pkgs="libopenblas-dev g++ ninja-build libusb-1.0-0 libgl1 libegl1 libvulkan1 mesa-vulkan-drivers"
missing=""
for p in $apt_pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  say "installing Debian packages:$missing"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

python="${PYTHON:-python3.11}"
if [ ! -x "$venv/bin/python" ]; then
  say "creating virtual environment $venv"
  "$python" -m venv "$venv"
fi
pip="$venv/bin/python -m pip"
$pip install -q --upgrade pip setuptools wheel
# torch first, pinned: everything after it must not upgrade it.
$pip install -q torch==2.13.0 numpy ninja
if [ "$with_minkowski" != 0 ] && ! "$venv/bin/python" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('MinkowskiEngine') is None)"; then
  say "building MinkowskiEngine 0.5.4 (CPU, ~12 min the first time; pip caches the wheel)"
  SETUPTOOLS_USE_DISTUTILS=stdlib MAX_JOBS="${MAX_JOBS:-2}" \
    $pip install -q --no-build-isolation MinkowskiEngine==0.5.4
fi
$pip install -q -r "$here/requirements.txt" torch==2.13.0
say "installing omnicodec (builds the C++ entropy coder)"
$pip install -q --no-build-isolation -e "$here" torch==2.13.0
echo "$want" > "$stamp"
say "ready: $venv"
