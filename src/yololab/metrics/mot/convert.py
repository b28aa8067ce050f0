"""Conversion of engine results to the schema dataclass :class:`~yololab.metrics.tracking.MOTMetrics`."""

from __future__ import annotations

from dataclasses import fields
from typing import Literal

from yololab.metrics.mot.evaluate import MOTEvaluation, MOTScores
from yololab.metrics.tracking import MOTMetrics

__all__ = ["to_mot_metrics"]

_SCHEMA_FIELDS = frozenset(f.name for f in fields(MOTMetrics)) - {"sequences"}


def _scores_to_metrics(scores: MOTScores) -> MOTMetrics:
    values = {k: v for k, v in scores.to_dict().items() if k in _SCHEMA_FIELDS}
    return MOTMetrics(**{k: int(v) if k in MOTMetrics.INT_FIELDS else float(v) for k, v in values.items()})


def to_mot_metrics(
    result: MOTEvaluation | MOTScores, *, average: Literal["class", "detection"] = "class"
) -> MOTMetrics:
    """The combined result as :class:`MOTMetrics` (ratios as fractions, counts as int), with ``sequences`` filled.

    Args:
        result: an evaluation (combined + per sequence) or the scores of one sequence/combination.
        average: with several classes, ``"class"`` (TrackEval ``cls_comb_cls_av``) or ``"detection"``
            (``cls_comb_det_av``) combination.

    Families that were not computed leave their fields None (absent, never 0).
    """
    if isinstance(result, MOTScores):
        return _scores_to_metrics(result)
    metrics = _scores_to_metrics(result.combined(average))
    for name, scores in result.sequences(average).items():
        metrics.sequences[name] = _scores_to_metrics(scores)
    return metrics
