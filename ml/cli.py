"""One-line errors for the ``ml`` commands (and the ``pipelines`` entry points built on them).

A user's mistake (a missing file, a bad date, an unreadable artifact) is reported as one line,
``<command>: <reason>``, on stderr with a non-zero exit status, never a traceback: usage
mistakes exit 2 (as argparse does), failures of the command itself exit 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from ml.artifact import ArtifactError

__all__ = ["USAGE_ERROR", "CommandError", "CommandParser", "run_command"]

FAILED = 1
USAGE_ERROR = 2


class CommandError(Exception):
    """A failure to report as one line; ``exit_code`` says which kind."""

    def __init__(self, message: str, exit_code: int = FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose mistakes are one line: ``<prog>: <reason>``."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message}", file=sys.stderr)
        raise SystemExit(USAGE_ERROR)


def run_command(
    name: str, command: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None
) -> int:
    """``command(argv)``'s exit status, its expected failures reported as one line each."""
    try:
        return command(argv) or 0
    except CommandError as error:
        print(f"{name}: {error}", file=sys.stderr)
        return error.exit_code
    except ArtifactError as error:
        print(f"{name}: {error}", file=sys.stderr)
        return FAILED
    except OSError as error:  # a missing or unreadable file, named by the error itself
        reason = error.strerror or str(error)
        where = f": {error.filename}" if error.filename else ""
        print(f"{name}: {reason}{where}", file=sys.stderr)
        return FAILED
    except ValueError as error:  # bad data or a bad value met after parsing
        print(f"{name}: {error}", file=sys.stderr)
        return FAILED
