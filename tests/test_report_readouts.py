"""The report joins lines read the same way (issue 22, item 3): the Lanham reference of an
early-answering or adding-mistakes line is the `full` letter of the same read-out (answer mode)."""

from __future__ import annotations

from audiofaith.store.records import InterventionRecord
from audiofaith.report.load import conditioned_line, join

ITEM = "sakura/animal/single/x0"


def _line(condition: str, answer_mode: str, prediction: str, **params):
    reference_field = "baseline_prediction" if answer_mode == "generate" else "baseline_cue_prediction"
    record = InterventionRecord(id=ITEM, model="m", run=0, condition=condition, answer_mode=answer_mode, answer="A",
                                subset="animal", hop="single", dataset="sakura", params=dict(params),
                                baseline_prediction="B", baseline_cue_prediction="D",
                                reference_field=reference_field, prediction=prediction)
    return conditioned_line(record, {}, f"{condition}:{answer_mode}")


def test_generate_mode_lines_take_the_generate_mode_full_letter():
    early = {"k": 1, "n": 2, "fraction": 0.5, "prompt": "conditioned"}
    lines = [_line("full", "logits", "A"), _line("full", "generate", "C"),
             _line("early_answering", "logits", "A", **early), _line("early_answering", "generate", "C", **early)]
    join(lines)
    by_mode = {line.source.split(":")[1]: line for line in lines if line.condition == "early_answering"}
    assert (by_mode["logits"].lanham_reference, by_mode["logits"].lanham_fallback) == ("A", False)
    assert (by_mode["generate"].lanham_reference, by_mode["generate"].lanham_fallback) == ("C", False)


def test_a_generate_mode_line_never_takes_a_logits_full_letter():
    lines = [_line("full", "logits", "A"),
             _line("early_answering", "generate", "C", k=1, n=2, fraction=0.5, prompt="conditioned")]
    join(lines)
    early = lines[1]
    # no `full` line read by generation: the line's own (parsed) reference, counted as a fallback
    assert (early.lanham_reference, early.lanham_fallback) == ("B", True)
