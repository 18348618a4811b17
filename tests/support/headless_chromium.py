"""Open an HTML report in headless Chromium (Debian's package, /usr/bin/chromium; CI installs it) and
read back what the browser saw: a probe script appended to a copy of the page writes, after load, how
many images decoded (naturalWidth > 0) and the text of elements the test asks about into the DOM, which
``--dump-dom`` prints. Tests using it are skipped where Chromium is not installed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium package (/usr/bin/chromium)"
)

_PROBE = (
    "<script>window.addEventListener('load', () => { const imgs = [...document.images];"
    "const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;"
    "const d = document.createElement('div'); d.id = 'probe';"
    "const banners = [...document.querySelectorAll('.banner')].map(b => b.textContent).join(' | ');"
    "d.textContent = 'images ' + ok + '/' + imgs.length + '; banners: ' + banners;"
    "document.body.appendChild(d); });</script>"
)


def _chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--virtual-time-budget=5000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def probe(page: Path, tmp_path: Path) -> str:
    """The probe's text for ``page``: ``images OK/ALL; banners: TEXT | TEXT``."""
    copy = tmp_path / "probe.html"
    copy.write_text(page.read_text().replace("</body>", _PROBE + "</body>"))
    dom = _chromium(["--dump-dom", copy.as_uri()], tmp_path).stdout
    start = dom.find('<div id="probe">')
    assert start >= 0, dom[-500:]
    return dom[start + len('<div id="probe">') : dom.find("</div>", start)]


def screenshot(page: Path, tmp_path: Path, size: str = "1280,2400") -> bytes:
    """A PNG screenshot of ``page`` as the browser renders it."""
    out = tmp_path / "screenshot.png"
    _chromium([f"--window-size={size}", f"--screenshot={out}", page.as_uri()], tmp_path)
    return out.read_bytes()
