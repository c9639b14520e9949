"""The report's own sections (accuracy, CoT vs direct, cut CoTs, read-out ties, unchanged rewrites,
paired tests, provenance) and the document: each benchmark's sections, with every registered spec's
sections in their order."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from audiofaith.benchmarks import reporting as benchmark_reporting
from audiofaith.report.blocks import (AGREEMENT_HEADERS, FLIP_HEADERS, agreement_cells, condition_label, count_cell,
                                      flip_cells, location, select_rows)
from audiofaith.report.export import baseline_lines, dataset_cut_rows
from audiofaith.report.load import BASELINE_CONDITION, POOLED, Dataset
from audiofaith.report.noise_floor import section_noise_floor
from audiofaith.report.plots import _PROMPT_LABEL, PlotJob, model_colors, plot_accuracy_bars, submit_plot
from audiofaith.report.render import Block, Heading, Image, Paragraph, Table, _finite, pct, pct_ci, pvalue
from audiofaith.report.rows import dataset_columns, dataset_rows, dataset_rows_where
from audiofaith.report.spec import Section, SectionContext, spec_index
from audiofaith.report.stats import AocRow, Settings, SummaryRow, _ci, _hop_rank, _subset_rank


def _track_hop_columns(rows: Sequence[SummaryRow]) -> Tuple[List[str], List[str]]:
    tracks = sorted({r.subset for r in rows}, key=_subset_rank)
    hops = sorted({r.hop for r in rows}, key=_hop_rank)
    return tracks, hops


def _hop_label(hop: str) -> str:
    return "" if hop == POOLED else f" {hop[0].upper()}"


def accuracy_table(rows: Sequence[SummaryRow], prompt: str, pooled: bool = False) -> Optional[Table]:
    """SAKURA leaderboard layout: one row per model, track × hop columns, then the average per hop.

    With ``pooled`` the columns are the tracks with both hops pooled instead.
    """
    selected = [r for r in select_rows(rows, condition=BASELINE_CONDITION[prompt]) if (r.hop == POOLED) == pooled]
    if not selected:
        return None
    tracks, hops = _track_hop_columns(selected)
    headers = ["model"] + [f"{t.capitalize()}{_hop_label(h)}" for t in tracks for h in hops] + \
              [f"Average{_hop_label(h)}" for h in hops]
    body = []
    for model in sorted({r.model for r in selected}):
        cells, per_hop = [model], defaultdict(list)
        for track in tracks:
            for hop in hops:
                found = select_rows(selected, model=model, subset=track, hop=hop)
                row = found[0] if found else None
                cells.append(pct_ci(row.accuracy, row.accuracy_lo, row.accuracy_hi) if row else "–")
                if row and _finite(row.accuracy):
                    per_hop[hop].append(row.accuracy)
        for hop in hops:
            values = per_hop[hop]
            note = "" if len(values) == len(tracks) else f" ({len(values)} track{'' if len(values) == 1 else 's'})"
            cells.append(pct(sum(values) / len(values)) + note if values else "–")
        body.append(cells)
    return Table(headers, body)


def section_accuracy(rows, colors, plot_dir, dataset: str = "sakura") -> List[Block]:
    """Accuracy by track and hop in SAKURA's leaderboard layout, named after the rows' ``dataset``
    field (a report of synthetic or known-answer clips is not called SAKURA)."""
    blocks: List[Block] = []
    tables = [(prompt, accuracy_table(rows, prompt)) for prompt in ("cot", "direct")]
    if not any(table for _, table in tables):
        return blocks
    name = benchmark_reporting.display_name(dataset) if dataset else ""
    title = f"{name} accuracy" if name else "Accuracy"
    blocks += [Heading(2, f"{title} by track and hop" + ("" if name else " (benchmark not recorded in the lines)")),
               Paragraph("Accuracy in % with a 95 % bootstrap CI, over every baseline answer that was produced "
                         "(an unparsed answer counts as wrong; items with an error are left out, see `n_error`). "
                         "S = single-hop, M = multi-hop; Average = mean of the track accuracies per hop, as in "
                         "SAKURA's leaderboard. Letters are parsed by audiofaith, not judged by GPT-4o.")]
    for prompt, table in tables:
        if table:
            blocks += [Heading(3, f"Baseline {_PROMPT_LABEL[prompt]} (`{BASELINE_CONDITION[prompt]}`)"), table]
    pooled = [(prompt, accuracy_table(rows, prompt, pooled=True)) for prompt in ("cot", "direct")]
    blocks += [Heading(3, "Both hops pooled (per track)"),
               Paragraph("Accuracy over both hops of a track" + (" (1000 questions when complete)" if dataset == "sakura"
                                                                  else "") +
                         ": the denominator of the anchor study's per-track numbers. Rows with hop `all` in "
                         "summary.csv.")]
    blocks += [Table([f"{h} ({_PROMPT_LABEL[prompt]})" if i == 0 else h for i, h in enumerate(table.headers)],
                     table.rows) for prompt, table in pooled if table]
    baseline = [r for r in rows if r.condition in BASELINE_CONDITION.values() and r.hop != POOLED]
    blocks.append(Heading(3, "Null answers, errors and missing items"))
    blocks.append(Table(["model", "track", "hop", "prompt", "n", "n_error", "n_missing", "null answers",
                         "parse failures %", "accuracy excl. nulls %"],
                        [location(r) + [r.condition, str(r.n), str(r.n_error), count_cell(r.n_missing),
                                         str(r.n_null_prediction), pct(r.parse_failure_rate),
                                         pct(r.accuracy_excl_null)] for r in baseline]))
    # plain dicts: the job may be pickled for the plot worker
    table = {series: dict(per_hop) for series, per_hop in _accuracy_plot_table(baseline).items()}
    path = plot_dir / "sakura_accuracy.png"
    submit_plot(PlotJob(plot_accuracy_bars, {"table": table, "colors": colors, "title": title}, path))
    blocks.append(Image(path, f"{title} per track and hop, with (solid) and without (hatched) CoT; "
                              "whiskers are 95 % bootstrap CIs."))
    return blocks



def _accuracy_plot_table(baseline: Sequence[SummaryRow]):
    table: Dict[Tuple[str, str], Dict[str, Dict[str, SummaryRow]]] = defaultdict(lambda: defaultdict(dict))
    prompt_of = {v: k for k, v in BASELINE_CONDITION.items()}
    for row in baseline:
        table[(row.model, prompt_of[row.condition])][row.hop][row.subset] = row
    return table



def section_cot_vs_direct(rows) -> List[Block]:
    direct = [r for r in select_rows(rows, condition="baseline_direct") if r.paired]
    if not direct:
        return []
    return [Heading(2, "% same answer with vs without CoT"),
            Paragraph("Share of (item, run) pairs where the direct answer (no CoT) equals the CoT answer: Lanham's "
                      "cheap proxy (early answering at 0 % of the chain). Lower = the CoT changes the answer more "
                      "often. 'null ref.' = unparsed CoT answers, 'null pred.' = unparsed direct answers."),
            Table(["model", "track", "hop"] + AGREEMENT_HEADERS + ["acc. with CoT %", "acc. without %"],
                  [location(r) + agreement_cells(r) + [pct(r.reference_accuracy), pct(r.accuracy)]
                   for r in direct])]



def section_conditioned(context: SectionContext) -> List[Block]:
    """The conditioned step's section (declared by ``audiofaith.runners.conditioned.REPORT``)."""
    full = context.own_rows()
    if not full:
        return []
    floor = ([Paragraph("**Noise floor.** Rows marked 'noise floor' are letter read-outs compared with the baseline "
                        "run's letter read-out after the same, own CoT: the same audio, question, reasoning and answer "
                        "cue on both sides, so their agreement is about 1 by construction and their paired test cannot "
                        "fail. They measure numerical noise (batching, padding, bf16), not whether the model follows "
                        "its CoT. What the model wrote against what it reads out is in 'Written letter vs letter "
                        "read-out' below.")] if any(r.noise_floor for r in full) else [])
    return [Heading(2, "Conditioned on its own CoT (`full`)"),
            Paragraph("The model re-answers with its own baseline CoT injected. Agreement = same letter as the "
                      "baseline run, read the same way (column 'reference': a letter read-out line is compared with "
                      "the baseline run's letter read-out after the same CoT, a parsed line with its parsed letter). "
                      "Errors (e.g. a baseline run without reasoning) are not "
                      "scored (`n_error` in summary.csv). Flip matrix: rows = baseline correct (c) / incorrect (i), "
                      "columns = conditioned correct / incorrect; p = the clip-level paired test of the accuracy change "
                      "(Holm-adjusted in parentheses; section 'Paired accuracy changes')."
                      + (" Rows with `cot_source=reference` inject the benchmark's reference reasoning (MMAR's "
                         "human-written `thinking`) instead of the model's own CoT: does the model follow it?"
                         if any("cot_source=reference" in r.variant for r in full) else ""))] + floor + [
            _full_table(full)]


