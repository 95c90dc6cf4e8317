"""Pictures drawn on the server as SVG: no network, no script, nothing a CSP must allow.

Every text in a picture is escaped (store and customer ids are attacker-controlled), and the
drawing uses presentation attributes only: a Content-Security-Policy without
``'unsafe-inline'`` blocks ``style=`` attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

WIDTH = 640
HEIGHT = 220
MARGIN = 36
ALERT = "#c0392b"
NORMAL = "#2c7fb8"
MUTED = "#95a5a6"
PALETTE = ("#2c7fb8", "#c0392b", "#27ae60", "#f39c12", "#8e44ad", "#16a085")


def _svg(body: str, label: str, width: int = WIDTH, height: int = HEIGHT) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>{body}</svg>"
    )


def _empty(label: str) -> Markup:
    return _svg(
        f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="{MUTED}">'
        "nothing to show yet</text>",
        label,
    )


def _scale(value: float, low: float, high: float, start: float, end: float) -> float:
    if high <= low:
        return (start + end) / 2
    return start + (value - low) / (high - low) * (end - start)


def location_map(transactions: Sequence[dict[str, Any]], alert_transaction: str) -> Markup:
    """Where the customer's transactions happened: longitude across, latitude up, the alert's
    transaction larger, alerts red, a line through them in time order."""
    placed = [t for t in transactions if t.get("latitude") is not None]
    label = "the customer's transactions on a map"
    if not placed:
        return _empty(label)
    lats = [float(t["latitude"]) for t in placed]
    lons = [float(t["longitude"]) for t in placed]
    pad = 0.01
    low_lat, high_lat = min(lats) - pad, max(lats) + pad
    low_lon, high_lon = min(lons) - pad, max(lons) + pad

    def point(t: dict[str, Any]) -> tuple[float, float]:
        x = _scale(float(t["longitude"]), low_lon, high_lon, MARGIN, WIDTH - MARGIN)
        y = _scale(float(t["latitude"]), low_lat, high_lat, HEIGHT - MARGIN, MARGIN)
        return x, y

    ordered = sorted(placed, key=lambda t: t["event_time"])
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in map(point, ordered))
    body = [f'<polyline points="{path}" fill="none" stroke="{MUTED}" stroke-width="1"/>']
    for t in ordered:
        x, y = point(t)
        mine = t["transaction_id"] == alert_transaction
        colour = ALERT if t.get("is_alert") else NORMAL
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{9 if mine else 5}" fill="{colour}" '
            f'fill-opacity="0.8"><title>{escape(t["transaction_id"])} at '
            f"{escape(str(t['store_id']))}, {escape(str(t['event_time']))}</title></circle>"
        )
    body.append(
        f'<text x="{MARGIN}" y="{HEIGHT - 8}" fill="{MUTED}" font-size="11">'
        f"lat {min(lats):.3f} to {max(lats):.3f}, lon {min(lons):.3f} to {max(lons):.3f}</text>"
    )
    return _svg("".join(body), label)


def timeline(transactions: Sequence[dict[str, Any]], alert_transaction: str) -> Markup:
    """The customer's transactions in time (across) by amount (up)."""
    label = "the customer's transactions over time"
    if not transactions:
        return _empty(label)
    times = [t["event_time"].timestamp() for t in transactions]
    earliest, latest = min(times), max(times)
    amounts = [float(t["amount"]) for t in transactions]
    top = max(amounts) or 1.0
    body = [
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" '
        f'y2="{HEIGHT - MARGIN}" stroke="{MUTED}"/>'
    ]
    for t, when, amount in zip(transactions, times, amounts, strict=True):
        x = _scale(when, earliest, latest, MARGIN, WIDTH - MARGIN)
        y = _scale(amount, 0, top, HEIGHT - MARGIN, MARGIN)
        mine = t["transaction_id"] == alert_transaction
        colour = ALERT if t.get("is_alert") else NORMAL
        body.append(
            f'<line x1="{x:.1f}" y1="{HEIGHT - MARGIN}" x2="{x:.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-width="{3 if mine else 1.5}"/>'
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{6 if mine else 3}" fill="{colour}">'
            f"<title>{escape(str(t['amount']))} {escape(str(t.get('currency', '')))} at "
            f"{escape(str(t['store_id']))}, {escape(str(t['event_time']))}</title></circle>"
        )
    first = datetime.fromtimestamp(earliest).strftime("%Y-%m-%d %H:%M")
    last = datetime.fromtimestamp(latest).strftime("%Y-%m-%d %H:%M")
    body.append(
        f'<text x="{MARGIN}" y="{HEIGHT - 10}" font-size="11" fill="{MUTED}">{first}</text>'
        f'<text x="{WIDTH - MARGIN}" y="{HEIGHT - 10}" font-size="11" fill="{MUTED}" '
        f'text-anchor="end">{last}</text>'
        f'<text x="{MARGIN}" y="{MARGIN - 10}" font-size="11" fill="{MUTED}">'
        f"up to {top:,.2f}</text>"
    )
    return _svg("".join(body), label)


def bars(
    values: Sequence[tuple[str, float]],
    label: str,
    *,
    unit: str = "",
    maximum: float | None = None,
    colour: str = NORMAL,
    width: int = WIDTH,
) -> Markup:
    """Horizontal bars, one per (name, value), the name escaped."""
    if not values:
        return _empty(label)
    height = MARGIN + 24 * len(values)
    top = maximum or max(value for _, value in values) or 1.0
    body = []
    for row, (name, value) in enumerate(values):
        y = 12 + row * 24
        length = _scale(value, 0, top, 0, width - 260)
        body.append(
            f'<text x="150" y="{y + 13}" text-anchor="end" font-size="12">'
            f"<title>{escape(name)}</title>{escape(_short(name))}</text>"
            f'<rect x="160" y="{y}" width="{max(length, 1):.1f}" height="16" fill="{colour}"/>'
            f'<text x="{166 + length:.1f}" y="{y + 13}" font-size="12">'
            f"{escape(_number(value))}{escape(unit)}</text>"
        )
    return _svg("".join(body), label, width=width, height=height)


