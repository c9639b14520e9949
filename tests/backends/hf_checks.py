"""Checks every Hugging Face backend must pass on its tiny checkpoint, written once and called
from each model's test file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import pytest

from audiofaith.backends import GenerationSettings, ModelInput
from audiofaith.store.jsonl import read_jsonl
from audiofaith.text.prompts import answer_prefix, user_text

#: 32 real SAKURA clips of several classes per track (the end-to-end checks use two Animal items).
MIXED = Path(__file__).resolve().parents[3] / "shared" / "sakura-sample-mixed"
needs_mixed = pytest.mark.skipif(not (MIXED / "data").is_dir(), reason=f"{MIXED} is absent")

LETTERS = [["A", "B"], ["A", "B", "C", "D"], ["A", "B"]]


def sample_inputs(long_seconds: float = 5.5) -> List[ModelInput]:
    """Three clips of different lengths (so left padding matters), two with an assistant prefix."""
    rng = np.random.default_rng(0)
    clip = lambda seconds: (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32)  # noqa: E731
    return [
        ModelInput("Which animal is it?\n(A) dog\n(B) cat", clip(3.0)),
        ModelInput("Which animal is it?\n(A) dog\n(B) cat\n(C) cow\n(D) crow", clip(long_seconds), "It barks.\n\nAnswer: ("),
        ModelInput("Is the speaker male or female?\n(A) Male\n(B) Female", clip(1.2), "Answer: ("),
    ]


def check_batched_generation_equals_one_at_a_time(backend, inputs: Sequence[ModelInput]) -> None:
    settings = GenerationSettings(max_new_tokens=10)
    batched = backend.generate(list(inputs), settings)
    single = [backend.generate([inp], settings)[0] for inp in inputs]
    assert batched == single
    assert all(len(texts) == 1 and texts[0] for texts in batched)


def check_batched_scores_equal_one_at_a_time(backend, inputs: Sequence[ModelInput]) -> None:
    batched = backend.score_letters(list(inputs), LETTERS)
    single = [backend.score_letters([inp], [row])[0] for inp, row in zip(inputs, LETTERS)]
    for b, s, row in zip(batched, single, LETTERS):
        assert list(b) == row
        for letter in row:
            assert b[letter] == pytest.approx(s[letter], abs=1e-4)
            assert b[letter] < 0


def reference_batch(backend, inp: ModelInput):
    """One input's processor output built without the backend's conversation/render/encode: the
    messages written out here, rendered by the chat template published with the checkpoint
    (tests/fixtures/chat_templates), the assistant prefix appended, then the processor itself."""
    from tests.test_prompts import PUBLISHED_TEMPLATE_OF, published_template

    messages = []
    if backend.profile.system_prompt is not None:
        messages.append({"role": "system", "content": [{"type": "text", "text": backend.profile.system_prompt}]})
    clip = np.asarray(inp.audio, dtype=np.float32)
    messages.append({"role": "user", "content": [{"type": "audio", "audio": clip},
                                                 {"type": "text", "text": inp.user_text}]})
    # a model without a published template among the fixtures (the reasoning-era models: docs/models.md
    # says which templates are our renditions) is rendered by its checkpoint's own template
    template = published_template(backend.key) if backend.key in PUBLISHED_TEMPLATE_OF else None
    options = backend.chat_template_kwargs() if hasattr(backend, "chat_template_kwargs") else {}
    text = backend.processor.apply_chat_template(messages, chat_template=template, add_generation_prompt=True,
                                                 tokenize=False, **options) + inp.assistant_prefix
    batch = backend.processor(text=[text], audio=[clip], sampling_rate=16000, return_tensors="pt")
    return {name: value.to(backend.model.dtype) if value.is_floating_point() else value
            for name, value in batch.items()}


def check_scores_are_generate_first_step(backend, inputs: Sequence[ModelInput]) -> None:
    """score_letters (one batch, left-padded) == the log-softmax of the model's next-token logits
    at the letters' token ids, for each input on its own through reference_batch (the backend's
    encode() is not used); greedy one-token generation restricted to the options picks the scored
    argmax."""
    import torch

    scores = backend.score_letters(list(inputs), LETTERS)
    for inp, row_scores, row_letters in zip(inputs, scores, LETTERS):
        batch = reference_batch(backend, inp)
        with torch.inference_mode():
            out = backend.model.generate(**batch, max_new_tokens=1, do_sample=False, output_logits=True,
                                         return_dict_in_generate=True)
        logprobs = torch.log_softmax(out.logits[0][0].float(), dim=-1)
        ids = [backend.tokenizer.convert_tokens_to_ids(letter) for letter in row_letters]
        expected = {letter: float(logprobs[i]) for letter, i in zip(row_letters, ids)}
        assert row_scores == pytest.approx(expected, abs=1e-4)
        restricted = max(row_letters, key=lambda letter: expected[letter])
        assert restricted == max(row_scores, key=row_scores.get)


def check_letters_a_to_h_are_single_tokens(backend) -> None:
    """Every option letter A-H is one token after the answer cue (after an injected reasoning)."""
    from tests.test_prompts import ITEM, REASONING

    text = backend.render(ModelInput(user_text(ITEM, "cot", backend.profile), [0.0],
                                     answer_prefix(REASONING, backend.profile)))
    assert len(set(backend.letter_token_ids(text, list("ABCDEFGH")))) == 8


def _two_item_manifest(folder: Path) -> Path:
    from audiofaith.store.manifest import write_manifest
    from audiofaith.benchmarks.sakura import build_track

    items = build_track(MIXED, "animal", MIXED.parent)
    path = folder / "animal.jsonl"
    write_manifest(path, [items[0], items[-1]])  # two classes
    return path


def run_pipeline_through_interface_scripts(prefix: str, checkpoint: Path, folder: Path,
                                           extra: Sequence[str] = ()) -> Dict[str, List[dict]]:
    """Baseline -> conditioned -> early answering of two sakura-sample-mixed Animal items through
    ``interface/<prefix>_{wrapper,conditioned,intervene}.py``; checks every step exits 0, every
    line is answered, and the conditioned step (logits) reproduces the baseline's letter read-out.
    Returns the lines of the three outputs."""
    from tests.conftest import run_cli

    manifest = _two_item_manifest(folder)
    out = folder / "out"
    common = ["--data_root", str(MIXED.parent), "--model_path", str(checkpoint), "--device", "cpu", *extra]
    baseline, conditioned, early = out / "baseline.jsonl", out / "conditioned.jsonl", out / "early.jsonl"
    steps = [
        (f"interface/{prefix}_wrapper.py", "--input", str(manifest), "--output", str(baseline), "--max_new_tokens", "6"),
        (f"interface/{prefix}_conditioned.py", "--manifest_file", str(manifest), "--input_results_file", str(baseline),
         "--output_conditioned_file", str(conditioned)),
        (f"interface/{prefix}_intervene.py", "--kind", "early_answering", "--manifest_file", str(manifest),
         "--input_results_file", str(baseline), "--output_file", str(early)),
    ]
    for step in steps:
        done = run_cli(*step, *common)
        assert done.returncode == 0, (step[0], done.stderr)
    records, lines, early_lines = read_jsonl(baseline), read_jsonl(conditioned), read_jsonl(early)
    assert len(records) == 2 and all(r["error"] is None for r in records)
    assert all(set(r["runs_letter_logprobs"][0]) == {"A", "B", "C", "D"} for r in records)
    assert sorted(line["id"] for line in lines) == sorted(r["id"] for r in records)
    assert all(line["condition"] == "full" and line["error"] is None for line in lines)
    by_id = {r["id"]: r for r in records}
    for line in lines:  # logits mode reproduces the baseline's read-out after the (re-injected) reasoning
        assert line["letter_logprobs"] == pytest.approx(by_id[line["id"]]["runs_letter_logprobs"][0], abs=1e-4)
    assert early_lines and all(line["condition"] == "early_answering" and line["error"] is None
                               for line in early_lines)
    return {"baseline": records, "conditioned": lines, "early_answering": early_lines,
            "meta": [json.loads((out / "baseline.jsonl.meta.json").read_text())]}


def check_protocol_paper_is_refused(prefix: str, folder: Path) -> None:
    """``--protocol paper`` (the published study's prompts) for a model the study did not run: exit 2, one line."""
    from tests.conftest import run_cli

    done = run_cli(f"interface/{prefix}_wrapper.py", "--input", str(folder / "m.jsonl"), "--output",
                   str(folder / "b.jsonl"), "--protocol", "paper", "--model_path", str(folder))
    assert done.returncode == 2, done.stderr
    assert "--protocol paper is defined for" in done.stderr and "Traceback" not in done.stderr
