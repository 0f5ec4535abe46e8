"""The spend report as ONE self-contained HTML page: inline CSS and SVG, no JS, no network.

Charts are SVG drawn here from a :class:`~lib.report.SpendReport`. Every mark carries its
data as attributes (``data-chart``, ``data-date``, ``data-provider``, ``data-label``,
``data-value`` with the exact decimal), so the page can be checked against the gold tables
by parsing it, and read by a screen reader through ``<title>`` tooltips.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from html import escape

from lib.report import SpendReport, money
from lib.report_intel import render_intel

__all__ = ["render_html"]

COLOURS = {
    "openai": "#10a37f", "anthropic": "#d97757", "gcp": "#4285f4", "aws": "#ff9900",
    "azure": "#0078d4",
}  # fmt: skip
FALLBACK = ("#8e44ad", "#f1c40f", "#2c3e50", "#e74c3c")
WIDTH, HEIGHT, PAD = 900, 280, 48
CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}h3{font-size:1rem}
table{border-collapse:collapse}td,th{padding:.25rem .75rem;border-bottom:1px solid #ddd}
td.n{text-align:right;font-variant-numeric:tabular-nums}.anomaly{background:#fdecea}
.legend span{display:inline-block;margin-right:1rem}.sw{width:.8rem;height:.8rem;
display:inline-block;margin-right:.3rem;vertical-align:middle}svg text{font-size:11px}
"""


def colour(provider: str, providers: list[str]) -> str:
    """The fixed colour of a provider (known ones) or a stable fallback."""
    if provider in COLOURS:
        return COLOURS[provider]
    return FALLBACK[providers.index(provider) % len(FALLBACK)]


def _attr(**values: object) -> str:
    return " ".join(f'{k.replace("_", "-")}="{escape(str(v))}"' for k, v in values.items())


def _daily_chart(report: SpendReport) -> str:
    days, providers = report.days, report.providers
    totals: dict[dt.date, Decimal] = {}
    for day, _, cost in report.daily:
        totals[day] = totals.get(day, Decimal(0)) + max(cost, Decimal(0))
    top = max(totals.values(), default=Decimal(1)) or Decimal(1)
    slot = (WIDTH - 2 * PAD) / max(len(days), 1)
    flagged = {(a["charge_date"], a["provider"]) for a in report.anomalies}
    parts, stacked = [], dict.fromkeys(days, 0.0)
    for day, provider, cost in sorted(report.daily, key=lambda r: (r[0], providers.index(r[1]))):
        h = float(max(cost, Decimal(0)) / top) * (HEIGHT - 2 * PAD)
        x = PAD + days.index(day) * slot + slot * 0.1
        y = HEIGHT - PAD - stacked[day] - h
        stacked[day] += h
        anomaly = (day, provider) in flagged
        attrs = _attr(
            data_chart="daily", data_date=day.isoformat(), data_provider=provider,
            data_value=str(cost), data_anomaly=str(anomaly).lower(),
        )  # fmt: skip
        stroke = ' stroke="#c0392b" stroke-width="2"' if anomaly else ""
        parts.append(
            f'<rect {attrs} x="{x:.1f}" y="{y:.1f}" width="{slot * 0.8:.1f}" '
            f'height="{h:.1f}" fill="{colour(provider, providers)}"{stroke}>'
            f"<title>{escape(f'{day} {provider}: {money(cost)}')}</title></rect>"
        )
    for day in days:
        if day.day in (1, 8, 15, 22, 29):
            x = PAD + days.index(day) * slot
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD + 14}">{day:%b %d}</text>')
    parts.append(f'<text x="4" y="{PAD - 8}">max {escape(money(top))}</text>')
    parts.extend(_markers(report, days, slot))
    axis = f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
    axis += 'stroke="#999"/>'
    return _svg("Daily spend by provider", [axis, *parts])


def _markers(report: SpendReport, days: list[dt.date], slot: float) -> list[str]:
    out = []
    for a in report.anomalies:
        day = a["charge_date"]
        if day not in days:
            continue
        x = PAD + days.index(day) * slot + slot / 2
        attrs = _attr(data_chart="anomaly", data_date=day.isoformat(), data_provider=a["provider"])
        out.append(
            f'<text {attrs} x="{x:.1f}" y="{PAD - 20}" text-anchor="middle" fill="#c0392b">'
            f"&#9650;<title>anomaly: {escape(a['provider'])} {day}</title></text>"
        )
    return out


