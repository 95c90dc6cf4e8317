"""What StreamFlow's command-line tools share: a mistake ends the command with one line.

A command that cannot do what it was asked prints ``<tool>: <reason>`` on stderr, one line,
and exits non-zero; a traceback is for defects, never for a user's mistake. Exit statuses:

* ``2`` (:data:`USAGE_ERROR`, argparse's own): the command line is wrong (an unknown option, a
  value out of its range, a file that does not exist). A retry would fail the same way.
* ``1`` (:data:`RUN_ERROR`): the command could not do its work (a server that does not
  answer, a database that refuses). A retry may succeed: Airflow retries it.

A tool may define statuses above 2 for its own outcomes (``pipelines.produce``: 3, some records
were not delivered; ``pipelines.warehouse quality``: 3, a check measured a failure).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NoReturn

USAGE_ERROR = 2
RUN_ERROR = 1


class CommandError(Exception):
    """The command cannot go on; the message says why in one line, the status how to react."""

    def __init__(self, message: str, status: int = USAGE_ERROR) -> None:
        super().__init__(message)
        self.status = status


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose mistakes are :class:`CommandError`, not a usage text and an
    exit, and which names the closest known option for an unknown one."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(message)

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> argparse.Namespace:
        parsed: argparse.Namespace
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            raise CommandError(unknown_argument_message(unknown, option_names(self)))
        return parsed


def option_names(parser: argparse.ArgumentParser) -> list[str]:
    """Every ``--option`` the parser and its subcommands know."""
    names: list[str] = []
    for action in parser._actions:
        names += [name for name in action.option_strings if name.startswith("--")]
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                names += option_names(subparser)
    return sorted(set(names))


def unknown_argument_message(unknown: Sequence[str], known: Iterable[str]) -> str:
    """One line naming the first argument nobody knows, and the option it may be a typo of."""
    options = [argument for argument in unknown if argument.startswith("-")]
    if not options:
        return f"unexpected argument {unknown[0]!r}"
    name = options[0].split("=", 1)[0]
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown option {name}{hint}"


@dataclass(frozen=True, slots=True)
class Range:
    """The values a numeric option accepts: ``low <= value <= high`` (no bound where
    ``None``), strictly ``above`` and strictly ``below`` where set, or one of ``also`` (a
    special value such as -1 for "the cluster's default"). Usable as an argparse ``type``."""

    kind: type[int] | type[float]
    low: float | None = None
    high: float | None = None
    above: float | None = None
    below: float | None = None
    also: tuple[int, ...] = ()

    @property
    def __name__(self) -> str:  # argparse names a type by it in its messages
        return self.kind.__name__

    def contains(self, value: float) -> bool:
        if value in self.also:
            return True
        if self.above is not None and not value > self.above:
            return False
        if self.below is not None and not value < self.below:
            return False
        if self.low is not None and value < self.low:
            return False
        return self.high is None or value <= self.high

    def describe(self) -> str:
        """E.g. ``an integer from 1 to 3660``, ``a number above 0``, ``... or -1``."""
        noun = "an integer" if self.kind is int else "a number"
        if self.low is not None and self.high is not None:
            bounds = [f"from {_number(self.low)} to {_number(self.high)}"]
        else:
            bounds = [f"of at least {_number(self.low)}"] if self.low is not None else []
            bounds += [f"of at most {_number(self.high)}"] if self.high is not None else []
        bounds += [f"above {_number(self.above)}"] if self.above is not None else []
        bounds += [f"below {_number(self.below)}"] if self.below is not None else []
        special = "".join(f" or {value}" for value in self.also)
        return f"{noun} {' and '.join(bounds)}".strip() + special

    def problem(self, value: Any, shown: str | None = None) -> str | None:
        """Why ``value`` is refused, or ``None`` if it is accepted. ``shown``: the value as
        the user wrote it (``0``, not ``0.0``)."""
        shown = shown or repr(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{shown} is not a number"
        if self.kind is int and not isinstance(value, int):
            return f"{shown} is not an integer"
        if not self.contains(value):
            return f"{shown} is out of range: expected {self.describe()}"
        return None

    def __call__(self, text: str) -> int | float:
        try:
            value = self.kind(text)
        except ValueError:
            noun = "an integer" if self.kind is int else "a number"
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {noun}: expected {self.describe()}"
            ) from None
        if value != value or value in (float("inf"), float("-inf")):  # NaN or infinite
            raise argparse.ArgumentTypeError(f"{text!r}: expected {self.describe()}")
        problem = self.problem(value, text)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value


def day(text: str) -> date:
    """An argument type: a calendar day, ``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYY-MM-DD)") from None


def _number(value: float) -> str:
    """``4294967295`` as ``4,294,967,295``, ``0.5`` as it is."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def run_command(tool: str, body: Callable[[], int]) -> int:
    """``body``'s exit status; a :class:`CommandError` becomes ``tool: reason`` on stderr."""
    try:
        return body()
    except CommandError as error:
        print(f"{tool}: {one_line(str(error))}", file=sys.stderr)
        return error.status


def os_error_reason(error: OSError) -> str:
    """``PATH: No such file or directory`` rather than ``[Errno 2] ...: 'PATH'``."""
    if error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error)


def one_line(message: str) -> str:
    """A message as one line: a library's multi-line text (libpq's hints) joined."""
    return " ".join(part.strip() for part in message.strip().splitlines() if part.strip())
