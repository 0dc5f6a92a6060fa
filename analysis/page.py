"""report.html: the report's Markdown as one self-contained page (figures embedded: one file to send)."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from .describe import say


def inline(text: str) -> str:
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)


def to_html(md: str, folder: Path) -> str:
    """The report's Markdown (headings, lists, tables, code, figures, paragraphs) as one HTML page."""
    blocks, out, parts = [], [], re.split(r"(?ms)(^(`{3,})$.*?^\2$)", md)  # text, code block, its fence, text...
    for i in range(0, len(parts), 3):  # code blocks may hold blank lines
        blocks += [b for b in re.split(r"\n{2,}", parts[i].strip()) if b] + parts[i + 1 : i + 2]
    for b in blocks:
        if b.startswith("```"):
            out.append(f"<pre>{html.escape(b.split(chr(10), 1)[1].rsplit(chr(10), 1)[0])}</pre>")
        elif m := re.match(r"(#+) (.*)", b):
            out.append(f"<h{len(m[1])}>{inline(m[2])}</h{len(m[1])}>")
        elif m := re.match(r"!\[(.*)\]\((figures/[\w-]+\.png)\)$", b):  # our figures only, never another file
            data = base64.b64encode((folder / m[2]).read_bytes()).decode("ascii")
            out.append(f'<img alt="{html.escape(m[1])}" src="data:image/png;base64,{data}">')
        elif b.startswith("| "):
            rows = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in b.splitlines()]
            out.append(
                "<table><tr>"
                + "".join(f"<th>{inline(c)}</th>" for c in rows[0])
                + "</tr>"
                + "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in rows[2:])
                + "</table>"
            )
        elif b.startswith("- "):
            out.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in b[2:].split("\n- ")) + "</ul>")
        else:
            out.append("<p>" + re.sub(r"^\*(.*?)\*", r"<em>\1</em>", inline(b)) + "</p>")
    return say("page", title=html.escape(md.split("\n", 1)[0][2:]), body="\n".join(out)) + "\n"
