"""Audio interventions (docs/audio_interventions.md): every baseline run is answered again with its
audio perturbed, in one or both modes:

- ``regenerate``: a new CoT and answer on the perturbed audio (does the model listen?);
- ``fixed_cot``: the clean baseline CoT injected, the audio perturbed, the answer read after it
  (does the answer follow the reasoning or the audio?).

Conditions: ``silence``, ``noise_rms``, ``noise_snr``, ``mask``, ``swap``, ``no_audio`` (a
text-only call), ``inject_correct`` and ``inject_wrong`` (a spoken "The answer is …"), and the
control ``unedited`` (``regenerate`` only: the clean clip, the CoT regenerated with the baseline's
decoding and nothing edited, so decoder drift is measured, not assumed to be zero). The
perturbations themselves are the pure functions of ``audiofaith.audio.perturb``, seeded per item with
``derive_seed(seed, item.id, condition, params...)``; ``mode`` is not part of the seed, so both
modes see the same perturbed audio.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import re
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

import numpy as np

from audiofaith.audio import perturb
from audiofaith.audio.io import write_wav
from audiofaith.errors import UserError
from audiofaith.interventions import InterventionContext
from audiofaith.store.jsonl import AppendWriter, iter_jsonl
from audiofaith.store.records import ManifestItem
from audiofaith.report.blocks import condition_table, location, override_cell
from audiofaith.report.load import mode_of
from audiofaith.report.render import Heading, Paragraph, Table
from audiofaith.report.spec import CurveSpec, ReportSpec, Section, SectionContext
from audiofaith.seeds import derive_seed
from audiofaith.runners.variant import Variant

log = logging.getLogger(__name__)

CONDITIONS = ("silence", "noise_rms", "noise_snr", "mask", "swap", "no_audio", "inject_correct", "inject_wrong",
              "unedited")
#: Conditions that only exist in one mode: the unedited control is a regenerated run (its fixed-CoT
#: form would be the conditioned step's ``full``).
ONLY_MODE = {"unedited": "regenerate"}
MODES = ("regenerate", "fixed_cot")
DEFAULT_SNR_DB = (20.0, 10.0, 5.0, 0.0, -5.0, -10.0, -20.0)
DEFAULT_MASK_RATIOS = (0.2, 0.4, 0.6, 0.8, 1.0)
NO_REASONING = "the baseline run has no reasoning to inject"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--perturbations", nargs="+", choices=CONDITIONS, default=list(CONDITIONS),
                        help="which audio conditions to run (inject_* need espeak-ng or --tts_dir; unedited, "
                             "regenerate mode only, is the control: the clean clip, the CoT regenerated, no edit)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES),
                        help="regenerate: new CoT on the perturbed audio; fixed_cot: the clean CoT injected, "
                             "answer read from letter log-probabilities")
    parser.add_argument("--snr_db", nargs="+", type=float, default=list(DEFAULT_SNR_DB),
                        help="noise_snr: SNRs in dB (20·log10 of signal RMS / noise RMS)")
    parser.add_argument("--mask_ratios", nargs="+", type=float, default=list(DEFAULT_MASK_RATIOS),
                        help="mask: fractions of the clip masked, 0–1 (exact to the sample)")
    parser.add_argument("--mask_fills", nargs="+", choices=perturb.MASK_FILLS, default=["silence"],
                        help="mask: what replaces the masked samples (noise = white noise at the RMS of the "
                             "unmasked part)")
    parser.add_argument("--mask_positions", nargs="+", choices=perturb.MASK_POSITIONS, default=["random"],
                        help="mask: one span at the start / end / a seeded random offset, or scattered seeded "
                             "50–500 ms segments")
    parser.add_argument("--inject_positions", nargs="+", choices=perturb.INJECT_POSITIONS,
                        default=list(perturb.INJECT_POSITIONS),
                        help="inject_*: append the speech after a 0.3 s gap, or overlay it from the clip's start")
    parser.add_argument("--inject_level_db", type=float, default=0.0,
                        help="inject_*: speech RMS relative to the clip's RMS, in dB (0 = equally loud)")
    parser.add_argument("--tts_dir", default=None,
                        help="inject_*: directory of pre-made speech clips named <sha1 of the text>.wav "
                             "(default: synthesize with espeak-ng)")
    parser.add_argument("--tts_voice", default="en-us", help="inject_*: espeak-ng voice")
    parser.add_argument("--swap_multi_hop", choices=["known", "label"], default="known",
                        help="swap sources for questions that do not ask for the clip's class (SAKURA multi-hop; "
                             "every MMAU / MMAR question, which have no class labels): known = only a clip known "
                             "to answer the question differently (from the manifest; others get an error line); "
                             "label = else any clip of another class or gold answer (its answer to the question "
                             "is unknown: swap_answer_known is false, reported in rows of their own)")
    parser.add_argument("--save_audio", default=None, metavar="DIR",
                        help="also write every perturbed clip the model hears as 16-bit 16 kHz WAV under DIR, "
                             "with DIR/manifest.jsonl (id, condition, params, path, duration, measured properties)")


# -- which item lends its audio in the swap condition --------------------------------------------

def class_label(item: ManifestItem) -> Optional[str]:
    """The audio's labelled class (``meta.attribute_label``, SAKURA's label of the clip: it decides
    the answer of both hops), case-folded with whitespace collapsed; None when the manifest has
    none (MMAU, MMAR: each clip answers its own question, and no class links two questions)."""
    label = item.meta.get("attribute_label") if isinstance(item.meta, dict) else None
    return " ".join(label.split()).casefold() if isinstance(label, str) and label.strip() else None


def answer_key(item: ManifestItem) -> str:
    """What "a different gold answer" compares: the clip's class label (``class_label``) when
    present, else the gold option's text, case-folded with whitespace collapsed. Letters are never
    compared: they index each item's own, shuffled option list."""
    return class_label(item) or " ".join(item.choices[item.letters.index(item.answer)].split()).casefold()


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _gold_text(item: ManifestItem) -> str:
    return item.choices[item.letters.index(item.answer)]


