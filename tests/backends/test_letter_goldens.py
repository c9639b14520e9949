"""Each tiny random-weight checkpoint's letter log-probabilities on one fixed input are pinned in
tests/golden/letter_logprobs/<model>.json: a change to a builder, a processor call, the chat
template, the audio features or the read-out position shows up here as a number, not only as a
shape. The values mean nothing about any real model (random weights).

After an intended change, rewrite the goldens (the run fails: "golden rewritten; review the
diff"), review ``git diff tests/golden/letter_logprobs``, then run again without the variable:
    AUDIOFAITH_UPDATE_GOLDENS=1 .venv/bin/python -m pytest tests/backends/test_letter_goldens.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from audiofaith.backends import ModelInput, load_backend, model_keys
from audiofaith.checkpoints.synthetic import synthetic_clip

pytestmark = pytest.mark.slow

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "letter_logprobs"
#: float32 on the CPU: kernels may differ in the last bits across machines, never by this much
TOLERANCE = 2e-4
QUESTION = ("Which animal most likely made the sound in this recording? "
            "(a) dog (b) cat (c) cow (d) crow")
REASONING = "The call is short and sharp. It repeats twice. So the answer is (B)."


def _scores(backend):
    """Letter log-probs of: the clip with a CoT, the clip answered at once (one batch), and the CoT
    without audio (its own batch: some backends take no mixed batches)."""
    clip = synthetic_clip(1.5, seed=7)
    with_audio = [ModelInput(QUESTION, clip, REASONING + "\nAnswer: ("), ModelInput(QUESTION, clip, "Answer: (")]
    without = [ModelInput(QUESTION, None, REASONING + "\nAnswer: (")]
    return (backend.score_letters(with_audio, [list("ABCD")] * 2)
            + backend.score_letters(without, [list("ABCD")]))


def rewrite_if_asked(path: Path, got: list) -> None:
    """With AUDIOFAITH_UPDATE_GOLDENS set: write ``got`` as the golden and fail (never a pass)."""
    if os.environ.get("AUDIOFAITH_UPDATE_GOLDENS"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([{k: round(v, 6) for k, v in row.items()} for row in got], indent=1) + "\n")
        pytest.fail(f"golden rewritten; review the diff: git diff {path}", pytrace=False)


def test_golden_update_fails_after_rewriting(monkeypatch, tmp_path):
    monkeypatch.setenv("AUDIOFAITH_UPDATE_GOLDENS", "1")
    with pytest.raises(pytest.fail.Exception, match="golden rewritten; review the diff"):
        rewrite_if_asked(tmp_path / "m.json", [{"A": -0.25, "B": -1.5}])
    assert json.loads((tmp_path / "m.json").read_text()) == [{"A": -0.25, "B": -1.5}]


@pytest.mark.parametrize("model_key", model_keys("hf"))
def test_letter_logprobs_match_the_golden(model_key, request):
    checkpoint = request.getfixturevalue(f"tiny_{model_key}")
    backend = load_backend(model_key, str(checkpoint), device="cpu", dtype="fp32")
    got = _scores(backend)
    path = GOLDEN / f"{model_key}.json"
    rewrite_if_asked(path, got)
    assert path.is_file(), f"no golden for {model_key}: write it with AUDIOFAITH_UPDATE_GOLDENS=1 (see above)"
    golden = json.loads(path.read_text(encoding="utf-8"))
    assert len(got) == len(golden)
    for index, (row, expected) in enumerate(zip(got, golden)):
        assert set(row) == set(expected), (model_key, index)
        for letter in expected:
            assert row[letter] == pytest.approx(expected[letter], abs=TOLERANCE), (model_key, index, letter, row)
    # the three inputs are told apart (audio and CoT both reach the read-out)
    assert got[0] != got[1] and got[0] != got[2], got


def test_the_golden_check_catches_a_changed_checkpoint(tiny_qwen2_audio, tmp_path):
    """The tolerance is far below what one changed weight does: perturb a single tensor of the tiny
    checkpoint slightly and the log-probs leave the golden's tolerance."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    changed = tmp_path / "changed"
    shutil.copytree(tiny_qwen2_audio, changed)
    weights = changed / "model.safetensors"
    tensors = load_file(str(weights))
    name = next(n for n in sorted(tensors) if "lm_head" in n or "embed_tokens" in n)
    tensors[name] = tensors[name] + 0.01 * torch.randn(tensors[name].shape, generator=torch.Generator().manual_seed(0))
    save_file(tensors, str(weights), metadata={"format": "pt"})
    backend = load_backend("qwen2_audio", str(changed), device="cpu", dtype="fp32")
    got = _scores(backend)
    golden = json.loads((GOLDEN / "qwen2_audio.json").read_text(encoding="utf-8"))
    assert max(abs(row[k] - expected[k]) for row, expected in zip(got, golden) for k in expected) > 10 * TOLERANCE
