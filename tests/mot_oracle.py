"""TrackEval as the oracle: build its data dicts / folders from the same input and compare results."""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
import trackeval
from trackeval.datasets._base_dataset import _BaseDataset

from yololab.metrics.mot import MOTScores, MOTSequence

QUIET = {"PRINT_CONFIG": False}


def metric_objects() -> dict[str, object]:
    """Fresh TrackEval metric objects."""
    return {
        "HOTA": trackeval.metrics.HOTA(),
        "CLEAR": trackeval.metrics.CLEAR(QUIET),
        "Identity": trackeval.metrics.Identity(QUIET),
        "Count": trackeval.metrics.Count(),
    }


def trackeval_data(seq: MOTSequence, cls: int | None) -> dict:
    """TrackEval's preprocessed data dict for one class of a custom (non-MOTChallenge) sequence.

    Ground truth of the class with ``int(conf) != 0``; predictions of the class; ``cls=None`` takes all rows.
    Rows keep their input order within a frame; IoU by TrackEval's own ``_calculate_box_ious``.
    """
    gt, pred = seq.gt, seq.pred
    g_keep = np.ones(len(gt), bool) if gt.confidence is None else np.trunc(gt.confidence) != 0
    p_keep = np.ones(len(pred), bool)
    if cls is not None:
        g_keep &= gt.classes == cls
        p_keep &= pred.classes == cls
    g_ids_all = np.unique(gt.ids[g_keep], return_inverse=True)[1].reshape(-1)
    p_ids_all = np.unique(pred.ids[p_keep], return_inverse=True)[1].reshape(-1)
    g_frame, g_box = gt.frame[g_keep], gt.boxes_xywh[g_keep]
    p_frame, p_box = pred.frame[p_keep], pred.boxes_xywh[p_keep]
    data = {"gt_ids": [], "tracker_ids": [], "similarity_scores": []}
    for t in range(1, seq.num_frames + 1):
        gm, pm = g_frame == t, p_frame == t
        data["gt_ids"].append(g_ids_all[gm])
        data["tracker_ids"].append(p_ids_all[pm])
        data["similarity_scores"].append(_BaseDataset._calculate_box_ious(g_box[gm].copy(), p_box[pm].copy()))
    data.update(
        num_timesteps=seq.num_frames,
        num_gt_ids=int(g_ids_all.max() + 1) if g_ids_all.size else 0,
        num_tracker_ids=int(p_ids_all.max() + 1) if p_ids_all.size else 0,
        num_gt_dets=int(g_keep.sum()),
        num_tracker_dets=int(p_keep.sum()),
        seq=seq.name,
    )
    return data


def trackeval_sequences(seqs: list[MOTSequence], classes: list[int] | None) -> dict:
    """Per class: per-sequence TrackEval results and their combination; plus class combinations."""
    metrics = metric_objects()
    out: dict = {"per_class": {}, "combined": {}}
    for cls in classes or [None]:
        per_seq = {}
        for seq in seqs:
            data = trackeval_data(seq, cls)
            per_seq[seq.name] = {name: m.eval_sequence(data) for name, m in metrics.items()}
        out["per_class"][cls] = per_seq
        out["combined"][cls] = {
            name: m.combine_sequences({s: r[name] for s, r in per_seq.items()}) for name, m in metrics.items()
        }
    if classes and len(classes) > 1:
        comb = out["combined"]
        out["cls_av"] = {
            name: m.combine_classes_class_averaged({c: comb[c][name] for c in classes}) for name, m in metrics.items()
        }
        out["det_av"] = {
            name: m.combine_classes_det_averaged({c: comb[c][name] for c in classes}) for name, m in metrics.items()
        }
    return out


