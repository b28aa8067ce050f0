"""What an experiment command leaves in the terminal at its end: the per-class table and the footer.

* :func:`print_per_class` — the table ``yolo val`` prints (class, images, instances, P, R, mAP50, mAP50-95, ``all``
  first) and its speed line, for the model a command validated (``best.pt`` after training, the model of ``infer``).
* :func:`print_footer` — where the run went: experiment, run id (in full), tracking URI (credentials never shown),
  elapsed wall time and the command that shows it (``mlflow ui --backend-store-uri ...`` for a local store, the
  server's address for a tracking server).

Both lay out in 80 columns without cutting anything (long class names and URIs wrap, never end in ``…``).
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from yololab.metrics.per_class import COLUMNS, PerClassTable
from yololab.runners._common import console


def per_class_renderable(table: PerClassTable, *, title: str | None = None) -> Table:
    """The per-class table as a rich :class:`~rich.table.Table`: numbers right-aligned, class names folded."""
    out = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    out.add_column(COLUMNS[0], overflow="fold", ratio=1, min_width=5)
    for name in COLUMNS[1:]:
        out.add_column(name, justify="right", no_wrap=True)
    for i, row in enumerate(table.rows):
        values = row.as_dict()
        cells = [str(values["class"]), str(values["images"]), str(values["instances"])]
        cells += [f"{values[k]:.3f}" for k in COLUMNS[3:]]
        out.add_row(*cells, style="bold" if i == 0 else None)
    return out


def print_per_class(table: PerClassTable, *, title: str | None = None, out: Console | None = None) -> None:
    """Print the per-class table and its speed line (on ``out``, default the shared stderr console)."""
    target = out if out is not None else console
    target.print(per_class_renderable(table, title=title))
    target.print(table.speed_line(), highlight=False, markup=False)


@dataclass(frozen=True)
class Footer:
    """Where a finished experiment's run is.

    Attributes:
        experiment: the MLflow experiment name.
        run_id: the run's id, in full (``local-...`` when it has not reached the server yet).
        tracking_uri: the tracking URI, without credentials.
        elapsed_s: wall time of the command.
        mlflow: the ``mlflow`` executable to name in the command.
    """

    experiment: str
    run_id: str
    tracking_uri: str
    elapsed_s: float
    mlflow: str = "mlflow"

    def lines(self) -> list[tuple[str, str]]:
        """``(label, value)`` pairs, every label distinct; the last one says how to see the run.

        Example:
            >>> for label, value in Footer("demo", "0123abcd", "sqlite:////tmp/m.db", 75.2).lines():
            ...     print(f"{label:<11} {value}")
            experiment  demo
            run id      0123abcd
            tracking    sqlite:////tmp/m.db
            elapsed     1 min 15 s
            see it with mlflow ui --backend-store-uri sqlite:////tmp/m.db
        """
        lines = [
            ("experiment", self.experiment),
            ("run id", self.run_id),
            ("tracking", self.tracking_uri),
            ("elapsed", format_elapsed(self.elapsed_s)),
        ]
        if self.run_id.startswith("local-"):
            lines.append(("not sent", "the run is in the local journal; `yololab sync` uploads it"))
        remote = self.tracking_uri.startswith(("http://", "https://"))
        lines.append(("open" if remote else "see it with", ui_command(self.tracking_uri, self.mlflow)))
        return lines


def ui_command(tracking_uri: str, mlflow: str = "mlflow") -> str:
    """How to see runs of ``tracking_uri``: the server's address, or ``mlflow ui`` on the local store (absolute).

    Example:
        >>> ui_command("http://mlflow.internal:5000")
        'http://mlflow.internal:5000'
        >>> ui_command("sqlite:////srv/runs/mlflow.db")
        'mlflow ui --backend-store-uri sqlite:////srv/runs/mlflow.db'
    """
    if tracking_uri.startswith(("http://", "https://")):
        return tracking_uri
    return f"{mlflow} ui --backend-store-uri {absolute_store_uri(tracking_uri)}"


def absolute_store_uri(tracking_uri: str) -> str:
    """A local store's URI that works from any folder: ``sqlite:///mlflow.db`` -> ``sqlite:////<cwd>/mlflow.db``.

    ``file:`` URIs and plain paths become absolute paths; anything else (a database server) is kept.
    """
    if tracking_uri.startswith("sqlite:///"):
        rest, sep, query = tracking_uri[len("sqlite:///") :].partition("?")
        if rest and rest != ":memory:":
            return f"sqlite:///{Path(rest).resolve()}" + sep + query
        return tracking_uri
    if tracking_uri.startswith("file:"):
        return str(Path(tracking_uri.removeprefix("file://").removeprefix("file:")).resolve())
    if "://" not in tracking_uri:
        return str(Path(tracking_uri).resolve())
    return tracking_uri


def format_elapsed(seconds: float) -> str:
    """``8.4 s``, ``3 min 31 s``, ``2 h 05 min``.

    Example:
        >>> format_elapsed(8.44), format_elapsed(211.0), format_elapsed(7500.0)
        ('8.4 s', '3 min 31 s', '2 h 05 min')
    """
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def console_script(name: str) -> str:
    """How to call this environment's console script ``name`` (``mlflow``, ``yololab``).

    ``name`` when ``PATH`` finds this environment's, else its path (relative when below the current folder:
    ``.venv/bin/mlflow``).
    """
    here = Path(sys.executable).parent / name
    found = shutil.which(name)
    if not here.exists() or (found is not None and Path(found).resolve() == here.resolve()):
        return name
    try:
        return str(here.relative_to(Path.cwd()))
    except ValueError:
        return str(here)


def print_footer(footer: Footer, *, out: Console | None = None) -> None:
    """Print the footer (on ``out``, default the shared stderr console), one line per item; nothing is cut.

    A value longer than the line wraps (a URI folds); the command at the end is printed as one line (the terminal
    wraps it, and a copy of it stays whole).
    """
    target = out if out is not None else console
    lines = footer.lines()
    width = max(len(name) for name, _ in lines)
    for i, (name, value) in enumerate(lines):
        text = Text.assemble((f"{name:<{width}}", "bold"), " ", value)
        target.print(text, highlight=False, soft_wrap=i == len(lines) - 1)


__all__ = [
    "Footer",
    "absolute_store_uri",
    "console_script",
    "format_elapsed",
    "per_class_renderable",
    "print_footer",
    "print_per_class",
    "ui_command",
]
