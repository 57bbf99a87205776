"""A vegetable's monthly kilos as an SVG line chart, drawn on the server: outlier months marked and
labelled, the forecast with its 80 % and 95 % bands, labelled axes in kg with month ticks, a legend.

Server-drawn SVG needs no chart library in the page and works offline; every point is an element
a person (or a test) can find, with a <title> that says its month and kilos."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from .rows import GoldRow

WIDTH, HEIGHT = 960, 420
LEFT, RIGHT, TOP, BOTTOM = 80, 24, 48, 56
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@dataclass(frozen=True, slots=True)
class Point:
    year_month: str
    kilos: float
    outlier: bool = False


def month_index(year_month: str) -> int:
    return int(year_month[:4]) * 12 + int(year_month[5:7]) - 1


def month_name(index: int) -> str:
    return f"{MONTHS[index % 12]} {index // 12}"


def nice_step(top: float) -> float:
    """A round tick step giving 4 to 8 ticks up to `top`."""
    step = 1.0
    while top / step > 8:
        for factor in (2, 2.5, 2):
            step *= factor
            if top / step <= 8:
                break
    return step


def kilos(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == 0 else f"{value:,.1f}"


def monthly_points(gold: Iterable[GoldRow], vegetable: str, without_outliers: bool = False) -> list[Point]:
    """One vegetable's months from the gold rows, in their order; without the outlier months if asked."""
    return [
        Point(row.year_month, row.kilo_sold, row.is_outlier)
        for row in gold
        if row.vegetable == vegetable and not (without_outliers and row.is_outlier)
    ]


@dataclass(frozen=True, slots=True)
class Frame:
    """Where months and kilos fall on the drawing: months from `first` to `last`, kilos from 0 to `top`."""

    first: int
    last: int
    top: float
    step: float
    """Kilos between two horizontal grid lines."""

    @classmethod
    def of(cls, months: Sequence[Point], forecast: Sequence[Mapping[str, Any]]) -> "Frame":
        first = month_index(months[0].year_month)
        last = max([month_index(months[-1].year_month), *(month_index(f["year_month"]) for f in forecast)])
        top = max([p.kilos for p in months] + [f["upper_95"] for f in forecast] + [1.0]) * 1.05
        step = nice_step(top)
        return cls(first, last, step * (int(top / step) + 1), step)

    @property
    def span(self) -> int:
        return max(self.last - self.first, 1)

    def x(self, index: int) -> float:
        return LEFT + (index - self.first) / self.span * (WIDTH - LEFT - RIGHT)

    def y(self, value: float) -> float:
        return TOP + (1 - value / self.top) * (HEIGHT - TOP - BOTTOM)


def monthly_chart(
    vegetable: str, months: Sequence[Point], forecast: Sequence[Mapping[str, Any]] = (), title: str = ""
) -> str:
    """The SVG document of one vegetable's months (and forecast)."""
    if not months:
        return _svg(
            f"<text x='{WIDTH / 2}' y='{HEIGHT / 2}' text-anchor='middle'>No months for {escape(vegetable)}</text>",
            vegetable,
        )
    frame = Frame.of(months, forecast)
    parts = [f"<text class='title' x='{LEFT}' y='24'>{escape(title or vegetable)}: kilos sold per month</text>"]
    parts += _axes(frame)
    if forecast:
        parts += _forecast(frame, months[-1], forecast)
    parts += _months(frame, months)
    parts.append(_legend(bool(forecast), any(p.outlier for p in months)))
    return _svg("".join(parts), vegetable)


