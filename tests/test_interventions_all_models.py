"""Every intervention family (text and audio, both audio modes) runs on every Hugging Face
backend's tiny random-weight checkpoint: variants built by the family, answered by the shared
loop, one line per variant. In-process, one loaded model per architecture, so it stays fast;
the families' own behaviour is tested in detail elsewhere (tests/interventions/, test_*_cli.py)."""

from __future__ import annotations

import pytest

from audiofaith.backends import get_profile, load_backend, model_keys
from audiofaith.cli.main import intervene_parser
from audiofaith.interventions import KINDS, InterventionContext, family
from audiofaith.store.jsonl import read_jsonl
from audiofaith.store.manifest import load_manifest
from audiofaith.store.records import BaselineRecord
from audiofaith.runners.variants import VariantConfig, run_variants

pytestmark = pytest.mark.slow

# Small settings so each family runs a few variants per item.
KIND_ARGS = {
    "audio": ["--snr_db", "0", "--mask_ratios", "0.5", "--modes", "regenerate", "fixed_cot", "--perturbations",
              "silence", "noise_snr", "mask", "swap", "no_audio", "inject_correct"],  # + --tts_dir: no espeak-ng
    "partial_filler": ["--percents", "50"],
    "filler": ["--filler_fractions", "1.0"],
    "adding_mistakes": ["--rewriter_max_new_tokens", "6"],
    "paraphrasing": ["--rewriter_max_new_tokens", "6"],
}


def tiny_trace_budget(model_key):
    """A thinking model's trace budget, kept small: random weights rarely close a trace, so the
    default budget would generate thousands of tokens per regenerated or continued CoT."""
    import argparse

    from audiofaith.backends import backend_class

    parser = argparse.ArgumentParser()
    backend_class(model_key).add_arguments(parser)
    declared = {option for action in parser._actions for option in action.option_strings}
    return {"max_thinking_tokens": 6} if "--max_thinking_tokens" in declared else {}


def baseline(items, model_key):
    reasoning = "The call is short and sharp. It repeats twice. So the answer is (A)."
    return [BaselineRecord(id=item.id, model=model_key, prompt_mode="cot", answer=item.answer, subset=item.subset,
                           hop=item.hop, runs_reasonings=[reasoning], runs_raw=[reasoning], runs_predictions=["A"],
                           runs_correct=[item.answer == "A"]) for item in items]


@pytest.mark.parametrize("model_key", model_keys("hf"))
def test_every_family_runs_on_every_hf_backend(model_key, request, synthetic_data, speech_clips, tmp_path):
    checkpoint = request.getfixturevalue(f"tiny_{model_key}")
    backend = load_backend(model_key, str(checkpoint), device="cpu", **tiny_trace_budget(model_key))
    profile = get_profile(model_key)
    manifest = load_manifest(synthetic_data["manifests"]["animal"])
    items = manifest[:2]
    results = baseline(items, model_key)
    for kind in sorted(KINDS):
        args = intervene_parser(model_key, kind=kind).parse_args(
            ["--kind", kind, "--manifest_file", "m", "--input_results_file", "b", "--output_file", "o",
             *KIND_ARGS.get(kind, []), *(["--tts_dir", str(speech_clips)] if kind == "audio" else [])])
        options = {name: getattr(args, name) for name in getattr(args, "kind_option_names", [])}
        context = InterventionContext(items=items, results=results, profile=profile, options=options,
                                      backend=backend, model_key=model_key, manifest=manifest)
        variants = family(kind).build_variants(context)
        out = tmp_path / f"{kind}.jsonl"
        run_variants(backend, variants, synthetic_data["data_root"], out,
                     VariantConfig(model_key=model_key, batch_size=8, cot_max_new_tokens=6), profile)
        lines = read_jsonl(out)
        assert len(lines) == len(variants) > 0, kind
        answered = [line for line in lines if line["error"] is None]
        assert answered, f"{model_key} {kind}: every line is an error: {lines[0]['error']}"
        assert set(family(kind).CONDITIONS) >= {line["condition"] for line in lines}
        if kind == "audio":
            assert {line["mode"] for line in answered} == {"regenerate", "fixed_cot"}
            assert {line["condition"] for line in answered} == set(KIND_ARGS["audio"][KIND_ARGS["audio"].index("--perturbations") + 1:])
        for line in answered:  # every path ends in a letter read-out; regenerated CoTs are parsed (may be null)
            assert set(line["letter_logprobs"]) == set(items[0].letters), (kind, line)
            assert line["prediction"] is None or line["prediction"] in items[0].letters
