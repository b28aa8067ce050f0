"""Model classes against the data's classes: the detection check and the tracking class map. Pure Python.

A model only measures what it was trained to name. Two questions are answered here, before anything is measured:

* **Detection** (:func:`check_detection_classes`): may the model's predictions be scored against this dataset's
  labels? Ultralytics' validator pairs predictions and labels by class *index*, so the dataset's names must be the
  model's names at the same indices (the model may know more classes, after the dataset's: a COCO model on a
  person-only dataset). Anything else is refused, unless the user allows it explicitly.
* **Tracking** (:func:`resolve_tracking_classes`): which model classes are tracked, and which ground-truth class
  each one is written as. Under a MOTChallenge protocol only pedestrians exist: the model class named ``person``
  (or ``pedestrian``) is tracked and written as class 1. On other data, model classes are matched by name against
  the sequences' class list (``classes.txt``, line *k* = class id *k*), or by index when the model's names are the
  dataset's names; ``class_map`` overrides either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PEDESTRIAN_NAMES = ("person", "pedestrian")
"""Model class names taken to mean MOTChallenge's pedestrian (class 1), compared case-insensitively."""

MOT_PEDESTRIAN_ID = 1
"""MOTChallenge's pedestrian class id."""

__all__ = [
    "MOT_PEDESTRIAN_ID",
    "PEDESTRIAN_NAMES",
    "ClassMapError",
    "TrackingClasses",
    "check_detection_classes",
    "resolve_tracking_classes",
]


class ClassMapError(ValueError):
    """The model's classes cannot be paired with the data's; the message lists both and says what would fix it."""


def _norm(name: str) -> str:
    return name.strip().lower()


