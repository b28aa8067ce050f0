"""In-memory evaluation: sequences in, per-sequence and combined CLEAR / Identity / HOTA out (TrackEval's numbers).

Combination follows TrackEval's ``Evaluator``: per class, sequences combine by summing counts (HOTA's AssA and LocA
weighted by TP); with several classes, the combined per-class results combine into a *class-averaged* result (mean
of each score over classes, counts summed - ``cls_comb_cls_av``) and a *detection-averaged* one (as if all classes
were one - ``cls_comb_det_av``). The same class combinations are also given per sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np

from yololab.metrics.mot.clear import ClearMetrics, combine_clear, compute_clear
from yololab.metrics.mot.counts import SummableCounts
from yololab.metrics.mot.frames import Frames, MOTDataError, MOTSequence, PreparedSequence
from yololab.metrics.mot.hota import (
    ALPHAS,
    HotaMetrics,
    combine_hota,
    combine_hota_class_averaged,
    compute_hota,
)
from yololab.metrics.mot.identity import IdentityMetrics, combine_identity, compute_identity
from yololab.metrics.mot.prepare import (
    DISTRACTOR_CLASSES,
    PEDESTRIAN,
    RowOrigin,
    check_frames,
    check_mot_classes,
    check_pedestrian_predictions,
    distractor_matches,
    not_zero_marked,
    pair_sequence,
    prepare_class,
)

__all__ = [
    "Benchmark",
    "CountMetrics",
    "MOTEvaluation",
    "MOTScores",
    "MetricFamily",
    "evaluate_mot",
    "evaluate_prepared",
    "prepare_sequence",
    "sequence_from_rows",
]

Benchmark = Literal["MOT16", "MOT17", "MOT20", "none"]
"""MOTChallenge benchmark whose preprocessing to apply, or ``"none"`` for custom data (per-class, no distractors)."""

MetricFamily = Literal["hota", "clear", "identity"]
ALL_FAMILIES: tuple[MetricFamily, ...] = ("hota", "clear", "identity")


@dataclass(frozen=True, slots=True)
class CountMetrics(SummableCounts):
    """Sizes of the evaluated data (TrackEval's ``Count``); ``a + b`` combines.

    Attributes:
        gt_dets: ground-truth boxes evaluated (after preprocessing).
        pred_dets: predicted boxes evaluated.
        gt_tracks: distinct ground-truth ids (summed over sequences, as TrackEval).
        pred_tracks: distinct predicted ids.
    """

    gt_dets: int = 0
    pred_dets: int = 0
    gt_tracks: int = 0
    pred_tracks: int = 0


@dataclass(frozen=True, slots=True)
class MOTScores:
    """All metric families of one sequence (or a combination); a family not computed is None."""

    count: CountMetrics
    clear: ClearMetrics | None = None
    identity: IdentityMetrics | None = None
    hota: HotaMetrics | None = None

    def to_dict(self) -> dict[str, Any]:
        """Flat dict with :class:`~yololab.metrics.tracking.MOTMetrics` field names, plus extras.

        Ratios as fractions, counts as int; extras: ``clr_recall``, ``clr_precision``, ``clr_f1``, ``mtr``, ``ptr``,
        ``mlr``, ``owta``, and the 19 per-alpha values of each HOTA score as lists (``hota_alpha``, ``deta_alpha``,
        ...; alphas in ``alphas``).
        """
        out: dict[str, Any] = {f.name: getattr(self.count, f.name) for f in fields(self.count)}
        if self.clear is not None:
            out.update(_clear_dict(self.clear))
        if self.identity is not None:
            c = self.identity
            out.update(idf1=float(c.idf1), id_precision=float(c.id_precision), id_recall=float(c.id_recall))
            out.update(idtp=c.counts.idtp, idfp=c.counts.idfp, idfn=c.counts.idfn)
        if self.hota is not None:
            out.update(_hota_dict(self.hota))
        return out


def _clear_dict(c: ClearMetrics) -> dict[str, Any]:
    n = c.counts
    return {
        "mota": float(c.mota),
        "motp": float(c.motp),
        "moda": float(c.moda),
        "smota": float(c.smota),
        "tp": n.tp,
        "fp": n.fp,
        "fn": n.fn,
        "id_switches": n.id_switches,
        "frag": n.frag,
        "mt": n.mt,
        "pt": n.pt,
        "ml": n.ml,
        "clr_recall": float(c.recall),
        "clr_precision": float(c.precision),
        "clr_f1": float(c.f1),
        "mtr": float(c.mtr),
        "ptr": float(c.ptr),
        "mlr": float(c.mlr),
    }


_HOTA_ARRAYS = ("hota", "deta", "assa", "loca", "detre", "detpr", "assre", "asspr", "owta")


def _hota_dict(h: HotaMetrics) -> dict[str, Any]:
    out: dict[str, Any] = {name: float(np.mean(getattr(h, name))) for name in _HOTA_ARRAYS}
    out.update(hota0=float(h.hota0), loca0=float(h.loca0))
    out.update({f"{name}_alpha": [float(v) for v in getattr(h, name)] for name in _HOTA_ARRAYS})
    out["alphas"] = [float(a) for a in ALPHAS]
    return out


def _mean_fields(results: list[Any], skip: str, counts: Any) -> dict[str, Any]:
    names = [f.name for f in fields(results[0]) if f.name != skip]
    return {skip: counts, **{n: float(np.mean([getattr(r, n) for r in results])) for n in names}}


def _combine_classes(parts: list[MOTScores], *, class_averaged: bool, ignore_empty_classes: bool = False) -> MOTScores:
    """TrackEval's ``combine_classes_class_averaged`` or ``..._det_averaged``.

    ``ignore_empty_classes`` (TrackEval's option of the same name) leaves out of the class average the classes with
    no ground truth and no prediction; TrackEval's evaluator uses False for its combined result, and so does
    yololab's ``class_averaged``. Per sequence (which TrackEval does not combine over classes) yololab uses True, so
    that a class absent from one sequence does not count as a zero score there.
    """
    if not class_averaged:
        return _combine_sequences(parts)
    if ignore_empty_classes:
        parts = [p for p in parts if p.count.gt_dets + p.count.pred_dets > 0] or parts
    count = sum((p.count for p in parts), CountMetrics())
    clear = identity = hota = None
    if parts[0].clear is not None:
        total = combine_clear([p.clear for p in parts]).counts
        clear = ClearMetrics(**_mean_fields([p.clear for p in parts], "counts", total))
    if parts[0].identity is not None:
        total = combine_identity([p.identity for p in parts]).counts
        identity = IdentityMetrics(**_mean_fields([p.identity for p in parts], "counts", total))
    if parts[0].hota is not None:
        hota = combine_hota_class_averaged([p.hota for p in parts])
    return MOTScores(count, clear, identity, hota)


def _combine_sequences(parts: list[MOTScores]) -> MOTScores:
    """Sum counts over sequences and recompute the ratios (TrackEval ``combine_sequences``)."""
    count = sum((p.count for p in parts), CountMetrics())
    first = parts[0]
    return MOTScores(
        count=count,
        clear=None if first.clear is None else combine_clear([p.clear for p in parts]),
        identity=None if first.identity is None else combine_identity([p.identity for p in parts]),
        hota=None if first.hota is None else combine_hota([p.hota for p in parts]),
    )


@dataclass(frozen=True)
class MOTEvaluation:
    """Results of :func:`evaluate_mot`.

    Attributes:
        classes: evaluated class ids.
        per_class: class -> sequence -> scores.
        combined_per_class: class -> sequences combined.
        class_averaged: classes averaged (combined over sequences); None with one class.
        detection_averaged: classes pooled (combined over sequences); None with one class.
        sequences_class_averaged: the same per sequence; classes with neither ground truth nor predictions in that
            sequence are left out of its average (empty with one class).
        sequences_detection_averaged: the same per sequence (empty with one class).
    """

    classes: tuple[int, ...]
    per_class: dict[int, dict[str, MOTScores]]
    combined_per_class: dict[int, MOTScores]
    class_averaged: MOTScores | None = None
    detection_averaged: MOTScores | None = None
    sequences_class_averaged: dict[str, MOTScores] = field(default_factory=dict)
    sequences_detection_averaged: dict[str, MOTScores] = field(default_factory=dict)

    def combined(self, average: Literal["class", "detection"] = "class") -> MOTScores:
        """The headline result: the only class's combination, or the class- or detection-averaged one."""
        if len(self.classes) == 1:
            return self.combined_per_class[self.classes[0]]
        return self.class_averaged if average == "class" else self.detection_averaged  # type: ignore[return-value]

    def sequences(self, average: Literal["class", "detection"] = "class") -> dict[str, MOTScores]:
        """Per-sequence results (for several classes, combined over classes like :meth:`combined`)."""
        if len(self.classes) == 1:
            return self.per_class[self.classes[0]]
        return self.sequences_class_averaged if average == "class" else self.sequences_detection_averaged

    def to_dict(self, average: Literal["class", "detection"] = "class") -> dict[str, Any]:
        """``{"combined": {...}, "sequences": {name: {...}}}`` with :meth:`MOTScores.to_dict` objects.

        With several classes also ``"classes": {class_id: {"combined": ..., "sequences": ...}}``.
        """
        out: dict[str, Any] = {
            "combined": self.combined(average).to_dict(),
            "sequences": {k: v.to_dict() for k, v in self.sequences(average).items()},
        }
        if len(self.classes) > 1:
            out["classes"] = {
                str(c): {
                    "combined": self.combined_per_class[c].to_dict(),
                    "sequences": {k: v.to_dict() for k, v in self.per_class[c].items()},
                }
                for c in self.classes
            }
        return out


def sequence_from_rows(name: str, gt_rows: np.ndarray, pred_rows: np.ndarray, num_frames: int) -> MOTSequence:
    """A :class:`MOTSequence` from MOTChallenge-style rows ``frame, id, x, y, w, h[, conf, class, visibility]``.

    Example:
        >>> seq = sequence_from_rows("s", [[1, 1, 0, 0, 10, 10]], [[1, 5, 0, 0, 10, 10]], num_frames=1)
        >>> evaluate_mot([seq]).combined().to_dict()["mota"]
        1.0
    """
    return MOTSequence(name, Frames.from_rows(gt_rows), Frames.from_rows(pred_rows), int(num_frames))


def evaluate_prepared(
    data: PreparedSequence, *, iou_threshold: float = 0.5, metrics: Iterable[MetricFamily] = ALL_FAMILIES
) -> MOTScores:
    """Every requested metric family on one prepared sequence (one class)."""
    wanted = set(metrics)
    count = CountMetrics(data.num_gt_dets, data.num_pred_dets, data.num_gt_ids, data.num_pred_ids)
    return MOTScores(
        count=count,
        clear=compute_clear(data, threshold=iou_threshold) if "clear" in wanted else None,
        identity=compute_identity(data, threshold=iou_threshold) if "identity" in wanted else None,
        hota=compute_hota(data) if "hota" in wanted else None,
    )


def prepare_sequence(
    seq: MOTSequence,
    *,
    benchmark: Benchmark = "none",
    classes: Iterable[int] | None = None,
    origins: tuple[RowOrigin, RowOrigin] | None = None,
) -> dict[int, PreparedSequence]:
    """Check a sequence, apply the benchmark's preprocessing and split it by class.

    Args:
        seq: ground truth and predictions.
        benchmark: ``"MOT16"``/``"MOT17"``/``"MOT20"`` for MOTChallenge preprocessing (pedestrians only, distractor
            matches removed, zero-marked ground truth dropped), ``"none"`` for plain per-class evaluation.
        classes: class ids to prepare, each from the rows of that class on both sides; None: all rows as one class
            (keyed 1). Ignored for MOTChallenge benchmarks (pedestrian only).
        origins: where the ground-truth and prediction rows came from, for error messages.

    Raises:
        MOTDataError: invalid rows (see :func:`~yololab.metrics.mot.prepare.check_frames`).
    """
    gt_origin, pred_origin = origins or (RowOrigin(f"{seq.name} ground truth"), RowOrigin(f"{seq.name} predictions"))
    check_frames(seq.gt, seq.num_frames, gt_origin)
    check_frames(seq.pred, seq.num_frames, pred_origin)
    if benchmark != "none":
        check_mot_classes(seq.gt, gt_origin)
        check_pedestrian_predictions(seq.pred, pred_origin)
    pairs = pair_sequence(seq, evaluated=_evaluated_pedestrians if benchmark != "none" else None)
    gt_ok = not_zero_marked(pairs.gt)
    if benchmark != "none":
        gt_keep = _evaluated_pedestrians(pairs.gt) if len(pairs.gt) else gt_ok
        pred_keep = ~distractor_matches(pairs, DISTRACTOR_CLASSES[benchmark])
        return {PEDESTRIAN: prepare_class(pairs, gt_keep, pred_keep)}
    if classes is None:
        return {PEDESTRIAN: prepare_class(pairs, gt_ok, np.ones(len(pairs.pred), bool))}
    for frames, origin, side in ((pairs.gt, gt_origin, "ground truth"), (pairs.pred, pred_origin, "predictions")):
        if len(frames) and frames.classes is None:
            raise MOTDataError(f"{origin.source}: {side} have no class column; expected a class per box")
    return {c: prepare_class(pairs, gt_ok & _of_class(pairs.gt, c), _of_class(pairs.pred, c)) for c in classes}


def _evaluated_pedestrians(gt: Frames) -> np.ndarray:
    """MOTChallenge: the ground truth evaluated is the pedestrians (class 1) that are not zero-marked."""
    return not_zero_marked(gt) & (gt.classes == PEDESTRIAN)


def _of_class(frames: Frames, cls: int) -> np.ndarray:
    """Row mask of class ``cls``; an empty side (no rows, so no class column) gives an empty mask."""
    if frames.classes is None:
        return np.zeros(len(frames), bool)
    return frames.classes == cls


def _has_classes(frames: Frames) -> bool:
    """Whether rows name a class (MOTChallenge result files write -1, "unused", in that column)."""
    return frames.classes is not None and bool((frames.classes >= 0).any())


def _default_classes(sequences: list[MOTSequence]) -> list[int] | None:
    """Every class named by ground truth or predictions; None (all rows, one class) when predictions name none."""
    if not any(_has_classes(s.pred) for s in sequences):
        return None
    found: set[int] = set()
    for s in sequences:
        for frames in (s.gt, s.pred):
            if frames.classes is not None:
                found.update(np.unique(frames.classes).tolist())
    found.discard(-1)
    return sorted(found)


def evaluate_mot(
    sequences: Iterable[MOTSequence],
    *,
    benchmark: Benchmark = "none",
    classes: Iterable[int] | None = None,
    iou_threshold: float = 0.5,
    metrics: Iterable[MetricFamily] = ALL_FAMILIES,
    origins: Mapping[str, tuple[RowOrigin, RowOrigin]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> MOTEvaluation:
    """Evaluate tracking results against ground truth, sequence by sequence, as TrackEval does.

    Args:
        sequences: the sequences (names must be unique); any iterable - a lazy one (such as
            ``load_benchmark(...).sequences``) keeps one sequence in memory at a time, except for ``"none"`` without
            ``classes``, where all are read first to find the classes.
        benchmark: MOTChallenge preprocessing to apply (``"MOT16"``, ``"MOT17"``, ``"MOT20"``) or ``"none"``.
        classes: class ids to evaluate for ``"none"``; default: every class found in ground truth or predictions
            (``-1``, MOTChallenge's "unused", excluded). When the predictions name no class (no column, or -1
            everywhere, as in MOTChallenge result files) all rows form one class (reported as class 1): every
            ground-truth box that is not zero-marked against every prediction, as TrackEval without preprocessing.
        iou_threshold: IoU a CLEAR / Identity match needs (HOTA sweeps its own alphas).
        metrics: families to compute.
        origins: per sequence name, where its rows came from (for error messages).
        progress: called with each sequence name before it is evaluated.

    Returns:
        Per class and sequence, combined per class, and (several classes) class- and detection-averaged results.

    Raises:
        MOTDataError: invalid input; the message names the sequence (or file and line) and what was expected.
    """
    if benchmark == "none" and classes is None:
        sequences = list(sequences)  # the classes of all sequences decide what is evaluated
        chosen = _default_classes(sequences)
    else:
        chosen = None if benchmark != "none" else list(classes)  # type: ignore[arg-type]
    class_list = chosen or [PEDESTRIAN]
    wanted = tuple(metrics)
    per_class: dict[int, dict[str, MOTScores]] = {c: {} for c in class_list}
    names: list[str] = []
    for seq in sequences:  # one sequence in memory at a time when ``sequences`` is lazy
        if seq.name in names:
            raise MOTDataError(f"sequence {seq.name!r} appears twice; expected unique sequence names")
        names.append(seq.name)
        if progress is not None:
            progress(seq.name)
        origin = None if origins is None else origins.get(seq.name)  # a lazy folder fills it while reading
        prepared = prepare_sequence(seq, benchmark=benchmark, classes=chosen, origins=origin)
        del seq
        for c, data in prepared.items():
            per_class[c][names[-1]] = evaluate_prepared(data, iou_threshold=iou_threshold, metrics=wanted)
    if not names:
        raise MOTDataError("no sequences to evaluate")
    return _combine(tuple(class_list), per_class, names)


def _combine(classes: tuple[int, ...], per_class: dict[int, dict[str, MOTScores]], names: list[str]) -> MOTEvaluation:
    combined = {c: _combine_sequences(list(per_class[c].values())) for c in classes}
    if len(classes) == 1:
        return MOTEvaluation(classes, per_class, combined)
    parts = list(combined.values())
    by_seq = {n: [per_class[c][n] for c in classes] for n in names}
    return MOTEvaluation(
        classes,
        per_class,
        combined,
        class_averaged=_combine_classes(parts, class_averaged=True),
        detection_averaged=_combine_classes(parts, class_averaged=False),
        sequences_class_averaged={
            n: _combine_classes(p, class_averaged=True, ignore_empty_classes=True) for n, p in by_seq.items()
        },
        sequences_detection_averaged={n: _combine_classes(p, class_averaged=False) for n, p in by_seq.items()},
    )
