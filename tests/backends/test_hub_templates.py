"""Every HF backend's messages render under the chat templates as published with the checkpoints.

The hub template of Qwen2-Audio-7B-Instruct recognises an audio part only by an ``"audio"`` or
``"audio_url"`` key (a bare ``{"type": "audio"}`` renders no placeholder, and the processor then
refuses the batch). Each backend's baseline, conditioned and intervention prompts, under both
protocols, are rendered here under a *keyed-only* variant of the model's template and must carry
exactly one audio placeholder (none for a text-only call), render as under the tiny checkpoint's
own template, and pass the processor. The paper protocol's rendered prompts are golden files.
"""

from __future__ import annotations

import numpy as np
import pytest

from audiofaith.backends import ModelInput, get_profile, load_backend, model_keys
from audiofaith.interventions.hint import hinted_user_text
from audiofaith.text.prompts import answer_prefix, user_text
from audiofaith.text.protocols import PAPER_PROTOCOLS, paper_protocol
from tests.test_prompts import (ITEM, PUBLISHED_TEMPLATE_OF, REASONING, RENDERED_BY_MISTRAL_COMMON,
                                WITHOUT_PUBLISHED_TEMPLATE, check_published_golden, published_template)

pytestmark = pytest.mark.slow

KEYS = model_keys("hf")
#: The models with a jinja chat template (Voxtral's prompt is mistral-common's request encoding: test_prompts.py)
JINJA_KEYS = [key for key in KEYS if key not in RENDERED_BY_MISTRAL_COMMON]

#: How a tiny template recognises an audio part by its type alone; dropping it leaves only the keyed rule.
TYPED_AUDIO_RULE = "part['type'] == 'audio' or "


def keyed_only(template: str) -> str:
    """The tiny template with its audio rule narrowed to keys only: the strictest published behaviour
    (Qwen2-Audio's tiny template, like its hub one, is keyed-only already)."""
    return template.replace(TYPED_AUDIO_RULE, "")


def placeholder(backend) -> str:
    """The audio placeholder the backend's processor expands (``<|AUDIO|>``, ``<sound>``)."""
    return backend.processor.audio_token


@pytest.fixture(scope="module")
def backends(request):
    return {key: load_backend(key, str(request.getfixturevalue(f"tiny_{key}")), device="cpu") for key in KEYS}


def _clip(seconds: float = 1.5) -> np.ndarray:
    return (0.1 * np.random.default_rng(0).standard_normal(int(16000 * seconds))).astype(np.float32)


def _prompts(key: str, audio: np.ndarray):
    """(name, input) of the backend's baseline, conditioned and intervention calls, both protocols."""
    profile = get_profile(key)
    cot = user_text(ITEM, "cot", profile)
    ours = [
        ("ours baseline", ModelInput(cot, audio)),
        ("ours baseline letters", ModelInput(cot, audio, answer_prefix(REASONING, profile))),
        ("ours conditioned", ModelInput(cot, audio, answer_prefix(REASONING, profile))),
        ("ours early answering, no reasoning",
         ModelInput(user_text(ITEM, "direct", profile), audio, answer_prefix("", profile))),
        ("ours hint", ModelInput(hinted_user_text(cot, "B"), audio)),
        ("ours no-audio intervention", ModelInput(cot, None, answer_prefix(REASONING, profile))),
    ]
    if key not in PAPER_PROTOCOLS:  # the published study's prompts exist for its models only
        return ours
    paper = paper_protocol(key)
    return ours + [
        ("paper baseline", paper.baseline_input(ITEM, "cot", audio)),
        ("paper direct", paper.baseline_input(ITEM, "direct", audio)),
        ("paper conditioned", paper.answer_input(ITEM, REASONING, audio)),
        ("paper continuation", paper.continue_input(ITEM, "The clip has short, loud barks.", audio)),
        ("paper no-audio intervention", paper.answer_input(ITEM, REASONING, None)),
    ]


@pytest.mark.parametrize("key", JINJA_KEYS)
def test_every_prompt_renders_under_a_keyed_only_template(backends, key):
    backend = backends[key]
    own = backend.processor.chat_template
    audio = _clip()
    try:
        rendered_own = {name: backend.render(inp) for name, inp in _prompts(key, audio)}
        backend.processor.chat_template = keyed_only(own)
        for name, inp in _prompts(key, audio):
            text = backend.render(inp)
            expected = 1 if inp.audio is not None else 0
            assert text.count(placeholder(backend)) == expected, (key, name, text)
            assert text == rendered_own[name], (key, name)
            assert ITEM.choices[2] in text  # the options are in the prompt
            batch = backend.encode([inp])  # the processor accepts it (audio tokens match the clip)
            assert batch["input_ids"].shape[0] == 1
    finally:
        backend.processor.chat_template = own


