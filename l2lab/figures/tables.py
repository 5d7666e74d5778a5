"""Results as rendered HTML tables (not printed text): units in the header, sensible digits, a
wide table scrolling inside its own box with its first column kept in view."""
from __future__ import annotations

import html
from typing import Any, NamedTuple, Sequence

from l2lab import _checks

__all__ = ["Link", "Table", "table"]

_STYLE = ("border-collapse:collapse;font-size:0.9em;white-space:nowrap",
          "position:sticky;left:0;background:var(--pst-color-background, #fff)")


class Link(NamedTuple):
    """A table cell that links to ``href`` (a relative address in the built book)."""
    text: str
    href: str


class Table:
    """An HTML table; Jupyter and the book show it through ``_repr_html_``. ``rows``: lists of
    cells already formatted as text (or :class:`Link`); a row of one cell is a heading across
    the table. ``wrap``: text cells wrap (for sentences;
    the first column still does not), left-aligned; otherwise nothing wraps and numbers align
    right."""

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence[str]], caption: str = "",
                 wrap: bool = False):
        self.header, self.rows, self.caption = list(header), [list(r) for r in rows], caption
        self.wrap = wrap

    def _repr_html_(self) -> str:
        esc = lambda v: (f'<a href="{html.escape(v.href)}">{html.escape(v.text)}</a>'
                         if isinstance(v, Link) else html.escape(str(v)))
        align = lambda i: "left" if i == 0 or self.wrap else "right"
        first = _STYLE[1] + (";white-space:nowrap" if self.wrap else "")
        other = ";min-width:9em" if self.wrap else ""     # wrapped text: scrolls before it squeezes
        cell = lambda tag, v, i: (f'<{tag} style="padding:2px 8px;vertical-align:top;text-align:{align(i)}'
                                  f'{";" + first if i == 0 else other}">{esc(v)}</{tag}>')
        head = "".join(cell("th", h, i) for i, h in enumerate(self.header))
        span = (f'<tr><th colspan="{len(self.header)}" style="padding:6px 8px 2px;text-align:left;'
                f'border-top:1px solid #ccc">{{}}</th></tr>')
        body = "".join(span.format(esc(r[0])) if len(r) == 1 and len(self.header) > 1 else
                       "<tr>" + "".join(cell("td", v, i) for i, v in enumerate(r)) + "</tr>" for r in self.rows)
        cap = (f"<caption style='caption-side:bottom;text-align:left'>{esc(self.caption)}</caption>"
               if self.caption else "")
        style = _STYLE[0].replace("nowrap", "normal").replace("0.9em", "0.85em") if self.wrap else _STYLE[0]
        return (f'<div class="l2lab-table" style="overflow-x:auto;max-width:100%">'
                f'<table style="{style}">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>')

    def __repr__(self) -> str:
        text = lambda v: v.text if isinstance(v, Link) else str(v)
        widths = [max(len(text(x)) for x in col) for col in zip(self.header, *self.rows)]
        line = lambda r: "  ".join(text(v).rjust(w) for v, w in zip(r, widths))
        return "\n".join([line(self.header)] + [line(r) for r in self.rows])


def _number(v, digits: int) -> str:
    """A number with ``digits`` significant digits; NaN (no value: too few runs, say) as a dash."""
    v = float(v)
    return "–" if v != v else f"{v:.{digits}g}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, caption: str = "", digits: int = 3) -> Table:
    """A :class:`Table`; numbers are written with ``digits`` significant digits (``g`` format),
    NaN as a dash, strings as they are."""
    header = [_checks.string("header", h) for h in header]
    digits = _checks.positive_int("digits", digits)
    out = []
    for r in rows:
        if len(r) != len(header):
            raise _checks.bad_value("rows", f"each row needs {len(header)} cells, got {len(r)}: {r!r}")
        out.append([v if isinstance(v, (str, Link)) else _number(v, digits) for v in r])
    return Table(header, out, caption)
