"""The ``yololab`` command line.

Every module in :mod:`yololab.cli.commands` defines ``register(app)``, which adds its command(s) to the one
typer application built here. Commands import heavy libraries (torch, ultralytics, mlflow) lazily, inside the
command function, so ``yololab --help`` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

from yololab import __version__
from yololab.cli import commands

app = typer.Typer(
    name="yololab",
    help=(
        "Run YOLO experiments - training, inference benchmarks with multi-object tracking, quantization "
        "comparisons - and record each one in MLflow with one fixed, comparable set of metrics "
        "(det.*, mot.*, sys.*, comparison.*)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"yololab {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Run YOLO experiments and record them in MLflow with one comparable metric schema."""


for _info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
    importlib.import_module(f"{commands.__name__}.{_info.name}").register(app)

__all__ = ["app"]
