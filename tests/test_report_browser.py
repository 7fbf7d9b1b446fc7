"""The HTML report in a real headless Chromium: every chart image loads, a broken one is caught,
a single-file report's index.html moved alone to another folder still shows every chart (and the
what-if chart keeps its difference panel), and a screenshot is taken.

Chromium comes from Debian's packages (``scripts/install-browser.sh``, run by ``make test``).
When it is missing these tests fail with a message saying how to install it; set
``EVENTKIT_SKIP_BROWSER=1`` to skip them instead.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from eventkit import report as rp
from eventkit.demo import build_sample_store

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
FOLDS = ROOT / "examples" / "bank_folds.py"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--virtual-time-budget=5000"]

CONFIG = f"""\
title = "Browser check"
[store]
path = "store"
[folds]
account = "{FOLDS}:account"
[series.balance]
fold = "account"
every = "1W"
by = "currency"
values = {{ total = ["balance", "sum"] }}
[charts.balance]
kind = "trend_lines"
series = "balance"
y = "total"
by = "currency"
title = "Balance by currency"
[charts.activity]
kind = "event_rate"
every = "1W"
title = "Events per week"
[scenarios.no_fees]
fold = "account"
every = "1W"
by = "currency"
drop = {{ event_types = ["FeeCharged"] }}
[charts.no_fees]
kind = "overlay"
scenario = "no_fees"
y = "balance"
query = "currency == 'USD'"
title = "US-dollar balance without fees (overlay with its difference panel)"
[tables.top]
fold = "account"
sort = ["currency", "balance"]
descending = true
limit = 5
[units]
balance = "currency"
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("EVENTKIT_SKIP_BROWSER") == "1":
        pytest.skip("no Chromium and EVENTKIT_SKIP_BROWSER=1")
    pytest.fail("headless Chromium is needed to check the HTML report and none was found "
                f"(looked for {', '.join(BROWSERS)}): run `bash scripts/install-browser.sh` "
                "(or `make browser`), or set EVENTKIT_SKIP_BROWSER=1 to skip this check",
                pytrace=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    build_sample_store(root / "store", accounts=40, events_per_account=15, progress=False).close()
    (root / "report.toml").write_text(CONFIG)
    return rp.write_report(root / "report.toml", out=root / "report", progress=False).path


def run_chromium(chromium: str, page: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=60, cwd=tmp)


def image_check(chromium: str, page: Path, tmp: Path) -> dict[str, str]:
    """Load the page, let its script run, and read what it wrote on <body>."""
    done = run_chromium(chromium, page, tmp, "--dump-dom")
    body = re.search(r"<body([^>]*)>", done.stdout)
    assert body, f"chromium printed no DOM (exit {done.returncode}): {done.stderr[-2000:]}"
    attrs = dict(re.findall(r'(data-[\w-]+)="([^"]*)"', body.group(1)))
    assert attrs.get("data-report-ready") == "1", f"the page's check did not run: {body.group(0)}"
    return attrs


def test_every_chart_image_loads_in_chromium(chromium, report, tmp_path):
    attrs = image_check(chromium, report / "index.html", tmp_path)
    assert attrs["data-images-ok"] == "3/3", attrs
    assert attrs["data-broken"] == ""


def test_a_missing_chart_is_reported_broken(chromium, report, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(report, broken)
    (broken / "charts" / "activity.png").unlink()
    attrs = image_check(chromium, broken / "index.html", tmp_path)
    assert attrs["data-images-ok"] == "2/3", attrs
    assert attrs["data-broken"] == "charts/activity.png"


def test_a_single_file_report_moved_alone_shows_every_chart(chromium, report, tmp_path):
    built = rp.write_report(report.parent / "report.toml", out=tmp_path / "single", progress=False, single_file=True)
    alone = tmp_path / "elsewhere"
    alone.mkdir()
    shutil.copy(built.index, alone / "index.html")  # index.html ALONE: no charts/, no tables/
    assert [p.name for p in alone.iterdir()] == ["index.html"]
    attrs = image_check(chromium, alone / "index.html", tmp_path)
    assert attrs["data-images-ok"] == "3/3", attrs
    assert attrs["data-broken"] == ""
    dom = run_chromium(chromium, alone / "index.html", tmp_path, "--dump-dom").stdout
    overlay = re.search(r'<section id="chart-no_fees">.*?<img ([^>]*)>', dom, re.S)
    assert overlay and 'data-panels="chart difference"' in overlay.group(1), "no difference panel"
    assert 'id="headlines"' in dom


def test_a_screenshot_of_the_report(chromium, report, tmp_path):
    shot = tmp_path / "shot.png"
    done = run_chromium(chromium, report / "index.html", tmp_path, f"--screenshot={shot}",
                        "--window-size=1280,2000", "--hide-scrollbars")
    assert shot.is_file(), f"no screenshot (exit {done.returncode}): {done.stderr[-2000:]}"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 2000)
    assert len(data) > 50_000, "the screenshot is nearly empty: the page did not render"
