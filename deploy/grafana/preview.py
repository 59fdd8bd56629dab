"""A static HTML preview of the Grafana dashboard: every panel of dashboards/acd.json, laid out on its
gridPos, drawn from the panel's own PromQL run against a live Prometheus. For screenshots and checks
where Grafana itself is not at hand; it is not Grafana (no interaction, simple drawing).

    python deploy/grafana/preview.py http://127.0.0.1:9090 preview.html [--minutes 10]
"""

from __future__ import annotations

import argparse
import html
import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).resolve().parent / "dashboards" / "acd.json"
ROW_PX = 34
COLOURS = ["#73bf69", "#f2cc0c", "#5794f2", "#ff780a", "#f2495c", "#b877d9", "#8ab8ff", "#ffb357"]


def _get(prometheus: str, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    url = f"{prometheus}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = json.load(resp)
    return body["data"]["result"] if body.get("status") == "success" else []


def _legend(fmt: str, labels: dict[str, str]) -> str:
    if fmt in ("", "__auto"):
        return ", ".join(f"{k}={v}" for k, v in labels.items() if k != "__name__") or "value"
    for key, value in labels.items():
        fmt = fmt.replace("{{" + key + "}}", value)
    return fmt


def _fmt(value: float, unit: str) -> str:
    if value != value:  # NaN
        return "—"
    if unit == "percentunit":
        return f"{value * 100:.1f} %"
    if unit == "s":
        return f"{value:.0f} s" if value >= 10 else f"{value:.2g} s"
    return f"{value:.3g}"


def _expr(target: dict[str, Any]) -> str:
    return target["expr"].replace("$skill", ".*")


def _series_svg(prometheus: str, panel: dict[str, Any], start: float, end: float, h: int) -> str:
    unit = panel["fieldConfig"]["defaults"].get("unit", "short")
    lines: list[tuple[str, list[tuple[float, float]]]] = []
    for target in panel["targets"]:
        step = max(1.0, (end - start) / 200)
        for r in _get(
            prometheus,
            "/api/v1/query_range",
            {"query": _expr(target), "start": start, "end": end, "step": step},
        ):
            points = [(float(t), float(v)) for t, v in r["values"] if v not in ("NaN", "+Inf", "-Inf")]
            lines.append((_legend(target.get("legendFormat", ""), r["metric"]), points))
    values = [v for _, pts in lines for _, v in pts]
    top = max([*values, 1.0 if unit == "percentunit" else 0.0, 1e-9])
    width, height = 1000, h
    out = [f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="none" class="plot">']
    for frac in (0.25, 0.5, 0.75):
        y = height - frac * height
        out.append(f'<line x1="0" x2="{width}" y1="{y:.0f}" y2="{y:.0f}" class="grid"/>')
    legend = []
    for i, (name, pts) in enumerate(lines[:8]):
        colour = COLOURS[i % len(COLOURS)]
        coords = " ".join(
            f"{(t - start) / (end - start) * width:.1f},{height - v / top * (height - 4) - 2:.1f}"
            for t, v in pts
        )
        dash = ' stroke-dasharray="12 8"' if name.startswith("target") else ""
        out.append(f'<polyline points="{coords}" stroke="{colour}" fill="none" stroke-width="3"{dash}/>')
        last = _fmt(pts[-1][1], unit) if pts else "—"
        legend.append(f'<span style="color:{colour}">■</span> {html.escape(name)} <b>{last}</b>')
    out.append("</svg>")
    if not lines:
        legend.append('<span class="muted">no data</span>')
    return "".join(out) + f'<div class="legend">{" · ".join(legend)}</div>'


def _instant(prometheus: str, panel: dict[str, Any]) -> list[tuple[str, float]]:
    out = []
    for target in panel["targets"]:
        for r in _get(prometheus, "/api/v1/query", {"query": _expr(target)}):
            out.append((_legend(target.get("legendFormat", ""), r["metric"]), float(r["value"][1])))
    return out


def _stat(prometheus: str, panel: dict[str, Any]) -> str:
    defaults = panel["fieldConfig"]["defaults"]
    values = _instant(prometheus, panel)
    if not values:
        return '<div class="stat muted">—</div>'
    value = values[0][1]
    colour = "#5794f2"
    for step in defaults.get("thresholds", {}).get("steps", []):
        if step["value"] is None or value >= step["value"]:
            colour = {"red": "#f2495c", "green": "#73bf69", "orange": "#ff9830", "blue": "#5794f2"}.get(
                step["color"], step["color"]
            )
    text = _fmt(value, defaults.get("unit", "short"))
    for mapping in defaults.get("mappings", []):
        hit = mapping.get("options", {}).get(str(int(value)) if value == int(value) else str(value))
        if hit:
            text = hit["text"]
    return f'<div class="stat" style="background:{colour}">{html.escape(text)}</div>'


def _bars(prometheus: str, panel: dict[str, Any]) -> str:
    unit = panel["fieldConfig"]["defaults"].get("unit", "short")
    values = sorted(_instant(prometheus, panel), key=lambda x: -x[1])[:12]
    top = max([v for _, v in values] + [1.0 if unit == "percentunit" else 1e-9])
    rows = [
        f'<div class="bar"><span>{html.escape(name)}</span><i style="width:{v / top * 100:.0f}%"></i>'
        f"<b>{_fmt(v, unit)}</b></div>"
        for name, v in values
    ]
    return "".join(rows) or '<span class="muted">no data</span>'


def render(prometheus: str, minutes: float = 10.0) -> str:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    end = time.time()
    start = end - minutes * 60
    cells = []
    for panel in board["panels"]:
        g = panel["gridPos"]
        style = f"grid-column:{g['x'] + 1}/span {g['w']};grid-row:{g['y'] + 1}/span {g['h']}"
        title = html.escape(panel["title"])
        if panel["type"] == "row":
            cells.append(f'<div class="row" style="{style}">{title}</div>')
            continue
        if panel["type"] == "timeseries":
            body = _series_svg(prometheus, panel, start, end, g["h"] * ROW_PX - 90)
        elif panel["type"] == "stat":
            body = _stat(prometheus, panel)
        else:
            body = _bars(prometheus, panel)
        cells.append(f'<div class="panel" style="{style}"><h3>{title}</h3>{body}</div>')
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(board["title"])}</title>
<style>
body{{margin:0;background:#111217;color:#ccccdc;font:13px "DejaVu Sans",sans-serif;padding:10px}}
h1{{font-size:18px;margin:4px 4px 10px;color:#fff}}
h1 small{{color:#8e8e9e;font-weight:normal;font-size:12px}}
.grid{{display:grid;grid-template-columns:repeat(24,1fr);grid-auto-rows:{ROW_PX}px;gap:6px}}
.row{{font-weight:bold;color:#fff;font-size:14px;align-self:end;padding:0 4px}}
.panel{{background:#181b1f;border:1px solid #2c3235;border-radius:3px;padding:6px 8px;overflow:hidden}}
.panel h3{{margin:0 0 4px;font-size:12px;color:#d8d9da}}
.stat{{font-size:30px;font-weight:bold;color:#fff;text-align:center;border-radius:3px;padding:14px 0}}
.plot{{width:100%;height:calc(100% - 64px)}} line.grid{{stroke:#2c3235;stroke-width:1}}
.legend{{font-size:11px;line-height:1.3;max-height:42px;overflow:hidden}} .muted{{color:#6e6e7e}}
.bar{{display:grid;grid-template-columns:90px 1fr 60px;gap:6px;align-items:center;
  font-size:11px;margin:2px 0}}
.bar i{{display:block;height:10px;background:#73bf69;border-radius:2px}}
</style></head><body>
<h1>{html.escape(board["title"])} <small>preview of deploy/grafana/dashboards/acd.json,
each panel's query run on Prometheus, last {minutes:g} min</small></h1>
<div class="grid">{"".join(cells)}</div></body></html>
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prometheus", help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    parser.add_argument("out", type=Path)
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    args.out.write_text(render(args.prometheus.rstrip("/"), args.minutes), encoding="utf-8")


if __name__ == "__main__":
    main()
