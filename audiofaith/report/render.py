"""Document blocks (headings, paragraphs, tables, images) and their Markdown and HTML renderings."""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Paragraph:
    text: str


@dataclass
class Table:
    headers: List[str]
    rows: List[List[str]]


@dataclass
class Image:
    path: Path  # the PNG on disk
    caption: str


Block = Any  # Heading | Paragraph | Table | Image


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not math.isnan(value)


def pct(value: Optional[float]) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def pct_ci(value: Optional[float], low: Optional[float], high: Optional[float]) -> str:
    """``83.6 [80.1, 86.9]`` (percent); ``–`` when undefined."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{pct(value)} [{pct(low)}, {pct(high)}]"


def pvalue(value: Optional[float]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def render_markdown(blocks: Sequence[Block], image_dir: Path) -> str:
    out: List[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text}\n")
        elif isinstance(block, Paragraph):
            out.append(block.text + "\n")
        elif isinstance(block, Table):
            out.append("| " + " | ".join(block.headers) + " |")
            out.append("|" + "|".join("---" for _ in block.headers) + "|")
            out.extend("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in block.rows)
            out.append("")
        elif isinstance(block, Image):
            out.append(f"![{block.caption}]({block.path.relative_to(image_dir).as_posix()})\n")
    return "\n".join(out)


HTML_STYLE = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}table{border-collapse:collapse;margin:.8em 0;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}
figure{margin:1em 0}figcaption{font-size:.9em;color:#555}code{background:#f5f5f5;padding:0 .2em}"""


def _inline_html(text: str) -> str:
    """Escape text and turn `code` spans into <code>."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{part}</code>" if index % 2 else part for index, part in enumerate(parts))


def render_html(blocks: Sequence[Block], title: str) -> str:
    """A self-contained HTML page: inline CSS, PNGs embedded as base64 data URIs."""
    body: List[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{_inline_html(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_inline_html(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{_inline_html(h)}</th>" for h in block.headers)
            rows = "".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(block, Image):
            data = base64.b64encode(block.path.read_bytes()).decode("ascii")
            body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block.caption)}">'
                        f"<figcaption>{_inline_html(block.caption)}</figcaption></figure>")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{HTML_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