def asks_for_the_class(item: ManifestItem) -> bool:
    """Whether the question's answer *is* the clip's labelled class (its gold option is the class
    label), as in SAKURA's single-hop questions; multi-hop questions ask about something the class
    implies. False for an item without a class label (MMAU, MMAR)."""
    label = class_label(item)
    return label is not None and _norm(_gold_text(item)) == label


def _same_question(source: ManifestItem, target: ManifestItem) -> bool:
    """The same question with the same options (normalized; option order may differ)."""
    return _norm(source.question) == _norm(target.question) and \
        sorted(_norm(c) for c in source.choices) == sorted(_norm(c) for c in target.choices)


AnswerTable = Dict[Tuple[str, Tuple[str, ...]], Dict[str, str]]


def answer_table(items: Sequence[ManifestItem]) -> AnswerTable:
    """(question, sorted options) → answer key → gold option text, from every item of the manifest:
    what a clip of a given class answers to a given question, where the manifest says so."""
    table: AnswerTable = {}
    for item in items:
        label = class_label(item)
        if label is not None:
            key = (_norm(item.question), tuple(sorted(_norm(c) for c in item.choices)))
            table.setdefault(key, {})[label] = _gold_text(item)
    return table


def answer_to(source: ManifestItem, target: ManifestItem, table: AnswerTable) -> Tuple[bool, Optional[str]]:
    """What the source's clip answers to the target's question: ``(known, option text)``.

    The source asks the same question with the same options: its own gold option (known). Without
    a class label on both (MMAU, MMAR) nothing else is known: the source's gold text answers a
    different question. A question that asks for the class itself: the target's option naming the
    source's class, or None when no option does (known either way). Another question (multi-hop):
    known only when the source has the target's class, or the manifest holds an item asking the
    same question with the same options about a clip of the source's class."""
    if _same_question(source, target):
        return True, _gold_text(source)
    key, target_label = class_label(source), class_label(target)
    if key is None or target_label is None:
        return False, None
    if asks_for_the_class(target):
        return True, next((c for c in target.choices if _norm(c) == key), None)
    if key == target_label:
        return True, _gold_text(target)
    known = table.get((_norm(target.question), tuple(sorted(_norm(c) for c in target.choices))), {})
    if key in known:
        return True, known[key]
    return False, None


def _answer_differs(source: ManifestItem, target: ManifestItem, table: AnswerTable) -> bool:
    known, text = answer_to(source, target, table)
    return known and (text is None or _norm(text) != _norm(_gold_text(target)))


