"""The report page: self-contained HTML (inline CSS, a few lines of inline JS, images as
data: URIs), so it opens from disk in any browser with no server and no network. Pure."""

from __future__ import annotations

import os
from html import escape

from vlmcli.media.names import utf8_text
from vlmcli.report.entries import Entry, Overview

_STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:0 0 .3em} .meta{color:#555;margin:.2em 0}
.controls{margin:1em 0;display:flex;gap:1em;align-items:center;flex-wrap:wrap}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:12px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;overflow-wrap:anywhere}
.card.error{border-color:#c0392b;background:#fff5f4}
.card img{display:block;max-width:100%;max-height:256px;margin:0 auto 6px}
.noimg{height:120px;display:flex;align-items:center;justify-content:center;color:#999;background:#eee}
.path{font:12px ui-monospace,monospace;color:#555} .status{font-weight:600}
.status.ok{color:#1e7e34} .status.error{color:#c0392b}
.prompt{color:#777;font-size:12px;margin-top:6px} .caption{margin:2px 0} .err{color:#c0392b} .note{color:#9a6b00;font-size:12px}
"""

_SCRIPT = """
function applyFilter(){
  var mode=document.querySelector('input[name=show]:checked').value;
  var q=document.getElementById('q').value.toLowerCase(), shown=0;
  document.querySelectorAll('.card').forEach(function(c){
    var ok=(mode==='all'||c.dataset.status===mode)&&(!q||c.textContent.toLowerCase().indexOf(q)>=0);
    c.style.display=ok?'':'none'; if(ok)shown++;});
  document.getElementById('shown').textContent=shown;
}
document.querySelectorAll('input[name=show]').forEach(function(r){r.addEventListener('change',applyFilter)});
document.getElementById('q').addEventListener('input',applyFilter);
applyFilter();
"""


def _card(entry: Entry, thumb: str | None) -> str:
    path = escape(utf8_text(entry.path))
    gone = thumb is None and entry.source is None and not os.path.lexists(entry.path)  # deleted since the run
    missing = '<div class="noimg">file gone since the run</div>' if gone else '<div class="noimg">no preview</div>'
    image = f'<img src="{thumb}" alt="{path}" loading="lazy">' if thumb else missing
    size = f" · {entry.width}×{entry.height}" if entry.width and entry.height else ""
    parts = [
        f'<div class="card {entry.status}" data-status="{entry.status}">',
        image,
        f'<div class="path">{path}</div>',
        f'<div><span class="status {entry.status}">{entry.status}</span>{size}</div>',
    ]
    several = len(entry.captions) + len(entry.errors) > 1
    for prompt, caption in entry.captions.items():
        if several:
            parts.append(f'<div class="prompt">{escape(prompt)}</div>')
        parts.append(f'<div class="caption">{escape(caption)}</div>')
    for prompt, error in entry.errors.items():
        if several:
            parts.append(f'<div class="prompt">{escape(prompt)}</div>')
        parts.append(f'<div class="err">{escape(error)}</div>')
    if entry.notes:
        parts.append(f'<div class="note">{escape(entry.notes)}</div>')
    parts.append("</div>")
    return "\n".join(parts)


def render_page(*, title: str, overview: Overview, shown: list[tuple[Entry, str | None]]) -> str:
    """The whole page; `shown` is the sample, each entry with its thumbnail URI (or None)."""
    sample_note = (
        f"showing a sample of {len(shown):,} of {overview.images:,} images (errors first, up to half)"
        if len(shown) < overview.images
        else f"showing all {overview.images:,} images"
    )
    prompts = "".join(f"<li>{escape(p)}</li>" for p in overview.prompts)
    cards = "\n".join(_card(entry, thumb) for entry, thumb in shown)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{escape(title)}</h1>
<p class="meta" id="summary">{overview.images:,} images, {overview.images - overview.errors:,} ok, {overview.errors:,} with errors \
({overview.rows:,} rows); model {escape(", ".join(overview.models))}; {sample_note}.</p>
<details class="meta"><summary>{len(overview.prompts)} prompt(s)</summary><ul>{prompts}</ul></details>
<div class="controls">
<label><input type="radio" name="show" value="all" checked> all</label>
<label><input type="radio" name="show" value="ok"> ok</label>
<label><input type="radio" name="show" value="error"> errors</label>
<input id="q" type="search" placeholder="filter by text">
<span class="meta"><span id="shown">{len(shown)}</span> shown</span>
</div>
<div class="grid">
{cards}
</div>
<script>{_SCRIPT}</script>
</body></html>
"""
