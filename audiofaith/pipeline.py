"""``audiofaith.pipeline``, the public stage API: build a stage config and ``run_stage`` it, from a
notebook or another tool, without argparse. The code lives in ``audiofaith.runners.pipeline``."""

from audiofaith.runners.pipeline import (ANSWER_MODES, COT_SOURCES, BaselineStage, ConditionedStage, Hardware,
                                         InterventionStage, Selection, Stage, StageResult, run_stage, stage_to_json)

__all__ = ["ANSWER_MODES", "COT_SOURCES", "BaselineStage", "ConditionedStage", "Hardware", "InterventionStage",
           "Selection", "Stage", "StageResult", "run_stage", "stage_to_json"]
