#!/usr/bin/env bash
# Train the lossy networks of the zoo (omnicodec/zoo.py LOSSY_NETWORKS), one after another.
# Resumable: run it again and every run continues from its last checkpoint (or is skipped
# when finished). A second call with more --steps continues a run with a second, shorter
# cosine cycle of the learning rate (what the shipped networks had).
#   bash scripts/train_lossy.sh [RUNS_DIR]      (default ~/.cache/omnicodec/runs)
# Then export each run:  python -m omnicodec.train --run RUNS_DIR/NAME --export omnicodec/weights/FILE.pt
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
train lossy-d1-l2 1 2 1200
train lossy-d2-l2 2 2 2400
