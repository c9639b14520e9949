"""The model recipe holds: a throwaway model registered by one spec (tests/backends/toy_model.py:
backend, spec, tiny builder) appears in every list derived from the registry and runs the baseline
and the conditioned step through the generic script path, with no other file edited. Tiny random
weights: only the code path is checked, never the model's answers."""

from __future__ import annotations

import json

import pytest

from audiofaith.checkpoints import tiny
from audiofaith.backends import MODELS, backend_class, get_spec, model_keys, models_main, models_markdown
from audiofaith.store.jsonl import read_jsonl
from audiofaith.cli.model_scripts import run_script, write_missing_scripts
from tests.backends.toy_model import TOY_SPEC, ToyAudioBackend

KEY = "toy_audio"


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(MODELS, KEY, TOY_SPEC)


def test_a_registered_model_appears_in_every_derived_list(toy_registered, capsys):
    assert get_spec(KEY) is TOY_SPEC and backend_class(KEY) is ToyAudioBackend
    assert KEY in model_keys("hf") and KEY not in model_keys("salmonn")
    assert KEY in tiny.builders()
    assert "| `toy_audio` | Toy Audio 7B | `example/toy-audio-7b` | `ToyAudio_{wrapper,conditioned,intervene}.py` |" \
        in models_markdown()
    assert models_main(["--script_prefix", KEY]) == 0 and capsys.readouterr().out == "ToyAudio\n"
    assert models_main([]) == 0 and any(line.startswith(f"{KEY} ") for line in capsys.readouterr().out.splitlines())
    with pytest.raises(SystemExit):  # --arch accepts it (then stops at the missing --out)
        tiny.main(["--arch", KEY])
    assert "the following arguments are required: --out" in capsys.readouterr().err


def test_a_registered_model_runs_through_the_generic_scripts(toy_registered, synthetic_data, tmp_path):
    checkpoint = tiny.build(KEY, tmp_path / "tiny")
    assert (checkpoint / tiny.MARKER).is_file()
    interface = tmp_path / "interface"
    interface.mkdir()
    scripts = {path.name: path for path in write_missing_scripts(interface)}
    assert set(TOY_SPEC.scripts) <= set(scripts)
    manifest, data_root = str(synthetic_data["manifests"]["animal"]), str(synthetic_data["data_root"])
    baseline, conditioned = tmp_path / "out" / "baseline_animal.jsonl", tmp_path / "out" / "conditioned_animal.jsonl"
    common = ["--data_root", data_root, "--model_path", str(checkpoint), "--limit", "2", "--device", "cpu"]
    assert run_script(scripts["ToyAudio_wrapper.py"], ["--input", manifest, "--output", str(baseline),
                                                       "--max_new_tokens", "8", *common]) == 0
    assert run_script(scripts["ToyAudio_conditioned.py"], ["--manifest_file", manifest, "--input_results_file",
                                                           str(baseline), "--output_conditioned_file", str(conditioned),
                                                           *common]) == 0
    records = read_jsonl(baseline)
    assert len(records) == 2 and all(r["model"] == KEY and r["error"] is None for r in records)
    assert all(set(r["runs_letter_logprobs"][0]) >= {"A", "B"} for r in records)
    lines = read_jsonl(conditioned)
    assert sorted(l["id"] for l in lines) == sorted(r["id"] for r in records)
    assert all(l["model"] == KEY and l["condition"] == "full" and l["error"] is None for l in lines)
    meta = json.loads((baseline.parent / (baseline.name + ".meta.json")).read_text())
    assert meta["fingerprint"]["model_key"] == KEY and meta["sessions"][-1]["backend"]["tiny_random_weights"] is True
