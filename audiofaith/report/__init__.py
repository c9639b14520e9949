"""The report: one command from output JSONL files to tables, plots and statistics.

``audiofaith report output/sakura`` reads every baseline (``baseline_*.jsonl``), conditioned
(``conditioned_*.jsonl``) and intervention (``interventions/*.jsonl``) file under the folder,
joins them by (model, id, run), and writes ``summary.csv``, ``per_item.csv``, ``aoc.csv``,
``report.md``, a self-contained ``report.html``, PNG plots and SAKURA's judge input files.
Model, subset, hop and condition come from the records' own fields, never from paths. Every
column and formula is described in docs/report.md.

Modules: ``rows`` (the typed rows every module shares: ``Line``, ``Dataset``, ``SummaryRow``,
``AocRow``, ``Settings``; imports no other report module), ``spec`` (the ``ReportSpec`` each
condition's module declares), ``load`` (records → ``Line``, joins), ``stats`` (summary rows, AOC), ``tables`` (CSV), ``render`` (blocks → Markdown /
HTML), ``plots`` (figures as jobs; ``plot_worker``: the processes that draw them), ``blocks`` (shared table cells), ``sections`` (the report's own sections and the
document), ``export`` (judge and evaluation-script files), ``cli`` (``write_report``, ``main``).
"""

from audiofaith.report.blocks import (AGREEMENT_HEADERS, FLIP_HEADERS, agreement_cells, aoc_cell, aoc_table,
                                      condition_table, flip_cells, lanham_section, location)
from audiofaith.report.cli import main, parser, write_report
from audiofaith.report.export import export_judge_inputs, sakura_label
from audiofaith.report.load import (BASELINE_CONDITION, CUT_BY_LENGTH, HOP_ORDER, POOLED, REFERENCE_KINDS, TRACK_ORDER,
                                    Dataset, Line, ReportError, clip_key, exclude_cut_cots, find_output_files, join,
                                    load_file, load_manifests, load_outputs, model_label, protocol_label)
from audiofaith.report.plots import MODE_STYLE, _pyplot, _unique_legend, model_colors, plot_accuracy_bars, plot_curves
from audiofaith.report.render import Block, Heading, Image, Paragraph, Table, pct, pct_ci, pvalue, render_html, \
    render_markdown
from audiofaith.report.sections import (accuracy_table, benchmark_blocks, build_blocks, provenance_rows,
                                        section_accuracy, section_conditioned, section_cot_vs_direct,
                                        section_finish_reasons, section_lanham, section_mcnemar, section_rewrites)
from audiofaith.report.spec import CurveSpec, ReportSpec, Section, SectionContext, spec_index
from audiofaith.report.stats import (NO_REFERENCE, NO_SCORED_LINE, AocRow, Settings, SummaryRow, _aoc_points, aoc_rows,
                                     summarize, summarize_group, summary_columns)
from audiofaith.report.tables import PER_ITEM_COLUMNS, per_item_rows, write_csv
# issue 22 (items 4, 6, 9): x bins, read-out ties, the written letter vs the read-out letter
from audiofaith.report.load import bin_tenth
from audiofaith.report.sections import section_readout_ties, section_written_vs_readout

_aoc_cell = aoc_cell  # the name tests and older callers use

__all__ = ["accuracy_table", "agreement_cells", "AGREEMENT_HEADERS", "_aoc_cell", "aoc_cell", "_aoc_points",
           "aoc_rows", "aoc_table", "AocRow", "BASELINE_CONDITION", "benchmark_blocks", "Block", "build_blocks",
           "clip_key", "condition_table", "CurveSpec", "CUT_BY_LENGTH", "Dataset", "exclude_cut_cots",
           "export_judge_inputs", "find_output_files", "flip_cells", "FLIP_HEADERS", "Heading", "HOP_ORDER", "Image",
           "join", "lanham_section", "Line", "load_file", "load_manifests", "load_outputs", "location", "main",
           "MODE_STYLE", "model_colors", "model_label", "NO_REFERENCE", "NO_SCORED_LINE", "Paragraph", "parser",
           "pct", "pct_ci", "PER_ITEM_COLUMNS", "per_item_rows", "plot_accuracy_bars", "plot_curves", "POOLED",
           "protocol_label", "provenance_rows", "pvalue", "_pyplot", "REFERENCE_KINDS", "render_html",
           "render_markdown", "ReportError", "ReportSpec", "sakura_label", "Section", "section_accuracy",
           "section_conditioned", "section_cot_vs_direct", "section_finish_reasons", "section_lanham",
           "section_mcnemar", "section_rewrites", "SectionContext", "Settings", "spec_index", "summarize",
           "summarize_group", "summary_columns", "SummaryRow", "Table", "TRACK_ORDER", "_unique_legend", "write_csv",
           "write_report"]
__all__ += ["bin_tenth", "section_readout_ties", "section_written_vs_readout"]
