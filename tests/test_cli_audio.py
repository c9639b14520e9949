"""Audio interventions end to end: interface/Qwen2Audio_intervene.py --kind audio as a subprocess on
the tiny Qwen2-Audio checkpoint and the synthetic Animal track, both modes, with --save_audio."""

from __future__ import annotations

import json
import wave

import pytest

from audiofaith.store.jsonl import read_jsonl
from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def test_audio_interventions_in_both_modes(animal_run, synthetic_data, tiny_qwen2_audio, speech_clips):
    output = animal_run["dir"] / "interventions" / "audio_animal.jsonl"
    saved = animal_run["dir"] / "perturbed_audio"
    perturbations = ["noise_snr", "mask", "no_audio", "swap", "inject_wrong"]  # clips from --tts_dir: no espeak-ng
    done = run_cli("interface/Qwen2Audio_intervene.py", "--kind", "audio",
                   "--manifest_file", str(synthetic_data["manifests"]["animal"]),
                   "--input_results_file", str(animal_run["baseline"]), "--output_file", str(output),
                   "--data_root", str(synthetic_data["data_root"]), "--model_path", str(tiny_qwen2_audio),
                   "--perturbations", *perturbations, "--modes", "regenerate", "fixed_cot",
                   "--snr_db", "-10", "--mask_ratios", "0", "--mask_fills", "noise",
                   "--mask_positions", "scattered", "--inject_positions", "append",
                   "--cot_max_new_tokens", "4", "--save_audio", str(saved), "--tts_dir", str(speech_clips))
    assert done.returncode == 0, done.stderr
    lines = read_jsonl(output)
    baseline = {r["id"]: r for r in read_jsonl(animal_run["baseline"])}
    specs = len(perturbations)
    assert len(lines) == len(baseline) * specs * 2
    expected_params = {"noise_snr": {"mode", "snr_db"}, "mask": {"mode", "mask_ratio", "mask_fill", "mask_position"},
                       "no_audio": {"mode"}, "swap": {"mode", "swap_source_id"},
                       "inject_wrong": {"mode", "inject_letter", "inject_position", "inject_level_db"}}
    for line in lines:
        base = baseline[line["id"]]
        assert set(line["param_names"]) == expected_params[line["condition"]]
        assert line["baseline_prediction"] == base["runs_predictions"][0] and line["run"] == 0
        assert line["answer_mode"] == "logits" and set(line["letter_logprobs"]) == set("ABCD")
        if line["mode"] == "regenerate":
            assert isinstance(line["raw"], str) and "cue_prediction" in line and line["error"] is None
            assert line["cot_source_model"] == "qwen2_audio"
            assert line["finish_reason"] in ("stop", "length")  # why the regenerated CoT stopped
        elif not base["runs_reasonings"][0].strip():
            assert line["error"] == "the baseline run has no reasoning to inject"
        else:
            assert line["prediction"] == max(line["letter_logprobs"], key=line["letter_logprobs"].get)
            if line["condition"] == "mask":  # 0 % masked: the clean audio, so the baseline's own read-out
                assert line["letter_logprobs"] == pytest.approx(base["runs_letter_logprobs"][0], abs=1e-3)
        if line["condition"] == "swap":
            source = line["swap_source_id"]
            assert source != line["id"] and source.split("/")[:3] == line["id"].split("/")[:3]  # same subset, hop
        if line["condition"] == "inject_wrong":
            assert line["inject_letter"] != line["answer"] and line["inject_text"].startswith("The answer is ")
        # like with like: regenerate (parsed) vs the parsed baseline letter, fixed_cot (letter
        # read-out) vs the baseline's letter read-out
        reference = "baseline_prediction" if line["mode"] == "regenerate" else "baseline_cue_prediction"
        assert line["reference_field"] == reference
        expected_agree = None if None in (line["prediction"], line[reference]) else line["prediction"] == line[reference]
        assert line["agrees"] == expected_agree
    # no_audio answered without audio: different numbers from the same CoT with audio
    fixed = {(l["id"], l["condition"]): l for l in lines if l["mode"] == "fixed_cot" and not l["error"]}
    for (item_id, condition), line in fixed.items():
        if condition == "no_audio":
            assert line["letter_logprobs"] != pytest.approx(fixed[(item_id, "mask")]["letter_logprobs"], abs=1e-4)
    meta = json.loads(output.with_name(output.name + ".meta.json").read_text())
    assert meta["fingerprint"]["kind"] == "audio"
    assert meta["fingerprint"]["kind_options"]["snr_db"] == [-10.0]
    # --save_audio: what the model heard, with measured properties
    manifest = read_jsonl(saved / "manifest.jsonl")
    assert len(manifest) == len(baseline) * (specs - 1)  # every clip once, both modes share it; no_audio has none
    for entry in manifest:
        with wave.open(str(saved / entry["path"])) as handle:
            assert handle.getframerate() == 16000 and handle.getsampwidth() == 2
            assert handle.getnframes() == entry["samples"] and entry["samples"] <= 30 * 16000
        if entry["condition"] == "noise_snr":
            assert entry["measured"]["snr_db"] == pytest.approx(entry["params"]["snr_db"], abs=0.1)
        if entry["condition"] == "mask":
            assert entry["measured"]["masked_samples"] == 0


def test_missing_speech_synthesis_is_refused_before_the_model_loads(synthetic_data, animal_run, tmp_path):
    """--tts_dir that is not a directory: a clear error, and no model load was attempted."""
    from tests.conftest import run_cli

    done = run_cli("interface/Qwen2Audio_intervene.py", "--kind", "audio", "--perturbations", "inject_correct",
                   "--tts_dir", str(tmp_path / "no-such-dir"),
                   "--manifest_file", str(synthetic_data["manifests"]["animal"]),
                   "--input_results_file", str(animal_run["baseline"]), "--output_file", str(tmp_path / "o.jsonl"),
                   "--data_root", str(synthetic_data["data_root"]), "--model_path", str(tmp_path / "no-model"))
    assert done.returncode == 2
    assert "--tts_dir" in done.stderr and "not a directory" in done.stderr and "Traceback" not in done.stderr
