#!/usr/bin/env bash
# One model over the four SAKURA tracks: prepare (if a manifest is missing) -> baseline -> conditioned.
# Paths are relative to the current directory, as for the Python scripts. See --help.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: scripts/run_sakura.sh MODEL [STAGE ...]

Run one model over the SAKURA tracks, one stage at a time per track:
  prepare      build processed_input/sakura/<track>/sakura_manifest.jsonl with
               scripts/prepare_sakura.py, only where that manifest is missing
  baseline     interface/<Model>_wrapper.py      -> <OUTPUT_DIR>/<MODEL>/<track>/baseline_<track>.jsonl
  conditioned  interface/<Model>_conditioned.py  -> <OUTPUT_DIR>/<MODEL>/<track>/conditioned_<track>.jsonl
Default stages: prepare baseline conditioned. Every stage resumes: rerun the same command after
a crash and finished items are skipped. Paths are relative to the current directory: run it from
the repository root for the defaults below.

MODEL (script prefix): qwen2_audio (Qwen2Audio), qwen_omni (QwenOmni), af3 (AF3), af3_think (AFthink),
  salmonn (SALMONN), salmonn_13b (SALMONN13B; in their own environment: set PYTHON, and EXTRA_ARGS
  for the options SALMONN's scripts need)

Environment variables (all optional):
  MODEL_PATH        checkpoint: hub id or local directory (default: the model's hub checkpoint)
  BATCH_SIZE        items per forward pass (default: the scripts' default, 8)
  DATA_ROOT         folder the manifests' audio paths are relative to (default: data/)
  SAKURA_ROOT       the SAKURA clone, for prepare (default: $DATA_ROOT/SAKURA)
  MANIFEST_DIR      where <track>/sakura_manifest.jsonl live (default: processed_input/sakura)
  OUTPUT_DIR        output root (default: output/sakura)
  TRACKS            tracks to run (default: "animal emotion gender language")
  PYTHON            interpreter (default: the repository's .venv/bin/python if it exists, else python)
  EXTRA_ARGS        extra flags for both baseline and conditioned (e.g. "--device cuda:1 --limit 20")
  BASELINE_ARGS     extra flags for the baseline only (e.g. "--max_new_tokens 1024 --num_runs 5")
  CONDITIONED_ARGS  extra flags for the conditioned step only (e.g. "--answer_mode generate")

Example:
  MODEL_PATH=/models/audio-flamingo-3-hf BATCH_SIZE=32 scripts/run_sakura.sh af3_think baseline conditioned
EOF
}

if [[ $# -lt 1 ]]; then
    usage >&2
    exit 2
fi
if [[ "$1" == "-h" || "$1" == "--help" ]]; then
    usage
    exit 0
fi

MODEL="$1"
shift
case "$MODEL" in
    qwen2_audio) PREFIX=Qwen2Audio ;;
    qwen_omni) PREFIX=QwenOmni ;;
    af3) PREFIX=AF3 ;;
    af3_think) PREFIX=AFthink ;;
    salmonn) PREFIX=SALMONN ;;
    salmonn_13b) PREFIX=SALMONN13B ;;
    *) echo "run_sakura.sh: unknown model '$MODEL' (known: qwen2_audio qwen_omni af3 af3_think salmonn salmonn_13b)" >&2
       exit 2 ;;
esac

STAGES=("$@")
if [[ ${#STAGES[@]} -eq 0 ]]; then
    STAGES=(prepare baseline conditioned)
fi
for stage in "${STAGES[@]}"; do
    case "$stage" in
        prepare | baseline | conditioned) ;;
        *) echo "run_sakura.sh: unknown stage '$stage' (known: prepare baseline conditioned)" >&2; exit 2 ;;
    esac
done

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The project's .venv (what `make demo` / `make setup` create) when it exists, else python from PATH.
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$REPO/.venv/bin/python" ]]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python; fi
fi
DATA_ROOT="${DATA_ROOT:-data/}"
SAKURA_ROOT="${SAKURA_ROOT:-${DATA_ROOT%/}/SAKURA}"
MANIFEST_DIR="${MANIFEST_DIR:-processed_input/sakura}"
OUTPUT_DIR="${OUTPUT_DIR:-output/sakura}"
read -r -a TRACK_LIST <<< "${TRACKS:-animal emotion gender language}"
read -r -a EXTRA <<< "${EXTRA_ARGS:-}"
read -r -a BASELINE_EXTRA <<< "${BASELINE_ARGS:-}"
read -r -a CONDITIONED_EXTRA <<< "${CONDITIONED_ARGS:-}"

COMMON=(--data_root "$DATA_ROOT")
if [[ -n "${MODEL_PATH:-}" ]]; then COMMON+=(--model_path "$MODEL_PATH"); fi
if [[ -n "${BATCH_SIZE:-}" ]]; then COMMON+=(--batch_size "$BATCH_SIZE"); fi

has_stage() {
    local wanted="$1" stage
    for stage in "${STAGES[@]}"; do [[ "$stage" == "$wanted" ]] && return 0; done
    return 1
}

run() {
    echo "+ $*" >&2
    "$@"
}

for name in "${TRACK_LIST[@]}"; do
    manifest="$MANIFEST_DIR/$name/sakura_manifest.jsonl"
    out="$OUTPUT_DIR/$MODEL/$name"
    baseline="$out/baseline_${name}.jsonl"
    conditioned="$out/conditioned_${name}.jsonl"
    echo "== $MODEL / $name ==" >&2
    if has_stage prepare; then
        if [[ -f "$manifest" ]]; then
            echo "manifest $manifest exists; prepare skipped" >&2
        else
            run "$PYTHON" "$REPO/scripts/prepare_sakura.py" --sakura_root "$SAKURA_ROOT" --output_dir "$MANIFEST_DIR" \
                --data_root "$DATA_ROOT" --tracks "$name"
        fi
    fi
    if has_stage baseline; then
        run "$PYTHON" "$REPO/interface/${PREFIX}_wrapper.py" --input "$manifest" --output "$baseline" \
            "${COMMON[@]}" ${EXTRA[@]+"${EXTRA[@]}"} ${BASELINE_EXTRA[@]+"${BASELINE_EXTRA[@]}"}
    fi
    if has_stage conditioned; then
        run "$PYTHON" "$REPO/interface/${PREFIX}_conditioned.py" --manifest_file "$manifest" \
            --input_results_file "$baseline" --output_conditioned_file "$conditioned" \
            "${COMMON[@]}" ${EXTRA[@]+"${EXTRA[@]}"} ${CONDITIONED_EXTRA[@]+"${CONDITIONED_EXTRA[@]}"}
    fi
done
echo "done: $OUTPUT_DIR/$MODEL/" >&2
