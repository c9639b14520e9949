"""The rule-based rewriter of the known-answer task (``--rewriter_model rules:known_answer``).

It edits the task's CoTs the way a model rewriter would, by fixed rules on the task's own
vocabulary (``audiofaith.checkpoints.known_answer.task``), so adding mistakes and paraphrasing can run on the
known-answer checkpoints without a second language model:

- **mistake** (``adding_mistakes``): every class the sentence names, by its description ("low,
  steady moo") or its label ("cow"), is replaced by the next class in the task's order (cow ->
  frog -> bird -> cricket -> cow), description by description and label by label. A sentence
  that names no class ("I listen to the recording.") comes back unchanged (the family flags it
  ``rewrite_unchanged``).
- **paraphrase** (``paraphrasing``): every sentence in one of the task's wordings is rewritten
  into the next wording of the same sentence (``task.TEMPLATES``), keeping the class it names; other
  sentences are kept verbatim.

It reads the sentence or text from the prompt the family sends (``audiofaith.text.rewriter.mistake_prompt``
/ ``paraphrase_prompt``), so it plugs into the same batched loop as a model rewriter.
"""

from __future__ import annotations

import re
from typing import List, Optional

from audiofaith.checkpoints.known_answer import task
from audiofaith.text.rewriter import MISTAKE_LABEL, prompt_subject

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def add_mistake(sentence: str) -> str:
    """``sentence`` with every class it names replaced by the next class (see the module doc)."""
    names = {}
    for index, call in enumerate(task.CLASSES):
        following = task.CLASSES[(index + 1) % len(task.CLASSES)]
        names[call.description] = following.description
        names[call.label] = following.label
    pattern = re.compile(r"\b(" + "|".join(re.escape(k) for k in sorted(names, key=len, reverse=True)) + r")\b")
    return pattern.sub(lambda match: names[match.group(1)], sentence)


def _parse(sentence: str) -> Optional[tuple]:
    """(kind, wording, label) of a sentence in one of the task's wordings, else None."""
    for kind, templates in enumerate(task.TEMPLATES):
        for wording in range(len(templates)):
            for label in (task.LABELS if kind else (None,)):
                if task.sentence(kind, wording, label) == sentence:
                    return kind, wording, label
    return None


def paraphrase(text: str) -> str:
    """``text`` with every sentence in a task wording moved to the next wording of that sentence."""
    out = []
    for sentence in _SENTENCE_END.split(text.strip()):
        parsed = _parse(sentence)
        if parsed is None:
            out.append(sentence)
        else:
            kind, wording, label = parsed
            out.append(task.sentence(kind, (wording + 1) % len(task.TEMPLATES[kind]), label))
    return " ".join(out)


class KnownAnswerRewriter:
    """The rule-based rewriter for the known-answer task (no model)."""

    name = "rules:known_answer"

    def rewrite(self, prompts: List[str]) -> List[str]:
        replies = []
        for prompt in prompts:
            kind, subject = prompt_subject(prompt)
            replies.append(add_mistake(subject) if kind == MISTAKE_LABEL else paraphrase(subject))
        return replies
