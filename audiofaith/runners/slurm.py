"""``python -m audiofaith submit``: a whole study as SLURM job arrays with dependencies.

One sbatch script per stage, written to ``<output_dir>/slurm/`` and submitted with ``sbatch``:

- ``baseline.sbatch``: an array of (manifest x shard) tasks, each ``audiofaith baseline --shard K/N``;
- ``baseline_merge.sbatch``: after the array (``afterok``), ``audiofaith merge`` of every manifest;
- ``conditioned`` and each intervention kind: the same pair, after the baseline's merge;
- ``report.sbatch``: after every merge, ``audiofaith report <output_dir>``.

Every job is requeueable and appends to its log (``<output_dir>/slurm/logs/``); a requeued or
resubmitted task resumes from its own shard file (the output lock and resume of every stage), so
nothing is lost or done twice. ``plan.json`` records the tasks, files and job ids for
``audiofaith status``. Plain ``sbatch`` rather than submitit: the scripts are what a SLURM user
reads, edits and resubmits by hand (``sbatch --array=1 baseline.sbatch``), they carry the
environment activation they run under, and no pickled callable stands between the user and the
command line (docs/scale.md). No torch here.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from audiofaith.errors import UserError
from audiofaith.helptext import DefaultsHelpFormatter
from audiofaith.store.provenance import now, sidecar_path
from audiofaith.store.sharding import shard_output_path

log = logging.getLogger(__name__)

BASELINE, CONDITIONED, REPORT = "baseline", "conditioned", "report"
PLAN_FILE = "plan.json"


class SubmitError(UserError):
    """A study that cannot be submitted (bad stages, missing inputs, sbatch refused it)."""


@dataclass(frozen=True)
class ArrayTask:
    """One task of a stage's array: shard ``shard`` of ``shards`` of one manifest."""

    task: int
    subset: str
    manifest: str
    shard: int
    shards: int
    output: str  # the requested (merged) output of the manifest

    @property
    def shard_output(self) -> str:
        return str(shard_output_path(self.output, self.shard, self.shards))


@dataclass
class PlannedStage:
    """A stage's array script, its merge script, their tasks and (once submitted) job ids."""

    name: str  # baseline, conditioned or an intervention kind
    script: str
    merge_script: str
    tasks: List[ArrayTask]
    after: Optional[str] = None  # the stage whose merge it waits for
    array_job: Optional[str] = None
    merge_job: Optional[str] = None

    @property
    def outputs(self) -> Dict[str, str]:
        """Requested output by manifest, in task order."""
        return {task.manifest: task.output for task in self.tasks}


