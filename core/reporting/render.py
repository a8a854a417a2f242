"""The report as text: a list of blocks (headings, paragraphs, tables, lists, figures) written out as Markdown
(figures as relative links to PNG files) or as one self-contained HTML file (figures embedded as base64).
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

from ica.reporting.figures import FigureFile


@dataclass
class Block:
    kind: str  # heading | text | table | figure | list
    text: str = ""
    level: int = 2
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    figure: FigureFile | None = None
    number: int = 0

    @property
    def shown(self) -> FigureFile:
        """A figure block's figure (every one has its figure)."""
        if self.figure is None:
            raise ValueError(f"figure block {self.number} has no figure")
        return self.figure


def render_markdown(blocks: list[Block], folder: str) -> str:
    out = []
    for b in blocks:
        if b.kind == "heading":
            out.append(f"{'#' * b.level} {b.text}")
        elif b.kind == "text":
            out.append(b.text)
        elif b.kind == "list":
            out.append("\n".join(f"- {_md(item)}" for item in b.items))
        elif b.kind == "table":
            lines = ["| " + " | ".join(_md(h) for h in b.header) + " |", "|" + "---|" * len(b.header)]
            lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in b.rows]
            out.append("\n".join(lines))
        elif b.kind == "figure":
            fig = b.shown
            out.append(
                f"![Figure {b.number}: {_md(fig.heading)}]({folder}/{fig.name})\n\n"
                f"*Figure {b.number}. {_md(fig.caption)}*"
            )
    return "\n\n".join(out) + "\n"


def _md(text: str) -> str:
    """One table cell or list item on one line, a '|' in it not read as a column break."""
    return str(text).replace("|", "\\|").replace("\n", " ")


HTML_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
.table-wrap{overflow-x:auto;max-width:100%;margin:1em 0}
table{border-collapse:collapse;font-size:0.85em}
th,td{border:1px solid #bbb;padding:3px 6px;text-align:left;background:#fff}th{background:#eee}
.table-wrap th:first-child,.table-wrap td:first-child{position:sticky;left:0;z-index:1}
figure{margin:1.5em 0}img{max-width:100%}figcaption{font-size:0.9em;color:#444}"""
"""Every table sits in a ``.table-wrap`` that scrolls sideways when the table is wider than the page (its first
column, the model, stays in view) instead of running off the page's right edge."""


def render_html(blocks: list[Block]) -> str:
    e = html.escape
    title = next((b.text for b in blocks if b.kind == "heading"), "Report")
    out = [
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{HTML_STYLE}</style></head><body>"
    ]
    for b in blocks:
        if b.kind == "heading":
            out.append(f"<h{b.level}>{e(b.text)}</h{b.level}>")
        elif b.kind == "text":
            out.append(f"<p>{e(b.text)}</p>")
        elif b.kind == "list":
            out.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in b.items) + "</ul>")
        elif b.kind == "table":
            head = "".join(f"<th>{e(h)}</th>" for h in b.header)
            body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in b.rows)
            table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            out.append(f'<div class="table-wrap">{table}</div>')
        elif b.kind == "figure":
            fig = b.shown
            data = base64.b64encode(fig.png).decode("ascii")
            out.append(
                f'<figure id="{e(fig.name)}"><img alt="Figure {b.number}: {e(fig.heading)}" '
                f'src="data:image/png;base64,{data}"><figcaption>Figure {b.number}. {e(fig.caption)}'
                "</figcaption></figure>"
            )
    out.append("</body></html>")
    return "\n".join(out) + "\n"
