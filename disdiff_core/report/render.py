"""Rendering the report's blocks (:mod:`.blocks`) to Markdown or to one HTML page."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from urllib.parse import quote

from disdiff_core.report.blocks import (
    Block,
    Code,
    Heading,
    Inline,
    Link,
    Paragraph,
    Table,
    Text,
)


def _parts(text: Text) -> Sequence[Inline]:
    return [text] if isinstance(text, str | Code | Link) else text


#: Characters Markdown reads as markup; ``_`` only at a word's edge (``num_train`` stays).
_MD_SPECIAL = re.compile(r"[\\`*\[\]<>]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _md_escape(text: str) -> str:
    return _MD_SPECIAL.sub(lambda match: "\\" + match.group(0), text)


def _md_inline(text: Text) -> str:
    rendered = []
    for part in _parts(text):
        if isinstance(part, Code):
            ticks = "`" * (max((len(m) for m in re.findall(r"`+", part.text)), default=0) + 1)
            pad = " " if part.text.startswith("`") or part.text.endswith("`") else ""
            rendered.append(f"{ticks}{pad}{part.text}{pad}{ticks}")
        elif isinstance(part, Link):
            rendered.append(f"[{_md_escape(part.text)}]({quote(part.href)})")
        else:
            rendered.append(_md_escape(part))
    return "".join(rendered).replace("\n", " ")


def _md_cell(text: Text) -> str:
    return _md_inline(text).replace("|", "\\|")


def render_markdown(blocks: Sequence[Block]) -> str:
    """GitHub-flavoured Markdown (tables, relative image links)."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines.append("#" * block.level + " " + _md_inline(block.text))
        elif isinstance(block, Paragraph):
            lines.append(_md_inline(block.text))
        elif isinstance(block, Table):
            lines.append("| " + " | ".join(_md_cell(h) for h in block.header) + " |")
            lines.append("|" + "|".join("---" for _ in block.header) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
        else:
            lines.append(f"![{_md_cell(block.caption)}]({quote(block.src)})  \n"
                         f"*{_md_inline(block.caption)}*")
        lines.append("")
    return "\n".join(lines)


def _html_inline(text: Text) -> str:
    rendered = []
    for part in _parts(text):
        if isinstance(part, Code):
            rendered.append(f"<code>{html.escape(part.text)}</code>")
        elif isinstance(part, Link):
            rendered.append(f'<a href="{html.escape(quote(part.href))}">'
                            f"{html.escape(part.text)}</a>")
        else:
            rendered.append(html.escape(part))
    return "".join(rendered)


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3rem; }
h2 { border-bottom: 1px solid #eee; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .8rem 0; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
code { background: #f3f3f3; padding: 0 .2rem; border-radius: 3px; font-size: .92em; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figure img.pixel-art { min-width: 16rem; image-rendering: pixelated; }
figcaption { color: #666; font-size: .9em; }
"""


def render_html(blocks: Sequence[Block]) -> str:
    """One self-contained HTML page (inline CSS, images by relative path)."""
    title = next((b.text for b in blocks if isinstance(b, Heading)), "disdiff run report")
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{_html_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_html_inline(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{_html_inline(h)}</th>" for h in block.header)
            head_row = f"<thead><tr>{head}</tr></thead>" if any(block.header) else ""
            rows = "\n".join("<tr>" + "".join(f"<td>{_html_inline(c)}</td>" for c in row)
                             + "</tr>" for row in block.rows)
            body.append(f"<table>{head_row}<tbody>\n{rows}\n</tbody></table>")
        else:
            css_class = ' class="pixel-art"' if block.pixel_art else ""
            body.append(f'<figure><img src="{html.escape(quote(block.src))}" '
                        f'alt="{html.escape(block.caption)}"{css_class}>'
                        f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body) + "\n</body>\n</html>\n"
    )

