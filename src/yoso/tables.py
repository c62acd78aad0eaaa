"""One table formatter for logs, terminals and reports: plain text (rich, no colour) or GitHub markdown.

Light to import (rich is loaded only for plain text); importable from every layer.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: A column: a row key, or a ``(key, header)`` pair.
Column = str | tuple[str, str]


def format_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[Column] | None = None, title: str = "", markdown: bool = False
) -> str:
    """``rows`` as a table (floats to 4 significant digits, missing cells blank): plain text, or markdown.

    ``columns`` are row keys or ``(key, header)`` pairs; by default every key of the rows in first-seen order.
    """
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    pairs = [(c, c) if isinstance(c, str) else (c[0], c[1]) for c in columns]
    cells = [[format_cell(row.get(key)) for key, _ in pairs] for row in rows]
    headers = [str(header) for _, header in pairs]
    if markdown:
        lines = [f"**{title}**\n"] if title else []
        lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(line) + " |" for line in cells]
        return "\n".join(lines) + "\n"
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title or None)
    for header in headers:
        table.add_column(header)
    for line in cells:
        table.add_row(*line)
    text = io.StringIO()
    console = Console(file=text, width=220, force_terminal=False, color_system=None)  # accuracy cells with intervals
    console.print(table)
    return text.getvalue()


def format_cell(value: Any) -> str:
    """A table cell: floats to 4 significant digits, None blank, anything else as str."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)
