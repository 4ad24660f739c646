#!/usr/bin/env bash
# Set up (idempotent), then compress, decompress and verify the sample scan shipped in
# tests/data, printing omnicodec's report. Extra arguments go to `omnicodec compress`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$here/scripts/bootstrap.sh"
venv="${OMNICODEC_VENV:-$here/.venv}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
sample="$here/tests/data/ricardo_vox8.ply"
"$venv/bin/omnicodec" compress "$sample" -o "$out/sample.ocz" "$@"
"$venv/bin/omnicodec" decompress "$out/sample.ocz" -o "$out/back.ply"
"$venv/bin/python" - "$sample" "$out/back.ply" <<'PY'
import sys
import numpy as np
from omnicodec.io import read_ply
a, b = (read_ply(p).positions for p in sys.argv[1:3])
same = np.array_equal(np.unique(a, axis=0), np.unique(b, axis=0))
print(f"verify: {'bit-exact' if same else 'MISMATCH'} ({len(np.unique(a, axis=0))} voxels)")
sys.exit(0 if same else 1)
PY