def _bars(chart: str, rows: list[tuple[str, str, Decimal]], providers: list[str]) -> str:
    if not rows:
        return "<p>No data.</p>"
    top = max((max(cost, Decimal(0)) for _, _, cost in rows), default=Decimal(1)) or Decimal(1)
    height, label_w = 26, 260
    parts = []
    for i, (provider, label, cost) in enumerate(rows):
        w = float(max(cost, Decimal(0)) / top) * (WIDTH - label_w - 120)
        y = 10 + i * height
        attrs = _attr(data_chart=chart, data_provider=provider, data_label=label,
                      data_value=str(cost))  # fmt: skip
        parts.append(
            f'<text x="4" y="{y + 15}">{escape(label)}</text>'
            f'<rect {attrs} x="{label_w}" y="{y}" width="{w:.1f}" height="{height - 6}" '
            f'fill="{colour(provider, providers)}"><title>{escape(money(cost))}</title></rect>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 15}">{escape(money(cost))}</text>'
        )
    return _svg(chart, parts, height=20 + len(rows) * height)


def _svg(label: str, parts: list[str], height: int = HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">'
        + "".join(parts)
        + "</svg>"
    )


def _legend(providers: list[str]) -> str:
    items = "".join(
        f'<span><i class="sw" style="background:{colour(p, providers)}"></i>{escape(p)}</span>'
        for p in providers
    )
    return f'<p class="legend">{items}</p>'


def _anomaly_table(report: SpendReport) -> str:
    if not report.anomalies:
        return "<p>No cost anomalies this month.</p>"
    head = "<tr><th>day</th><th>provider</th><th>spend</th><th>baseline mean</th>"
    head += "<th>stddev</th><th>days</th><th>deviation</th><th>z</th><th>ratio</th></tr>"
    rows = "".join(
        f'<tr class="anomaly"><td>{a["charge_date"]}</td><td>{escape(a["provider"])}</td>'
        f'<td class="n">{money(a["spend"])}</td><td class="n">{money(a["baseline_mean"])}</td>'
        f'<td class="n">{a["baseline_stddev"]:.2f}</td><td class="n">{a["baseline_days"]}</td>'
        f'<td class="n">{money(a["deviation"])}</td><td class="n">{a["z_score"]:.1f}</td>'
        f'<td class="n">{a["ratio"]:.2f}x</td></tr>'
        for a in report.anomalies
    )
    return f"<table>{head}{rows}</table>"


def _provider_table(report: SpendReport) -> str:
    rows = "".join(
        f'<tr><td>{escape(p)}</td><td class="n">{money(c)}</td></tr>' for p, c in report.by_provider
    )
    total = f'<tr><th>total</th><th class="n">{money(report.total)}</th></tr>'
    return f"<table><tr><th>provider</th><th>billed cost</th></tr>{rows}{total}</table>"


def render_html(report: SpendReport) -> str:
    """The whole report page (UTF-8 text, no external resources)."""
    providers = report.providers
    services = [(p, f"{s} ({p})", c) for p, s, c in report.by_service]
    models = [(p, m, c) for p, m, c in report.by_model]
    title = f"{report.tenant_id} spend {report.month:%Y-%m}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)} ({escape(report.currency)})</h1>"
        f"{_provider_table(report)}"
        f"<h2>Daily spend by provider</h2>{_legend(providers)}{_daily_chart(report)}"
        f"<h2>Top services</h2>{_bars('services', services, providers)}"
        f"<h2>Top models</h2>{_bars('models', models, providers)}"
        f"<h2>Cost anomalies</h2>{_anomaly_table(report)}"
        f"{render_intel(report.intel)}"
        "<p><small>Amounts are FOCUS BilledCost from the gold tables; anomalies use a "
        "trailing 14-day baseline per provider; expected cost is usage x the tenant's "
        "contracted prices; forecasts are a trailing 28-day weekday run rate "
        "(docs/cost_intelligence.md).</small></p></body></html>\n"
    )
