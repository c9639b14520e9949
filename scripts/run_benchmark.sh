#!/usr/bin/env bash
# One model over one benchmark's subsets: prepare (if a manifest is missing) -> baseline -> conditioned.
# Paths are relative to the current directory, as for the Python scripts. See --help.
set -euo pipefail

usage() {
    cat <<'EOF_USAGE'
usage: scripts/run_benchmark.sh BENCH MODEL [STAGE ...]
       scripts/run_benchmark.sh BENCH --model MODEL [STAGE ...]
       MODEL=MODEL scripts/run_benchmark.sh BENCH [STAGE ...]

Run one model over the subsets of one benchmark, one stage at a time per subset:
  prepare      build <MANIFEST_DIR>/<subset>/<BENCH>_manifest.jsonl, only where it is missing
               (sakura: scripts/prepare_sakura.py; mmau, mmar: scripts/prepare_benchmark.py)
  baseline     interface/<Model>_wrapper.py      -> <OUTPUT_DIR>/<MODEL>/<subset>/baseline_<subset>.jsonl
  conditioned  interface/<Model>_conditioned.py  -> <OUTPUT_DIR>/<MODEL>/<subset>/conditioned_<subset>.jsonl
  reference    the conditioned step on the benchmark's reference reasoning (--cot_source reference; MMAR only)
                                                 -> <OUTPUT_DIR>/<MODEL>/<subset>/conditioned_reference_<subset>.jsonl
Default stages: prepare baseline conditioned. Every stage resumes: rerun the same command after
a crash and finished items are skipped. Paths are relative to the current directory: run it from
the repository root for the defaults below.

BENCH: sakura (subsets: animal emotion gender language), mmau (tasks: sound music speech),
  mmar (modalities: sound music speech mix-sound-music mix-sound-speech mix-music-speech
  mix-sound-music-speech)
MODEL: a key of the model registry (audiofaith/backends/__init__.py), listed below with the prefix
  of its scripts and its environment; the models of the salmonn environment run in their own: set PYTHON, and
  EXTRA_ARGS for the options SALMONN's scripts need (docs/salmonn.md)

Environment variables (all optional):
  MODEL_PATH        checkpoint: hub id or local directory (default: the model's hub checkpoint)
  BATCH_SIZE        items per forward pass (default: the scripts' default, 8)
  PROTOCOL          ours (default) or paper: the published study's prompts, lengths and conditioning
                    for qwen2_audio, qwen_omni, af3, af3_think (docs/protocols.md); passed to every stage
  DATA_ROOT         folder the manifests' audio paths are relative to (default: data/)
  SAKURA_ROOT       sakura: the SAKURA clone, for prepare (default: $DATA_ROOT/SAKURA)
  METADATA          mmau / mmar: the metadata file, for prepare (default: $DATA_ROOT/MMAU/mmau-test-mini.json,
                    $DATA_ROOT/MMAR/MMAR-meta.jsonl)
  AUDIO_DIR         mmau / mmar: the audio folder, for prepare (default: $DATA_ROOT/MMAU/test-mini-audios,
                    $DATA_ROOT/MMAR/audio)
  MANIFEST_DIR      where <subset>/<BENCH>_manifest.jsonl live (default: processed_input/<BENCH>)
  OUTPUT_DIR        output root (default: output/<BENCH>)
  SUBSETS           subsets to run (default: all of the benchmark's); TRACKS is read too, for sakura
  PYTHON            interpreter (default: the repository's .venv/bin/python when it exists, else python)
  EXTRA_ARGS        extra flags for baseline and conditioned (e.g. "--device cuda:1 --limit 20")
  BASELINE_ARGS     extra flags for the baseline only (e.g. "--max_new_tokens 1024 --num_runs 5")
  CONDITIONED_ARGS  extra flags for the conditioned and reference steps (e.g. "--answer_mode generate")

Example:
  MODEL_PATH=/models/audio-flamingo-3-hf BATCH_SIZE=32 scripts/run_benchmark.sh mmar af3_think baseline conditioned reference
  PROTOCOL=paper OUTPUT_DIR=output/sakura_paper scripts/run_benchmark.sh sakura qwen_omni
EOF_USAGE
    echo
    echo "Registered models (python -m audiofaith models):"
    models | sed 's/^/  /'
}

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$REPO/.venv/bin/python" ]]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python; fi
fi
models() {  # audiofaith models ARGS..., from this checkout
    PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m audiofaith models "$@"
}

NAME="${RUN_BENCHMARK_NAME:-run_benchmark.sh}"
if [[ $# -ge 1 && ( "$1" == "-h" || "$1" == "--help" ) ]]; then
    usage
    exit 0
fi
is_stage() {
    case "$1" in prepare | baseline | conditioned | reference) return 0 ;; *) return 1 ;; esac
}
# BENCH, then the model (as --model KEY, the first word that is not a stage, or $MODEL), then stages.
POSITIONAL=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --model) if [[ $# -lt 2 ]]; then echo "$NAME: --model needs a model key" >&2; exit 2; fi
                 MODEL="$2"; MODEL_GIVEN=1; shift 2 ;;
        --model=*) MODEL="${1#--model=}"; MODEL_GIVEN=1; shift ;;
        *) POSITIONAL+=("$1"); shift ;;
    esac
done
set -- ${POSITIONAL[@]+"${POSITIONAL[@]}"}
if [[ $# -lt 1 ]]; then
    usage >&2
    exit 2
fi
BENCH="$1"
shift
if [[ -z "${MODEL_GIVEN:-}" && $# -ge 1 ]] && ! is_stage "$1"; then
    MODEL="$1"
    shift
fi
if [[ -z "${MODEL:-}" ]]; then
    usage >&2
    exit 2
fi
DATA_ROOT="${DATA_ROOT:-data/}"
case "$BENCH" in
    sakura) DEFAULT_SUBSETS="animal emotion gender language" ;;
    mmau) DEFAULT_SUBSETS="sound music speech"
          METADATA="${METADATA:-${DATA_ROOT%/}/MMAU/mmau-test-mini.json}"
          AUDIO_DIR="${AUDIO_DIR:-${DATA_ROOT%/}/MMAU/test-mini-audios}" ;;
    mmar) DEFAULT_SUBSETS="sound music speech mix-sound-music mix-sound-speech mix-music-speech mix-sound-music-speech"
          METADATA="${METADATA:-${DATA_ROOT%/}/MMAR/MMAR-meta.jsonl}"
          AUDIO_DIR="${AUDIO_DIR:-${DATA_ROOT%/}/MMAR/audio}" ;;
    *) echo "$NAME: unknown benchmark '$BENCH' (known: sakura mmau mmar)" >&2
       exit 2 ;;
esac
if ! PREFIX="$(models --script_prefix "$MODEL" 2>&1)"; then
    echo "$NAME: ${PREFIX#audiofaith models: }" >&2
    exit 2
fi

STAGES=("$@")
if [[ ${#STAGES[@]} -eq 0 ]]; then
    STAGES=(prepare baseline conditioned)
fi
for stage in "${STAGES[@]}"; do
    if ! is_stage "$stage"; then
        echo "$NAME: unknown stage '$stage' (known: prepare baseline conditioned reference)" >&2
        exit 2
    elif [[ "$stage" == reference && "$BENCH" != mmar ]]; then
        echo "$NAME: stage 'reference' needs a benchmark with reference reasoning (mmar), not $BENCH" >&2
        exit 2
    fi
done

SAKURA_ROOT="${SAKURA_ROOT:-${DATA_ROOT%/}/SAKURA}"
MANIFEST_DIR="${MANIFEST_DIR:-processed_input/$BENCH}"
OUTPUT_DIR="${OUTPUT_DIR:-output/$BENCH}"
read -r -a SUBSET_LIST <<< "${SUBSETS:-${TRACKS:-$DEFAULT_SUBSETS}}"
read -r -a EXTRA <<< "${EXTRA_ARGS:-}"
read -r -a BASELINE_EXTRA <<< "${BASELINE_ARGS:-}"
read -r -a CONDITIONED_EXTRA <<< "${CONDITIONED_ARGS:-}"

COMMON=(--data_root "$DATA_ROOT")
if [[ -n "${MODEL_PATH:-}" ]]; then COMMON+=(--model_path "$MODEL_PATH"); fi
if [[ -n "${BATCH_SIZE:-}" ]]; then COMMON+=(--batch_size "$BATCH_SIZE"); fi
if [[ -n "${PROTOCOL:-}" ]]; then COMMON+=(--protocol "$PROTOCOL"); fi

has_stage() {
    local wanted="$1" stage
    for stage in "${STAGES[@]}"; do [[ "$stage" == "$wanted" ]] && return 0; done
    return 1
}

run() {
    echo "+ $*" >&2
    "$@"
}

conditioned_step() {  # OUTPUT [FLAGS...]
    local output="$1"
    shift
    run "$PYTHON" "$REPO/interface/${PREFIX}_conditioned.py" --manifest_file "$manifest" \
        --input_results_file "$baseline" --output_conditioned_file "$output" "$@" \
        "${COMMON[@]}" ${EXTRA[@]+"${EXTRA[@]}"} ${CONDITIONED_EXTRA[@]+"${CONDITIONED_EXTRA[@]}"}
}

for name in "${SUBSET_LIST[@]}"; do
    manifest="$MANIFEST_DIR/$name/${BENCH}_manifest.jsonl"
    out="$OUTPUT_DIR/$MODEL/$name"
    baseline="$out/baseline_${name}.jsonl"
    echo "== $MODEL / $BENCH / $name ==" >&2
    if has_stage prepare; then
        if [[ -f "$manifest" ]]; then
            echo "manifest $manifest exists; prepare skipped" >&2
        elif [[ "$BENCH" == sakura ]]; then
            run "$PYTHON" "$REPO/scripts/prepare_sakura.py" --sakura_root "$SAKURA_ROOT" --output_dir "$MANIFEST_DIR" \
                --data_root "$DATA_ROOT" --tracks "$name"
        else
            run "$PYTHON" "$REPO/scripts/prepare_benchmark.py" "$BENCH" --metadata "$METADATA" --audio_dir "$AUDIO_DIR" \
                --data_root "$DATA_ROOT" --output_dir "$MANIFEST_DIR" --subsets "$name"
        fi
    fi
    if has_stage baseline; then
        run "$PYTHON" "$REPO/interface/${PREFIX}_wrapper.py" --input "$manifest" --output "$baseline" \
            "${COMMON[@]}" ${EXTRA[@]+"${EXTRA[@]}"} ${BASELINE_EXTRA[@]+"${BASELINE_EXTRA[@]}"}
    fi
    if has_stage conditioned; then
        conditioned_step "$out/conditioned_${name}.jsonl"
    fi
    if has_stage reference; then
        conditioned_step "$out/conditioned_reference_${name}.jsonl" --cot_source reference
    fi
done
echo "done: $OUTPUT_DIR/$MODEL/" >&2
