"""Tiny sequences with the arithmetic visible, each also checked against TrackEval; plus API properties."""

from __future__ import annotations

import numpy as np
import pytest

from mot_oracle import assert_same, trackeval_sequences
from yololab.metrics.mot import evaluate_mot, iou_matrix, sequence_from_rows, to_mot_metrics
from yololab.metrics.tracking import MOTMetrics

BOX = [0, 0, 10, 10]
FAR = [100, 100, 10, 10]


def _rows(*rows):
    return np.array(rows, dtype=float).reshape(-1, 6)


CASES = {
    # 4 frames, one GT track; the tracker switches id in frame 3: IDSW 1, MOTA = 1 - 1/4.
    "id-switch": (
        _rows([1, 1, *BOX], [2, 1, *BOX], [3, 1, *BOX], [4, 1, *BOX]),
        _rows([1, 7, *BOX], [2, 7, *BOX], [3, 8, *BOX], [4, 8, *BOX]),
        4,
        {"mota": 1 - 1 / 4, "id_switches": 1, "idf1": 2 * 2 / (4 + 4), "frag": 0},
    ),
    # Missed in frame 2 (tracker silent): a fragmentation, FN 1, MOTA = 1 - 1/3.
    "gap": (
        _rows([1, 1, *BOX], [2, 1, *BOX], [3, 1, *BOX]),
        _rows([1, 7, *BOX], [3, 7, *BOX]),
        3,
        {"mota": 1 - 1 / 3, "fn": 1, "frag": 0, "pt": 1},  # tracked 2/3 <= 0.8,
    ),
    # Far-away box: FP 1, FN 1 in frame 2; frame 2 has boxes on both sides, so the track fragments.
    "fragment": (
        _rows([1, 1, *BOX], [2, 1, *BOX], [3, 1, *BOX]),
        _rows([1, 7, *BOX], [2, 7, *FAR], [3, 7, *BOX]),
        3,
        {"mota": 1 - 2 / 3, "fp": 1, "fn": 1, "frag": 1, "id_switches": 0},
    ),
    "perfect": (
        _rows([1, 1, *BOX], [1, 2, *FAR], [2, 1, *BOX]),
        _rows([1, 3, *BOX], [1, 4, *FAR], [2, 3, *BOX]),
        2,
        {"mota": 1.0, "motp": 1.0, "idf1": 1.0, "hota": 1.0, "deta": 1.0, "assa": 1.0, "loca": 1.0},
    ),
    "no-predictions": (_rows([1, 1, *BOX]), _rows(), 1, {"mota": 0.0, "fn": 1, "ml": 1, "hota": 0.0, "loca": 1.0}),
    # TrackEval: the sequence reports MOTA 0 (early return), the combination recomputes (0 - 1) / max(1, 0).
    "no-ground-truth": (_rows(), _rows([1, 1, *BOX]), 1, {"mota": -1.0, "fp": 1, "idf1": 0.0}),
}


@pytest.mark.oracle
@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_hand_case(case) -> None:
    gt, pred, n, expected = case
    seq = sequence_from_rows("s", gt, pred, n)
    result = evaluate_mot([seq])
    values = result.combined().to_dict()
    for key, value in expected.items():
        assert values[key] == pytest.approx(value, abs=1e-12), key
    assert_same(result.sequences()["s"], trackeval_sequences([seq], None)["per_class"][None]["s"])


@pytest.mark.quick
def test_to_mot_metrics_fills_schema_and_sequences() -> None:
    seq = sequence_from_rows("s", *CASES["id-switch"][:3])
    metrics = to_mot_metrics(evaluate_mot([seq]))
    assert isinstance(metrics, MOTMetrics)
    assert metrics.id_switches == 1 and isinstance(metrics.id_switches, int)
    assert metrics.mota == pytest.approx(0.75) and 0 <= metrics.hota <= 1
    assert metrics.gt_tracks == 1 and metrics.pred_tracks == 2 and metrics.gt_dets == 4
    assert set(metrics.sequences) == {"s"} and metrics.sequences["s"].mota == metrics.mota
    only_clear = to_mot_metrics(evaluate_mot([seq], metrics=["clear"]))
    assert only_clear.hota is None and only_clear.idf1 is None and only_clear.mota == pytest.approx(0.75)


@pytest.mark.quick
def test_relabelling_ids_changes_nothing() -> None:
    gt, pred, n, _ = CASES["id-switch"]
    base = evaluate_mot([sequence_from_rows("s", gt, pred, n)]).combined().to_dict()
    gt2, pred2 = gt.copy(), pred.copy()
    gt2[:, 1] += 40
    pred2[:, 1] = 1000 - pred2[:, 1]
    assert evaluate_mot([sequence_from_rows("s", gt2, pred2, n)]).combined().to_dict() == base


@pytest.mark.quick
def test_iou_symmetric_and_bounded() -> None:
    rng = np.random.default_rng(0)
    a = np.column_stack([rng.uniform(0, 50, (20, 2)), rng.uniform(0.1, 30, (20, 2))])
    m = iou_matrix(a, a)
    assert np.allclose(m, m.T) and (m >= 0).all() and (m <= 1).all() and np.allclose(np.diag(m), 1)


@pytest.mark.quick
def test_per_sequence_class_average_leaves_out_classes_absent_from_that_sequence() -> None:
    """Perfect tracking of class 1 in sequence a and class 2 in sequence b: every per-sequence score is 1.

    TrackEval combines classes only over all sequences (with empty classes counted); per sequence yololab leaves
    a class with neither ground truth nor predictions in that sequence out of the average.
    """
    from yololab.metrics.mot import evaluate_mot, sequence_from_rows

    gt_a = np.array([[f, 1, 10 + f, 10, 10, 10, 1, 1, 1] for f in range(1, 6)], float)
    gt_b = np.array([[f, 7, 40, 40 - f, 12, 12, 1, 2, 1] for f in range(1, 6)], float)
    result = evaluate_mot([sequence_from_rows("a", gt_a, gt_a, 5), sequence_from_rows("b", gt_b, gt_b, 5)])
    assert result.classes == (1, 2)
    for name, scores in result.sequences().items():
        values = scores.to_dict()
        assert (values["hota"], values["mota"], values["idf1"]) == pytest.approx((1.0, 1.0, 1.0)), name
    combined = result.combined().to_dict()
    assert (combined["hota"], combined["mota"]) == pytest.approx((1.0, 1.0))
