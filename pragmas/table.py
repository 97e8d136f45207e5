"""A table of text cells shown by a pragma: HTML for notebooks, aligned text for consoles."""

from __future__ import annotations

import html


def table_bundle(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> dict[str, str]:
    """Rows as an HTML table with a plain-text twin (columns padded), for ``display``."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    text = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    text += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(c)}</td>" for c in row)
        + "</tr>" for row in rows
    )  # fmt: skip
    return {"text/html": f"<table><tr>{head}</tr>{body}</table>", "text/plain": "\n".join(text)}
