#!/usr/bin/env bash
# Train the six lossy rate models of the zoo (lossy-r1 .. lossy-r6), one after another.
# Resumable: run it again and every run continues from its last checkpoint (or is skipped
# when finished). The high-rate models start from the low-rate model of the same depth.
#   bash scripts/train_lossy.sh [RUNS_DIR]      (default ~/.cache/omnicodec/runs)
# Then export each run:  python -m omnicodec.train --run RUNS_DIR/NAME --export omnicodec/weights/NAME.pt
set -euo pipefail
runs=${1:-$HOME/.cache/omnicodec/runs}
data=${OMNICODEC_TRAIN_DATA:-$HOME/.cache/omnicodec/train_blocks.h5}
train() {  # name levels lambda steps [init-run]
  local init=()
  [ -n "${5:-}" ] && init=(--init "$runs/$5/checkpoint.pt")
  python -m omnicodec.train --kind lossy --data "$data" --run "$runs/$1" --levels "$2" \
    --lmbda "$3" --steps "$4" --batch 8 --seed 0 --resume "${init[@]}"
}
train lossy-d3-l2 3 2 1500
train lossy-d2-l2 2 2 1200
train lossy-d3-l10 3 10 600 lossy-d3-l2
train lossy-d1-l2 1 2 1200
train lossy-d2-l8 2 8 600 lossy-d2-l2
train lossy-d1-l8 1 8 600 lossy-d1-l2
