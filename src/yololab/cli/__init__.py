"""The ``yololab`` command line.

Every module in :mod:`yololab.cli.commands` defines ``register(app)``, which adds its command(s) to a typer
application (and may define ``prepare(commands)``, called with the click commands typer built from them). The
application built here loads those modules lazily: ``yololab eval-mot ...`` imports only ``commands/eval_mot.py``
(a command ``a-b`` is looked for in module ``a_b`` first); anything else - ``yololab --help``, a command defined in a
module of another name, a mistyped command - loads them all, in module order, so the help lists the commands as
before. Commands import heavy libraries (torch, ultralytics, mlflow) lazily too, inside the command function, so a
command starts with only what it uses.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pkgutil
import sys
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperGroup

from yololab import __version__
from yololab.cli import commands

__all__ = ["app", "main", "plain_coercion", "skip_teardown"]


class _PlainCoercion:
    """Typer's runtime coercion of one option, without pydantic (see :func:`plain_coercion`)."""

    def __init__(self, convert: Callable[[Any], Any]):
        self.convert = convert

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        """The option's value from what click parsed (``None`` stays ``None``; a repeated option gives a list)."""
        multiple = param.multiple or param.nargs == -1
        if value is None:
            return () if multiple else None
        if multiple:
            if isinstance(value, str):
                raise typer.BadParameter("Value must be an iterable.", ctx=ctx, param=param)
            return [self._one(v, param, ctx) for v in value]
        return self._one(value, param, ctx)

    def _one(self, value: Any, param: Any, ctx: Any) -> Any:
        try:
            return self.convert(value)
        except (TypeError, ValueError) as exc:
            raise typer.BadParameter(str(exc), ctx=ctx, param=param) from None


def _plain_help(command: Any) -> None:
    """The help flag of ``command``, once click creates it, converted with ``bool``."""
    create = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = create(ctx)
        if option is not None and getattr(option, "_runtime_param", "absent") is None:
            option._runtime_param = _PlainCoercion(bool)
        return option

    command.get_help_option = get_help_option


def plain_coercion(command: Any, convert: dict[str, Callable[[Any], Any]]) -> None:
    """Let a command's options (and ``--help``) be converted by plain functions instead of pydantic.

    Typer (0.29) turns every option's text into its value with a pydantic ``TypeAdapter``, built the first time the
    option is parsed: importing pydantic and building the adapters takes 0.05-0.1 s. For options whose types are
    plain (paths, strings, numbers), ``convert[name]`` does the same: a ``ValueError`` becomes typer's
    ``BadParameter`` naming the option. Only where typer keeps the coercion in an unset ``_runtime_param``
    attribute; elsewhere typer's own coercion stays, and the command is as correct, just slower to start.
    """
    for param in command.params:
        function = convert.get(param.name or "")
        if function is not None and getattr(param, "_runtime_param", "absent") is None:
            param._runtime_param = _PlainCoercion(function)
    _plain_help(command)


def _command_modules() -> list[str]:
    """Names of the modules in :mod:`yololab.cli.commands`, sorted."""
    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__))


class _LazyCommands(TyperGroup):
    """The root command group: command modules are imported the first time one of their commands is asked for."""

    _complete = False

    def get_help_option(self, ctx: Any) -> Any:
        """Click's ``--help`` flag, converted with ``bool`` (see :func:`plain_coercion`)."""
        option = super().get_help_option(ctx)
        if option is not None and getattr(option, "_runtime_param", "absent") is None:
            option._runtime_param = _PlainCoercion(bool)
        return option

    def _load(self, modules: list[str]) -> dict[str, Any]:
        """The click commands the given modules register, in registration order (commands, then groups)."""
        sub = typer.Typer(rich_markup_mode=self.rich_markup_mode, add_completion=False)
        loaded = [importlib.import_module(f"{commands.__name__}.{name}") for name in modules]
        for module in loaded:
            module.register(sub)
        built = dict(typer.main.get_group(sub).commands)
        for module in loaded:  # a module may adjust its built commands: ``prepare(commands)``
            if hasattr(module, "prepare"):
                module.prepare(built)
        return built

    def _load_all(self) -> None:
        if not self._complete:
            self.commands = self._load(_command_modules())
            self._complete = True

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command ``cmd_name``, importing its module (``a-b`` -> ``a_b``, else every module) on first use."""
        if cmd_name not in self.commands and not self._complete:
            module = cmd_name.replace("-", "_")
            found = self._load([module]) if module in _command_modules() else {}
            if cmd_name in found:
                self.commands[cmd_name] = found[cmd_name]
            else:
                self._load_all()
        return self.commands.get(cmd_name)

    def list_commands(self, ctx: Any) -> list[str]:
        """Every command, in module order (loads all command modules)."""
        self._load_all()
        return super().list_commands(ctx)


app = typer.Typer(
    name="yololab",
    cls=_LazyCommands,
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


_SKIP_TEARDOWN = False
"""Set by :func:`skip_teardown`: :func:`main` then ends the process without the interpreter's teardown."""


def skip_teardown() -> None:
    """Let :func:`main` end the process without the interpreter's teardown when the command returns.

    For a command that has written and closed all it writes. The exit then does what the interpreter's does first
    - waits for the threads that are not daemons (``concurrent.futures`` workers finish their queued work) and runs
    the ``atexit`` handlers (logging's flush among them) - and skips the rest, which only frees memory and unloads
    modules: 0.02-0.04 s with numpy and scipy loaded (``yololab eval-mot``), about 1.4 s with PyTorch, Ultralytics
    and OpenVINO (the experiment commands). Without effect when the application runs in-process (tests, ``app()``
    called from Python).
    """
    global _SKIP_TEARDOWN
    _SKIP_TEARDOWN = True


def _exit_without_teardown(code: int) -> None:
    """Wait for the threads, run the ``atexit`` handlers, flush and end the process with ``code``.

    Both steps are the interpreter's own (``threading._shutdown``, ``atexit._run_exitfuncs``, CPython's); where either
    is missing, returns and lets the usual exit happen.
    """
    import atexit
    import threading

    wait_for_threads = getattr(threading, "_shutdown", None)
    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    if wait_for_threads is None or run_handlers is None:
        return
    wait_for_threads()
    run_handlers()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (``| head``): nothing more can be written
            stream.flush()
    os._exit(code)


def main() -> None:
    """The ``yololab`` console script (and ``python -m yololab``): the application, then the exit."""
    global _SKIP_TEARDOWN
    _SKIP_TEARDOWN = False
    try:
        app(prog_name="yololab")
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if _SKIP_TEARDOWN and (code is None or isinstance(code, int)):
        _exit_without_teardown(code or 0)
    raise SystemExit(code)
