"""The report page's format-free document model: headings, paragraphs, tables and figures of
inline text, code and links, rendered to Markdown or HTML by :mod:`.render`, so the two
formats never drift apart."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    """Inline monospaced text: paths, plugin names, recipe keys."""

    text: str


@dataclass(frozen=True)
class Link:
    """An inline link to a file of the report folder (``href`` relative to the page)."""

    text: str
    href: str


Inline = str | Code | Link
Text = Inline | Sequence[Inline]


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: Text


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: list[tuple[Text, ...]]


@dataclass(frozen=True)
class Figure:
    """An image of the report folder (``src`` relative to the page) with a caption."""

    src: str
    caption: str
    pixel_art: bool = False  # small sample grids: scale up without smoothing


Block = Heading | Paragraph | Table | Figure
