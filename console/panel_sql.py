"""A dashboard's SQL panel run on the warehouse, as Grafana's PostgreSQL datasource would run it.

Grafana's time macros become query parameters (``$__timeFilter(col)`` is ``col BETWEEN
%(start)s AND %(end)s``; ``$__timeGroupAlias(col, $__interval)`` is ``date_bin(%(interval)s,
col, 'epoch') AS "time"``, a point per interval of the page's step); a macro or variable the
page does not know is refused rather than sent. The query runs as the console's role in a
read-only transaction with a statement timeout, and at most :data:`MAX_ROWS` rows come back:
the files are ours, but a slow panel must not hold a connection of the pool.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import psycopg

from console.grafana import VARIABLE

MAX_ROWS = 2000
STATEMENT_TIMEOUT_MS = 5000
_COLUMN = r"\s*([\w.\"]+)\s*"
_MACRO = re.compile(
    rf"\$__timeFilter\({_COLUMN}\)"
    rf"|\$__timeGroupAlias\({_COLUMN},\s*\$__interval\s*\)"
    r"|\$__timeFrom\(\)|\$__timeTo\(\)"
)


class PanelQueryError(Exception):
    """A panel's SQL that gave no data; the message is for the reader of the page."""


def parameterised(text: str) -> str:
    """The panel's SQL with Grafana's time macros as psycopg parameters ``start``, ``end`` and
    ``interval``."""

    def replace(found: re.Match[str]) -> str:
        if found.group(1):
            return f"{found.group(1)} BETWEEN %(start)s AND %(end)s"
        if found.group(2):
            return f"date_bin(%(interval)s::interval, {found.group(2)}, 'epoch') AS \"time\""
        return "%(start)s" if found.group(0) == "$__timeFrom()" else "%(end)s"

    # A literal % of the panel's SQL must reach PostgreSQL as itself.
    query = _MACRO.sub(replace, text.replace("%", "%%"))
    left = VARIABLE.search(query)
    if left:
        raise PanelQueryError(f"{left.group(0)}: a Grafana macro or variable this page cannot fill")
    return query


def run(
    connection: psycopg.Connection,
    text: str,
    start: datetime,
    end: datetime,
    interval: timedelta,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The column names and rows of the panel's query over ``[start, end]``, a point per
    ``interval`` where it groups by ``$__timeGroupAlias``."""
    query = parameterised(text)
    try:
        with connection.transaction():
            connection.execute("SET TRANSACTION READ ONLY")
            connection.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
            cursor = connection.execute(query, {"start": start, "end": end, "interval": interval})
            columns = [column.name for column in cursor.description or []]
            rows = cursor.fetchmany(MAX_ROWS + 1)
    except psycopg.Error as error:
        reason = (error.diag.message_primary or str(error)).splitlines()[0]
        raise PanelQueryError(f"the warehouse refused the query: {reason}"[:300]) from None
    if len(rows) > MAX_ROWS:
        raise PanelQueryError(f"more than {MAX_ROWS} rows: narrow the query")
    return columns, rows
