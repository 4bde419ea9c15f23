"""Build the self-contained HTML report: one file, every script, style and thumbnail inlined."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import mmlens
from mmlens.core.errors import MmlensError
from mmlens.core.paths import default_store_path, store_location
from mmlens.report.compare import Comparison, compare_runs
from mmlens.report.desiderata import desiderata_view
from mmlens.report.payload import (
    comparison_view,
    format_interval,
    format_value,
    leaderboard,
    provenance_view,
    sample_data,
    script_json,
    task_sections,
)
from mmlens.report.reported import reported_view
from mmlens.report.runs import ReportRun, load_runs, resolve_run, select_runs, unfinished_runs
from mmlens.report.usage import Price, usage_view
from mmlens.selection import RunQuery
from mmlens.store.sqlite import Store

VENDOR_SCRIPTS = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")


@dataclass
class ReportSummary:
    path: Path
    runs: int
    samples: int
    images: int
    comparisons: int
    bytes: int


def _static(name: str) -> str:
    text = resources.files("mmlens.report").joinpath("static", name).read_text(encoding="utf-8")
    if "</script" in text.lower():
        raise MmlensError(f"report asset {name} contains '</script' and cannot be inlined")
    return text


def vendor_bundle() -> str:
    """The charting libraries, gzipped and base64-encoded: a third of their size, and the page
    unpacks them (DecompressionStream) after the leaderboard and the samples are on screen."""
    code = ";\n".join(_static(name) for name in VENDOR_SCRIPTS)
    return base64.b64encode(gzip.compress(code.encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")


def _environment() -> Any:
    try:
        import jinja2
    except ModuleNotFoundError:
        raise MmlensError("the HTML report needs jinja2: pip install 'mmlens[report]'") from None
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mmlens.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = format_value
    env.filters["interval"] = format_interval
    env.filters["signed"] = _signed
    env.filters["pvalue"] = format_p_value
    env.filters["delta_bar"] = _delta_bar
    env.filters["p_phrase"] = _p_phrase
    env.filters["count"] = _count
    return env


def _signed(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return ("+" if value > 0 else "") + format_value(value)


def format_p_value(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value < 1e-4:
        return "< 0.0001"
    return f"{value:.4f}"


def _p_phrase(value: float | None) -> str:
    shown = format_p_value(value)
    return f"p {shown}" if shown.startswith("<") else f"p = {shown}"


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _delta_bar(delta: float | None, scale: float) -> str:
    """A small diverging bar: left of the axis when B is worse, right when it is better."""
    if delta is None or not scale:
        return ""
    width = min(50.0, abs(delta) / scale * 50)
    side = "pos" if delta > 0 else "neg"
    offset = 50 if delta > 0 else 50 - width
    return (
        f'<span class="delta-bar"><span class="delta-fill {side}" '
        f'style="left:{offset:.1f}%;width:{width:.1f}%"></span></span>'
    )


def comparison_pairs(
    runs: list[ReportRun], explicit: Sequence[tuple[str, str]]
) -> list[tuple[ReportRun, ReportRun]]:
    """The pairs asked for, plus every task with exactly two runs (older or first-named run = A)."""
    by_id = {run.run_id: run for run in runs}
    pairs = [(by_id[a], by_id[b]) for a, b in explicit]
    covered = {frozenset((a.run_id, b.run_id)) for a, b in pairs}
    by_task: dict[str, list[ReportRun]] = {}
    for run in runs:
        by_task.setdefault(run.task, []).append(run)
    for group in by_task.values():
        if len(group) == 2 and frozenset(r.run_id for r in group) not in covered:
            pairs.append((group[0], group[1]))
    return pairs


def render_report(
    store: Store,
    runs: Sequence[str] = (),
    compare: Sequence[tuple[str, str]] = (),
    title: str | None = None,
    query: RunQuery | None = None,
    chosen: Sequence[str] = (),
    prices: dict[str, Price] | None = None,
    live: tuple[str, float] | None = None,
) -> tuple[str, dict[str, int]]:
    """The report's HTML, and counts of what went into it. ``query`` narrows the runs (task, model,
    tag, exclusions); ``chosen`` names the run a leaderboard cell shows where it has several.
    ``prices`` (report.usage.load_prices) prices the token usage; ``live`` (the store's state and a
    number of seconds) makes the page ask ``mmlens view`` that often whether the store changed."""
    env = _environment()
    rows = select_runs(store, runs, query)
    chosen_ids = []
    for reference in chosen:
        run = resolve_run(store, reference)
        chosen_ids.append(run.run_id)
        if all(row.run_id != run.run_id for row in rows):
            rows.append(run)
    explicit: list[tuple[str, str]] = []
    for first, second in compare:
        run_a, run_b = resolve_run(store, first), resolve_run(store, second)
        if run_a.run_id == run_b.run_id:
            raise MmlensError(f"--compare needs two different runs, got {run_a.run_id} twice")
        for run in (run_a, run_b):
            if all(row.run_id != run.run_id for row in rows):
                rows.append(run)
        explicit.append((run_a.run_id, run_b.run_id))
    report_runs = load_runs(store, rows)
    comparisons: list[Comparison] = []
    for first_run, second_run in comparison_pairs(report_runs, explicit):
        try:
            comparisons.append(compare_runs(first_run, second_run))
        except MmlensError:
            if (first_run.run_id, second_run.run_id) in explicit:
                raise  # asked for: say why not; a pair found automatically is only left out
    sections = task_sections(report_runs)
    data, thumbnails = sample_data(report_runs, [s["name"] for s in sections], comparisons, store)
    comparison_views = []
    for comparison in comparisons:
        view = comparison_view(comparison)
        view["max_delta"] = max(
            (abs(c["delta"]) for c in comparison.categories if c["delta"] is not None), default=0.0
        )
        comparison_views.append(view)
    generated = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    models = {run.label for run in report_runs}
    html = env.get_template("report.html.j2").render(
        title=title or _default_title(report_runs),
        generated=generated,
        mmlens_version=mmlens.__version__,
        store_path=str(store.path),
        overview={
            "models": len(models),
            "tasks": len(sections),
            "runs": len(report_runs),
            "samples": sum(len(run.records) for run in report_runs),
        },
        leaderboard=leaderboard(report_runs, chosen_ids),
        unfinished=unfinished_runs(store, runs, query),
        tasks=sections,
        desiderata=desiderata_view(report_runs),
        reported=reported_view(report_runs),
        comparisons=comparison_views,
        provenance=[provenance_view(run) for run in report_runs],
        data_json=script_json(data),
        images_json=script_json(thumbnails),
        css=_static("report.css"),
        vendor_bundle=vendor_bundle(),
        report_js=_static("report.js"),
        usage=usage_view(report_runs, prices),
        live_state=live[0] if live else None,
        live_seconds=live[1] if live else None,
    )
    counts = {
        "runs": len(report_runs),
        "samples": sum(len(run.records) for run in report_runs),
        "images": sum(1 for t in thumbnails if t is not None),
        "comparisons": len(comparisons),
    }
    return html, counts


def _default_title(runs: list[ReportRun]) -> str:
    tasks = sorted({run.task for run in runs})
    shown = ", ".join(tasks[:3]) + (f" and {len(tasks) - 3} more" if len(tasks) > 3 else "")
    return f"Evaluation report: {shown}"


def build_report(
    store: Store | str | Path | None = None,
    runs: Sequence[str] = (),
    output: str | Path = "report.html",
    compare: Sequence[tuple[str, str]] = (),
    title: str | None = None,
    query: RunQuery | None = None,
    chosen: Sequence[str] = (),
    prices: dict[str, Price] | None = None,
    live: tuple[str, float] | None = None,
) -> ReportSummary:
    """Write the report for ``runs`` (ids or unique prefixes; none: every finished run) to ``output``."""
    if isinstance(store, Store):
        own_store, store_obj = False, store
    else:
        store_path = store_location(str(store), "store") if store is not None else default_store_path()
        if isinstance(store_path, Path) and not store_path.is_file():
            raise MmlensError(
                f"no store at {store_path}; evaluate a model first (mmlens run TASK) or pass --store"
            )
        own_store, store_obj = True, Store(store_path)
    try:
        html, counts = render_report(store_obj, runs, compare, title, query, chosen, prices, live)
    finally:
        if own_store:
            store_obj.close()
    path = Path(output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(html, encoding="utf-8")
        temporary.replace(path)
    except OSError as error:
        raise MmlensError(f"cannot write the report to {path}: {error}") from None
    return ReportSummary(path=path, bytes=path.stat().st_size, **counts)
