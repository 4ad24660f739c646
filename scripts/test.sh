#!/usr/bin/env bash
# Set up (idempotent), then run the test suite. Extra arguments go to pytest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$here/scripts/bootstrap.sh"
venv="${OMNICODEC_VENV:-$here/.venv}"
cd "$here"
exec "$venv/bin/python" -m pytest -q tests "$@"
