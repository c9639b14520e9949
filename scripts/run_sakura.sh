#!/usr/bin/env bash
# One model over the four SAKURA tracks: scripts/run_benchmark.sh sakura MODEL [STAGE ...]. See --help.
# The model: MODEL [STAGE ...], --model MODEL [STAGE ...], or MODEL=... in the environment.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
usage() {
    echo "usage: scripts/run_sakura.sh MODEL [STAGE ...]"
    echo "       scripts/run_sakura.sh --model MODEL [STAGE ...]"
    echo "       MODEL=MODEL scripts/run_sakura.sh [STAGE ...]"
    echo "the SAKURA shortcut of: scripts/run_benchmark.sh sakura MODEL [STAGE ...]  (TRACKS = SUBSETS)"
    bash "$HERE/run_benchmark.sh" --help | tail -n +2
}
if [[ $# -lt 1 && -z "${MODEL:-}" ]]; then
    usage >&2
    exit 2
fi
if [[ $# -ge 1 && ( "$1" == "-h" || "$1" == "--help" ) ]]; then
    usage
    exit 0
fi
RUN_BENCHMARK_NAME=run_sakura.sh exec bash "$HERE/run_benchmark.sh" sakura "$@"