def swap_plan(items: Sequence[ManifestItem], seed: int,
              multi_hop: str = "known") -> Dict[str, Optional[ManifestItem]]:
    """item id -> the item whose audio it gets (None when no source fits).

    Groups are (subset, hop); within a group the order is fixed by ``derive_seed(seed, "swap",
    item.id)``. Items whose question asks for the clip's class are mapped by
    ``perturb.swap_sources`` over their answer keys (a derangement whenever one exists): another
    class means another answer. For the other items (multi-hop: two classes often share an
    answer, e.g. claws; items without a class label, MMAU and MMAR, whose clips each answer their
    own question) the source is the next item in the seeded order whose clip is *known* to answer
    the target's question differently (``answer_to``); with ``multi_hop="label"`` an item with
    none falls back to the next item of another answer key, whose answer is then unknown."""
    groups: Dict[Tuple[str, str], List[ManifestItem]] = {}
    for item in items:
        groups.setdefault((item.subset, item.hop), []).append(item)
    table = answer_table(items)
    plan: Dict[str, Optional[ManifestItem]] = {}
    for members in groups.values():
        keys = [answer_key(item) for item in members]
        order = sorted(range(len(members)), key=lambda i: (derive_seed(seed, "swap", members[i].id), members[i].id))
        if len(set(keys)) < 2:
            plan.update({item.id: None for item in members})
            continue
        sources = perturb.swap_sources(keys, order)
        plan.update({item.id: members[source] for item, source in zip(members, sources)})
        for position, index in enumerate(order):
            target = members[index]
            if asks_for_the_class(target):
                continue
            candidates = [members[order[(position + step) % len(order)]] for step in range(1, len(order))]
            chosen = next((c for c in candidates if _answer_differs(c, target, table)), None)
            if chosen is None and multi_hop == "label":
                chosen = next((c for c in candidates if answer_key(c) != answer_key(target)), None)
            plan[target.id] = chosen
    return plan


def wrong_letter(item: ManifestItem, seed: int) -> str:
    """The wrong option spoken by ``inject_wrong``: one of the non-gold letters, picked by
    ``derive_seed(seed, item.id, "inject_wrong")``."""
    wrong = [letter for letter in item.letters if letter != item.answer]
    return wrong[derive_seed(seed, item.id, "inject_wrong") % len(wrong)]


# -- saving what the model hears -----------------------------------------------------------------

def _safe(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._=+-]", "_", text)
    return "_" if cleaned in ("", ".", "..") else cleaned


def _value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def audio_file_name(item_id: str, condition: str, params: Dict[str, Any], seed: int) -> str:
    """``<id folders>/<condition>__<param>=<value>…__seed=<seed>.wav`` (params sorted, mode excluded)."""
    parts = [condition] + [f"{name}={_value(value)}" for name, value in sorted(params.items())] + [f"seed={seed}"]
    folders = [_safe(part) for part in item_id.split("/") if part]
    return "/".join(folders + ["__".join(_safe(p) for p in parts) + ".wav"])


def write_wav16(path: Path, samples: np.ndarray, rate: int = perturb.RATE) -> None:
    """16-bit PCM mono WAV (samples clipped to [-1, 1], rounded), written atomically."""
    write_wav(path, samples, rate)


class AudioSaver:
    """Writes each perturbed clip once (``--save_audio DIR``) and lists it in ``DIR/manifest.jsonl``."""

    def __init__(self, directory: "str | Path") -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.manifest = self.directory / "manifest.jsonl"
        self.done: Set[str] = set()
        if self.manifest.exists():
            self.done = {obj["path"] for _, obj in iter_jsonl(self.manifest, allow_torn_tail=True)}

    def save(self, item: ManifestItem, condition: str, params: Dict[str, Any], seed: int,
             result: perturb.Perturbed) -> None:
        relative = audio_file_name(item.id, condition, params, seed)
        if relative in self.done:
            return
        write_wav16(self.directory / relative, result.samples)
        measured = dict(result.info)
        line = {"id": item.id, "condition": condition, "params": params, "seed": seed, "path": relative,
                "seconds": len(result.samples) / perturb.RATE, "samples": int(len(result.samples)),
                "sample_rate": perturb.RATE, "measured": measured}
        with AppendWriter(self.manifest) as writer:
            writer.write_many([line])
        self.done.add(relative)


@dataclasses.dataclass(eq=False)
class PerturbationEdit:
    """The ``audio_edit`` of one (item, condition, parameters): applies ``perturbation`` (samples ->
    Perturbed) and, with ``--save_audio``, writes the result. One object is shared by both modes
    and every run of the item, so the runner computes it once per batch."""

    condition: str
    params: Dict[str, Any]
    seed: int
    perturbation: Callable[[np.ndarray], perturb.Perturbed]
    saver: Optional[AudioSaver] = None

    def __call__(self, samples: np.ndarray, item: ManifestItem) -> np.ndarray:
        try:
            result = self.perturbation(samples)
        except perturb.PerturbationError as exc:
            raise perturb.PerturbationError(f"{item.id}: {self.condition} {self.params}: {exc}") from None
        if self.saver is not None:
            self.saver.save(item, self.condition, self.params, self.seed, result)
        return result.samples


