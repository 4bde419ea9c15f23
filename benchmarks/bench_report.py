"""HTML report for a big run: file size and load time in headless Chromium.

    python benchmarks/bench_report.py [--samples 10000] [--images 2000] [--keep DIR]

Builds a jsonl task of N yes/no samples over a two-level category tree that reuses D distinct
320x240 PNG images (plus some samples with two images and some with none), evaluates it with the
zero-latency `constant` backend twice (text=yes and text=no: two runs of one task, so the report
also holds a comparison), then times:

- building the report (store -> one HTML file) and its size, split into thumbnails / sample data / code;
- loading it from file:// in Debian's Chromium: until the leaderboard and the first page of samples
  are rendered (window.mmlens.ready, set by the page), and until every chart is drawn;
- interactions: filtering to wrong answers, and opening a sample.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.report_builders import build_task  # noqa: E402
from tests.report.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

from mmlens import api  # noqa: E402
from mmlens.report.build import build_report  # noqa: E402


def section_sizes(html: str) -> dict[str, int]:
    sizes = {}
    for element in ("mmlens-data", "mmlens-images"):
        match = re.search(rf'<script type="application/json" id="{element}">(.*?)</script>', html, re.S)
        sizes[element] = len(match.group(1).encode()) if match else 0
    sizes["everything else (code, styles, tables)"] = len(html.encode()) - sum(sizes.values())
    return sizes


def load_times(report: Path, repeats: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        ready, charts, wall = [], [], []
        for _ in range(repeats):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            started = time.perf_counter()
            page.goto(report.as_uri(), timeout=60_000)
            page.wait_for_function("window.mmlens && window.mmlens.ready", timeout=60_000)
            wall.append(time.perf_counter() - started)
            page.wait_for_function("window.mmlens.chartsReady === true", timeout=60_000)
            timings = page.evaluate("window.mmlens.timings")
            ready.append(timings["samplesRendered"] / 1000)
            charts.append(timings["chartsRendered"] / 1000)
            rows = page.locator("#sample-rows tr.sample-row").count()
            started = time.perf_counter()
            page.click('#filter-outcome .chip[data-outcome="wrong"]')
            page.wait_for_function("document.querySelector('.chip.active').dataset.outcome === 'wrong'")
            filter_seconds = time.perf_counter() - started
            started = time.perf_counter()
            page.click("#sample-rows tr.sample-row >> nth=0")
            page.wait_for_function(
                "[...document.querySelectorAll('tr.detail img')].every(i => i.complete && i.naturalWidth > 0)"
            )
            open_seconds = time.perf_counter() - started
            context.close()
        browser.close()
    print(f"  first page rows rendered: {rows}")
    print(
        f"  navigation -> leaderboard + first page of samples: median {statistics.median(ready):.2f} s "
        f"(page clock; {statistics.median(wall):.2f} s wall clock incl. Playwright), over {repeats} loads"
    )
    print(f"  navigation -> every chart drawn: median {statistics.median(charts):.2f} s")
    print(
        f"  filter to wrong answers: {filter_seconds * 1000:.0f} ms; "
        f"open a sample: {open_seconds * 1000:.0f} ms (last load, wall clock incl. Playwright)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the task, store and report in this folder")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="mmlens-bench-report-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        build_task(folder, "big", count=args.samples, distinct_images=args.images, image_size=(320, 240))
        print(
            f"task: {args.samples:,} samples, {args.images:,} distinct 320x240 images "
            f"({time.perf_counter() - started:.1f} s to draw)"
        )
        store = folder / "store.sqlite"
        for text in ("yes", "no"):
            started = time.perf_counter()
            api.evaluate(
                "big", "constant", model_args=f"text={text}", include=[folder], store=store, output_dir=None
            )
            print(f"run constant text={text}: {time.perf_counter() - started:.1f} s (incl. thumbnails)")
        report = folder / "report.html"
        started = time.perf_counter()
        summary = build_report(store, [], report)
        print(
            f"report: built in {time.perf_counter() - started:.2f} s; {summary.runs} runs, "
            f"{summary.samples:,} sample records, {summary.images:,} thumbnails, "
            f"{summary.comparisons} comparison(s)"
        )
        html = report.read_text(encoding="utf-8")
        print(f"  file size: {summary.bytes / 1e6:.2f} MB")
        for name, size in section_sizes(html).items():
            print(f"    {name}: {size / 1e6:.2f} MB")
        load_times(report, args.repeats)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
