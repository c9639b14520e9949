"""MMAU test-mini (github.com/Sakshi113/MMAU, ``mmau-test-mini.json``): 1,000 questions over three
tasks (sound, music, speech), each with a difficulty (easy, medium, hard), a category and a
sub-category. The metadata is one JSON list; the answer is an option's text; options number 2 to 8.

Manifests: ``processed_input/mmau/<task>/mmau_manifest.jsonl``; ids are MMAU's own (UUIDs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from audiofaith.benchmarks.common import BenchmarkSpec, SourceQuestion, read_records, source_question
from audiofaith.store.records import ManifestItem

FIELDS = ("id", "audio_id", "question", "choices", "answer", "task")
#: metadata keys copied into ``meta`` (MMAU's ``dataset``, the clip's source corpus, becomes ``source``)
META_FIELDS = {"category": "category", "sub-category": "sub-category", "difficulty": "difficulty",
               "dataset": "source", "split": "split", "audio_id": "audio_id"}
PREDICTION_KEY = "model_output"  # what MMAU's evaluation.py scores (its README says model_prediction)


def read_questions(path: Path) -> List[SourceQuestion]:
    return [source_question(row, obj, f"{where} (id {obj.get('id')!r})", FIELDS, META_FIELDS, "task", "audio_id")
            for row, obj, where in read_records(path)]


def export_row(item: ManifestItem, prediction: Optional[str], raw: str, reasoning: str) -> Dict[str, Any]:
    """One sample of MMAU's ``evaluation.py`` input: the benchmark's own fields plus ``model_output``,
    the text of the option audiofaith parsed (empty when no letter parsed: scored wrong there too)."""
    meta = item.meta
    sample: Dict[str, Any] = {
        "id": item.id, "audio_id": meta.get("audio_id", meta.get("file")), "question": item.question,
        "choices": list(meta.get("source_choices", item.choices)), "answer": meta["answer_text"],
        "dataset": meta.get("source"), "task": item.subset, "split": meta.get("split"),
        "category": meta.get("category"), "sub-category": meta.get("sub-category"),
        "difficulty": meta.get("difficulty"),
    }
    # a letter that is no option (kept from another tool's parser, e.g. "N") scores as no answer
    sample[PREDICTION_KEY] = item.choices[item.letters.index(prediction)] if prediction and len(prediction) == 1 \
        and prediction in item.letters else ""
    sample["audiofaith_letter"] = prediction
    sample["audiofaith_response"] = raw
    return sample


SPEC = BenchmarkSpec(
    name="mmau", display_name="MMAU test-mini", subset_label="task", subsets=("sound", "music", "speech"),
    metadata_hint="mmau-test-mini.json from https://github.com/Sakshi113/MMAU",
    audio_hint=("MMAU test-mini audio: the audio archive in the Files tab of "
                "https://huggingface.co/datasets/gamma-lab-umd/MMAU-test-mini, extracted so that the .wav files "
                "sit directly in --audio_dir (see docs/benchmarks.md)"),
    read_questions=read_questions, breakdowns=("difficulty", "category", "sub-category"),
    export_name="mmau-test-mini.json", export_row=export_row, export_jsonl=False,
    evaluation_script="python evaluation.py --input FILE (Sakshi113/MMAU)",
)