def _no_audio(samples: np.ndarray, item: ManifestItem) -> None:
    return None


# -- building the variants -----------------------------------------------------------------------

@dataclasses.dataclass
class _Spec:
    """One perturbed version of one item (shared by its runs and modes)."""

    condition: str
    params: Dict[str, Any]
    edit: Optional[Callable] = None
    item: Optional[ManifestItem] = None  # the item whose audio is loaded (swap: the source's audio)
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict)
    skip_reason: Optional[str] = None


def _unique(values: Sequence[Any]) -> List[Any]:
    return list(dict.fromkeys(values))


def check_options(options: Dict[str, Any]) -> None:
    """Refuse bad options before any model is loaded, including missing speech synthesis."""
    bad = [r for r in options["mask_ratios"] if not 0.0 <= r <= 1.0]
    if bad:
        raise UserError(f"--mask_ratios must lie in [0, 1], got {bad}")
    bad = [s for s in options["snr_db"] if not np.isfinite(s)]
    if bad:
        raise UserError(f"--snr_db must be finite numbers, got {bad}")
    spoken = [c for c in ("inject_correct", "inject_wrong") if c in options["perturbations"]]
    if spoken:
        from audiofaith.audio.tts import TTSError, make_tts

        try:
            make_tts(options.get("tts_dir"), options.get("tts_voice") or "en-us")  # raises with the fix
        except TTSError as exc:
            others = [c for c in options["perturbations"] if c not in spoken] or \
                [c for c in CONDITIONS if c not in ("inject_correct", "inject_wrong")]
            raise TTSError(f"{exc}. The condition(s) {', '.join(spoken)} need speech; to run without them: "
                           f"--perturbations {' '.join(others)}") from None


def _speech(items: Sequence[ManifestItem], options: Dict[str, Any], seed: int):
    """The injection text of each (item, condition) and its 16 kHz speech, synthesized up front."""
    from audiofaith.audio.tts import answer_text, make_tts

    chosen = [c for c in ("inject_correct", "inject_wrong") if c in options["perturbations"]]
    letters: Dict[Tuple[str, str], str] = {}
    for item in items:
        for condition in chosen:
            letters[(item.id, condition)] = item.answer if condition == "inject_correct" else wrong_letter(item, seed)
    by_id = {item.id: item for item in items}
    texts = {key: answer_text(by_id[key[0]].choices[by_id[key[0]].letters.index(letter)])
             for key, letter in letters.items()}
    tts = make_tts(options.get("tts_dir"), options.get("tts_voice") or "en-us")
    speech = tts.synthesize(texts.values())
    log.info("%d injection text(s) spoken (%s)", len(speech), tts.describe())
    return letters, texts, speech, tts.describe()


