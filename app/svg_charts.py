"""Charts drawn on the server as SVG, so they need no script and no image
service. Each chart is a `role="img"` with a <title> and <desc> that say
what it shows; the page puts the same figures in a table beside it, which
is what assistive technology reads. Colours carry no meaning of their own.

Only presentation attributes are used (never `style=`), which the content
security policy allows.
"""
from dataclasses import dataclass
from decimal import Decimal
import math

from markupsafe import Markup, escape

# Layout, in SVG user units (the chart scales to its container's width).
WIDTH = 720
LABEL_WIDTH = 230
RIGHT_PAD = 40
TOP_PAD = 12
ROW_HEIGHT = 44
BOX_HEIGHT = 20
AXIS_HEIGHT = 40
TARGET_TICKS = 5

INK = "#0b0c0c"         # GOV.UK text colour
BOX_FILL = "#d2e2f1"    # light tint of GOV.UK blue
BOX_STROKE = "#1d70b8"  # GOV.UK blue
GRID = "#b1b4b6"        # GOV.UK mid grey
# The page's typeface: GOV.UK Frontend sets it per class, so the SVG names it.
FONT = "GDS Transport, arial, sans-serif"


@dataclass(frozen=True)
class Box:
    """One row of a box plot: a label and its five figures (all None when
    nothing was counted)."""
    label: str
    count: int
    minimum: Decimal | None
    lower_quartile: Decimal | None
    median: Decimal | None
    upper_quartile: Decimal | None
    maximum: Decimal | None

    @property
    def drawn(self) -> bool:
        return self.count > 0 and self.minimum is not None


def nice_step(span: float, target: int = TARGET_TICKS) -> float:
    """A round tick interval (1, 2, 2.5 or 5 times a power of ten) giving
    about `target` intervals over `span`."""
    if span <= 0:
        return 1.0
    rough = span / target
    power = 10 ** math.floor(math.log10(rough))
    for factor in (1, 2, 2.5, 5, 10):
        if rough <= factor * power:
            return factor * power
    return 10 * power


def ticks(low: float, high: float) -> list[float]:
    """Tick values covering [low, high], on round numbers."""
    if high <= low:
        pad = max(abs(low) * 0.1, 1.0)
        low, high = low - pad, high + pad
    step = nice_step(high - low)
    start = math.floor(low / step) * step
    end = math.ceil(high / step) * step
    count = int(round((end - start) / step))
    return [start + i * step for i in range(count + 1)]


def _money_tick(value: float) -> str:
    return f"£{value:,.0f}" if value == int(value) else f"£{value:,.2f}"


def _n(value: float) -> str:
    """A coordinate, short and stable."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def box_plot(boxes: list[Box], *, chart_id: str, title: str, desc: str,
             tick_label=_money_tick) -> Markup:
    """A horizontal box plot, one row per box, on one shared scale: whiskers
    from minimum to maximum, the box from lower to upper quartile and a
    thick line at the median. Rows with no figures say so in words."""
    drawn = [b for b in boxes if b.drawn]
    height = TOP_PAD + ROW_HEIGHT * max(len(boxes), 1) + AXIS_HEIGHT
    plot_left, plot_right = LABEL_WIDTH, WIDTH - RIGHT_PAD
    if drawn:
        scale = ticks(float(min(b.minimum for b in drawn)), float(max(b.maximum for b in drawn)))
    else:
        scale = [0.0, 1.0]
    low, high = scale[0], scale[-1]

    def x(value) -> float:
        return plot_left + (float(value) - low) / (high - low) * (plot_right - plot_left)

    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="app-chart" id="{escape(chart_id)}" '
        f'role="img" aria-labelledby="{title_id} {desc_id}" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" font-family="{FONT}" font-size="14" '
        f'fill="{INK}">',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<desc id="{desc_id}">{escape(desc)}</desc>',
    ]
    axis_y = TOP_PAD + ROW_HEIGHT * max(len(boxes), 1)
    # Grid lines and tick labels first, so the boxes are drawn over them.
    for value in scale:
        gx = _n(x(value))
        parts.append(f'<line x1="{gx}" y1="{TOP_PAD}" x2="{gx}" y2="{axis_y}" '
                     f'stroke="{GRID}" stroke-width="1"/>')
        parts.append(f'<text x="{gx}" y="{axis_y + 22}" text-anchor="middle">'
                     f'{escape(tick_label(value))}</text>')
    parts.append(f'<line x1="{plot_left}" y1="{axis_y}" x2="{plot_right}" y2="{axis_y}" '
                 f'stroke="{INK}" stroke-width="1"/>')
    for i, box in enumerate(boxes):
        mid = TOP_PAD + ROW_HEIGHT * i + ROW_HEIGHT / 2
        parts.append(f'<text x="{plot_left - 10}" y="{_n(mid + 5)}" text-anchor="end">'
                     f'{escape(_shorten(box.label))}</text>')
        if not box.drawn:
            parts.append(f'<text x="{plot_left + 6}" y="{_n(mid + 5)}">No prices</text>')
            continue
        top, bottom = mid - BOX_HEIGHT / 2, mid + BOX_HEIGHT / 2
        x_min, x_lq, x_med = x(box.minimum), x(box.lower_quartile), x(box.median)
        x_uq, x_max = x(box.upper_quartile), x(box.maximum)
        parts += [
            # Whiskers with end caps.
            f'<line x1="{_n(x_min)}" y1="{_n(mid)}" x2="{_n(x_max)}" y2="{_n(mid)}" '
            f'stroke="{INK}" stroke-width="1.5"/>',
            f'<line x1="{_n(x_min)}" y1="{_n(top + 4)}" x2="{_n(x_min)}" y2="{_n(bottom - 4)}" '
            f'stroke="{INK}" stroke-width="1.5"/>',
            f'<line x1="{_n(x_max)}" y1="{_n(top + 4)}" x2="{_n(x_max)}" y2="{_n(bottom - 4)}" '
            f'stroke="{INK}" stroke-width="1.5"/>',
            # The interquartile box, at least a hairline wide so it stays visible.
            f'<rect x="{_n(x_lq)}" y="{_n(top)}" width="{_n(max(x_uq - x_lq, 1))}" '
            f'height="{BOX_HEIGHT}" fill="{BOX_FILL}" stroke="{BOX_STROKE}" stroke-width="2"/>',
            f'<line x1="{_n(x_med)}" y1="{_n(top)}" x2="{_n(x_med)}" y2="{_n(bottom)}" '
            f'stroke="{INK}" stroke-width="4"/>',
        ]
    parts.append("</svg>")
    return Markup("".join(parts))


def _shorten(label: str, limit: int = 30) -> str:
    """Labels sit in a fixed column; the table beside the chart has them in full."""
    return label if len(label) <= limit else label[:limit - 1].rstrip() + "…"


def describe_boxes(boxes: list[Box], money=lambda v: f"£{v:,.2f}") -> str:
    """A sentence per row, for the chart's <desc>."""
    sentences = []
    for box in boxes:
        if not box.drawn:
            sentences.append(f"{box.label}: no prices.")
        else:
            sentences.append(
                f"{box.label}: {box.count} price{'' if box.count == 1 else 's'}, "
                f"from {money(box.minimum)} to {money(box.maximum)}, median "
                f"{money(box.median)}, quartiles {money(box.lower_quartile)} and "
                f"{money(box.upper_quartile)}.")
    return " ".join(sentences)