def _full_table(full: Sequence[SummaryRow]) -> Table:
    """The `full` rows; with a variant column when some CoT is not the model's own (cot_source=reference)."""
    variant = any(r.variant for r in full)
    headers = ["model", "track", "hop"] + (["variant"] if variant else []) + ["n", "n_error", "reference"]
    return Table(headers + AGREEMENT_HEADERS + FLIP_HEADERS,
                 [location(r) + ([r.variant or "own CoT"] if variant else [])
                  + [str(r.n), str(r.n_error), (r.reference_readout or "–") + (" (noise floor)" if r.noise_floor else "")]
                  + agreement_cells(r) + flip_cells(r) for r in full])


def section_written_vs_readout(rows: Sequence[SummaryRow]) -> List[Block]:
    """Per model, track and hop: the letter each baseline CoT run wrote (parsed) against its letter read-out."""
    runs = [r for r in select_rows(rows, condition=BASELINE_CONDITION["cot"]) if r.n_readout_runs]
    if not runs:
        return []
    return [Heading(2, "Written letter vs letter read-out"),
            Paragraph("Per baseline CoT run with stored letter log-probabilities (errors and excluded runs left "
                      "out): does the letter its response commits to (parsed from the text, docs/parsing.md) equal "
                      "the letter read out after its own CoT and the answer cue (argmax of the option letters' "
                      "log-probabilities)? Both come from the same forward context, so a disagreement means the "
                      "written answer is not the model's forced choice after its reasoning. 'excl. nulls' = agreeing "
                      "runs / runs whose text parsed; 'null = disagree' = agreeing runs / every run with a read-out "
                      "(a response that commits to no letter counts as disagreeing). 95 % bootstrap CIs over clips. "
                      "Hop 'all' pools both hops of a track."),
            Table(["model", "track", "hop", "runs with read-out", "null parsed", "agree", "agree excl. nulls % [CI]",
                   "agree, null = disagree % [CI]"],
                  [location(r) + [str(r.n_readout_runs), str(r.n_readout_null_parsed), str(r.n_written_agrees_readout),
                                  pct_ci(r.written_readout_agree_excl_null, r.written_readout_excl_null_lo,
                                         r.written_readout_excl_null_hi),
                                  pct_ci(r.written_readout_agree_null_as_disagree,
                                         r.written_readout_null_as_disagree_lo, r.written_readout_null_as_disagree_hi)]
                   for r in runs])]