def _specs(item: ManifestItem, options: Dict[str, Any], seed: int, max_samples: Optional[int],
           swaps: Dict[str, Optional[ManifestItem]], injection, saver: Optional[AudioSaver],
           table: AnswerTable) -> List[_Spec]:
    specs: List[_Spec] = []

    def seeded(condition: str, params: Dict[str, Any]) -> int:
        return derive_seed(seed, item.id, condition, *[f"{k}={_value(v)}" for k, v in sorted(params.items())])

    def add(condition: str, params: Dict[str, Any], function: Callable[[np.ndarray, np.random.Generator], Any],
            **kwargs: Any) -> None:
        item_seed = seeded(condition, params)
        perturbation = lambda samples: function(samples, np.random.default_rng(item_seed))  # noqa: E731
        specs.append(_Spec(condition, params, PerturbationEdit(condition, params, seed, perturbation, saver), **kwargs))

    for condition in options["perturbations"]:
        if condition == "silence":
            add("silence", {}, lambda s, rng: perturb.silence(s))
        elif condition == "noise_rms":
            add("noise_rms", {}, perturb.noise_matched_rms)
        elif condition == "noise_snr":
            for snr in _unique(options["snr_db"]):
                add("noise_snr", {"snr_db": float(snr)},
                    lambda s, rng, snr=float(snr): perturb.noise_at_snr(s, snr, rng))
        elif condition == "mask":
            for ratio in _unique(options["mask_ratios"]):
                for fill in _unique(options["mask_fills"]):
                    for position in _unique(options["mask_positions"]):
                        params = {"mask_ratio": float(ratio), "mask_fill": fill, "mask_position": position}
                        add("mask", params, lambda s, rng, r=float(ratio), f=fill, p=position:
                            perturb.mask_clip(s, r, f, p, rng))
        elif condition == "swap":
            source = swaps.get(item.id)
            if source is None:
                reason = (f"no other item of {item.subset}/{item.hop} has a different answer" if asks_for_the_class(item)
                          else f"no other item of {item.subset}/{item.hop} has a clip known to answer this question "
                               f"differently (--swap_multi_hop label allows clips of another class, whose answer is "
                               f"unknown)" if class_label(item) is not None
                          else f"no other item of {item.subset}/{item.hop} asks this question with these options and "
                               f"has another answer; without a class label no other clip's answer to it is known "
                               f"(--swap_multi_hop label allows clips with another gold answer, whose answer to "
                               f"this question is unknown)")
                specs.append(_Spec("swap", {"swap_source_id": None}, skip_reason=reason))
                continue
            known, target_answer = answer_to(source, item, table)
            params = {"swap_source_id": source.id}
            edit = PerturbationEdit("swap", params, seed, lambda s: perturb.Perturbed(s, {"rms": perturb.rms(s)}),
                                    saver) if saver is not None else None
            specs.append(_Spec("swap", params, edit, item=dataclasses.replace(item, audio=source.audio),
                               extra={"swap_source_answer": answer_key(source),
                                      "swap_source_answer_to_target": target_answer, "swap_answer_known": known}))
        elif condition == "no_audio":
            specs.append(_Spec("no_audio", {}, _no_audio))
        elif condition == "unedited":
            specs.append(_Spec("unedited", {}))
        elif condition in ("inject_correct", "inject_wrong"):
            letters, texts, speech, described = injection
            letter, text = letters[(item.id, condition)], texts[(item.id, condition)]
            for position in _unique(options["inject_positions"]):
                params = {"inject_letter": letter, "inject_position": position,
                          "inject_level_db": float(options["inject_level_db"])}
                add(condition, params, lambda s, rng, p=position, voice=speech[text]:
                    perturb.inject_speech(s, voice, p, float(options["inject_level_db"]), max_samples),
                    extra={"inject_text": text, "tts": described})
    return specs


def build_variants(context: InterventionContext) -> List[Variant]:
    options = dict(context.options)
    check_options(options)
    seed = context.seed
    window = getattr(context.backend, "max_audio_seconds", None) if context.backend is not None else None
    max_samples = int(window * perturb.RATE) if window else None
    items = [context.by_id[record.id] for record in context.results if record.id in context.by_id]
    # pairs are formed over the whole manifest, so a shard or --limit run swaps as a full run does
    swaps = swap_plan(context.manifest, seed, options.get("swap_multi_hop") or "known") \
        if "swap" in options["perturbations"] else {}
    table = answer_table(context.manifest)
    injection = _speech(items, options, seed) \
        if {"inject_correct", "inject_wrong"} & set(options["perturbations"]) else None
    saver = AudioSaver(options["save_audio"]) if options.get("save_audio") else None
    specs_of: Dict[str, List[_Spec]] = {}
    variants: List[Variant] = []
    for item, run, reasoning, baseline_prediction, record in context.runs():
        if item.id not in specs_of:
            specs_of[item.id] = _specs(item, options, seed, max_samples, swaps, injection, saver, table)
        for spec in specs_of[item.id]:
            for mode in _unique(options["modes"]):
                if ONLY_MODE.get(spec.condition, mode) != mode:
                    continue
                skip = spec.skip_reason
                if skip is None and mode == "fixed_cot" and not reasoning.strip():
                    skip = NO_REASONING
                variants.append(Variant(
                    item=spec.item or item, run=run, condition=spec.condition, params={"mode": mode, **spec.params},
                    baseline_prediction=baseline_prediction,
                    cot_source_model=record.model if mode == "fixed_cot" else context.model_key,
                    reasoning=reasoning if mode == "fixed_cot" else "",
                    action="score" if mode == "fixed_cot" else "regenerate",
                    audio_edit=spec.edit, extra=dict(spec.extra), skip_reason=skip,
                ))
    return variants


