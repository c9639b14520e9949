"""Golden prompt texts: a changed prompt must show up as a diff in tests/golden/prompts/.
Regenerate deliberately with UPDATE_GOLDEN=1: the files are rewritten and every rewriting test
fails ("golden rewritten; review the diff"); review ``git diff tests/golden``, then run again
without it. Full model prompts are rendered through the chat templates published with the
checkpoints (tests/fixtures/chat_templates/), not the tiny checkpoints' own."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from audiofaith.text.prompts import DEFAULT_PROFILE, PROMPT_VERSION, answer_prefix, format_options, user_text
from audiofaith.store.records import ManifestItem

GOLDEN = Path(__file__).parent / "golden" / "prompts"
PUBLISHED_TEMPLATES = Path(__file__).parent / "fixtures" / "chat_templates"
#: backend key -> the published template it runs under (AF3-Think is the AF3 checkpoint plus an adapter)
PUBLISHED_TEMPLATE_OF = {"qwen2_audio": "qwen2_audio", "qwen_omni": "qwen_omni", "af3": "af3", "af3_think": "af3",
                         "music_flamingo": "music_flamingo"}
#: Models whose published chat template is not among the fixtures yet: their prompts render through
#: the tiny checkpoint's own template, our rendition of the published one (docs/models.md lists the
#: assumptions each makes). A new model must be in exactly one of the three lists.
WITHOUT_PUBLISHED_TEMPLATE = frozenset({"qwen3_omni", "qwen3_omni_thinking", "gemma4", "nemotron_omni"})
#: Models without a chat template: their published template is mistral-common's request encoding
#: (Voxtral's tekken tokenizer), which the backend calls itself; checked against mistral-common's own
#: classes below. A new model must be in exactly one of the three.
RENDERED_BY_MISTRAL_COMMON = frozenset({"voxtral"})

ITEM = ManifestItem(
    id="sakura/animal/single/dog28", dataset="sakura", subset="animal", hop="single",
    audio="SAKURA/data/Animal/audio/dog28.wav",
    question="From the options provided, which animal do you believe is the source of the sound in the recording?",
    choices=("dog", "crow", "cow", "rooster"), answer="A",
)
REASONING = "The clip has short, loud barks. Dogs bark; crows caw, cows moo and roosters crow."


def check_golden(name: str, text: str) -> None:
    """``text`` must equal the golden file ``name``. With UPDATE_GOLDEN=1 the file is rewritten and
    the test fails: a rewritten golden is never a pass."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
        pytest.fail(f"golden rewritten; review the diff: git diff {path}", pytrace=False)
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 once"
    assert text == path.read_text(encoding="utf-8"), f"prompt changed: diff against {path}"


def published_template(key: str) -> str:
    """The chat template published with model ``key``'s checkpoint (tests/fixtures/chat_templates)."""
    return (PUBLISHED_TEMPLATES / f"{PUBLISHED_TEMPLATE_OF[key]}.jinja").read_text(encoding="utf-8")


@contextlib.contextmanager
def under_published_template(backend, key: str) -> Iterator[None]:
    """The backend's processor renders with the published template for the duration (a model in
    WITHOUT_PUBLISHED_TEMPLATE keeps its checkpoint's own)."""
    if key in WITHOUT_PUBLISHED_TEMPLATE or key in RENDERED_BY_MISTRAL_COMMON:
        yield
        return
    own = backend.processor.chat_template
    backend.processor.chat_template = published_template(key)
    try:
        yield
    finally:
        backend.processor.chat_template = own


def check_published_golden(name: str, backend, key: str, inp) -> None:
    """The golden of ``backend.render(inp)`` under the published template of ``key``."""
    with under_published_template(backend, key):
        text = backend.render(inp)
    check_golden(name, text)


def test_user_turns_are_golden():
    check_golden("user_cot.txt", user_text(ITEM, "cot"))
    check_golden("user_direct.txt", user_text(ITEM, "direct"))
    check_golden("assistant_conditioned.txt", answer_prefix(REASONING))


