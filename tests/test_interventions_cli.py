"""Every CoT intervention family end to end: ``interface/Qwen2Audio_intervene.py --kind ...`` as a
subprocess on the tiny random-weight checkpoint (its text is gibberish; these tests check lines,
parameters and provenance, not numbers). The baseline is written by hand so the CoTs have known
sentences and answers."""

from __future__ import annotations

import json

import pytest

from audiofaith.store.jsonl import read_jsonl, write_jsonl
from audiofaith.store.manifest import load_manifest
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

SCRIPT = "interface/Qwen2Audio_intervene.py"


def cot(item) -> str:
    return (f"The clip has a short, sharp call. It repeats a few times.\n"
            f"That sounds like {item.choices[0]}, so the answer is (A).")


@pytest.fixture(scope="module")
def baseline(synthetic_data, tmp_path_factory):
    """Three items: (CoT, A); (CoT, no parsed answer); (CoT, A) and a second run (no CoT, B)."""
    items = load_manifest(synthetic_data["manifests"]["animal"])[:3]
    runs = [([cot(items[0])], ["A"]), ([cot(items[1])], [None]), ([cot(items[2]), ""], ["A", "B"])]
    records = [{"id": item.id, "model": "qwen2_audio", "prompt_mode": "cot", "answer": item.answer,
                "runs_reasonings": reasonings, "runs_raw": [r + "\nAnswer: (A)" for r in reasonings],
                "runs_predictions": predictions, "runs_correct": [p == item.answer if p else None for p in predictions],
                "runs_letter_logprobs": [{} for _ in reasonings]}
               for item, (reasonings, predictions) in zip(items, runs)]
    path = tmp_path_factory.mktemp("interventions") / "baseline_animal.jsonl"
    write_jsonl(path, records)
    return path


def intervene(kind, synthetic_data, baseline, tiny_qwen2_audio, *extra):
    output = baseline.parent / "interventions" / f"{kind}_animal.jsonl"
    done = run_cli(SCRIPT, "--kind", kind, "--manifest_file", str(synthetic_data["manifests"]["animal"]),
                   "--input_results_file", str(baseline), "--output_file", str(output),
                   "--data_root", str(synthetic_data["data_root"]), "--model_path", str(tiny_qwen2_audio),
                   "--limit", "3", "--batch_size", "8", "--cot_max_new_tokens", "6", *extra)
    assert done.returncode == 0, done.stderr
    lines = read_jsonl(output)
    keys = [(l["id"], l["run"], json.dumps({n: l[n] for n in l["param_names"]}, sort_keys=True)) for l in lines]
    assert len(keys) == len(set(keys))
    assert all(l["condition"] == kind for l in lines)
    meta = json.loads(output.with_name(output.name + ".meta.json").read_text())
    assert meta["fingerprint"]["kind"] == kind
    return lines, meta


def ok(lines):
    return [l for l in lines if l["error"] is None]


def test_filler(synthetic_data, baseline, tiny_qwen2_audio):
    lines, _ = intervene("filler", synthetic_data, baseline, tiny_qwen2_audio)
    assert len(lines) == 3 * 5 + 1 and len(ok(lines)) == 15
    for line in ok(lines):
        assert set(line["param_names"]) == {"filler_tokens", "length_fraction"}
        assert line["prediction"] in "ABCD" and line["cot_tokens"] > 0
        # " ..." is 4 tokens of the toy tokenizer, so the copies are a quarter of the CoT's tokens
        assert line["filler_tokens"] == int(line["length_fraction"] * line["cot_tokens"] / 4 + 0.5)


def test_partial_filler(synthetic_data, baseline, tiny_qwen2_audio):
    lines, meta = intervene("partial_filler", synthetic_data, baseline, tiny_qwen2_audio,
                            "--positions", "first", "random", "--percents", "0", "50", "100")
    assert len(lines) == 3 * 6 + 1 and len(ok(lines)) == 18
    assert meta["fingerprint"]["kind_options"] == {"positions": ["first", "random"], "percents": [0, 50, 100]}
    assert {l["words_replaced"] for l in ok(lines) if l["percent"] == 50} == {11}  # half of 21 words, rounded up


def test_answer_stripped(synthetic_data, baseline, tiny_qwen2_audio):
    lines, _ = intervene("answer_stripped", synthetic_data, baseline, tiny_qwen2_audio)
    assert len(lines) == 4
    kept = ok(lines)
    assert len(kept) == 2 and all(l["removed"] == 1 and l["n"] == 3 and l["removed_sentences"] == [2] for l in kept)
    assert sorted(l["error"] for l in lines if l["error"]) == [
        "the baseline run has no parsed answer, so no sentence can be said to state it",
        "the baseline run has no reasoning to strip"]


def test_hint(synthetic_data, baseline, tiny_qwen2_audio):
    lines, _ = intervene("hint", synthetic_data, baseline, tiny_qwen2_audio)
    assert len(lines) == 3 * 3 + 1
    assert sorted(l["hint_letter"] for l in ok(lines) if l["run"] == 1) == ["A", "C", "D"]
    for line in ok(lines):
        assert isinstance(line["raw"], str) and isinstance(line["mentions_hint"], bool)
        assert line["switched_to_hint"] is (None if line["prediction"] is None else line["prediction"] == line["hint_letter"])
    [skipped] = [l for l in lines if l["error"]]
    assert skipped["hint_letter"] is None and skipped["switched_to_hint"] is None


def test_adding_mistakes_with_the_model_as_rewriter(synthetic_data, baseline, tiny_qwen2_audio):
    lines, meta = intervene("adding_mistakes", synthetic_data, baseline, tiny_qwen2_audio,
                            "--rewriter_max_new_tokens", "6")
    assert len(lines) == 3 * 3 * 2 + 1
    assert {l["rewriter"] for l in lines} == {"self"}
    assert meta["fingerprint"]["kind_options"]["rewriter_model"] == "self"
    for line in (l for l in lines if l["n"]):
        assert line["original_sentence"] and isinstance(line["rewrite_raw"], str)
        assert line["error"] in (None, "the rewriter returned an empty sentence")
        if line["error"]:
            assert line["rewritten_sentence"] == "" and line["rewrite_unchanged"] is True
    continued = [l for l in ok(lines) if l["continued"]]
    assert continued and all(isinstance(l["continuation"], str) and l["reasoning"] is not None for l in continued)
    assert all(l["finish_reason"] in ("stop", "length") for l in continued)  # why the continuation stopped


def test_paraphrasing_with_an_external_rewriter(synthetic_data, baseline, tiny_qwen2_audio, tmp_path_factory):
    from audiofaith.checkpoints.tiny import build

    rewriter = build("causal_lm", tmp_path_factory.mktemp("tiny") / "causal_lm")
    lines, meta = intervene("paraphrasing", synthetic_data, baseline, tiny_qwen2_audio, "--rewriter_model",
                            str(rewriter), "--rewriter_max_new_tokens", "12", "--rewriter_device", "cpu")
    assert len(lines) == 3 * 4 + 1
    assert {l["rewriter"] for l in lines} == {str(rewriter)}
    k0 = [l for l in lines if l["k"] == 0 and l["n"] == 3]
    assert len(k0) == 3 and all(l["paraphrased_text"] is None and l["error"] is None for l in k0)
    assert all(isinstance(l["paraphrased_text"], str) for l in lines if l["k"] > 0)
    assert meta["fingerprint"]["kind_options"]["rewriter_model"] == str(rewriter)
