"""MOT metrics engine: CLEAR, Identity and HOTA with TrackEval's exact numbers (stdlib + numpy + scipy only).

Typical use (in memory, e.g. from the inference runner)::

    from yololab.metrics.mot import evaluate_mot, sequence_from_rows, to_mot_metrics
    seq = sequence_from_rows("seq-01", gt_rows, pred_rows, num_frames=300)  # rows: frame, id, x, y, w, h, ...
    result = evaluate_mot([seq])                    # benchmark="MOT17" for MOTChallenge preprocessing
    metrics = to_mot_metrics(result)                # MOTMetrics, with per-sequence values

From files: :func:`load_benchmark` (a MOTChallenge-layout folder) then :func:`evaluate_mot`; several trackers at once,
the ground truth read once, sequences in worker processes: :func:`yololab.metrics.mot.batch.evaluate_benchmark`
(what ``yololab eval-mot`` runs; the same numbers, bit for bit). ``to_mot_metrics`` (the schema's ``MOTMetrics``) is
imported on first use, so that evaluating files does not load the schema modules.
"""

from yololab.metrics._lazy import lazy_getattr
from yololab.metrics.mot.boxes import iou_matrix, iou_pairs
from yololab.metrics.mot.clear import ClearCounts, ClearMetrics, compute_clear
from yololab.metrics.mot.evaluate import (
    Benchmark,
    CountMetrics,
    MOTEvaluation,
    MOTScores,
    evaluate_mot,
    evaluate_prepared,
    prepare_sequence,
    sequence_from_rows,
)
from yololab.metrics.mot.frames import Frames, MOTDataError, MOTSequence, PreparedSequence
from yololab.metrics.mot.hota import ALPHAS, HotaMetrics, compute_hota
from yololab.metrics.mot.identity import IdentityCounts, IdentityMetrics, compute_identity

__all__ = [
    "ALPHAS",
    "Benchmark",
    "ClearCounts",
    "ClearMetrics",
    "CountMetrics",
    "Frames",
    "HotaMetrics",
    "IdentityCounts",
    "IdentityMetrics",
    "MOTDataError",
    "MOTEvaluation",
    "MOTScores",
    "MOTSequence",
    "PreparedSequence",
    "compute_clear",
    "compute_hota",
    "compute_identity",
    "evaluate_mot",
    "evaluate_prepared",
    "iou_matrix",
    "iou_pairs",
    "prepare_sequence",
    "sequence_from_rows",
    "to_mot_metrics",
]

__getattr__ = lazy_getattr(__name__, {"to_mot_metrics": "convert"})