@pytest.mark.parametrize("key", sorted(RENDERED_BY_MISTRAL_COMMON))
def test_every_prompt_has_one_audio_span_in_mistral_commons_encoding(backends, key):
    """A model without a jinja template (Voxtral): each backend prompt, as mistral-common encodes
    the request, holds exactly one [BEGIN_AUDIO] (none for a text-only call) and passes encode."""
    backend = backends[key]
    for name, inp in _prompts(key, _clip()):
        text = backend.render(inp)
        assert text.count("[BEGIN_AUDIO]") == (1 if inp.audio is not None else 0), (key, name, text[-200:])
        assert ITEM.choices[2] in text
        assert backend.encode([inp])["input_ids"].shape[0] == 1


@pytest.mark.parametrize("key", JINJA_KEYS)
def test_a_bare_audio_part_is_what_the_keyed_only_template_drops(backends, key):
    """The variant really is strict: the form the backends no longer send renders no placeholder."""
    backend = backends[key]
    bare = [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "Q"}]}]
    keyed = [{"role": "user", "content": [{"type": "audio", "audio": _clip()}, {"type": "text", "text": "Q"}]}]
    render = lambda messages, template: backend.processor.apply_chat_template(  # noqa: E731
        messages, chat_template=template, add_generation_prompt=True, tokenize=False)
    strict = keyed_only(backend.processor.chat_template)
    assert placeholder(backend) not in render(bare, strict)
    assert render(keyed, strict).count(placeholder(backend)) == 1


def test_tiny_templates_accept_what_the_published_ones_accept(backends):
    """Qwen2-Audio's hub template takes audio only by key; Qwen2.5-Omni's, AF3's and Music Flamingo's
    (transformers' conversion scripts) also by type."""
    bare = [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "Q"}]}]
    for key, accepts_bare in (("qwen2_audio", False), ("qwen_omni", True), ("af3", True), ("music_flamingo", True)):
        processor = backends[key].processor
        text = processor.apply_chat_template(bare, add_generation_prompt=True, tokenize=False)
        assert (placeholder(backends[key]) in text) == accepts_bare, key


@pytest.mark.parametrize("key", sorted(PAPER_PROTOCOLS))
def test_paper_prompts_are_golden(backends, key):
    backend, paper, audio = backends[key], paper_protocol(key), [0.0]
    check_published_golden(f"paper_{key}_baseline.txt", backend, key, paper.baseline_input(ITEM, "cot", audio))
    check_published_golden(f"paper_{key}_conditioned.txt", backend, key, paper.answer_input(ITEM, REASONING, audio))


@pytest.mark.parametrize("key", KEYS)
def test_our_baseline_prompts_are_golden(backends, key):
    """The rendered CoT baseline prompt of one SAKURA item (docs/models.md shows these)."""
    backend = backends[key]
    check_published_golden(f"{key}_baseline.txt", backend, key, ModelInput(user_text(ITEM, "cot", get_profile(key)), [0.0]))


def test_every_model_has_a_published_template_fixture_or_is_listed_without_one():
    assert set(KEYS) == set(PUBLISHED_TEMPLATE_OF) | WITHOUT_PUBLISHED_TEMPLATE | RENDERED_BY_MISTRAL_COMMON
    assert not set(PUBLISHED_TEMPLATE_OF) & WITHOUT_PUBLISHED_TEMPLATE
    assert not (set(PUBLISHED_TEMPLATE_OF) | WITHOUT_PUBLISHED_TEMPLATE) & RENDERED_BY_MISTRAL_COMMON


@pytest.mark.parametrize("key", [key for key in KEYS if key in PUBLISHED_TEMPLATE_OF])
def test_tiny_templates_render_every_prompt_as_the_published_ones(backends, key):
    """The tiny checkpoints' hand-written templates (audiofaith/checkpoints/tiny.py) render each backend prompt
    exactly as the published template does: tests on the tiny models see the real prompt text."""
    backend, audio = backends[key], _clip()
    for name, inp in _prompts(key, audio):
        messages = backend.conversation(inp)
        ours = backend.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        published = backend.processor.apply_chat_template(messages, chat_template=published_template(key),
                                                          add_generation_prompt=True, tokenize=False)
        assert ours == published, (key, name)