def run_trackeval_folder(gt_root: Path, tracker_root: Path, seqs: dict[str, int], *, benchmark: str, preproc: bool):
    """TrackEval's own MOTChallenge loader and evaluator on files: ``{seq or 'COMBINED_SEQ': metric results}``."""
    config = {
        "USE_PARALLEL": False,
        "PRINT_RESULTS": False,
        "PRINT_CONFIG": False,
        "TIME_PROGRESS": False,
        "OUTPUT_SUMMARY": False,
        "OUTPUT_DETAILED": False,
        "PLOT_CURVES": False,
        "DISPLAY_LESS_PROGRESS": True,
    }
    with tempfile.TemporaryDirectory() as out_dir:
        dataset = trackeval.datasets.MotChallenge2DBox(
            {
                "GT_FOLDER": str(gt_root),
                "TRACKERS_FOLDER": str(tracker_root),
                "TRACKERS_TO_EVAL": ["t"],
                "TRACKER_SUB_FOLDER": "",
                "SKIP_SPLIT_FOL": True,
                "SEQ_INFO": dict(seqs),
                "BENCHMARK": benchmark,
                "DO_PREPROC": preproc,
                "OUTPUT_FOLDER": out_dir,
                "PRINT_CONFIG": False,
            }
        )
        metrics = list(metric_objects().values())[:3]
        with contextlib.redirect_stdout(io.StringIO()):
            res, msg = trackeval.Evaluator(config).evaluate([dataset], metrics)
    assert msg["MotChallenge2DBox"]["t"] == "Success", msg
    return {k: v["pedestrian"] for k, v in res["MotChallenge2DBox"]["t"].items()}


_CLEAR = {
    "tp": "CLR_TP",
    "fn": "CLR_FN",
    "fp": "CLR_FP",
    "id_switches": "IDSW",
    "mt": "MT",
    "pt": "PT",
    "ml": "ML",
    "frag": "Frag",
}
_CLEAR_RATIOS = {
    "mota": "MOTA",
    "motp": "MOTP",
    "moda": "MODA",
    "smota": "sMOTA",
    "recall": "CLR_Re",
    "precision": "CLR_Pr",
    "mtr": "MTR",
    "ptr": "PTR",
    "mlr": "MLR",
    "f1": "CLR_F1",
}
_HOTA = {
    "tp": "HOTA_TP",
    "fn": "HOTA_FN",
    "fp": "HOTA_FP",
    "hota": "HOTA",
    "deta": "DetA",
    "assa": "AssA",
    "detre": "DetRe",
    "detpr": "DetPr",
    "assre": "AssRe",
    "asspr": "AssPr",
    "loca": "LocA",
    "owta": "OWTA",
}


def assert_same(ours: MOTScores, ref: dict, *, where: str = "", tol: float = 1e-9) -> None:
    """Every count equal and every ratio within ``tol`` (TrackEval's field names in ``ref``)."""
    if "CLEAR" in ref:
        c, r = ours.clear, ref["CLEAR"]
        for mine, theirs in _CLEAR.items():
            assert getattr(c.counts, mine) == int(r[theirs]), (
                f"{where} CLEAR {theirs}: {getattr(c.counts, mine)} {r[theirs]}"
            )
        for mine, theirs in _CLEAR_RATIOS.items():
            assert abs(getattr(c, mine) - r[theirs]) <= tol, f"{where} CLEAR {theirs}: {getattr(c, mine)} {r[theirs]}"
    if "Identity" in ref:
        i, r = ours.identity, ref["Identity"]
        assert (i.counts.idtp, i.counts.idfn, i.counts.idfp) == (r["IDTP"], r["IDFN"], r["IDFP"]), where
        for mine, theirs in (("idf1", "IDF1"), ("id_precision", "IDP"), ("id_recall", "IDR")):
            assert abs(getattr(i, mine) - r[theirs]) <= tol, f"{where} Identity {theirs}"
    if "HOTA" in ref:
        h, r = ours.hota, ref["HOTA"]
        for mine, theirs in _HOTA.items():
            np.testing.assert_allclose(getattr(h, mine), r[theirs], rtol=0, atol=tol, err_msg=f"{where} {theirs}")
        assert abs(h.hota0 - r["HOTA(0)"]) <= tol and abs(h.loca0 - r["LocA(0)"]) <= tol, where
    if "Count" in ref:
        n, r = ours.count, ref["Count"]
        assert (n.gt_dets, n.pred_dets, n.gt_tracks, n.pred_tracks) == (
            r["GT_Dets"],
            r["Dets"],
            r["GT_IDs"],
            r["IDs"],
        ), where
