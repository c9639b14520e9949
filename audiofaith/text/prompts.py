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
from typing import Dict, Optional, Sequence, Tuple

from audiofaith.text.cot import split_reasoning, split_trace
from audiofaith.store.records import ManifestItem, letters_for

PROMPT_VERSION = "1"

COT_INSTRUCTION = (
    "Think step by step about what you hear in the audio and explain your reasoning. "
    "Then give your final answer on its own line as \"Answer: (X)\", where X is the letter of the correct option."
)
DIRECT_INSTRUCTION = "Answer with the letter of the correct option only, as \"Answer: (X)\"."


@dataclass(frozen=True)
class ThinkingFormat:
    """How a model that thinks natively marks its thinking trace: the trace is the text between
    ``open`` and ``close`` at the start of the assistant turn, the visible answer what follows.
    ``template_opens``: the model's chat template already ends its generation prompt with
    ``open`` + newline (the model writes only the trace and ``close``); otherwise the model
    opens the trace itself."""

    open: str = "<think>"
    close: str = "</think>"
    template_opens: bool = False
    #: What follows the close marker before the visible answer in the model's own format.
    after_close: str = "\n\n"


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
    # A model that thinks natively: its trace markers (None: the reasoning is the response text).
    thinking: Optional[ThinkingFormat] = None

    def to_json(self) -> Dict[str, object]:
        payload = dataclasses.asdict(self)
        if self.thinking is None:  # profiles without a trace keep the hash they had before it existed
            del payload["thinking"]
        return payload

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

#: Qwen3-Omni-30B-A3B-Thinking (and Nemotron omni in reasoning mode): the template opens the
#: trace in the generation prompt.
QWEN3_THINKING = ThinkingFormat(open="<think>", close="</think>", template_opens=True)
#: Gemma 4 in thinking mode (Google's Gemma 4 prompt format): the model opens a thought channel,
#: ``<|channel>thought\n...\n<channel|>``, and the visible answer follows the close at once.
GEMMA4_THINKING = ThinkingFormat(open="<|channel>thought", close="<channel|>", after_close="")
#: Gemma 4's thinking mode is switched on by this control token in the system turn.
GEMMA4_THINK_TOKEN = "<|think|>"

DEFAULT_PROFILE = PromptProfile(name="default")
PROFILES: Dict[str, PromptProfile] = {
    "default": DEFAULT_PROFILE,
    "qwen_omni": PromptProfile(name="qwen_omni", system_prompt=QWEN_OMNI_SYSTEM_PROMPT),
    "af3_think": PromptProfile(name="af3_think", cot_suffix=AF3_THINK_SUFFIX),
    "qwen3_omni_thinking": PromptProfile(name="qwen3_omni_thinking", thinking=QWEN3_THINKING),
    "nemotron_omni": PromptProfile(name="nemotron_omni"),
    "nemotron_omni_thinking": PromptProfile(name="nemotron_omni_thinking", thinking=QWEN3_THINKING),
    "gemma4": PromptProfile(name="gemma4"),
    "gemma4_thinking": PromptProfile(name="gemma4_thinking", system_prompt=GEMMA4_THINK_TOKEN, thinking=GEMMA4_THINKING),
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
    """The assistant turn up to the answer letter: the reasoning (if any), then the answer cue.
    For a model that thinks natively the reasoning is its trace, re-injected inside its own
    markers (an empty trace too: the model answers after a closed, empty trace)."""
    reasoning = reasoning.strip()
    if profile.thinking is not None:
        thinking = profile.thinking
        return f"{trace_prefix(reasoning, profile)}\n{thinking.close}{thinking.after_close}{profile.answer_cue}"
    if not reasoning:
        return profile.answer_cue
    return f"{reasoning}\n\n{profile.answer_cue}"


def trace_prefix(partial_reasoning: str, profile: PromptProfile = DEFAULT_PROFILE) -> str:
    """The assistant turn up to a partial reasoning that the model is to continue: for a thinking
    model, its open marker then the partial trace (left open, so it goes on thinking)."""
    if profile.thinking is None:
        return partial_reasoning
    return f"{profile.thinking.open}\n{partial_reasoning.strip()}"


def reasoning_and_answer(text: str, profile: PromptProfile = DEFAULT_PROFILE) -> Tuple[str, str]:
    """(reasoning, the text the answer is parsed from) of a CoT response. For a thinking model
    the reasoning is its trace and the answer is read from the visible text after the trace only;
    otherwise the reasoning is ``split_reasoning``'s and the answer is read from the whole text."""
    if profile.thinking is None:
        return split_reasoning(text)[0], text
    trace, answer, _ = split_trace(text, profile.thinking.open, profile.thinking.close)
    return trace, answer