def test_options_use_uppercase_letters_one_per_line():
    assert format_options(["Male", "Female"]) == "(A) Male\n(B) Female"


def test_empty_reasoning_leaves_only_the_cue():
    assert answer_prefix("   ") == DEFAULT_PROFILE.answer_cue


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError):
        user_text(ITEM, "chain")


def test_profile_hash_tracks_every_text():
    import dataclasses

    changed = dataclasses.replace(DEFAULT_PROFILE, answer_cue="Final answer: (")
    assert changed.hash() != DEFAULT_PROFILE.hash()
    assert len(DEFAULT_PROFILE.hash()) == 16 and PROMPT_VERSION


@pytest.mark.slow
def test_full_qwen2_audio_prompt_is_golden(tiny_qwen2_audio):
    from audiofaith.backends import ModelInput, load_backend

    backend = load_backend("qwen2_audio", str(tiny_qwen2_audio), device="cpu")
    check_published_golden("qwen2_audio_conditioned.txt", backend, "qwen2_audio",
                           ModelInput(user_text(ITEM, "cot"), audio=[0.0], assistant_prefix=answer_prefix(REASONING)))


@pytest.mark.slow
def test_voxtral_prompts_are_mistral_commons_request_encoding(tiny_voxtral):
    """Voxtral's prompts, baseline and conditioned, are what mistral-common itself encodes from the
    request written with its own message classes (audio chunk, then text; the assistant prefix as a
    continued final message), decoded with the special tokens kept; one [BEGIN_AUDIO] per prompt."""
    from mistral_common.protocol.instruct.chunk import AudioChunk, TextChunk
    from mistral_common.protocol.instruct.messages import AssistantMessage, UserMessage
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.tokens.tokenizers.audio import Audio
    from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    from audiofaith.backends import ModelInput, get_profile, load_backend

    backend = load_backend("voxtral", str(tiny_voxtral), device="cpu")
    tokenizer = MistralTokenizer.from_file(str(tiny_voxtral / "tekken.json"))
    profile, clip = get_profile("voxtral"), np.zeros(24000, np.float32)
    for prefix in ("", answer_prefix(REASONING, profile)):
        text = user_text(ITEM, "cot", profile)
        messages = [UserMessage(content=[AudioChunk.from_audio(Audio(clip, 16000, "wav")), TextChunk(text=text)])]
        if prefix:
            messages.append(AssistantMessage(content=prefix, prefix=True))
        request = ChatCompletionRequest(messages=messages)  # a prefix message is continued
        tokens = tokenizer.encode_chat_completion(request).tokens
        published = tokenizer.instruct_tokenizer.tokenizer.decode(tokens, special_token_policy=SpecialTokenPolicy.KEEP)
        rendered = backend.render(ModelInput(text, clip, prefix))
        assert rendered == published and rendered.count("[BEGIN_AUDIO]") == 1
        assert rendered.endswith(text + "[/INST]" + prefix)
    check_published_golden("voxtral_conditioned.txt", backend, "voxtral",
                           ModelInput(user_text(ITEM, "cot", profile), [0.0], answer_prefix(REASONING, profile)))


def test_golden_update_fails_after_rewriting(monkeypatch, tmp_path):
    """UPDATE_GOLDEN=1 rewrites the file and fails: a run that rewrites goldens never passes."""
    monkeypatch.setattr(f"{__name__}.GOLDEN", tmp_path)
    monkeypatch.setenv("UPDATE_GOLDEN", "1")
    with pytest.raises(pytest.fail.Exception, match="golden rewritten; review the diff"):
        check_golden("x.txt", "new text")
    assert (tmp_path / "x.txt").read_text(encoding="utf-8") == "new text"
    monkeypatch.delenv("UPDATE_GOLDEN")
    check_golden("x.txt", "new text")
    with pytest.raises(AssertionError, match="prompt changed"):
        check_golden("x.txt", "other text")
