"""Parity with TrackEval on real files: TUD-Campus / TUD-Stadtmitte (motmetrics wheel) and MOT17 (opt-in)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from mot_oracle import assert_same, run_trackeval_folder
from yololab.metrics.mot import evaluate_mot
from yololab.metrics.mot.motchallenge import load_benchmark

motmetrics = pytest.importorskip("motmetrics")
TUD = Path(motmetrics.__file__).parent / "data"


@pytest.fixture(scope="module")
def tud_layout(tmp_path_factory) -> tuple[Path, Path, dict[str, int]]:
    """The TUD files in MOTChallenge layout (seqinfo.ini with the last frame of the data)."""
    root = tmp_path_factory.mktemp("tud")
    lengths = {}
    (root / "trackers" / "t").mkdir(parents=True)
    for name in ("TUD-Campus", "TUD-Stadtmitte"):
        seq_dir = root / "gt" / name / "gt"
        seq_dir.mkdir(parents=True)
        shutil.copy(TUD / name / "gt.txt", seq_dir / "gt.txt")
        shutil.copy(TUD / name / "test.txt", root / "trackers" / "t" / f"{name}.txt")
        frames = [np.loadtxt(TUD / name / f, delimiter=",")[:, 0].max() for f in ("gt.txt", "test.txt")]
        lengths[name] = int(max(frames))
        (root / "gt" / name / "seqinfo.ini").write_text(f"[Sequence]\nname={name}\nseqLength={lengths[name]}\n")
    return root / "gt", root / "trackers", lengths


@pytest.mark.oracle
def test_tud_matches_trackeval(tud_layout) -> None:
    gt_root, tr_root, lengths = tud_layout
    ref = run_trackeval_folder(gt_root, tr_root, lengths, benchmark="MOT17", preproc=False)
    folder = load_benchmark(gt_root, tr_root / "t")
    ours = evaluate_mot(folder.sequences, benchmark="none", origins=folder.origins)
    for name in lengths:
        assert_same(ours.sequences()[name], ref[name], where=name)
    assert_same(ours.combined(), ref["COMBINED_SEQ"], where="combined")
    assert ours.combined().clear.counts.tp > 0


def _mot17_dir() -> Path:
    env = os.environ.get("YOLOLAB_MOT17_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "mot17"


@pytest.mark.mot17
@pytest.mark.slow
def test_mot17_mpntrack_matches_trackeval_reference() -> None:
    """All 21 MOT17-train sequences with MPNTrack vs the TrackEval results stored next to the data (fractions)."""
    root = _mot17_dir()
    if not (root / "MOT17" / "train").is_dir():
        pytest.skip(f"MOT17 data not found at {root} (set YOLOLAB_MOT17_DIR)")
    folder = load_benchmark(
        root / "MOT17" / "train", root / "trackers" / "MPNTrack", seqmap=root / "MOT17" / "seqmaps" / "MOT17-train.txt"
    )
    result = evaluate_mot(folder.sequences, benchmark="MOT17", origins=folder.origins)
    rows = _read_detailed(root / "trackers" / "MPNTrack.trackeval_detailed.csv")
    for name, scores in {**result.sequences(), "COMBINED": result.combined()}.items():
        ref = rows[name]
        c, i, h, n = scores.clear, scores.identity, scores.hota, scores.count
        counts = {
            "CLR_TP": c.counts.tp,
            "CLR_FN": c.counts.fn,
            "CLR_FP": c.counts.fp,
            "IDSW": c.counts.id_switches,
            "MT": c.counts.mt,
            "PT": c.counts.pt,
            "ML": c.counts.ml,
            "Frag": c.counts.frag,
            "IDTP": i.counts.idtp,
            "IDFN": i.counts.idfn,
            "IDFP": i.counts.idfp,
            "Dets": n.pred_dets,
            "GT_Dets": n.gt_dets,
            "IDs": n.pred_tracks,
            "GT_IDs": n.gt_tracks,
        }
        for key, value in counts.items():
            assert value == int(float(ref[key])), f"{name} {key}: {value} vs {ref[key]}"
        ratios = {
            "MOTA": c.mota,
            "MOTP": c.motp,
            "MODA": c.moda,
            "sMOTA": c.smota,
            "IDF1": i.idf1,
            "IDP": i.id_precision,
            "IDR": i.id_recall,
            "HOTA(0)": h.hota0,
            "LocA(0)": h.loca0,
            "HOTA___AUC": np.mean(h.hota),
            "DetA___AUC": np.mean(h.deta),
            "AssA___AUC": np.mean(h.assa),
            "LocA___AUC": np.mean(h.loca),
        }
        for fam, arr in (("HOTA", h.hota), ("DetA", h.deta), ("AssA", h.assa), ("LocA", h.loca)):
            for k, alpha in enumerate(range(5, 100, 5)):
                ratios[f"{fam}___{alpha}"] = arr[k]
        for key, value in ratios.items():
            assert abs(value - float(ref[key])) <= 1e-9, f"{name} {key}: {value} vs {ref[key]}"


def _read_detailed(path: Path) -> dict[str, dict[str, str]]:
    import csv

    with path.open() as fh:
        return {row["seq"]: row for row in csv.DictReader(fh)}
