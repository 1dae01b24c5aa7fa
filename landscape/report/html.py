"""The report as one self-contained HTML file: styles, script, figures and data inline.

No request leaves the page: figures are ``data:`` URIs, the table sorter is a few lines of
inline script, there is no font, stylesheet or script from elsewhere. The only links are
relative links to the result folders on disk.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from landscape.report.collect import ANALYSES, AnalysisResult, RunRecord, reproduce, scalars

__all__ = ["render"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
header{background:#1d2b45;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.8}
main{padding:8px 28px 40px;max-width:1400px}
section.run{background:#fff;border:1px solid #d8dce3;border-radius:8px;margin:18px 0;padding:4px 18px 14px}
section.result{border-top:1px solid #e4e7ec;padding:8px 0}
h2{font-size:18px;margin:14px 0 6px}h3{font-size:15px;margin:10px 0 4px}
table{border-collapse:collapse;margin:6px 0;font-size:12.5px}
th,td{border:1px solid #d8dce3;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5}table.sortable th{cursor:pointer;user-select:none}
table.sortable th:after{content:" \\2195";color:#98a2b3}
code,pre{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f1f3f6;
padding:1px 4px;border-radius:3px}pre{padding:6px;white-space:pre-wrap;word-break:break-all}
img{max-width:100%;border:1px solid #e4e7ec;margin:4px 8px 4px 0;background:#fff}
.missing{color:#9a3412}.muted{color:#667085}.figs{display:flex;flex-wrap:wrap;align-items:flex-start}
.figs img{max-width:min(100%,720px)}details{margin:4px 0}summary{cursor:pointer;color:#344054}
nav a{margin-right:10px}
"""

# Click a header to sort by that column (numbers numerically, the rest as text; again to
# reverse). Written without any library so that the page needs nothing from the network.
_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var asc = th.getAttribute('data-order') !== 'asc';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('data-order'); });
      th.setAttribute('data-order', asc ? 'asc' : 'desc');
      rows.sort(function (a, b) {
        var x = a.cells[col] ? a.cells[col].textContent.trim() : '';
        var y = b.cells[col] ? b.cells[col].textContent.trim() : '';
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

_RUN_KEYS = ("method", "model", "data", "seed", "data_seed", "lr", "length", "rewind_step",
             "prune_fraction", "prune_strategy", "particles", "versions.torch")  # fmt: skip
_LEVEL_COLS = (("level", "level"), ("density", "weights remaining"),
               ("train_loss", "train loss"), ("train_error", "train error"),
               ("test_loss", "test loss"), ("test_error", "test error"),
               ("seconds", "seconds"))  # fmt: skip


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.5g}"
    return "" if v is None else str(v)


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], name: str = "") -> str:
    """A sortable table (``data-table`` names it for scripts and tests)."""
    cls = ' class="sortable"' + (f' data-table="{_e(name)}"' if name else "")
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _link(target: Path, base: Path) -> str:
    """A relative link to a folder (the absolute path as text where none can be made)."""
    try:
        rel = os.path.relpath(target.resolve(), base.resolve())
    except ValueError:  # another drive
        return f"<code>{_e(target)}</code>"
    href = Path(rel).as_posix().rstrip("/") + "/"
    return f'<a href="{_e(href)}">{_e(rel)}</a>'


def _anchor(run: RunRecord) -> str:
    return "run-" + "".join(c if c.isalnum() else "-" for c in run.path.name)


_RECORD_CHARS = 40_000  # a record is embedded whole up to this size (slice grids can be larger)


def _record(rec: Mapping[str, Any]) -> str:
    text = json.dumps(rec, indent=1, sort_keys=True)
    if len(text) <= _RECORD_CHARS:
        return text
    return (
        text[:_RECORD_CHARS] + f"\n... ({len(text) - _RECORD_CHARS} more characters in result.json)"
    )