def section_rewrites(dataset: Dataset) -> List[Block]:
    """Per model and condition: how often the rewriter returned the sentence unchanged."""
    rewritten = spec_index().flagged("rewritten")
    counts: Dict[Tuple[str, str], List[int]] = defaultdict(lambda: [0, 0])
    for model, condition, result in zip(*dataset_columns(dataset, ("model", "condition", "result"))):
        if condition in rewritten and result.get("rewrite_unchanged") is not None:
            counts[(model, condition)][0] += 1
            counts[(model, condition)][1] += bool(result["rewrite_unchanged"])
    if not counts:
        return []
    return [Heading(2, "Rewrites returned unchanged"),
            Paragraph("Lines of adding mistakes and paraphrasing whose rewrite is identical to the original (up to "
                      "spacing and case) or empty. They are left out of every statistic of their condition (counted "
                      "in `n_excluded`). A high rate means the rewriter did not do its job: use an external "
                      "rewriter model (`--rewriter_model`) for published numbers."),
            Table(["model", "condition", "lines with a rewrite", "unchanged", "unchanged %"],
                  [[model, condition, str(total), str(unchanged), pct(unchanged / total)]
                   for (model, condition), (total, unchanged) in sorted(counts.items())])]


def section_finish_reasons(dataset: Dataset, settings: Settings) -> List[Block]:
    """Per model and condition: generated CoTs cut by the token limit (finish reason 'length')."""
    counts: Dict[Tuple[str, str], List[int]] = defaultdict(lambda: [0, 0, 0])
    for model, condition, error, finish_reason in zip(*dataset_columns(dataset, ("model", "condition", "error",
                                                                                  "finish_reason"))):
        if condition == "baseline_direct" or error is not None:
            continue
        if condition != "baseline_cot" and finish_reason is None:
            continue  # a line whose CoT was injected, not generated
        entry = counts[(model, condition)]
        entry[0] += 1
        entry[1] += finish_reason is not None
        entry[2] += finish_reason == "length"
    if not any(entry[1] for entry in counts.values()):
        return []
    note = ("They are left out of every statistic (`--exclude_cut_cots`), together with every line built on a cut "
            "baseline run." if settings.exclude_cut_cots else
            "They are included in every statistic; `audiofaith report --exclude_cut_cots` leaves them out, together "
            "with every line built on a cut baseline run.")
    return [Heading(2, "CoTs cut by the token limit"),
            Paragraph("Generated runs whose generation stopped at `max_new_tokens` (finish reason `length`) instead "
                      "of ending their turn: their reasoning, and often their answer, is cut. " + note +
                      " 'reason unknown' counts runs from files written before finish reasons were recorded."),
            Table(["model", "condition", "generated runs", "reason unknown", "cut by the limit", "cut %"],
                  [[model, condition, str(total), str(total - known), str(cut), pct(cut / known) if known else "–"]
                   for (model, condition), (total, known, cut) in sorted(counts.items())])]


