"""Multi-object tracking metrics (``mot.*``): CLEAR MOT, Identity and HOTA, as TrackEval defines them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from yololab.metrics._base import ScalarMetrics, sub_dict
from yololab.metrics.keys import class_key_map


@dataclass
class MOTMetrics(ScalarMetrics):
    """Tracking quality, equal to TrackEval's numbers for the same input (ratios as fractions, counts as ints).

    CLEAR (Bernardin & Stiefelhagen 2008, TrackEval ``metrics/clear.py``):
        mota = (TP - FP - IDSW) / max(1, TP + FN); moda = (TP - FP) / max(1, TP + FN);
        motp = mean IoU over matches (not 1 - IoU); smota = (sum IoU - FP - IDSW) / max(1, TP + FN);
        mt/pt/ml = GT tracks tracked > 80 % / between 20 % and 80 % / < 20 % of their life.
    Identity (Ristani et al. 2016): idf1 = 2 IDTP / (2 IDTP + IDFP + IDFN); id_precision = IDTP / (IDTP + IDFP);
        id_recall = IDTP / (IDTP + IDFN), with one global ID assignment per sequence.
    HOTA (Luiten et al. 2021): mean over 19 alphas (0.05..0.95) of sqrt(DetA * AssA); ``hota0``/``loca0`` at
        alpha = 0.05 (TrackEval's HOTA(0), LocA(0)).

    ``sequences`` holds the same metrics per sequence -> ``mot.seq.{sequence}.{field}``.
    """

    INT_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"tp", "fp", "fn", "id_switches", "frag", "mt", "pt", "ml", "idtp", "idfp", "idfn"}
        | {"gt_tracks", "pred_tracks", "gt_dets", "pred_dets"}
    )
    SEQUENCE_FIELDS: ClassVar[tuple[str, ...]] = ("hota", "mota", "idf1", "id_switches", "deta", "assa")
    """Fields logged per sequence (``mot.seq.{sequence}.{field}``); the full table goes to an artifact."""

    mota: float | None = None
    motp: float | None = None
    moda: float | None = None
    smota: float | None = None
    tp: int | None = None
    fp: int | None = None
    fn: int | None = None
    id_switches: int | None = None
    frag: int | None = None
    mt: int | None = None
    pt: int | None = None
    ml: int | None = None
    idf1: float | None = None
    id_precision: float | None = None
    id_recall: float | None = None
    idtp: int | None = None
    idfp: int | None = None
    idfn: int | None = None
    hota: float | None = None
    deta: float | None = None
    assa: float | None = None
    loca: float | None = None
    detre: float | None = None
    detpr: float | None = None
    assre: float | None = None
    asspr: float | None = None
    hota0: float | None = None
    loca0: float | None = None
    gt_tracks: int | None = None
    pred_tracks: int | None = None
    gt_dets: int | None = None
    pred_dets: int | None = None
    sequences: dict[str, MOTMetrics] = field(default_factory=dict)

    def sequence_keys(self) -> dict[str, str]:
        """Sequence name -> MLflow key part."""
        return class_key_map(self.sequences)

    def to_mlflow_dict(self, prefix: str = "mot") -> dict[str, float]:
        """Flatten combined metrics to ``{prefix}.{field}`` and per-sequence ones to ``{prefix}.seq.{seq}.{field}``."""
        out = self._scalar_items(prefix)
        keys = self.sequence_keys()
        for name, seq in self.sequences.items():
            for fname in self.SEQUENCE_FIELDS:
                value = getattr(seq, fname)
                if value is not None:
                    out[f"{prefix}.seq.{keys[name]}.{fname}"] = float(value)
        return out

    @classmethod
    def from_mlflow_dict(cls, values: Mapping[str, float], prefix: str = "mot") -> MOTMetrics:
        """Rebuild from logged keys (per-sequence entries keyed by their key part)."""
        metrics = cls(**cls._scalar_kwargs(values, prefix))
        per_seq = sub_dict(values, f"{prefix}.seq")
        names = sorted({k.rsplit(".", 1)[0] for k in per_seq})
        for name in names:
            metrics.sequences[name] = cls._from_scalars(sub_dict(per_seq, name))
        return metrics

    @classmethod
    def _from_scalars(cls, values: Mapping[str, float]) -> MOTMetrics:
        return cls(**cls._scalar_kwargs({f"s.{k}": v for k, v in values.items()}, "s"))