def columns(values: Sequence[tuple[str, float]], label: str) -> Markup:
    """Vertical columns over time (e.g. alerts per hour), every sixth named."""
    if not values or not any(value for _, value in values):
        return _empty(label)
    top = max(value for _, value in values) or 1.0
    step = (WIDTH - 2 * MARGIN) / len(values)
    body = []
    for index, (name, value) in enumerate(values):
        x = MARGIN + index * step
        y = _scale(value, 0, top, HEIGHT - MARGIN, MARGIN)
        body.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{HEIGHT - MARGIN - y:.1f}" fill="{NORMAL}">'
            f"<title>{escape(name)}: {escape(_number(value))}</title></rect>"
        )
        if index % 6 == 0:
            body.append(
                f'<text x="{x:.1f}" y="{HEIGHT - MARGIN + 14}" font-size="10">{escape(name)}</text>'
            )
    body.append(f'<text x="4" y="{MARGIN}" font-size="11">{escape(_number(top))}</text>')
    return _svg("".join(body), label)


def shares(values: Sequence[tuple[str, float]], label: str) -> Markup:
    """One bar split into shares (e.g. open / confirmed / dismissed), with a legend."""
    total = sum(value for _, value in values)
    if total <= 0:
        return _empty(label)
    body = []
    x = float(MARGIN)
    span = WIDTH - 2 * MARGIN
    for index, (name, value) in enumerate(values):
        width = span * value / total
        colour = PALETTE[index % len(PALETTE)]
        body.append(
            f'<rect x="{x:.1f}" y="40" width="{width:.1f}" height="40" fill="{colour}">'
            f"<title>{escape(name)}: {escape(_number(value))}</title></rect>"
            f'<rect x="{MARGIN + index * 150}" y="110" width="12" height="12" fill="{colour}"/>'
            f'<text x="{MARGIN + index * 150 + 18}" y="121" font-size="12">{escape(name)} '
            f"{value / total:.0%}</text>"
        )
        x += width
    return _svg("".join(body), label, height=140)


def lines(
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    label: str,
    *,
    unit: str = "",
    span: tuple[float, float] | None = None,
    width: int = WIDTH,
) -> Markup:
    """Values over time (unix seconds across, UTC; over ``span`` when given, so that panels of
    one range line up), a line per named series and a legend of the names, escaped (they come
    from metric labels and warehouse rows)."""
    drawn = [(name, points) for name, points in series if points]
    if not drawn:
        return _empty(label)
    times = [t for _, points in drawn for t, _ in points]
    values = [v for _, points in drawn for _, v in points]
    first, last = span or (min(times), max(times))
    low, high = min(0.0, min(values)), max(values)
    high = high if high > low else low + 1.0
    bottom, right = HEIGHT - MARGIN, width - MARGIN
    body = [f'<line x1="{MARGIN}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{MUTED}"/>']
    for index, (name, points) in enumerate(drawn):
        colour = PALETTE[index % len(PALETTE)]
        xy = [
            (_scale(t, first, last, MARGIN, right), _scale(v, low, high, bottom, MARGIN))
            for t, v in points
        ]
        if len(xy) == 1:
            body.append(
                f'<circle cx="{xy[0][0]:.1f}" cy="{xy[0][1]:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(name)}</title></circle>"
            )
        else:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
            body.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5">'
                f"<title>{escape(name)}: last {escape(figure(points[-1][1]))}{escape(unit)}"
                "</title></polyline>"
            )
    shape = "%H:%M" if last - first <= 86400 else "%m-%d %H:%M"
    body.append(
        f'<text x="4" y="{MARGIN}" font-size="11" fill="{MUTED}">'
        f"{escape(figure(high))}{escape(unit)}</text>"
        f'<text x="4" y="{bottom}" font-size="11" fill="{MUTED}">'
        f"{escape(figure(low))}{escape(unit)}</text>"
        f'<text x="{MARGIN}" y="{bottom + 14}" font-size="10" fill="{MUTED}">'
        f"{datetime.fromtimestamp(first, UTC).strftime(shape)} UTC</text>"
        f'<text x="{right}" y="{bottom + 14}" font-size="10" fill="{MUTED}" '
        f'text-anchor="end">{datetime.fromtimestamp(last, UTC).strftime(shape)} UTC</text>'
    )
    columns = max(1, (width - 2 * MARGIN) // 200)
    for index, (name, _) in enumerate(drawn):
        x, y = MARGIN + (index % columns) * 200, HEIGHT + 4 + (index // columns) * 18
        body.append(
            f'<rect x="{x}" y="{y}" width="12" height="12" fill="{PALETTE[index % len(PALETTE)]}"/>'
            f'<text x="{x + 18}" y="{y + 11}" font-size="12"><title>{escape(name)}</title>'
            f"{escape(_short(name, 28))}</text>"
        )
    rows = (len(drawn) + columns - 1) // columns
    return _svg("".join(body), label, width=width, height=HEIGHT + 10 + 18 * rows)


def figure(value: float) -> str:
    """A value on an axis or a panel: whole above 100, three significant digits below."""
    return f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.3g}"


def _short(name: str, limit: int = 22) -> str:
    """A label that fits its column; the whole name stays in the element's title."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