def _axes(frame: Frame) -> list[str]:
    """The grid with its kilo ticks, the month ticks, the axes and their labels."""
    x, y, parts = frame.x, frame.y, []
    for tick in range(int(frame.top / frame.step) + 1):  # horizontal grid and kilo ticks
        value = tick * frame.step
        parts.append(f"<line class='grid' x1='{LEFT}' x2='{WIDTH - RIGHT}' y1='{y(value):.1f}' y2='{y(value):.1f}'/>")
        parts.append(
            f"<text class='tick' x='{LEFT - 8}' y='{y(value) + 4:.1f}' text-anchor='end'>{kilos(value)}</text>"
        )
    span = frame.span
    every = 1 if span <= 18 else 3 if span <= 48 else 6 if span <= 96 else 12
    for index in range(frame.first, frame.last + 1):  # month ticks
        if index % every == 0:
            label = str(index // 12) if index % 12 == 0 else MONTHS[index % 12]
            base = HEIGHT - BOTTOM
            parts.append(f"<line class='axis' x1='{x(index):.1f}' x2='{x(index):.1f}' y1='{base}' y2='{base + 5}'/>")
            parts.append(
                f"<text class='tick' x='{x(index):.1f}' y='{HEIGHT - BOTTOM + 18}' text-anchor='middle'>{label}</text>"
            )
    parts.append(f"<line class='axis' x1='{LEFT}' x2='{WIDTH - RIGHT}' y1='{HEIGHT - BOTTOM}' y2='{HEIGHT - BOTTOM}'/>")
    parts.append(f"<line class='axis' x1='{LEFT}' x2='{LEFT}' y1='{TOP}' y2='{HEIGHT - BOTTOM}'/>")
    parts.append(
        f"<text class='label' x='{(LEFT + WIDTH - RIGHT) / 2}' y='{HEIGHT - 12}' text-anchor='middle'>month</text>"
    )
    middle = (TOP + HEIGHT - BOTTOM) / 2
    parts.append(
        f"<text class='label' transform='translate(18 {middle}) rotate(-90)' text-anchor='middle'>"
        "kilos sold (kg)</text>"
    )
    return parts


def _forecast(frame: Frame, last: Point, forecast: Sequence[Mapping[str, Any]]) -> list[str]:
    """The 95 % and 80 % bands, and the forecast's line from the last month."""
    x, y, parts = frame.x, frame.y, []
    for level, name in (("95", "band95"), ("80", "band80")):
        upper = [f"{x(month_index(f['year_month'])):.1f},{y(f[f'upper_{level}']):.1f}" for f in forecast]
        lower = [f"{x(month_index(f['year_month'])):.1f},{y(f[f'lower_{level}']):.1f}" for f in reversed(forecast)]
        outline = " ".join(upper + lower)
        parts.append(f"<polygon class='{name}' points='{outline}'><title>{level} % interval</title></polygon>")
    line = [f"{x(month_index(last.year_month)):.1f},{y(last.kilos):.1f}"]
    line += [f"{x(month_index(f['year_month'])):.1f},{y(f['kilo_sold']):.1f}" for f in forecast]
    parts.append(f"<polyline class='forecast' points='{' '.join(line)}'/>")
    return parts


def _months(frame: Frame, months: Sequence[Point]) -> list[str]:
    """The sales line, and each month as a point (outliers larger, and labelled) with its <title>."""
    x, y = frame.x, frame.y
    line = [f"{x(month_index(p.year_month)):.1f},{y(p.kilos):.1f}" for p in months]
    parts = [f"<polyline class='sales' points='{' '.join(line)}'/>"]
    for point in months:
        cx, cy, name = x(month_index(point.year_month)), y(point.kilos), month_name(month_index(point.year_month))
        kind = "point outlier" if point.outlier else "point"
        tip = f"{name}: {kilos(point.kilos)} kg{' (outlier)' if point.outlier else ''}"
        radius = 5 if point.outlier else 3
        parts.append(
            f"<circle class='{kind}' data-month='{point.year_month}' cx='{cx:.1f}' cy='{cy:.1f}' r='{radius}'>"
            f"<title>{tip}</title></circle>"
        )
        if point.outlier:
            parts.append(
                f"<text class='outlier-label' x='{cx + 8:.1f}' y='{max(cy - 6, TOP + 10):.1f}'>outlier {name}</text>"
            )
    return parts


def _legend(with_forecast: bool, with_outliers: bool) -> str:
    entries = [("<line class='sales' x1='0' x2='18' y1='0' y2='0'/>", "monthly kilos")]
    if with_outliers:
        entries.append(("<circle class='legend-outlier' cx='9' cy='0' r='5'/>", "outlier month"))
    if with_forecast:
        entries += [
            ("<line class='forecast' x1='0' x2='18' y1='0' y2='0'/>", "forecast"),
            ("<rect class='band80' x='0' y='-6' width='18' height='12'/>", "80 % interval"),
            ("<rect class='band95' x='0' y='-6' width='18' height='12'/>", "95 % interval"),
        ]
    left = WIDTH - RIGHT - 150
    items = [
        f"<g transform='translate({left} {TOP + 14 + 18 * i})'>{mark}<text x='26' y='4'>{text}</text></g>"
        for i, (mark, text) in enumerate(entries)
    ]
    return f"<g class='legend'>{''.join(items)}</g>"


def _svg(body: str, vegetable: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart' viewBox='0 0 {WIDTH} {HEIGHT}' role='img' "
        f"aria-label='Monthly kilos of {escape(vegetable)}'>{body}</svg>"
    )