def _listing(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(f"{i}: {n}" for i, n in enumerate(names[:limit]))
    return f"[{shown}{', ...' if len(names) > limit else ''}] ({len(names)} classes)"


def check_detection_classes(
    model_names: Sequence[str] | None, data_names: Sequence[str], *, allow_mismatch: bool = False
) -> str:
    """Check that the dataset's classes are the model's at the same indices; return how they relate (a tag value).

    Args:
        model_names: the model's class names, index = class id; None when the model carries none (an ONNX file
            without Ultralytics metadata).
        data_names: the dataset's class names (``data.yaml``), index = class id.
        allow_mismatch: measure anyway when the names differ (the result says so).

    Returns:
        ``"match"``, ``"match: ..."`` (the dataset's classes are the model's first ones), ``"unverified: ..."`` (the
        model has no names) or ``"mismatch allowed: ..."``.

    Raises:
        ClassMapError: the names differ and ``allow_mismatch`` is false; the message lists both.

    Example:
        >>> check_detection_classes(["person", "bicycle", "car"], ["person"])
        "match: the dataset's classes are the model's first 1 (of 3)"
        >>> check_detection_classes(["Normal", "Fall"], ["person", "car"])  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ClassMapError: the model's classes [0: Normal, 1: Fall] (2 classes) are not the dataset's ...
    """
    if model_names is None:
        return (
            f"unverified: the model carries no class names; its class ids are taken as the dataset's {len(data_names)}"
        )
    model, data = [_norm(n) for n in model_names], [_norm(n) for n in data_names]
    if model == data:
        return "match"
    if len(data) < len(model) and model[: len(data)] == data:
        return f"match: the dataset's classes are the model's first {len(data)} (of {len(model)})"
    message = (
        f"the model's classes {_listing(list(model_names))} are not the dataset's {_listing(list(data_names))} "
        "at the same indices, so its predictions cannot be scored against these labels"
    )
    if allow_mismatch:
        return f"mismatch allowed: {message}"[:4000]
    raise ClassMapError(
        f"{message}. Use a dataset labelled with the model's classes, or set allow_class_mismatch: true to measure "
        "anyway (the run is then tagged as such)"
    )


@dataclass(frozen=True)
class TrackingClasses:
    """What a tracking run tracks and how it writes it.

    Attributes:
        model_ids: model class indices to track (Ultralytics' ``classes=``; filtered before the tracker).
        gt_ids: model class index -> ground-truth class id written in the result files' class column.
        description: how the choice was made, for a run tag.
    """

    model_ids: list[int]
    gt_ids: dict[int, int]
    description: str

    @property
    def evaluated_gt_ids(self) -> list[int]:
        """Ground-truth class ids that the tracker's output can be scored on, sorted."""
        return sorted(set(self.gt_ids.values()))


def _model_index(item: str | int, model_names: Sequence[str], what: str) -> int:
    if isinstance(item, int) or (isinstance(item, str) and item.strip().isdigit()):
        index = int(item)
        if 0 <= index < len(model_names):
            return index
        raise ClassMapError(f"{what}: class index {index} is not one of the model's {_listing(list(model_names))}")
    wanted = _norm(str(item))
    for index, name in enumerate(model_names):
        if _norm(name) == wanted:
            return index
    raise ClassMapError(f"{what}: {item!r} is not a class of the model; its classes are {_listing(list(model_names))}")


def _gt_id(target: str | int, gt_names: Sequence[str] | None, what: str) -> int:
    if isinstance(target, int) or (isinstance(target, str) and target.strip().isdigit()):
        return int(target)
    if gt_names is not None:
        for position, name in enumerate(gt_names, start=1):
            if _norm(name) == _norm(str(target)):
                return position
    known = "no class list (classes.txt)" if gt_names is None else f"classes {list(gt_names)}"
    raise ClassMapError(f"{what}: ground-truth class {target!r} not found; the sequences have {known}")


def resolve_tracking_classes(
    model_names: Sequence[str],
    *,
    benchmark: str,
    requested: Sequence[str | int] | None = None,
    class_map: Mapping[str, str | int] | None = None,
    gt_names: Sequence[str] | None = None,
    data_names: Sequence[str] | None = None,
) -> TrackingClasses:
    """Decide which model classes are tracked and which ground-truth class each is written as.

    Args:
        model_names: the model's class names, index = class id.
        benchmark: ``"MOT16"``/``"MOT17"``/``"MOT20"`` (pedestrians only) or ``"none"``.
        requested: model classes to track, by name or index (``infer.tracking.classes``); None: the default above.
        class_map: model class (name or index) -> ground-truth class (id, or name in ``gt_names``).
        gt_names: the sequences' class list (``classes.txt``; position + 1 = class id), if any.
        data_names: the detection dataset's class names, used for the by-index default.

    Raises:
        ClassMapError: a requested class is not the model's, a class cannot be mapped, a MOTChallenge protocol meets a
            model without a pedestrian class or a map to another class, or nothing would be tracked.

    Example:
        >>> coco = ["person", "bicycle", "car"]
        >>> resolve_tracking_classes(coco, benchmark="MOT17").gt_ids
        {0: 1}
        >>> resolve_tracking_classes(coco, benchmark="none", gt_names=["car", "person"]).gt_ids
        {0: 2, 2: 1}
    """
    names = list(model_names)
    mapped = {_model_index(k, names, "infer.tracking.class_map"): v for k, v in (class_map or {}).items()}
    chosen = None if requested is None else [_model_index(c, names, "infer.tracking.classes") for c in requested]
    if benchmark != "none":
        return _mot_classes(names, benchmark, chosen, mapped)
    return _custom_classes(names, chosen, mapped, gt_names, data_names)


def _mot_classes(
    names: list[str], benchmark: str, chosen: list[int] | None, mapped: dict[int, str | int]
) -> TrackingClasses:
    if chosen is None:
        chosen = [i for i, n in enumerate(names) if _norm(n) in PEDESTRIAN_NAMES][:1]
        if not chosen:
            raise ClassMapError(
                f"{benchmark} evaluates pedestrians only, and the model has no class named 'person' or 'pedestrian' "
                f"among {_listing(names)}; set infer.tracking.classes to the model class that stands for pedestrians"
            )
        how = f"{benchmark}: model class {chosen[0]} ({names[chosen[0]]}) tracked as pedestrian (1)"
    else:
        picked = [names[i] for i in chosen]
        how = f"{benchmark}: model classes {picked} (infer.tracking.classes) tracked as pedestrian (1)"
    for index, target in mapped.items():
        if _gt_id(target, None, "infer.tracking.class_map") != MOT_PEDESTRIAN_ID:
            raise ClassMapError(
                f"infer.tracking.class_map: {names[index]!r} -> {target!r}; {benchmark} accepts only pedestrian "
                f"results (class {MOT_PEDESTRIAN_ID})"
            )
    return TrackingClasses(sorted(set(chosen)), dict.fromkeys(sorted(set(chosen)), MOT_PEDESTRIAN_ID), how)


def _custom_classes(
    names: list[str],
    chosen: list[int] | None,
    mapped: dict[int, str | int],
    gt_names: Sequence[str] | None,
    data_names: Sequence[str] | None,
) -> TrackingClasses:
    by_index = (
        gt_names is None and data_names is not None and [_norm(n) for n in data_names] == [_norm(n) for n in names]
    )
    gt_ids: dict[int, int] = {}
    for index in range(len(names)) if chosen is None else chosen:
        if index in mapped:
            gt_ids[index] = _gt_id(mapped[index], gt_names, "infer.tracking.class_map")
        elif gt_names is not None:
            hits = [k for k, n in enumerate(gt_names, start=1) if _norm(n) == _norm(names[index])]
            if hits:
                gt_ids[index] = hits[0]
            elif chosen is not None:
                raise ClassMapError(
                    f"infer.tracking.classes: model class {names[index]!r} has no ground-truth class of that name "
                    f"among {list(gt_names)} (classes.txt); map it with infer.tracking.class_map"
                )
        elif by_index:
            gt_ids[index] = index + 1
        else:
            raise ClassMapError(
                f"the sequences have no class list (classes.txt, one name a line, line k = class id k) and the "
                f"model's classes {_listing(names)} are not the dataset's {_listing(list(data_names or []))}; write "
                "classes.txt beside the sequences or set infer.tracking.class_map"
            )
    if not gt_ids:
        raise ClassMapError(
            f"no model class {_listing(names)} matches a ground-truth class {list(gt_names or [])} by name; set "
            "infer.tracking.classes and infer.tracking.class_map"
        )
    source = "class_map/" if mapped else ""
    source += "names (classes.txt)" if gt_names is not None else ("dataset order" if by_index else "class_map")
    pairs = ", ".join(f"{names[i]}->{g}" for i, g in gt_ids.items())
    return TrackingClasses(sorted(gt_ids), gt_ids, f"per class, matched by {source}: {pairs}"[:4000])
