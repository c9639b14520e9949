"""AF3 thinking mode on the tiny checkpoint: the think/ LoRA adapter and the old-layout
non_lora_trainables.bin are loaded, checked and merged; broken files fail loudly."""

from __future__ import annotations

import shutil

import pytest

from audiofaith.backends import GenerationSettings, ModelInput, load_backend
from audiofaith.backends.af3_think import NON_LORA_FILE, ThinkWeightsError, map_non_lora_key, remap_non_lora_state
from audiofaith.text.prompts import AF3_THINK_SUFFIX, answer_prefix, user_text
from audiofaith.checkpoints.tiny import TINY_NON_LORA_NAMES
from tests.backends import hf_checks
from tests.test_prompts import ITEM, REASONING, check_published_golden

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def think(tiny_af3_think):
    return load_backend("af3_think", str(tiny_af3_think), device="cpu", dtype="fp32")


@pytest.fixture(scope="module")
def plain(tiny_af3_think):
    """The same checkpoint directory loaded as plain AF3 (think/ ignored)."""
    return load_backend("af3", str(tiny_af3_think), device="cpu", dtype="fp32")


def _copy(tiny_af3_think, tmp_path):
    target = tmp_path / "af3_think"
    shutil.copytree(tiny_af3_think, target)
    return target


def _non_lora(path):
    import torch

    return torch.load(path / "think" / NON_LORA_FILE, weights_only=True)


def test_non_lora_weights_are_loaded_under_their_current_names(think, plain, tiny_af3_think):
    state = _non_lora(tiny_af3_think)
    loaded = think.model.state_dict()
    base = plain.model.state_dict()
    for new, old in TINY_NON_LORA_NAMES.items():
        assert old in state and new not in state  # the file really uses the old layout
        assert loaded[new].equal(state[old].to(loaded[new].dtype))
        assert not base[new].equal(loaded[new])
    info = think.provenance()["think"]
    assert info["non_lora_tensors"] == info["non_lora_renamed"] == len(TINY_NON_LORA_NAMES)
    assert len(info["non_lora_sha256"]) == 16 and info["merged"] is True and info["lora_r"] == 4


def test_lora_is_merged_into_the_targeted_weights_only(think, plain):
    loaded, base = think.model.state_dict(), plain.model.state_dict()
    assert type(think.model).__name__ == "AudioFlamingo3ForConditionalGeneration"
    assert not any("lora_" in name or "base_layer" in name for name in loaded)
    assert set(loaded) == set(base)
    changed = {name for name in base if not loaded[name].equal(base[name])}
    lora_targets = {n for n in base if "language_model" in n and n.endswith(("q_proj.weight", "k_proj.weight",
                                                                             "v_proj.weight", "o_proj.weight"))}
    assert changed == lora_targets | set(TINY_NON_LORA_NAMES)


def merged_by_hand(plain_state: dict, think_dir) -> dict:
    """The thinking-mode weights computed here from the files: W + (alpha / r) * B @ A for each
    LoRA pair of the adapter (old-layout names: ``base_model.model.language_model.model.X`` is
    ``model.language_model.X``), then the non-LoRA tensors by the tiny builder's own name table."""
    import json

    import torch
    from safetensors.torch import load_file

    config = json.loads((think_dir / "adapter_config.json").read_text())
    scaling = config["lora_alpha"] / config["r"]
    adapter = load_file(str(think_dir / "adapter_model.safetensors"))
    merged = {name: tensor.clone() for name, tensor in plain_state.items()}
    for name, lora_a in adapter.items():
        if ".lora_A." not in name:
            continue
        lora_b = adapter[name.replace(".lora_A.", ".lora_B.")]
        module = name.split(".lora_A.")[0].removeprefix("base_model.model.")
        target = module.replace("language_model.model.", "model.language_model.", 1) + ".weight"
        merged[target] += scaling * (lora_b.float() @ lora_a.float())
    non_lora = torch.load(think_dir / NON_LORA_FILE, weights_only=True)
    for current, old in TINY_NON_LORA_NAMES.items():
        merged[current] = non_lora[old]
    return merged


def test_thinking_mode_weights_are_the_adapter_merged_by_hand(think, plain, tiny_af3_think):
    import torch

    expected = merged_by_hand(plain.model.state_dict(), tiny_af3_think / "think")
    loaded = think.model.state_dict()
    assert set(loaded) == set(expected)
    for name, tensor in expected.items():
        assert torch.allclose(loaded[name], tensor, atol=1e-5), name
    # and those weights reach the read-out: every row's letter scores move, not by rounding
    inputs = hf_checks.sample_inputs()
    thinking = think.score_letters(inputs, hf_checks.LETTERS)
    base = plain.score_letters(inputs, hf_checks.LETTERS)
    for think_row, base_row in zip(thinking, base):
        assert max(abs(think_row[letter] - base_row[letter]) for letter in base_row) > 1e-3, (think_row, base_row)