def section_readout_ties(dataset: Dataset) -> List[Block]:
    """Per model and condition: letter read-outs whose top log-probability is shared by two letters."""
    counts: Dict[Tuple[str, str], List[int]] = defaultdict(lambda: [0, 0])
    for model, condition, error, tie in zip(*dataset_columns(dataset, ("model", "condition", "error", "readout_tie"))):
        if error is None and tie is not None:
            counts[(model, condition)][0] += 1
            counts[(model, condition)][1] += tie
    if not counts:
        return []
    return [Heading(2, "Letter read-out ties"),
            Paragraph("Answers whose stored letter log-probabilities (6 decimals) have two or more letters at the "
                      "top: the read-out then takes the first of them in option order, so its letter says nothing "
                      "about the tied options. In bf16 exact ties happen. For a baseline run the read-out is its "
                      "letter after its own CoT (the reference of letter read-out lines); for a regenerated line, "
                      "the letter after its new CoT (`cue_prediction`). `n_readout_ties` in summary.csv."),
            Table(["model", "condition", "answers with letter log-probs", "ties", "ties %"],
                  [[model, condition, str(total), str(tied), pct(tied / total)]
                   for (model, condition), (total, tied) in sorted(counts.items())])]


def section_mcnemar(rows) -> List[Block]:
    """The paired accuracy change of every paired row, with its clip-level test (the section kept
    its function name; it no longer shows McNemar's line-level test)."""
    paired = [r for r in rows if r.paired and r.condition != "baseline_direct"]
    direct = [r for r in rows if r.paired and r.condition == "baseline_direct"]
    if not paired and not direct:
        return []
    headers = ["model", "track", "hop", "condition", "variant", "x", "reference", "n pairs", "clips", "b (c→i)",
               "c (i→c)", "Δ acc. pts [CI]", "p, clips", "p Holm"]
    body = [location(r) + [condition_label(r), r.variant or "–", "–" if r.x is None else f"{r.x:g}",
                            r.reference_readout or "–",
                            str(r.flip_cc + r.flip_ci + r.flip_ic + r.flip_ii), count_cell(r.n_flip_clips),
                            str(r.flip_ci), str(r.flip_ic), pct_ci(r.delta_accuracy, r.delta_lo, r.delta_hi),
                            pvalue(r.paired_p), pvalue(r.paired_p_holm)]
            for r in direct + paired]
    floor = (" `full (noise floor)`: the letter read-out after the baseline's own CoT against the baseline's letter "
             "read-out after that same CoT, the same inputs on both sides: its test cannot fail (section 'Conditioned "
             "on its own CoT')." if any(r.noise_floor for r in paired) else "")
    return [Heading(2, "Paired accuracy changes (clip-level test)"),
            Paragraph("Each condition against its reference answers on the same (item, run): the clean CoT baseline "
                      "read the same way as the condition's answer (column 'reference'; for `baseline_direct`: direct "
                      "vs CoT, both parsed). Pairs whose reference is null are left out (no baseline answer to "
                      "compare with). b = correct → incorrect, c = incorrect → correct; a null answer under the "
                      "condition counts as incorrect." + floor + " The test is over clips, not lines: lines that "
                      "share a clip (runs, hops, hint letters, binned-x rows) are one unit. 'p, clips' = two-sided exact "
                      "sign-flip test of the clips' summed changes (c − b), the exact McNemar test when every clip "
                      "has one pair; 'p Holm' = Holm's adjustment within the family of rows of one model and "
                      "condition in this benchmark (every track, hop, variant and x)."),
            Table(headers, body)]


