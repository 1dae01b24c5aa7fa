"""``landscape report``: one self-contained HTML page of a study, from result records alone.

A small study is written by hand (config, levels, a known result kind with a figure, a kind
the report has never heard of, an unfinished folder), so these tests need no training.
The page is opened in a real browser (headless Chromium) when one is installed: no
console errors, every image decodes, the tables sort, a screenshot is not blank.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from landscape.cli import main

ROOT = Path(__file__).resolve().parents[1]
INSTALL = "apt-get update && apt-get install -y chromium"
NO_BROWSER = (
    "no Chromium here (looked for chromium, chromium-browser, google-chrome): install it with "
    f"`{INSTALL}` (Debian/Ubuntu; .ci/run installs it when absent) to run the browser test"
)


def _png(path: Path, colour: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2.5, 1.8))
    ax = fig.subplots()
    ax.plot([0, 1, 2], [1, 0.3, 0.2], color=colour)
    ax.set_xlabel("level")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=60)


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _study(root: Path) -> Path:
    """Two runs: one with a Hessian result (+ figure), an unknown 'alignment' result that
    recorded its command, and an unfinished sharpness folder; one with no analysis."""
    for name, method in (("imp-wr_aaaa", "imp-wr"), ("imp-ft_bbbb", "imp-ft")):
        run = root / "runs" / name
        _write(run / "config.json", {"method": method, "model": "mlp", "data": "mnist1d",
                                     "seed": 0, "lr": 0.1, "levels": 2})  # fmt: skip
        for lv in (0, 1):
            (run / f"level_{lv:02d}").mkdir(parents=True)
            (run / f"level_{lv:02d}" / "weights.safetensors").write_bytes(b"")
            _write(run / f"level_{lv:02d}" / "metrics.json",
                   {"level": lv, "density": 0.8**lv, "test_error": 0.2 + 0.05 * lv,
                    "train_loss": 0.5 - 0.1 * lv, "seconds": 1.5})  # fmt: skip
    wr = root / "runs" / "imp-wr_aaaa"
    hess = wr / "level_00" / "analysis" / "hessian_1234"
    _png(hess / "density.png", "C0")
    _write(hess / "result.json", {
        "kind": "hessian", "title": "imp-wr_aaaa: level_00", "eigenvalues": [3.25, 1.5],
        "trace": 10.5, "hvp_count": {"total": 42}, "created": "2026-12-07T06:00:00+00:00",
        "settings": {"kind": "hessian", "weights": "level_00/weights.safetensors",
                     "samples": 100, "masked": True, "top_k": 2, "dtype": "float64"}})  # fmt: skip
    align = wr / "level_01" / "analysis" / "alignment_5678"
    _png(align / "alignment.png", "C3")
    _write(align / "result.json", {
        "kind": "alignment", "barrier_before": 0.3125, "barrier_after": 0.0078,
        "command": "landscape align runs/imp-wr_aaaa --level 1", "settings": {"k": 1}})  # fmt: skip
    (wr / "level_01" / "analysis" / "sharpness_9999").mkdir(parents=True)  # no result.json
    (wr / "level_01" / "analysis" / "curvature_0bad").mkdir(parents=True)
    (wr / "level_01" / "analysis" / "curvature_0bad" / "result.json").write_text('{"kind": ')
    return root


def test_page_lists_settings_levels_every_result_unknown_kinds_and_what_is_missing(tmp_path):
    from landscape.report import write_report

    study = _study(tmp_path / "study")
    out, runs = write_report([study], tmp_path / "out" / "report.html")
    page = out.read_text()
    assert [r.path.name for r in runs] == ["imp-ft_bbbb", "imp-wr_aaaa"]
    for text in ("imp-wr_aaaa", "imp-ft_bbbb", "test error", "0.25",  # levels table
                 "eigenvalues", "3.25, 1.5", "hvp_count.total", "42",  # known kind's numbers
                 "alignment", "barrier_before", "0.3125",  # a kind the report does not know
                 "landscape align runs/imp-wr_aaaa --level 1", "as run",  # recorded command
                 "unfinished", "sharpness_9999", "curvature_0bad"):  # fmt: skip
        assert text in page, text
    rebuilt = f"landscape hessian {study / 'runs' / 'imp-wr_aaaa'} --level 0 --samples 100"
    assert rebuilt in page and "rebuilt from the recorded settings" in page
    # the rebuilt command's flags exist (a typo here would mislead a reader)
    assert "--top-k 2 --dtype float64" in page
    wr = next(r for r in runs if r.path.name == "imp-wr_aaaa")
    assert [r.folder.name for r in wr.results if not r.finished] == ["curvature_0bad",
                                                                     "sharpness_9999"]  # fmt: skip
    assert "connectivity" in wr.missing() and "hessian" not in wr.missing()
    assert re.search(r"Missing: connectivity, slice, bound", page)
    assert 'href="../study/runs/imp-wr_aaaa/level_00/analysis/hessian_1234/"' in page


def test_page_is_self_contained(tmp_path):
    from landscape.report import write_report

    out, _ = write_report([_study(tmp_path / "s") / "runs"], tmp_path / "r.html")
    page = out.read_text()
    refs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert refs and not [r for r in refs if "://" in r or r.startswith("//")]
    imgs = re.findall(r'<img[^>]*src="data:image/png;base64,([^"]+)"', page)
    assert len(imgs) == 2 and all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in imgs)
    assert "<script src" not in page and "@import" not in page and "stylesheet" not in page


def test_report_imports_no_torch():
    code = (
        "import sys, json, tempfile, pathlib\n"
        "sys.path.insert(0, 'tests')\n"
        "from landscape.report import write_report\n"
        "import landscape.cli.report\n"
        "from test_report import _study\n"
        "d = pathlib.Path(tempfile.mkdtemp())\n"
        "write_report([_study(d / 's')], d / 'r.html')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')))\n"
    )  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_verb_writes_the_page_and_bad_input_is_one_line(tmp_path, capsys):
    study = _study(tmp_path / "s")
    out = tmp_path / "page.html"
    assert main(["report", str(study / "runs" / "imp-wr_aaaa"), "--out", str(out)]) == 0
    assert "1 run(s), 2 finished analysis result(s)" in capsys.readouterr().out
    assert out.exists()
    for args, message in ((["report", str(tmp_path / "nope")], "does not exist"),
                          (["report", str(tmp_path), "--out", str(tmp_path)], "is a folder"),
                          (["report", str(study / "runs" / "imp-wr_aaaa" / "level_00")],
                           "no run directory")):  # fmt: skip
        (tmp_path / "empty").mkdir(exist_ok=True)
        assert main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


# ------------------------------------------------------------------------- in a browser

# Injected into a copy of the page, first in <head>: records errors (script errors, failed
# resources, console.error, rejected promises), decodes every image, clicks the first
# sortable header twice, and writes what it saw into <pre id="__check"> for --dump-dom.
_PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  window.__errors.push('error: ' + (e.message || (e.target && (e.target.src || e.target.href))));
}, true);
window.addEventListener('unhandledrejection', function (e) { window.__errors.push('rejection'); });
(function () {
  var orig = console.error;
  console.error = function () {
    window.__errors.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
    return orig.apply(console, arguments);
  };
})();
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  Promise.all(imgs.map(function (img) {
    return img.decode().then(function () { return img.naturalWidth > 0; },
                             function () { return false; });
  })).then(function (ok) {
    var table = document.querySelector('table[data-table=levels]');  // the first run's
    var th = table.querySelectorAll('th')[5];  // test error
    var col = function () { return Array.prototype.map.call(table.tBodies[0].rows,
      function (r) { return r.cells[5].textContent; }); };
    th.click(); var asc = col(); th.click(); var desc = col();
    var pre = document.createElement('pre');
    pre.id = '__check';
    pre.textContent = JSON.stringify({errors: window.__errors, images: imgs.length,
      decoded: ok.filter(Boolean).length, asc: asc, desc: desc});
    document.body.appendChild(pre);
  });
});
</script>"""


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def _chromium(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--disable-extensions", "--disable-background-networking",
           f"--user-data-dir={profile}", *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


@pytest.mark.skipif(_browser() is None, reason=NO_BROWSER)
def test_page_in_headless_chromium(tmp_path):
    import matplotlib.image

    from landscape.report import write_report

    exe = _browser()
    page, _ = write_report([_study(tmp_path / "s")], tmp_path / "report.html")
    # 1. the page as written: nothing on the console (Chromium logs console messages and
    #    uncaught errors to stderr as CONSOLE lines with --enable-logging=stderr)
    proc = _chromium(exe, tmp_path / "p1", "--enable-logging=stderr", "--v=0",
                     "--virtual-time-budget=5000", "--dump-dom", page.as_uri())  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "imp-wr_aaaa" in proc.stdout  # the DOM was rendered
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln]
    assert console == [], console
    # 2. a copy with the probe: errors, image decoding, sorting
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("<head>", "<head>" + _PROBE, 1))
    proc = _chromium(exe, tmp_path / "p2", "--virtual-time-budget=10000", "--dump-dom",
                     probed.as_uri())  # fmt: skip
    found = re.search(r'<pre id="__check">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"the probe wrote nothing: {proc.stderr[-2000:]}"
    check = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert check["errors"] == []
    assert check["images"] == 2 and check["decoded"] == 2
    assert check["asc"] == ["0.2", "0.25"] and check["desc"] == ["0.25", "0.2"]
    # 3. a screenshot that is not blank: many distinct pixels, not one background colour
    shot = tmp_path / "shot.png"
    proc = _chromium(exe, tmp_path / "p3", "--hide-scrollbars", "--window-size=1280,1400",
                     f"--screenshot={shot}", page.as_uri())  # fmt: skip
    assert shot.exists(), proc.stderr[-2000:]
    pixels = matplotlib.image.imread(io.BytesIO(shot.read_bytes()))[..., :3]
    background = (abs(pixels - pixels[-1, -1]).sum(axis=-1) > 0.05).mean()
    assert pixels.std() > 0.05 and background > 0.05, (pixels.std(), background)
