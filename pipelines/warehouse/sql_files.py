"""Where the warehouse's SQL files are: inside the installed package, else in the checkout.

``setup.py`` ships the checkout's top-level ``sql/`` folder as ``pipelines/warehouse/sql`` in
wheels and sdists, so an installed StreamFlow finds its migrations without the source tree. An
editable install or a plain checkout reads ``sql/`` itself.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGED = Path(__file__).resolve().parent / "sql"
_CHECKOUT = Path(__file__).resolve().parents[2] / "sql"


class MissingSqlError(FileNotFoundError):
    """The SQL a command needs is not where this installation keeps it."""


def sql_root() -> Path:
    return _PACKAGED if _PACKAGED.is_dir() else _CHECKOUT


def sql_folder(name: str) -> Path:
    folder = sql_root() / name
    if not folder.is_dir():
        raise MissingSqlError(f"no SQL folder {folder}: is StreamFlow installed completely?")
    return folder


def read_sql(folder: str, file_name: str) -> str:
    return (sql_folder(folder) / file_name).read_text(encoding="utf-8")
