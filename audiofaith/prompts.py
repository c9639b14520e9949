"""Prompt templates: versioned, model-agnostic, hashed into every output's provenance.

A *profile* is the set of texts one model family is prompted with. The user turn holds the
question and the options (uppercase letters, one per line). The assistant turn may be started by
us: with the model's own reasoning followed by the answer cue (conditioned step), or with the cue
alone (direct answers), so that the next token is the option letter and can be scored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

from audiofaith.records import ManifestItem, letters_for

PROMPT_VERSION = "1"

COT_INSTRUCTION = (
    "Think step by step about what you hear in the audio and explain your reasoning. "
    "Then give your final answer on its own line as \"Answer: (X)\", where X is the letter of the correct option."
)
DIRECT_INSTRUCTION = "Answer with the letter of the correct option only, as \"Answer: (X)\"."


@dataclass(frozen=True)
class PromptProfile:
    """The prompt texts of one model family."""

    name: str
    cot_instruction: str = COT_INSTRUCTION
    direct_instruction: str = DIRECT_INSTRUCTION
    # Text that ends the assistant turn right before the option letter. It must end where the
    # tokenizer puts a token boundary before a letter; backends check this exactly.
    answer_cue: str = "Answer: ("
    # Extra sentence after the instruction in CoT mode (AF3 thinking mode needs its own).
    cot_suffix: str = ""
    # None: the model's own chat-template default system prompt.
    system_prompt: Optional[str] = None

    def to_json(self) -> Dict[str, object]:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """A short hash of every text in the profile plus the prompt format version."""
        payload = json.dumps({"version": PROMPT_VERSION, **self.to_json()}, sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


# Qwen2.5-Omni's fixed system prompt (model card and every official example). Only audio output
# strictly needs it; we keep it for text output too, identical in every condition.
QWEN_OMNI_SYSTEM_PROMPT = (
    "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving "
    "auditory and visual inputs, as well as generating text and speech."
)
# Audio Flamingo 3's thinking mode is triggered by this sentence (NVIDIA's README); it follows our
# CoT instruction, which still asks for the final "Answer: (X)" line.
AF3_THINK_SUFFIX = "Please think and reason about the input audio before you respond."

DEFAULT_PROFILE = PromptProfile(name="default")
PROFILES: Dict[str, PromptProfile] = {
    "default": DEFAULT_PROFILE,
    "qwen_omni": PromptProfile(name="qwen_omni", system_prompt=QWEN_OMNI_SYSTEM_PROMPT),
    "af3_think": PromptProfile(name="af3_think", cot_suffix=AF3_THINK_SUFFIX),
}


def format_options(choices: Sequence[str]) -> str:
    """``(A) dog`` / ``(B) crow`` ... one option per line."""
    letters = letters_for(len(choices))
    return "\n".join(f"({letter}) {text.strip()}" for letter, text in zip(letters, choices))


def user_text(item: ManifestItem, mode: str, profile: PromptProfile = DEFAULT_PROFILE) -> str:
    """The user turn for ``item``: question, options, then the CoT or direct instruction."""
    if mode == "cot":
        instruction = profile.cot_instruction + (" " + profile.cot_suffix if profile.cot_suffix else "")
    elif mode == "direct":
        instruction = profile.direct_instruction
    else:
        raise ValueError(f"unknown prompt mode {mode!r} (expected 'cot' or 'direct')")
    return f"{item.question.strip()}\n{format_options(item.choices)}\n{instruction}"


def answer_prefix(reasoning: str, profile: PromptProfile = DEFAULT_PROFILE) -> str:
    """The assistant turn up to the answer letter: the reasoning (if any), then the answer cue."""
    reasoning = reasoning.strip()
    if not reasoning:
        return profile.answer_cue
    return f"{reasoning}\n\n{profile.answer_cue}"