def test_the_lora_adapter_alone_changes_outputs(plain, tiny_af3_think, tmp_path):
    """With a non-LoRA file that holds the base model's own values, only the adapter differs."""
    import torch

    path = _copy(tiny_af3_think, tmp_path)
    base = plain.model.state_dict()
    torch.save({old: base[new].clone() for new, old in TINY_NON_LORA_NAMES.items()}, path / "think" / NON_LORA_FILE)
    lora_only = load_backend("af3_think", str(path), device="cpu", dtype="fp32")
    inputs = hf_checks.sample_inputs()
    assert lora_only.score_letters(inputs, hf_checks.LETTERS) != plain.score_letters(inputs, hf_checks.LETTERS)
    settings = GenerationSettings(max_new_tokens=8)
    assert lora_only.generate(inputs, settings) != plain.generate(inputs, settings)


def test_batched_generation_equals_one_at_a_time(think):
    hf_checks.check_batched_generation_equals_one_at_a_time(think, hf_checks.sample_inputs())


def test_letter_scores_are_generate_first_step(think):
    hf_checks.check_scores_are_generate_first_step(think, hf_checks.sample_inputs())


@pytest.mark.parametrize("breakage", ["unused key", "wrong shape", "unmapped name"])
def test_a_non_lora_file_that_does_not_fit_fails_loudly(tiny_af3_think, tmp_path, breakage):
    import torch

    path = _copy(tiny_af3_think, tmp_path)
    state = _non_lora(path)
    if breakage == "unused key":
        state["multi_modal_projector.linear_3.weight"] = torch.zeros(2, 2)
        expected = "multi_modal_projector.linear_3.weight -> model.multi_modal_projector.linear_3.weight"
    elif breakage == "wrong shape":
        state["multi_modal_projector.linear_1.bias"] = torch.zeros(7)
        expected = "multi_modal_projector.linear_1.bias -> model.multi_modal_projector.linear_1.bias: file (7,), model (32,)"
    else:
        state["vision_tower.weight"] = torch.zeros(1)
        expected = "vision_tower.weight"
    torch.save(state, path / "think" / NON_LORA_FILE)
    with pytest.raises(ThinkWeightsError) as error:
        load_backend("af3_think", str(path), device="cpu", dtype="fp32")
    assert expected in str(error.value) and "none is skipped silently" in str(error.value)


def test_an_adapter_that_does_not_fit_fails_loudly(tiny_af3_think, tmp_path):
    from safetensors.torch import load_file, save_file

    path = _copy(tiny_af3_think, tmp_path)
    adapter = path / "think" / "adapter_model.safetensors"
    weights = load_file(str(adapter))
    name = next(n for n in weights if "q_proj.lora_A" in n)
    weights[name.replace("q_proj", "qq_proj")] = weights.pop(name)
    save_file(weights, str(adapter), metadata={"format": "pt"})
    with pytest.raises(ThinkWeightsError, match="qq_proj") as error:
        load_backend("af3_think", str(path), device="cpu", dtype="fp32")
    assert "LoRA weights the adapter file does not provide" in str(error.value)


def test_missing_think_folder_is_a_clear_error(tiny_af3):
    with pytest.raises(ThinkWeightsError, match="adapter_config.json, non_lora_trainables.bin"):
        load_backend("af3_think", str(tiny_af3), device="cpu", dtype="fp32")


def test_old_layout_names_map_to_the_current_modules():
    import torch

    current = {"model.language_model.embed_tokens.weight": (10, 4), "lm_head.weight": (10, 4),
               "model.audio_tower.conv1.weight": (4, 2, 3), "model.multi_modal_projector.linear_1.weight": (4, 4),
               "model.multi_modal_projector.linear_2.bias": (4,)}
    cases = {
        "language_model.model.embed_tokens.weight": "model.language_model.embed_tokens.weight",
        "language_model.lm_head.weight": "lm_head.weight",
        "base_model.model.audio_tower.conv1.weight": "model.audio_tower.conv1.weight",
        "multi_modal_projector.layers.0.weight": "model.multi_modal_projector.linear_1.weight",
        "llm.model.embed_tokens.weight": "model.language_model.embed_tokens.weight",
        "llm.lm_head.weight": "lm_head.weight",
        "sound_tower.conv1.weight": "model.audio_tower.conv1.weight",
        "sound_mm_projector.layers.0.weight": "model.multi_modal_projector.linear_1.weight",
        "sound_mm_projector.layers.2.bias": "model.multi_modal_projector.linear_2.bias",
        "model.audio_tower.conv1.weight": "model.audio_tower.conv1.weight",  # already current
    }
    for old, new in cases.items():
        assert map_non_lora_key(old, current) == new, old
    assert map_non_lora_key("vision_tower.x", current) is None
    state = {"llm.lm_head.weight": torch.zeros(10, 4), "language_model.lm_head.weight": torch.zeros(10, 4)}
    with pytest.raises(ThinkWeightsError, match="names mapped to the same parameter"):
        remap_non_lora_state(state, current)


def test_prompt_has_the_thinking_suffix_and_still_asks_for_the_answer_line(think):
    text = user_text(ITEM, "cot", think.profile)
    assert text.endswith(AF3_THINK_SUFFIX) and '"Answer: (X)"' in text
    assert AF3_THINK_SUFFIX not in user_text(ITEM, "direct", think.profile)
    check_published_golden("af3_think_conditioned.txt", think, "af3_think",
                           ModelInput(text, audio=[0.0], assistant_prefix=answer_prefix(REASONING, think.profile)))
