"""The building blocks every page shares: escaped text, cut previews, the page shell, SVG bars.

Candidate and judge texts are hostile until shown otherwise: every one is escaped and wrapped in
`<bdi>`, so markup shows as text and a right-to-left override inside it cannot reorder the page
around it. Long texts are cut here, in the view; the data they come from keeps them whole.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

PREVIEW_CHARS = 120
"""A text's first characters, shown where it is named (a bracket slot, a table cell)."""
SHOWN_CHARS = 20_000
"""The most of one text a page holds, one click away; the rest is counted, not shown."""
NOTEBOOK_CHARS = 2_000
"""The same for a notebook cell, which the notebook file keeps: a round robin's every vote at
`SHOWN_CHARS` could make a cell of megabytes."""

# No script, no request anywhere: the browser enforces what the page promises.
POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
.rrm { font: 14px/1.45 system-ui, sans-serif; color: #1d2330; max-width: 72rem; }
.rrm h1 { font-size: 1.3rem; margin: .2rem 0 .6rem; } .rrm h2 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
.rrm .text { white-space: pre-wrap; overflow-wrap: anywhere; unicode-bidi: isolate; }
.rrm .muted { color: #5d6575; } .rrm .tag { font-size: .78rem; padding: 0 .35rem; border-radius: .6rem;
  background: #eef0f4; color: #3b4252; white-space: nowrap; }
.rrm .tag.warn { background: #fdecc8; color: #6b4700; }
.rrm table { border-collapse: collapse; margin: .3rem 0; } .rrm td, .rrm th { padding: .2rem .5rem;
  border-bottom: 1px solid #e3e6ec; text-align: left; vertical-align: top; }
.rrm th { font-weight: 600; } .rrm td.num, .rrm th.num { text-align: right; font-variant-numeric: tabular-nums;
  white-space: nowrap; }
.rrm details > summary { cursor: pointer; } .rrm .winner { background: #e3f4e1; font-weight: 600; }
.rrm .card { border: 1px solid #d8dce4; border-radius: .4rem; padding: .35rem .5rem; margin: .3rem 0; }
.rrm svg text { font: 11px system-ui, sans-serif; fill: #3b4252; }
.rrm .bracket { display: flex; gap: .8rem; overflow-x: auto; align-items: stretch; }
.rrm .round { display: flex; flex-direction: column; min-width: 17rem; max-width: 26rem; flex: 1; }
.rrm .round > .cards { flex: 1; display: flex; flex-direction: column; justify-content: space-around; }
.rrm .round > h3 { font-size: .9rem; margin: 0 0 .2rem; color: #5d6575; }
.rrm .slot { display: flex; gap: .4rem; align-items: baseline; padding: .1rem .3rem; border-radius: .25rem; }
.rrm .slot .name { flex: 1; } .rrm .seat { font-weight: 600; color: #3b5bab; }
.rrm .votes-won { font-variant-numeric: tabular-nums; font-weight: 600; }
.rrm .tags { display: flex; flex-wrap: wrap; gap: .25rem; margin: .2rem 0; }
.rrm ol.vote-list { margin: .2rem 0; padding-left: 1.4rem; } .rrm ol.vote-list li { margin: .2rem 0; }
"""


# Code points an HTML5 page may not hold, even as character references: controls other than
# tab, newline, form feed and carriage return, lone surrogates, and noncharacters.
_UNSHOWABLE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
                         + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17))
                         + "]")  # fmt: skip


def _shown(match: re.Match[str]) -> str:
    """An unshowable code point as something a reader sees: a C0 control as its control picture
    (ESC as ␛, so a terminal colour code reads as one), anything else as U+FFFD."""
    code = ord(match[0])
    return chr(0x2400 + code) if code < 0x20 else "\u2421" if code == 0x7F else "\ufffd"


def escape(value: object) -> str:
    """`value` as HTML text (quotes escaped too, so it is safe inside an attribute), with the code
    points a page may not hold shown as symbols instead."""
    return html.escape(_UNSHOWABLE.sub(_shown, str(value)), quote=True)


def text(value: str, *, limit: int | None = None) -> str:
    """A hostile text shown as text: escaped, isolated in `<bdi>`, cut after `limit` characters
    (default: `SHOWN_CHARS`) with a count of what was left out."""
    limit = SHOWN_CHARS if limit is None else limit
    cut = f' <span class="muted">… {len(value) - limit:,} more characters</span>' if len(value) > limit else ""
    return f'<bdi class="text">{escape(value[:limit])}</bdi>{cut}'


def preview(value: str, limit: int = PREVIEW_CHARS) -> str:
    """A text's first line or so, on one line: for naming it where space is short (the count of
    what is left out is of the text with its runs of whitespace made single spaces)."""
    return text(" ".join(value.split()), limit=limit)


def expandable(summary: str, value: str, *, limit: int | None = None) -> str:
    """A `<details>` whose summary (HTML, already safe) opens to `value` (a hostile text, cut
    after `limit` characters, default `SHOWN_CHARS`)."""
    return f'<details><summary>{summary}</summary><div class="card">{text(value, limit=limit)}</div></details>'


def table(head: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Sequence[int] = (),
          row_class: Sequence[str] | None = None) -> str:
    """A table of cells given as safe HTML; the `numeric` columns right-aligned. `row_class`
    gives each row a class (e.g. ``"winner"``), or "" for none."""
    def cells(tag: str, values: Sequence[str]) -> str:
        return "".join(f'<{tag}{" class=num" if i in numeric else ""}>{v}</{tag}>' for i, v in enumerate(values))

    classes = row_class or [""] * len(rows)
    body = "".join(f'<tr{f" class={c}" if c else ""}>{cells("td", r)}</tr>' for r, c in zip(rows, classes, strict=True))
    return f"<table><thead><tr>{cells('th', head)}</tr></thead><tbody>{body}</tbody></table>"


def fragment(body: str) -> str:
    """`body` with its style, for a notebook cell (`_repr_html_`)."""
    return f'<div class="rrm"><style>{STYLE}</style>{body}</div>'


def page(title: str, body: str) -> str:
    """A whole self-contained HTML5 document around `body`."""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="{POLICY}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title></head>'
        f"<body>{fragment(body)}</body></html>\n"
    )


def tag(label: str, *, warn: bool = False) -> str:
    """A small label (plain text, escaped here); `warn` marks what a reader should notice."""
    return f'<span class="tag{" warn" if warn else ""}"><bdi>{escape(label)}</bdi></span>'


def seat(candidate: int, *, winner: bool = False) -> str:
    """A candidate's number, "#3"; a winner's in bold too, which shows where styles do not (an
    untrusted notebook's sanitizer strips `<style>`)."""
    label = f"<strong>#{candidate}</strong>" if winner else f"#{candidate}"
    return f'<span class="seat">{label}</span>'


def number(value: float) -> str:
    """A figure as a person reads it: 1,523 and -20, but 0.734 and 12.5 (and 0, not 8.9e-15)."""
    value = round(value, 6) + 0.0  # a rounding error's residue, and -0.0, read as 0
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def bars(labels: Sequence[str], values: Sequence[float], *, title: str, unit: str = "",
         whiskers: Sequence[tuple[float, float]] | None = None, domain: tuple[float, float] | None = None,
         width: int = 420) -> str:
    """A horizontal bar chart as inline SVG: one bar per label (plain text, escaped here), its
    value printed beside it; `whiskers` draws each bar's (low, high) interval. Values may be
    negative (bars start at 0). The axis spans `domain`, or what the values and whiskers reach."""
    row, left, right = 18, 150, 70
    reach = [edge for pair in whiskers or () for edge in pair]
    low, high = domain or (min(0.0, *values, *reach), max(0.0, *values, *reach))
    span = (high - low) or 1.0
    plot = width - left - right

    def x(value: float) -> float:
        return left + (value - low) / span * plot

    parts = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 4 + i * row
        start, end = sorted((x(0.0), x(value)))
        whisker = whiskers[i] if whiskers else (value, value)
        parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{escape(label[:24])}</text>'
                     f'<rect x="{start:.1f}" y="{y + 2}" width="{max(end - start, 1):.1f}" height="{row - 6}" '
                     f'fill="#6b8fd6"/><text x="{x(max(value, 0.0, whisker[1])) + 4:.1f}" y="{y + 12}">'
                     f'{escape(number(value) + unit)}</text>')  # fmt: skip
        if whisker[0] != whisker[1]:
            parts.append(f'<line x1="{x(whisker[0]):.1f}" x2="{x(whisker[1]):.1f}" y1="{y + row / 2 - 1}" '
                         f'y2="{y + row / 2 - 1}" stroke="#1d2330"/>')  # fmt: skip
    height = 8 + row * len(values)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>{"".join(parts)}</svg>')
