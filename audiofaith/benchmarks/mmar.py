"""MMAR (github.com/ddlBoJack/MMAR, ``MMAR-meta.jsonl``): 1,000 questions over seven audio
modalities (sound, music, speech and their mixes), each with a category (Signal, Perception,
Semantic or Cultural Layer) and a sub-category, and a human-written reasoning text (``thinking``)
that ``--cot_source reference`` can inject instead of the model's own. Clips run up to minutes:
the per-model audio windows cut them, recorded per item.

Manifests: ``processed_input/mmar/<modality>/mmar_manifest.jsonl``; ids are MMAR's own.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Optional

from audiofaith.benchmarks.common import (
    REFERENCE_COT_KEY, BenchmarkError, BenchmarkSpec, SourceQuestion, read_records, source_question,
)
from audiofaith.store.records import ManifestItem

FIELDS = ("id", "audio_path", "question", "choices", "answer", "modality")
#: metadata keys copied into ``meta`` (``thinking`` becomes ``reference_cot``); ``rubric`` is not copied
META_FIELDS = {key: key for key in ("category", "sub-category", "source", "language", "url", "timestamp", "cue",
                                     "audio_path")}
PREDICTION_KEY = "answer_prediction"  # what MMAR's code/evaluation.py scores
MODALITIES = ("sound", "music", "speech", "mix-sound-music", "mix-sound-speech", "mix-music-speech",
              "mix-sound-music-speech")


def read_questions(path: Path) -> List[SourceQuestion]:
    questions = []
    for row, obj, where in read_records(path):
        where = f"{where} (id {obj.get('id')!r})"
        question = source_question(row, obj, where, FIELDS, META_FIELDS, "modality", "audio_path")
        thinking = obj.get("thinking")
        if thinking is not None:
            if not isinstance(thinking, str):
                raise BenchmarkError(f"{where}: 'thinking' must be a string, got {type(thinking).__name__}")
            if thinking.strip():
                question = replace(question, meta={**question.meta, REFERENCE_COT_KEY: thinking})
        questions.append(question)
    return questions


def export_row(item: ManifestItem, prediction: Optional[str], raw: str, reasoning: str) -> Dict[str, Any]:
    """One line of MMAR's ``code/evaluation.py`` input: the benchmark's fields plus ``answer_prediction``
    (the parsed option's text; empty when no letter parsed) and ``thinking_prediction`` (the run's
    reasoning, what MMAR's rubric evaluation reads)."""
    meta = item.meta
    sample: Dict[str, Any] = {
        "id": item.id, "audio_path": meta.get("audio_path", meta.get("file")), "question": item.question,
        "choices": list(meta.get("source_choices", item.choices)), "answer": meta["answer_text"],
        "modality": item.subset, "category": meta.get("category"), "sub-category": meta.get("sub-category"),
        "language": meta.get("language"), "source": meta.get("source"), "url": meta.get("url"),
        "timestamp": meta.get("timestamp"),
    }
    # a letter that is no option (kept from another tool's parser, e.g. "N") scores as no answer
    sample[PREDICTION_KEY] = item.choices[item.letters.index(prediction)] if prediction and len(prediction) == 1 \
        and prediction in item.letters else ""
    sample["thinking_prediction"] = reasoning
    sample["audiofaith_letter"] = prediction
    sample["audiofaith_response"] = raw
    return sample


SPEC = BenchmarkSpec(
    name="mmar", display_name="MMAR", subset_label="modality", subsets=MODALITIES,
    metadata_hint="MMAR-meta.jsonl from https://github.com/ddlBoJack/MMAR",
    audio_hint=("MMAR audio: mmar-audio.tar.gz from https://huggingface.co/datasets/BoJack/MMAR, extracted so "
                "that the .wav files sit directly in --audio_dir (see docs/benchmarks.md)"),
    read_questions=read_questions, breakdowns=("category", "sub-category"),
    export_name="MMAR-predictions.jsonl", export_row=export_row, export_jsonl=True,
    evaluation_script="python code/evaluation.py --input FILE (ddlBoJack/MMAR)",
)