@dataclass
class StudyPlan:
    """What ``submit`` wrote and submitted; saved as ``<output_dir>/slurm/plan.json``."""

    model: str
    output_dir: str
    shards: int
    stages: List[PlannedStage]
    report_script: Optional[str] = None
    report_job: Optional[str] = None
    submitted: Optional[str] = None  # time of submission; None for --dry_run
    command: List[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "StudyPlan":
        stages = [PlannedStage(**{**stage, "tasks": [ArrayTask(**task) for task in stage["tasks"]]})
                  for stage in data["stages"]]
        return cls(**{**data, "stages": stages})

    def job_ids(self) -> List[str]:
        ids = [job for stage in self.stages for job in (stage.array_job, stage.merge_job) if job]
        return ids + ([self.report_job] if self.report_job else [])


def slurm_dir(output_dir: "str | Path") -> Path:
    return Path(output_dir) / "slurm"


def load_plan(output_dir: "str | Path") -> Optional[StudyPlan]:
    """The plan of the last ``submit`` into ``output_dir`` (None when there is none)."""
    path = slurm_dir(output_dir) / PLAN_FILE
    if not path.is_file():
        return None
    return StudyPlan.from_json(json.loads(path.read_text(encoding="utf-8")))


def save_plan(plan: StudyPlan) -> Path:
    path = slurm_dir(plan.output_dir) / PLAN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(plan.to_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


# ----------------------------------------------------------------------------------------------
# Planning and scripts


@dataclass(frozen=True)
class SubmitOptions:
    """The parsed ``submit`` command line."""

    model: str
    manifests: List[str]
    data_root: str
    output_dir: str
    stages: List[str]
    shards: int = 1
    model_path: Optional[str] = None
    sbatch_options: List[str] = field(default_factory=list)
    args: List[str] = field(default_factory=list)  # every stage
    baseline_args: List[str] = field(default_factory=list)
    conditioned_args: List[str] = field(default_factory=list)
    intervention_args: List[str] = field(default_factory=list)
    report_args: List[str] = field(default_factory=list)
    requeue: bool = True
    activate: Optional[str] = None  # the environment activation line; None: the running interpreter's venv
    python: str = sys.executable
    workdir: str = field(default_factory=os.getcwd)


def parse_stages(text: str) -> List[str]:
    """``baseline,conditioned,early_answering,report`` -> the stages in run order; unknown ones refused."""
    from audiofaith.interventions import KINDS

    names = [name.strip() for name in text.split(",") if name.strip()]
    known = [BASELINE, CONDITIONED, *sorted(KINDS), REPORT]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SubmitError(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if len(set(names)) != len(names):
        raise SubmitError(f"--stages names a stage twice: {text}")
    if not names:
        raise SubmitError("--stages is empty")
    order = {name: index for index, name in enumerate(known)}
    return sorted(names, key=order.__getitem__)


def read_sbatch_profile(path: "str | Path") -> List[str]:
    """sbatch options from a profile file: one or more per line, ``#SBATCH`` optional, ``#`` comments."""
    options: List[str] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("#SBATCH"):
            line = line[len("#SBATCH"):].strip()
        elif line.startswith("#") or not line:
            continue
        options.extend(shlex.split(line, comments=True))
    return options


def _subsets(manifests: Sequence[str]) -> List[str]:
    """The subset name of each manifest: its folder (processed_input/sakura/animal/... -> animal),
    else its stem; two manifests with one name are refused (their outputs would collide)."""
    names = []
    for manifest in manifests:
        path = Path(manifest)
        name = path.parent.name if path.name.endswith("_manifest.jsonl") and path.parent.name else path.stem
        names.append(re.sub(r"[^A-Za-z0-9_.-]", "_", name))
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SubmitError(f"two manifests give the subset name(s) {', '.join(repeated)}: put them in folders of "
                          "their own (processed_input/<bench>/<subset>/<bench>_manifest.jsonl)")
    return names


def stage_output(output_dir: str, model: str, subset: str, stage: str) -> str:
    """Where a stage writes for one subset; the layout of scripts/run_benchmark.sh and the report."""
    folder = Path(output_dir) / model / subset
    if stage == BASELINE:
        return str(folder / f"baseline_{subset}.jsonl")
    if stage == CONDITIONED:
        return str(folder / f"conditioned_{subset}.jsonl")
    return str(folder / "interventions" / f"{stage}_{subset}.jsonl")


def plan_study(options: SubmitOptions) -> StudyPlan:
    """The stages, their tasks and script paths (nothing written, nothing submitted)."""
    from audiofaith.backends import get_spec

    get_spec(options.model)
    if options.shards < 1:
        raise SubmitError(f"--shards must be at least 1, got {options.shards}")
    for manifest in options.manifests:
        if not Path(manifest).is_file():
            raise SubmitError(f"manifest {manifest} not found")
    output_dir = os.path.abspath(options.output_dir)
    manifests = [os.path.abspath(manifest) for manifest in options.manifests]
    subsets = _subsets(manifests)
    folder = slurm_dir(output_dir)
    stages: List[PlannedStage] = []
    for name in options.stages:
        if name == REPORT:
            continue
        tasks = [ArrayTask(task=index * options.shards + shard, subset=subset, manifest=manifest, shard=shard,
                           shards=options.shards, output=stage_output(output_dir, options.model, subset, name))
                 for index, (manifest, subset) in enumerate(zip(manifests, subsets))
                 for shard in range(options.shards)]
        stages.append(PlannedStage(name=name, script=str(folder / f"{name}.sbatch"),
                                   merge_script=str(folder / f"{name}_merge.sbatch"), tasks=tasks,
                                   after=None if name == BASELINE or BASELINE not in options.stages else BASELINE))
    report_script = str(folder / "report.sbatch") if REPORT in options.stages else None
    return StudyPlan(model=options.model, output_dir=output_dir, shards=options.shards, stages=stages,
                     report_script=report_script, command=list(sys.argv))


def activation_line(options: SubmitOptions) -> str:
    """The line that activates the environment ``submit`` runs in (or the one given with --activate)."""
    if options.activate:
        return options.activate
    if sys.prefix != sys.base_prefix and Path(sys.prefix, "bin", "activate").is_file():
        return f"source {shlex.quote(str(Path(sys.prefix) / 'bin' / 'activate'))}"
    if os.environ.get("CONDA_PREFIX"):
        return f"conda activate {shlex.quote(os.environ['CONDA_PREFIX'])}"
    return "# no virtual environment: the interpreter below is used as it is"


def _package_root() -> str:
    """The folder holding the ``audiofaith`` package that runs now: jobs import the same code."""
    return str(Path(__file__).resolve().parents[2])


def _header(options: SubmitOptions, plan: StudyPlan, job_name: str, log_name: str, array: Optional[str],
            comment: str) -> List[str]:
    logs = slurm_dir(plan.output_dir) / "logs"
    lines = ["#!/bin/bash", f"# {comment}", "# Written by `audiofaith submit` (docs/scale.md); rerun with sbatch, "
             "it resumes: finished work is skipped."]
    lines.append(f"#SBATCH --job-name={job_name}")
    if array is not None:
        lines.append(f"#SBATCH --array={array}")
    lines.append(f"#SBATCH --output={logs / log_name}")
    lines.append("#SBATCH --open-mode=append")
    lines.append("#SBATCH --requeue" if options.requeue else "#SBATCH --no-requeue")
    lines.extend(f"#SBATCH {shlex.quote(option)}" for option in options.sbatch_options)
    lines += ["", "set -euo pipefail", activation_line(options)]
    if "site-packages" not in Path(_package_root()).parts:  # a checkout, not an installed package
        lines.append(f"export PYTHONPATH={shlex.quote(_package_root())}${{PYTHONPATH:+:$PYTHONPATH}}")
    lines += ["# torch threads: the CPUs the job was given", "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}",
              f"PYTHON={shlex.quote(options.python)}", f"cd {shlex.quote(options.workdir)}"]
    return lines


def _quoted(words: Sequence[str]) -> str:
    return " ".join(shlex.quote(word) for word in words)


def _stage_command(options: SubmitOptions, stage: str) -> List[str]:
    """The stage's command with the manifest, input and output left as shell variables."""
    common = ["--model", options.model, "--data_root", options.data_root]
    if options.model_path:
        common += ["--model_path", options.model_path]
    if stage == BASELINE:
        head = ["baseline", *common, "--input", "$MANIFEST", "--output", "$OUTPUT"]
        extra = options.baseline_args
    elif stage == CONDITIONED:
        head = ["conditioned", *common, "--manifest_file", "$MANIFEST", "--input_results_file", "$BASELINE",
                "--output_conditioned_file", "$OUTPUT"]
        extra = options.conditioned_args
    else:
        head = ["intervene", "--kind", stage, *common, "--manifest_file", "$MANIFEST", "--input_results_file",
                "$BASELINE", "--output_file", "$OUTPUT"]
        extra = options.intervention_args
    return head + list(options.args) + list(extra)


def _shell_words(words: Sequence[str]) -> str:
    """Quote words for bash, leaving ``$VAR`` words as double-quoted expansions."""
    return " ".join(f'"{word}"' if re.fullmatch(r"\$[A-Z_]+", word) else shlex.quote(word) for word in words)


def array_script(options: SubmitOptions, plan: StudyPlan, stage: PlannedStage) -> str:
    count = len(stage.tasks)
    manifests = list(dict.fromkeys(task.manifest for task in stage.tasks))
    subsets = [next(task.subset for task in stage.tasks if task.manifest == m) for m in manifests]
    baseline_outputs = [stage_output(plan.output_dir, plan.model, subset, BASELINE) for subset in subsets]
    lines = _header(options, plan, f"af-{stage.name}", f"{stage.name}_%A_%a.log", f"0-{count - 1}",
                    f"{stage.name} of {plan.model}: {len(manifests)} manifest(s) x {plan.shards} shard(s) = "
                    f"{count} array tasks; task T = manifest T / {plan.shards}, shard T % {plan.shards}.")
    reads_baseline = stage.name != BASELINE
    lines += ["", f"MANIFESTS=({_quoted(manifests)})",
              f"OUTPUTS=({_quoted(task.output for task in stage.tasks[::plan.shards])})"]
    lines += [f"BASELINES=({_quoted(baseline_outputs)})"] if reads_baseline else []
    lines += [f"SHARDS={plan.shards}",
              f"TASK=${{SLURM_ARRAY_TASK_ID:?submit this script with sbatch --array=0-{count - 1} (or one task: --array=T)}}",
              "MANIFEST=${MANIFESTS[TASK / SHARDS]}", "OUTPUT=${OUTPUTS[TASK / SHARDS]}"]
    lines += ["BASELINE=${BASELINES[TASK / SHARDS]}"] if reads_baseline else []
    lines += ["SHARD=$((TASK % SHARDS))",
              f'echo "audiofaith {stage.name}: job ${{SLURM_ARRAY_JOB_ID:-}}_$TASK: $MANIFEST shard $SHARD/$SHARDS '
              '(restart ${SLURM_RESTART_COUNT:-0})"',
              f'exec "$PYTHON" -m audiofaith {_shell_words(_stage_command(options, stage.name))} '
              '--shard "$SHARD/$SHARDS"', ""]
    return "\n".join(lines)


def merge_script(options: SubmitOptions, plan: StudyPlan, stage: PlannedStage) -> str:
    lines = _header(options, plan, f"af-{stage.name}-merge", f"{stage.name}_merge_%j.log", None,
                    f"merge the {plan.shards} shard(s) of every {stage.name} output (after its array).")
    lines.append("")
    for manifest, output in stage.outputs.items():
        lines.append(f'"$PYTHON" -m audiofaith merge --output {shlex.quote(output)} --manifest_file '
                     f"{shlex.quote(manifest)} --num_shards {plan.shards}")
    return "\n".join(lines) + "\n"


def report_manifest_dir(manifests: Sequence[str]) -> str:
    """The folder holding every manifest of the study (their common parent), for ``report --manifest_dir``."""
    return os.path.commonpath([os.path.dirname(os.path.abspath(manifest)) for manifest in manifests])


def report_script(options: SubmitOptions, plan: StudyPlan) -> str:
    lines = _header(options, plan, "af-report", "report_%j.log", None,
                    f"the report of {plan.output_dir} (after every merge).")
    command = ["report", plan.output_dir, "--manifest_dir", report_manifest_dir(options.manifests), *options.report_args]
    lines += ["", f'"$PYTHON" -m audiofaith {_quoted(command)}', ""]
    return "\n".join(lines)


def write_scripts(options: SubmitOptions, plan: StudyPlan) -> List[Path]:
    """Write every script of the plan (executable, readable) and the logs folder."""
    (slurm_dir(plan.output_dir) / "logs").mkdir(parents=True, exist_ok=True)
    written = []
    contents = []
    for stage in plan.stages:
        contents += [(stage.script, array_script(options, plan, stage)),
                     (stage.merge_script, merge_script(options, plan, stage))]
    if plan.report_script:
        contents.append((plan.report_script, report_script(options, plan)))
    for path, text in contents:
        Path(path).write_text(text, encoding="utf-8")
        os.chmod(path, 0o755)
        written.append(Path(path))
    return written


# ----------------------------------------------------------------------------------------------
# Submission


def _sbatch(script: str, dependency: Optional[str]) -> str:
    command = ["sbatch", "--parsable"]
    if dependency:
        command += [f"--dependency=afterok:{dependency}", "--kill-on-invalid-dep=yes"]
    command.append(script)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SubmitError(f"sbatch refused {script}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip().split(";")[0]


def describe(plan: StudyPlan) -> str:
    """The plan as a user reads it: each job, its tasks and what it waits for."""
    lines = [f"study: {plan.model}, {plan.shards} shard(s) per manifest, outputs under {plan.output_dir}"]
    for stage in plan.stages:
        after = f", after {stage.after} merge" if stage.after else ""
        job = f" [job {stage.array_job}]" if stage.array_job else ""
        lines.append(f"  {stage.name}: array of {len(stage.tasks)} task(s){after}{job}: {stage.script}")
        for task in stage.tasks:
            lines.append(f"    task {task.task}: {task.subset} shard {task.shard}/{task.shards} -> {task.shard_output}")
        merge_job = f" [job {stage.merge_job}]" if stage.merge_job else ""
        lines.append(f"  {stage.name} merge: after the array{merge_job}: {stage.merge_script}")
    if plan.report_script:
        job = f" [job {plan.report_job}]" if plan.report_job else ""
        lines.append(f"  report: after every merge{job}: {plan.report_script}")
    return "\n".join(lines)


def submit(plan: StudyPlan) -> StudyPlan:
    """sbatch every script with its dependencies (afterok), recording the job ids in ``plan``."""
    if shutil.which("sbatch") is None:
        raise SubmitError("sbatch not found: submit needs a SLURM client (use --dry_run to only write the scripts)")
    merges: Dict[str, str] = {}
    for stage in plan.stages:
        stage.array_job = _sbatch(stage.script, merges.get(stage.after) if stage.after else None)
        stage.merge_job = _sbatch(stage.merge_script, stage.array_job)
        merges[stage.name] = stage.merge_job
    if plan.report_script:
        plan.report_job = _sbatch(plan.report_script, ":".join(merges.values()) or None)
    plan.submitted = now()
    return plan


def live_jobs(plan: StudyPlan) -> List[str]:
    """The plan's jobs SLURM still has pending or running (empty without squeue)."""
    states = job_states(plan.job_ids(), use_history=False)
    return sorted({job for job, state in states.items() if state in ("PENDING", "RUNNING", "REQUEUED", "CONFIGURING",
                                                                     "SUSPENDED", "COMPLETING")})


# ----------------------------------------------------------------------------------------------
# Job states


def _run_quietly(command: List[str]) -> Optional[str]:
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def job_states(job_ids: Sequence[str], use_history: bool = True) -> Dict[str, str]:
    """State by job id (``123``, ``123_0`` for array tasks, ``123_[0-1]`` for unstarted ones): squeue
    for live jobs, then sacct, else ``scontrol show job`` (without accounting) for finished ones."""
    job_ids = [job for job in job_ids if job]
    if not job_ids:
        return {}
    states: Dict[str, str] = {}
    listing = _run_quietly(["squeue", "-h", "-r", "-j", ",".join(job_ids), "-o", "%i|%T"])
    for line in (listing or "").splitlines():
        if "|" in line:
            job, state = line.strip().split("|", 1)
            states[job] = state
    if not use_history:
        return states
    history = _run_quietly(["sacct", "-n", "-X", "-P", "-j", ",".join(job_ids), "-o", "JobID,State"])
    if history is not None:
        for line in history.splitlines():
            if "|" in line:
                job, state = line.strip().split("|", 1)
                states.setdefault(job, state.split()[0])
        return states
    for job in job_ids:
        shown = _run_quietly(["scontrol", "-o", "show", "job", job])
        for line in (shown or "").splitlines():
            fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
            task = fields.get("ArrayTaskId")
            name = f"{fields.get('ArrayJobId')}_{task}" if task and fields.get("ArrayJobId") else fields.get("JobId")
            if name and fields.get("JobState"):
                states.setdefault(name, fields["JobState"])
    return states


def _shard_file_state(path: str) -> str:
    """completed / interrupted / running / failed from a shard file's sidecar, or 'not started'."""
    meta_path = sidecar_path(path)
    if not meta_path.is_file():
        return "not started"
    try:
        sessions = json.loads(meta_path.read_text(encoding="utf-8")).get("sessions") or [{}]
    except ValueError:
        return "unreadable sidecar"
    return sessions[-1].get("status") or "unknown"


def _merged(output: str, shards: int) -> bool:
    meta_path = sidecar_path(output)
    if not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except ValueError:
        return False
    return "merged_from" in meta and meta.get("counts", {}).get("shards") == shards


def render_status(plan: StudyPlan) -> str:
    """Each stage's tasks: job id, SLURM state, the shard file's state; merges; what is left."""
    states = job_states(plan.job_ids())

    def state_of(job: Optional[str], task: Optional[int] = None) -> str:
        if not job:
            return "not submitted"
        if task is not None:
            if f"{job}_{task}" in states:
                return states[f"{job}_{task}"]
            for name, state in states.items():  # an unstarted array: 123_[0-3]
                match = re.fullmatch(rf"{re.escape(job)}_\[(.*)\]", name)
                if match and _in_ranges(task, match.group(1)):
                    return state
        return states.get(job, "unknown to SLURM")

    when = plan.submitted or "never (dry run)"
    lines = [f"SLURM study of {plan.model} ({plan.shards} shard(s) per manifest), submitted {when}"]
    left: List[str] = []
    for stage in plan.stages:
        lines.append(f"  {stage.name} (array job {stage.array_job or '-'}, merge job {stage.merge_job or '-'}: "
                     f"{state_of(stage.merge_job)})")
        for task in stage.tasks:
            job = f"{stage.array_job}_{task.task}" if stage.array_job else "-"
            file_state = _shard_file_state(task.shard_output)
            lines.append(f"    task {task.task} {task.subset} shard {task.shard}/{task.shards}: job {job} "
                         f"{state_of(stage.array_job, task.task)}; output {file_state}")
            if file_state != "completed":
                left.append(f"{stage.name} {task.subset} shard {task.shard}/{task.shards}")
        for output in stage.outputs.values():
            if not _merged(output, plan.shards):
                left.append(f"{stage.name} merge of {Path(output).name}")
    if plan.report_script:
        report_done = (Path(plan.output_dir) / "report" / "report.md").is_file()
        lines.append(f"  report (job {plan.report_job or '-'}: {state_of(plan.report_job)}); "
                     f"{'written' if report_done else 'not written'}")
        if not report_done:
            left.append("report")
    lines.append("left: " + ("; ".join(left) if left else "nothing, the study is complete"))
    return "\n".join(lines) + "\n"


def _in_ranges(task: int, ranges: str) -> bool:
    """Whether ``task`` is in a SLURM index list like ``0-3,5%2``."""
    for part in ranges.split("%")[0].split(","):
        bounds = part.split("-")
        try:
            low, high = int(bounds[0]), int(bounds[-1])
        except ValueError:
            continue
        if low <= task <= high:
            return True
    return False


# ----------------------------------------------------------------------------------------------
# Command line


def parser() -> argparse.ArgumentParser:
    from audiofaith.backends import MODELS

    p = argparse.ArgumentParser(
        prog="audiofaith submit",
        description="Submit a whole study to SLURM as dependent job arrays: the baseline of every manifest in "
                    "--shards shards (one array), then conditioned and each intervention kind (each its own array, "
                    "afterok on the baseline's merge), a merge job after each array, and the report last. The "
                    "sbatch scripts are written to OUTPUT_DIR/slurm/ (rerunnable by hand) and logs to "
                    "OUTPUT_DIR/slurm/logs/; `audiofaith status OUTPUT_DIR` shows the jobs and what is left. "
                    "Every job is requeueable and resumes from its own output (docs/scale.md).",
        formatter_class=DefaultsHelpFormatter)
    p.add_argument("--model", required=True, choices=sorted(MODELS), help="model key from the registry")
    p.add_argument("--manifest", "--manifest_file", dest="manifests", action="append", required=True,
                   help="a manifest JSONL; repeat for several (each subset's outputs go to OUTPUT_DIR/MODEL/SUBSET/, "
                        "the subset being the manifest's folder name)")
    p.add_argument("--data_root", default="data/", help="directory the manifests' audio paths are relative to")
    p.add_argument("--model_path", default=None, help="hub id or local checkpoint directory (default: the model's)")
    p.add_argument("--output_dir", required=True, help="output root, e.g. output/sakura")
    p.add_argument("--stages", default="baseline,conditioned,report",
                   help="comma-separated: baseline, conditioned, any intervention kind (audiofaith intervene "
                        "--help), report; run in that order whatever order they are given in")
    p.add_argument("--shards", type=int, default=1, help="array tasks per manifest and stage")
    p.add_argument("--sbatch", default="",
                   help="sbatch options for every job, e.g. \"--partition=gpu --time=4:00:00 "
                        "--gres=gpu:nvidia_h100_80gb_hbm3_3g.40gb:1 --cpus-per-task=3 --mem=64G --account=...\"")
    p.add_argument("--sbatch_profile", default=None,
                   help="a file of sbatch options (one or more per line, '#SBATCH' optional, '#' comments), "
                        "applied before --sbatch")
    p.add_argument("--args", default="", help="extra options for every stage command, e.g. \"--batch_size 16\"")
    p.add_argument("--baseline_args", default="", help="extra options for the baseline, e.g. \"--max_new_tokens 1024\"")
    p.add_argument("--conditioned_args", default="", help="extra options for the conditioned stage")
    p.add_argument("--intervention_args", default="", help="extra options for every intervention kind")
    p.add_argument("--report_args", default="", help="extra options for the report")
    p.add_argument("--requeue", dest="requeue", action="store_true", default=True,
                   help="mark every job requeueable (#SBATCH --requeue): a preempted or requeued job comes back and "
                        "resumes from its own output (the default)")
    p.add_argument("--no_requeue", dest="requeue", action="store_false", help="mark the jobs not requeueable")
    p.add_argument("--activate", default=None,
                   help="the line that sets up the environment in each job (default: `source` the virtual "
                        "environment submit runs in)")
    p.add_argument("--dry_run", action="store_true", help="print the plan and write the scripts; submit nothing")
    p.add_argument("--log_level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def options_from_args(args: argparse.Namespace) -> SubmitOptions:
    sbatch_options = read_sbatch_profile(args.sbatch_profile) if args.sbatch_profile else []
    sbatch_options += shlex.split(args.sbatch)
    return SubmitOptions(model=args.model, manifests=args.manifests, data_root=args.data_root,
                         output_dir=args.output_dir, stages=parse_stages(args.stages), shards=args.shards,
                         model_path=args.model_path, sbatch_options=sbatch_options, args=shlex.split(args.args),
                         baseline_args=shlex.split(args.baseline_args),
                         conditioned_args=shlex.split(args.conditioned_args),
                         intervention_args=shlex.split(args.intervention_args),
                         report_args=shlex.split(args.report_args), requeue=args.requeue,
                         activate=args.activate)


#: options whose values are themselves options ("--sbatch '--time=4:00:00'"), which argparse reads as flags
_PASSTHROUGH = ("--sbatch", "--args", "--baseline_args", "--conditioned_args", "--intervention_args", "--report_args")


def _join_passthrough(argv: Sequence[str]) -> List[str]:
    """``--sbatch "--time=1:00:00"`` -> ``--sbatch=--time=1:00:00`` (argparse would take the value for a flag)."""
    joined: List[str] = []
    words = list(argv)
    index = 0
    while index < len(words):
        if words[index] in _PASSTHROUGH and index + 1 < len(words):
            joined.append(f"{words[index]}={words[index + 1]}")
            index += 2
        else:
            joined.append(words[index])
            index += 1
    return joined


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(_join_passthrough(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), format="%(levelname)s %(name)s: %(message)s")
    try:
        options = options_from_args(args)
        if args.sbatch_profile and not Path(args.sbatch_profile).is_file():
            raise SubmitError(f"--sbatch_profile {args.sbatch_profile} not found")
        previous = load_plan(options.output_dir)
        if previous is not None and not args.dry_run:
            running = live_jobs(previous)
            if running:
                raise SubmitError(f"jobs of the last submission into {options.output_dir} are still queued or "
                                  f"running ({', '.join(running)}); wait for them or scancel them, then submit again")
        plan = plan_study(options)
        written = write_scripts(options, plan)
        log.info("wrote %d script(s) to %s", len(written), slurm_dir(plan.output_dir))
        if not args.dry_run:
            submit(plan)
        save_plan(plan)
    except (UserError, OSError) as exc:
        log.error("%s", exc)
        return 2
    print(describe(plan))
    if args.dry_run:
        print("dry run: nothing submitted; submit by hand with sbatch (in the order above) or rerun without --dry_run")
    return 0
