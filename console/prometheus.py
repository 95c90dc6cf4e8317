"""A small client of Prometheus' HTTP API: range and instant queries, from the server only.

Any failure (unreachable, slow, a refused expression, an answer that is not Prometheus') is a
:class:`PrometheusError` whose message says what happened, for the page to show in the panel.
A ``user:password@`` in the URL is sent as HTTP basic authentication and never shown.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

TIMEOUT_S = 4.0
MAX_ANSWER = 8 * 1024 * 1024
MAX_SERIES = 50


class PrometheusError(Exception):
    """A query that gave no data; the message is for the reader of the page."""


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]  # (unix time, value), NaN and infinities left out


def query_range(
    base_url: str, expr: str, start: float, end: float, step: float, timeout: float = TIMEOUT_S
) -> list[Series]:
    data = _call(
        base_url,
        "query_range",
        {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"},
        timeout,
    )
    if data.get("resultType") != "matrix":
        raise PrometheusError(f"expected a range of values, got {data.get('resultType')!r}")
    return [_series(item.get("metric"), item.get("values")) for item in _result(data)]


def query(base_url: str, expr: str, at: float, timeout: float = TIMEOUT_S) -> list[Series]:
    data = _call(base_url, "query", {"query": expr, "time": f"{at:.3f}"}, timeout)
    kind = data.get("resultType")
    if kind == "scalar":
        return [_series({}, [data.get("result")])]
    if kind != "vector":
        raise PrometheusError(f"expected a value per series, got {kind!r}")
    return [_series(item.get("metric"), [item.get("value")]) for item in _result(data)]


def shown(url: str) -> str:
    """``url`` without the ``user:password@`` it may hold, for a page or a message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a URL that does not parse)"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _call(base_url: str, endpoint: str, form: dict[str, str], timeout: float) -> dict[str, Any]:
    where = shown(base_url)
    if not base_url.startswith(("http://", "https://")):
        raise PrometheusError(f"{where!r} is not an http(s) URL")  # urllib also reads file:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    try:
        parts = urlsplit(base_url)
    except ValueError:
        raise PrometheusError(f"{where} is not a URL") from None
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    url = f"{where.rstrip('/')}/api/v1/{endpoint}"
    # POST: a long expression does not meet a URL length limit on the way.
    request = urllib.request.Request(
        url, data=urlencode(form).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(MAX_ANSWER + 1)
    except urllib.error.HTTPError as error:
        # Prometheus says why it refused a query in the JSON body of a 400 or 422.
        raise PrometheusError(_refusal(error)) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise PrometheusError(f"Prometheus at {where} is unreachable: {reason}") from None
    except (http.client.HTTPException, ValueError) as error:
        # Something that is not an HTTP server (BadStatusLine), or a URL urllib cannot use.
        name = type(error).__name__
        raise PrometheusError(f"{where} did not answer as an HTTP server does ({name})") from None
    if len(body) > MAX_ANSWER:
        raise PrometheusError("Prometheus answered with more than 8 MB: narrow the query")
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        raise PrometheusError(f"{url} did not answer as Prometheus does (not JSON)") from None
    if not isinstance(answer, dict) or answer.get("status") != "success":
        raise PrometheusError(f"{url} did not answer as Prometheus does")
    data = answer.get("data")
    if not isinstance(data, dict):
        raise PrometheusError(f"{url} answered without data")
    return data


def _refusal(error: urllib.error.HTTPError) -> str:
    try:
        detail = json.loads(error.read(64 * 1024)).get("error")
    except (ValueError, AttributeError, OSError):
        detail = None
    return f"Prometheus refused the query ({error.code}): {detail or error.reason}"


def _result(data: dict[str, Any]) -> list[dict[str, Any]]:
    result = data.get("result")
    if not isinstance(result, list) or not all(isinstance(item, dict) for item in result):
        raise PrometheusError("Prometheus answered without a result")
    if len(result) > MAX_SERIES:
        raise PrometheusError(f"{len(result)} series: more than {MAX_SERIES} to draw")
    return result


def _series(metric: Any, values: Any) -> Series:
    if not isinstance(metric, dict | None) or not isinstance(values, list):
        raise PrometheusError("Prometheus answered with a malformed series")
    points = []
    for pair in values:
        try:
            when, value = float(pair[0]), float(pair[1])
        except (TypeError, ValueError, LookupError):
            raise PrometheusError("Prometheus answered with a malformed value") from None
        if math.isfinite(value):
            points.append((when, value))
    return Series({str(k): str(v) for k, v in (metric or {}).items()}, points)