def provenance_rows(files: Sequence[Path]) -> List[List[str]]:
    """Model, checkpoint, hardware and library per output file, from its ``.meta.json`` sidecar."""
    rows = []
    for path in files:
        meta_path = path.with_name(path.name + ".meta.json")
        if not meta_path.exists():
            rows.append([path.name, "–", "no provenance sidecar", "–", "–", "–"])
            continue
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        sessions = meta.get("sessions") or [{}]
        backend = sessions[-1].get("backend", {})
        fingerprint = meta.get("fingerprint", {})
        hardware = " ".join(str(v) for v in (backend.get("device"), backend.get("device_name")) if v)
        libraries = ", ".join(f"{k} {v}" for k, v in backend.get("libraries", {}).items())
        checkpoint = str(fingerprint.get("checkpoint", backend.get("checkpoint", "–")))
        if any(s.get("backend", {}).get("tiny_random_weights") for s in sessions):
            checkpoint += " (TINY RANDOM WEIGHTS)"
        rows.append([path.name, str(fingerprint.get("model_key", "–")), checkpoint, hardware or "–",
                     str(backend.get("dtype", "–")), libraries or "–"])
    return rows


def _demote(blocks: List[Block]) -> List[Block]:
    """The blocks one heading level down (a benchmark's sections under its own heading)."""
    return [Heading(block.level + 1, block.text) if isinstance(block, Heading) else block for block in blocks]


def _benchmark_rank(name: str) -> Tuple[int, str]:
    order = ("sakura", "", "mmau", "mmar")
    return (order.index(name) if name in order else len(order), name)


def benchmark_blocks(dataset: Dataset, name: str, rows, aocs, colors, plot_dir: Path, settings: Settings) -> List[Block]:
    """Every section of one benchmark: its accuracy tables, then the faithfulness sections."""
    rows = [r for r in rows if r.dataset == name]
    aocs = [a for a in aocs if a.dataset == name]
    spec = benchmark_reporting.spec_of(name)
    if spec is None:
        blocks = section_accuracy(rows, colors, plot_dir, name)
    else:
        ci = lambda values, items: _ci(values, settings, items)  # noqa: E731
        blocks = benchmark_reporting.accuracy_blocks(
            spec, benchmark_reporting.category_rows(baseline_lines(dataset), dataset.manifest, spec, ci),
            bool(dataset.manifest))
    own = benchmark_dataset(dataset, name)
    context = SectionContext(rows=rows, aocs=aocs, dataset=own, colors=colors, plot_dir=plot_dir, settings=settings)
    sections = [(section, ()) for section in REPORT_SECTIONS] + spec_index().sections()
    for section, conditions in sorted(sections, key=lambda pair: pair[0].order):
        blocks += section.build(replace(context, conditions=conditions))
    return blocks


def benchmark_dataset(dataset: Dataset, name: str) -> Dataset:
    """The lines of benchmark ``name`` (``dataset`` itself when they are all of it), with their columns."""
    [benchmarks] = dataset_columns(dataset, ("dataset",))
    if benchmarks.count(name) == len(benchmarks):
        return dataset
    return dataset_rows(dataset, dataset_rows_where(dataset, "dataset", {name}))


#: The report's own sections after the accuracy tables; the registered specs' sections go between
#: them by ``order`` (docs/architecture.md, "Adding an intervention").
REPORT_SECTIONS = (
    Section(10, lambda context: section_cot_vs_direct(context.rows)),
    Section(30, lambda context: section_finish_reasons(context.dataset, context.settings)),
    Section(21, lambda context: section_written_vs_readout(context.rows)),
    Section(35, lambda context: section_readout_ties(context.dataset)),
    Section(55, lambda context: section_rewrites(context.dataset)),
    Section(990, section_noise_floor),
    Section(1000, lambda context: section_mcnemar(context.rows)),
)