def _swap_label(record: Any) -> str:
    """Swap lines whose answer under the source clip is not known (``--swap_multi_hop``) are kept apart."""
    return ", swap_answer_known=False" if record.condition == "swap" and \
        record.extra.get("swap_answer_known") is False else ""


_READOUTS = (" Solid: regenerate, a parsed answer (an unparsed answer counts as wrong); dashed: fixed CoT, a "
             "forced choice (the letter with the highest log-probability, never null). The two read-outs are not "
             "on one scale: compare each line with itself across x, not the two lines with each other.")
_CURVE_CAPTIONS = (
    ("noise_snr_accuracy", "Accuracy under additive noise."),
    ("noise_snr_agreement", "Same answer as the clean baseline (read the same way) under additive noise."),
    ("mask_accuracy", "Accuracy under partial masking."),
    ("mask_agreement", "Same answer as the clean baseline (read the same way) under partial masking."))


def _report_section(context: SectionContext) -> list:
    audio = context.own_rows()
    if not audio:
        return []
    blocks = [
        Heading(2, "Audio interventions"),
        Paragraph("Mode `regenerate`: the CoT is generated again on the perturbed audio and its answer parsed (an "
                  "unparsed answer is null, and counts as wrong in accuracy); mode `fixed_cot`: the clean CoT is kept, "
                  "only the audio changes, and the answer is a forced choice (the letter read-out, never null). "
                  "Agreement = same letter as the clean baseline read the same way (column 'reference'). The "
                  "accuracies of the two modes use different read-outs and are not comparable with each other. "
                  "Row `unedited` is the control of every `regenerate` row: the clean clip, the CoT regenerated "
                  "with the baseline's own decoding (its sampler and run seeds), nothing edited; its agreement is "
                  "what regenerating alone keeps, so a perturbation's effect is its drop below that row."),
        condition_table(audio)]
    for key, caption in _CURVE_CAPTIONS:
        blocks += context.curve(key, caption + _READOUTS)
    fixed = [r for r in audio if mode_of(r.variant) == "fixed_cot" and r.paired]
    if fixed:
        blocks += [Heading(3, "Audio-override rate (fixed CoT)"),
                   Paragraph("P(letter read-out ≠ the baseline run's letter read-out after the same clean CoT) with "
                             "only the audio changed: how often the audio overrides the model's own reasoning. "
                             "= 100 − agreement excl. nulls."),
                   Table(["model", "track", "hop", "condition", "variant", "x", "n valid pairs", "override % [CI]"],
                         [location(r) + [r.condition, r.variant, "–" if r.x is None else f"{r.x:g}",
                                         str(r.n_valid_pairs), override_cell(r)] for r in fixed])]
    return blocks


def _curve(conditions: Tuple[str, ...], metric: str, title: str, xlabel: str, ylabel: str, **kwargs: Any) -> CurveSpec:
    low, high = {"accuracy": ("accuracy_lo", "accuracy_hi"),
                 "agree_rate_excl_null": ("agree_excl_null_lo", "agree_excl_null_hi")}[metric]
    return CurveSpec(conditions, metric, low, high, title, xlabel, ylabel, **kwargs)


REPORT = ReportSpec(
    conditions=CONDITIONS, curve_x=(("noise_snr", "snr_db"), ("mask", "mask_ratio")),
    per_item_params=frozenset({"swap_source_id", "inject_letter"}), variant_suffix=_swap_label, pooled=("mask",),
    curves=(
        ("noise_snr_accuracy", _curve(("noise_snr",), "accuracy", "Noise: accuracy vs SNR (solid: regenerated, parsed, "
                                      "null = wrong; dashed: fixed CoT, forced choice)", "SNR (dB)", "Accuracy (%)",
                                      invert_x=True)),
        ("noise_snr_agreement", _curve(("noise_snr",), "agree_rate_excl_null", "Noise: same answer as clean baseline vs "
                                       "SNR (solid: regenerate, dashed: fixed CoT)", "SNR (dB)",
                                       "% same answer as clean baseline", invert_x=True)),
        ("mask_accuracy", _curve(("mask",), "accuracy", "Masking: accuracy (solid: regenerated, parsed, null = wrong; "
                                 "dashed: fixed CoT, forced choice)", "% of audio masked", "Accuracy (%)", x_scale=100)),
        ("mask_agreement", _curve(("mask",), "agree_rate_excl_null", "Masking: same answer as clean baseline (solid: "
                                  "regenerate, dashed: fixed CoT)", "% of audio masked",
                                  "% same answer as clean baseline", x_scale=100))),
    sections=(Section(100, _report_section),))