def _result(res: AnalysisResult, run: RunRecord, base: Path) -> str:
    rel = _link(res.folder, base)
    if not res.finished:
        return (f'<section class="result"><h3>{_e(res.kind)} <span class="missing">unfinished'
                f"</span></h3><p>{rel}: no result.json (the job was interrupted or is "
                "running); re-running its command completes it.</p></section>")  # fmt: skip
    rec = res.record or {}
    where = f"level {res.level}" if res.level is not None else "run"
    title = rec.get("title") or f"{res.kind} ({where})"
    cmd, recorded = reproduce(res, run.path)
    note = "as run" if recorded else "rebuilt from the recorded settings"
    figs = "".join(_img(p, f"{res.kind}: {p.name}") for p in res.figures)
    nums = scalars(rec)
    settings = rec.get("settings", {})
    parts = [f'<section class="result"><h3>{_e(title)}</h3>',
             f'<p class="muted">kind <code>{_e(res.kind)}</code>, {_e(where)}, analysis '
             f"<code>{_e(res.analysis)}</code>, created {_e(rec.get('created', '?'))}; folder {rel}</p>",
             f'<div class="figs">{figs}</div>' if figs else "",
             _table(("number", "value"), nums) if nums else "<p class='muted'>no scalar numbers</p>",
             f"<p>Command ({_e(note)}): <code>{_e(cmd)}</code></p>",
             "<details><summary>settings</summary><pre>"
             f"{_e(json.dumps(settings, indent=1, sort_keys=True))}</pre></details>",
             f"<details><summary>the whole record (result.json)</summary><pre>{_e(_record(rec))}"
             "</pre></details>",
             "</section>"]  # fmt: skip
    return "".join(parts)


def _run(run: RunRecord, base: Path) -> str:
    cfg = run.settings
    rows = [[lv.get(k) for k, _ in _LEVEL_COLS] for lv in run.levels]
    settings = _table(("setting", "value"), [(k, cfg[k]) for k in sorted(cfg)], "settings")
    keys = [k for k in _RUN_KEYS if k != "particles" or run.method == "swamp"]
    shown = ", ".join(f"{k} {_fmt(cfg[k])}" for k in keys if cfg.get(k) not in (None, ""))
    finished = [r for r in run.results if r.finished]
    missing = run.missing()
    out = [f'<section class="run" id="{_anchor(run)}"><h2>{_e(run.method)} — '
           f"<code>{_e(run.path.name)}</code></h2>",
           f"<p>Run directory: {_link(run.path, base)}</p><p>{_e(shown)}</p>",
           f"<details><summary>all {len(cfg)} settings (config.json)</summary>{settings}</details>",
           "<h3>Levels</h3>",
           _table([h for _, h in _LEVEL_COLS], rows, "levels") if rows
           else "<p class='missing'>no finished level</p>",
           f"<h3>Analyses ({len(finished)} finished"
           f"{f', {len(run.results) - len(finished)} unfinished' if len(finished) < len(run.results) else ''})</h3>"]  # fmt: skip
    if missing:
        out.append(f"<p class='missing'>Missing: {_e(', '.join(missing))} — e.g. "
                   f"<code>{_e(f'landscape {missing[0]} {run.path}')}</code></p>")  # fmt: skip
    out += [_result(r, run, base) for r in run.results]
    out.append("</section>")
    return "".join(out)


def render(runs: Sequence[RunRecord], out: Path, title: str = "") -> str:
    """The whole page for ``runs``, with links relative to ``out``'s folder."""
    base = out.parent
    summary = []
    for run in runs:
        last = run.levels[-1] if run.levels else {}
        summary.append([f"{run.path.name}", *[run.settings.get(k) for k in _RUN_KEYS[:4]],
                        len(run.levels), last.get("density"), last.get("test_error"),
                        sum(r.finished for r in run.results), ", ".join(run.missing())])  # fmt: skip
    kinds: dict[str, int] = {}
    for run in runs:
        for r in run.results:
            if r.finished:
                kinds[r.kind] = kinds.get(r.kind, 0) + 1
    absent = [v for v in ANALYSES if not any(v not in run.missing() for run in runs)]
    nav = "".join(f'<a href="#{_anchor(r)}">{_e(r.path.name)}</a>' for r in runs)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    title = title or f"landscape report: {len(runs)} run{'s' if len(runs) != 1 else ''}"
    body = [f"<header><h1>{_e(title)}</h1><p>Written {_e(now)} from result records only "
            "(nothing recomputed). Tables sort by a click on a header.</p></header><main>",
            "<h2>Runs</h2>",
            _table(("run", "method", "model", "data", "seed", "levels", "final density",
                    "final test error", "finished analyses", "missing analyses"), summary, "runs"),
            f"<nav>{nav}</nav>", "<h2>Results by kind</h2>",
            _table(("kind", "results"), sorted(kinds.items())) if kinds
            else "<p class='missing'>no finished analysis in these runs</p>",
            f"<p class='missing'>Not computed for any run: {_e(', '.join(absent))}.</p>"
            if absent else "",
            *(_run(r, base) for r in runs), "</main>"]  # fmt: skip
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            '<link rel="icon" href="data:,">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            + "".join(body) + f"<script>{_JS}</script></body></html>\n")  # fmt: skip