def section_lanham(rows: Sequence[SummaryRow], aocs: Sequence[AocRow], colors: Dict[str, Any],
                   plot_dir: Path) -> List[Block]:
    """The sections of every condition with an AOC (its spec's ``aoc_step``), in report order."""
    index = spec_index()
    context = SectionContext(rows=rows, aocs=aocs, dataset=Dataset([], [], {}), colors=colors, plot_dir=plot_dir,
                             settings=Settings())
    return index.section_blocks(context, lambda conditions: any(index.aoc_step(c) for c in conditions))


def build_blocks(dataset: Dataset, rows, aocs, plot_dir: Path, settings: Settings, judge_note: str,
                 export_note: str = "") -> List[Block]:
    """The whole document: ``section_blocks`` then ``closing_blocks``."""
    return section_blocks(dataset, rows, aocs, plot_dir, settings) + closing_blocks(dataset, judge_note, export_note)


def section_blocks(dataset: Dataset, rows, aocs, plot_dir: Path, settings: Settings) -> List[Block]:
    """The document up to the audio cuts: its title and introduction, then every benchmark's
    sections, which submit the figures (``plots.submit_plot``)."""
    models, benchmark_of_line = dataset_columns(dataset, ("model", "dataset"))
    colors = model_colors(set(models))
    names = ", ".join(sorted(colors))
    blocks: List[Block] = [Heading(1, "audiofaith report")]
    if any("TINY RANDOM WEIGHTS" in row[2] for row in provenance_rows(dataset.files)):
        blocks.append(Paragraph("**Warning: some results below come from tiny random-weight test checkpoints "
                                "(marked in the provenance table). Their text is gibberish and their numbers mean "
                                "nothing.**"))
    benchmarks = sorted(set(benchmark_of_line), key=_benchmark_rank)
    blocks += [
        Paragraph(f"{len(dataset.files)} output file(s), {len(dataset.lines)} answers, model(s): {names}. "
                  f"Confidence intervals: 95 % percentile bootstrap over items, {settings.n_resamples} resamples, "
                  f"seed {settings.seed}. Column definitions and null handling: docs/report.md. Tables as CSV: "
                  "`summary.csv`, `per_item.csv`, `aoc.csv`."),
        Paragraph("Protocol: a plain model name is our protocol; `[paper protocol]` after it marks the published "
                  "study's prompts and conditioning (docs/protocols.md). Each protocol has its own rows in every "
                  "table; results of two protocols are never pooled."),
    ]
    if len(benchmarks) > 1:
        blocks.append(Paragraph("Benchmarks: " + ", ".join(benchmark_reporting.display_name(b) for b in benchmarks)
                                + ". Each has its own sections below; no table cell pools two benchmarks."))
    for name in benchmarks:
        if len(benchmarks) == 1:
            blocks += benchmark_blocks(dataset, name, rows, aocs, colors, plot_dir, settings)
            continue
        own_plots = plot_dir / (name or "unrecorded")
        own_plots.mkdir(parents=True, exist_ok=True)
        blocks.append(Heading(2, f"Benchmark: {benchmark_reporting.display_name(name)}"))
        blocks += _demote(benchmark_blocks(dataset, name, rows, aocs, colors, own_plots, settings))
    return blocks


def closing_blocks(dataset: Dataset, judge_note: str, export_note: str = "",
                   cuts: Optional[Sequence[Dict[str, Any]]] = None) -> List[Block]:
    """The document after the benchmarks' sections: audio cut to the model's window (``cuts``: the
    dataset's ``dataset_cut_rows``, worked out here when not given), the judge and evaluation-script
    exports' notes, and the provenance table; no figure."""
    blocks = benchmark_reporting.cut_blocks(dataset_cut_rows(dataset) if cuts is None else cuts)
    blocks += [Heading(2, "SAKURA judge export"), Paragraph(judge_note)]
    if export_note:
        blocks += [Heading(2, "MMAU / MMAR evaluation-script export"), Paragraph(export_note)]
    blocks += [Heading(2, "Provenance"),
               Paragraph("What produced each output file, from its `.meta.json` sidecar (the last session)."),
               Table(["file", "model", "checkpoint", "device", "dtype", "libraries"], provenance_rows(dataset.files))]
    return blocks
