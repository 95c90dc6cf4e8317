"""``/monitoring`` (supervisors): the Grafana dashboards of k8s/monitoring/dashboards/ drawn by
the console (:mod:`console.monitoring`), one at a time, over a chosen time range."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from console import monitoring, prometheus
from console.actions import ActionError
from console.deps import Connection
from console.grafana import load_dashboards
from console.pages import PageSession, render

router = APIRouter(include_in_schema=False)
RANGES = {"15m": 900, "1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400}


@router.get("/monitoring")
def monitoring_page(
    request: Request,
    held: Connection,
    session: PageSession,
    dashboard: Annotated[str | None, Query(max_length=100)] = None,
    span: Annotated[str | None, Query(alias="range", max_length=10)] = None,
) -> HTMLResponse:
    if not session.user.may("supervisor"):
        raise ActionError("only a supervisor reads the monitoring dashboards", 403)
    settings = request.app.state.settings
    found, problems = load_dashboards(Path(settings.dashboards_dir))
    if span is not None and span not in RANGES:
        raise ActionError(f"range: one of {', '.join(RANGES)}", 422)
    shown = next((d for d in found if d.uid == dashboard), None) if dashboard else None
    if dashboard and shown is None:
        raise ActionError("no such dashboard", 404)
    shown = shown or (found[0] if found else None)
    seconds = RANGES[span] if span else (shown.range_s if shown else RANGES["6h"])
    window = monitoring.Window.ending(time.time(), seconds)
    panels = monitoring.views(shown, held, settings.prometheus_url, window) if shown else []
    return render(
        request,
        "monitoring.html",
        {
            "session": session,
            "dashboards": found,
            "shown": shown,
            "panels": panels,
            "problems": problems,
            "ranges": RANGES,
            "range": span or next((k for k, v in RANGES.items() if v == seconds), ""),
            "directory": settings.dashboards_dir,
            "prometheus_url": prometheus.shown(settings.prometheus_url),
        },
    )
