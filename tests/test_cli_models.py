"""The Qwen2.5-Omni and Audio Flamingo 3 scripts, and scripts/run_sakura.sh, run as subprocesses on
the tiny checkpoints and the synthetic SAKURA data.

The model scripts run with the seed README's command line (relative paths, the default
checkpoint id) from a working directory laid out like the repository, with the tiny checkpoints
placed in a Hugging Face cache under the real hub ids (offline), so the hub-id path, including
AF3 thinking mode's ``think`` subfolder of the hub repository, is what loads. Only
``--max_new_tokens`` is added, to keep CPU time down."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from audiofaith.backends import MODELS, get_spec, model_keys
from audiofaith.store.jsonl import read_jsonl
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.slow

# The seed commands on hub ids; qwen2_audio's run in conftest's animal_run (a local --model_path).
SEED_KEYS = ("qwen_omni", "af3", "af3_think")
SNAPSHOT = "0123456789abcdef0123456789abcdef01234567"


def _hub_cache(home: Path, repo_id: str, checkpoint: Path) -> None:
    """Place ``checkpoint`` in the cache layout huggingface_hub reads offline."""
    repo = home / "hub" / ("models--" + repo_id.replace("/", "--"))
    shutil.copytree(checkpoint, repo / "snapshots" / SNAPSHOT)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(SNAPSHOT)


@pytest.fixture(scope="module")
def workdir(synthetic_data, tiny_qwen_omni, tiny_af3_think, tmp_path_factory):
    """A directory laid out like a checkout (interface/, processed_input/, data/) and an HF_HOME."""
    root = tmp_path_factory.mktemp("work")
    (root / "interface").symlink_to(REPO / "interface")
    (root / "processed_input").symlink_to(synthetic_data["root"] / "processed_input")
    (root / "data").symlink_to(synthetic_data["data_root"])
    home = tmp_path_factory.mktemp("hf_home")
    _hub_cache(home, get_spec("qwen_omni").default_checkpoint, tiny_qwen_omni)
    assert get_spec("af3").default_checkpoint == get_spec("af3_think").default_checkpoint
    _hub_cache(home, get_spec("af3").default_checkpoint, tiny_af3_think)  # the real repo holds AF3 and think/
    return {"root": root, "env": dict(os.environ, HF_HOME=str(home), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")}


def _run(workdir, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=workdir["root"], env=workdir["env"], capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("key", [model_keys(environment)[0] for environment in ("hf", "salmonn")])
def test_help_of_every_script_kind(key):
    """Each kind of script answers --help for its model (one model per environment: the scripts are all the
    same file, tests/backends/test_registry.py checks that, and which model each name picks)."""
    spec = get_spec(key)
    for name in spec.scripts:
        done = run_cli(f"interface/{name}", "--help")
        assert done.returncode == 0 and done.stdout.startswith(f"usage: {name}"), (name, done.stderr)
        assert spec.display_name in done.stdout, name


@pytest.mark.parametrize("key", SEED_KEYS)
def test_seed_commands_end_to_end(workdir, synthetic_data, key):
    name, prefix = "animal", get_spec(key).script_prefix
    manifest = f"processed_input/sakura/{name}/sakura_manifest.jsonl"
    baseline = f"output/sakura/{key}/{name}/baseline_{name}.jsonl"
    conditioned = f"output/sakura/{key}/{name}/conditioned_{name}.jsonl"
    done = _run(workdir, f"interface/{prefix}_wrapper.py", "--input", manifest, "--output", baseline,
                "--data_root", "data/", "--max_new_tokens", "16")
    assert done.returncode == 0, done.stderr
    done_c = _run(workdir, f"interface/{prefix}_conditioned.py", "--manifest_file", manifest,
                  "--input_results_file", baseline, "--output_conditioned_file", conditioned, "--data_root", "data/")
    assert done_c.returncode == 0, done_c.stderr

    records = read_jsonl(workdir["root"] / baseline)
    gold = {m["id"]: m for m in read_jsonl(synthetic_data["manifests"][name])}
    assert sorted(r["id"] for r in records) == sorted(gold)
    for record in records:
        assert record["model"] == key and record["prompt_mode"] == "cot" and record["error"] is None
        assert set(record["runs_letter_logprobs"][0]) == set("ABCD"[: len(gold[record["id"]]["choices"])])
    long_clip = [r for r in records if r["audio_seconds"] >= 30.0 or r["warnings"]]
    assert len(long_clip) == 2  # the synthetic 31 s clip, asked about in both hops
    for record in long_clip:
        if key == "qwen_omni":  # the tiny extractor's window is 30 s: cut by the runner, recorded
            assert record["audio_seconds"] == 30.0 and "truncated to qwen_omni's 30 s window" in record["warnings"][0]
        else:  # AF3 takes up to 600 s in 30 s windows: nothing cut
            assert record["audio_seconds"] == 31.0 and record["warnings"] == []

    meta = json.loads((workdir["root"] / (baseline + ".meta.json")).read_text())
    backend = meta["sessions"][-1]["backend"]
    assert meta["fingerprint"]["checkpoint"] == get_spec(key).default_checkpoint and backend["revision"] == SNAPSHOT
    assert backend["model_class"] == {"qwen_omni": "Qwen2_5OmniThinkerForConditionalGeneration"}.get(
        key, "AudioFlamingo3ForConditionalGeneration")
    if key == "af3_think":
        assert backend["think"]["hub_subfolder"] == "nvidia/audio-flamingo-3-hf:think/"
        assert backend["think"]["adapter"].endswith(f"snapshots/{SNAPSHOT}/think")
        assert backend["think"]["non_lora_tensors"] == 7 and backend["think"]["merged"] is True
        assert meta["fingerprint"]["prompt_profile"]["cot_suffix"].startswith("Please think and reason")
    if key == "qwen_omni":
        assert meta["fingerprint"]["prompt_profile"]["system_prompt"].startswith("You are Qwen, a virtual human")

    lines = read_jsonl(workdir["root"] / conditioned)
    assert sorted(l["id"] for l in lines) == sorted(gold)
    by_id = {r["id"]: r for r in records}
    for line in lines:
        assert line["condition"] == "full" and line["baseline_prediction"] == by_id[line["id"]]["runs_predictions"][0]
        if by_id[line["id"]]["runs_reasonings"][0].strip():
            assert line["prediction"] == max(line["letter_logprobs"], key=line["letter_logprobs"].get)


def test_run_benchmark_reads_the_model_from_the_registry(synthetic_data, tmp_path):
    """Every way to name the model (positional, --model, MODEL=) reaches the registry's key; the help lists
    every registered model with its script prefix."""
    help_text = subprocess.run(["bash", str(REPO / "scripts" / "run_benchmark.sh"), "--help"], capture_output=True,
                               text=True).stdout
    for spec in MODELS.values():
        assert re.search(rf"^  {spec.key} .* interface/{spec.script_prefix}_\*\.py ", help_text, flags=re.M), spec.key
    manifests = synthetic_data["root"] / "processed_input" / "sakura"
    env = dict(os.environ, MANIFEST_DIR=str(manifests), OUTPUT_DIR=str(tmp_path), TRACKS="gender",
               PYTHON=sys.executable)
    env.pop("MODEL", None)
    script = str(REPO / "scripts" / "run_sakura.sh")
    for args, extra_env in ((["af3", "prepare"], {}), (["--model", "af3", "prepare"], {}), (["prepare"], {"MODEL": "af3"}),
                            (["--model=af3", "prepare"], {"MODEL": "qwen_omni"})):  # the flag wins over MODEL=
        done = subprocess.run(["bash", script, *args], env={**env, **extra_env}, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, (args, done.stderr)
        assert "== af3 / sakura / gender ==" in done.stderr and "exists; prepare skipped" in done.stderr, args


def test_run_sakura_help_and_bad_arguments():
    script = str(REPO / "scripts" / "run_sakura.sh")
    done = subprocess.run(["bash", script, "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "usage: scripts/run_sakura.sh MODEL [STAGE ...]" in done.stdout
    assert "MODEL_PATH" in done.stdout and "EXTRA_ARGS" in done.stdout
    for args, message in ((["nope"], "unknown model 'nope'; known: af3, af3_think"), (["af3", "bake"], "unknown stage 'bake'"),
                          ([], "usage:"), (["--model"], "--model needs a model key")):
        done = subprocess.run(["bash", script, *args], capture_output=True, text=True,
                              env={k: v for k, v in os.environ.items() if k != "MODEL"})
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)


def test_run_sakura_loop_prepares_runs_and_conditions(synthetic_data, tiny_qwen2_audio, tmp_path):
    env = dict(os.environ, MODEL_PATH=str(tiny_qwen2_audio), BATCH_SIZE="4", DATA_ROOT=str(synthetic_data["data_root"]),
               MANIFEST_DIR=str(tmp_path / "manifests"), OUTPUT_DIR=str(tmp_path / "output" / "sakura"),
               TRACKS="gender", PYTHON=sys.executable, BASELINE_ARGS="--max_new_tokens 12",
               CONDITIONED_ARGS="--answer_mode logits", EXTRA_ARGS="--workers 1")
    script = str(REPO / "scripts" / "run_sakura.sh")
    done = subprocess.run(["bash", script, "qwen2_audio"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert "prepare_sakura.py" in done.stderr and "--max_new_tokens 12" in done.stderr
    manifest = tmp_path / "manifests" / "gender" / "sakura_manifest.jsonl"
    out = tmp_path / "output" / "sakura" / "qwen2_audio" / "gender"
    ids = sorted(m["id"] for m in read_jsonl(manifest))
    assert sorted(r["id"] for r in read_jsonl(out / "baseline_gender.jsonl")) == ids
    assert sorted(l["id"] for l in read_jsonl(out / "conditioned_gender.jsonl")) == ids
    assert json.loads((out / "baseline_gender.jsonl.meta.json").read_text())["fingerprint"]["generation"][
        "max_new_tokens"] == 12
    again = subprocess.run(["bash", script, "qwen2_audio", "prepare"], cwd=tmp_path, env=env, capture_output=True,
                           text=True)
    assert again.returncode == 0 and "exists; prepare skipped" in again.stderr
