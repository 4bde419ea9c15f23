"""The `report` and `view` commands (registered with the CLI's command table; see mmlens.cli.registry)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from mmlens.cli.registry import command
from mmlens.cli.run_filters import add_filter_options, query_from


def _add_report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "runs",
        nargs="*",
        metavar="RUN",
        help="run ids, names or id prefixes (a prefix selects every run it matches; default: every "
        "finished run in the store)",
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        action="append",
        default=[],
        metavar=("RUN_A", "RUN_B"),
        help="compare two runs of one task (A = baseline); repeatable. Tasks with exactly "
        "two runs in the report are compared without asking",
    )
    parser.add_argument("--title", help="the report's title")
    add_filter_options(parser)
    parser.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="RUN",
        dest="show_run",
        help="where a leaderboard cell has several runs, show this one (id, name or unique prefix); "
        "repeatable",
    )
    parser.add_argument(
        "--prices",
        metavar="FILE",
        help="a price table (YAML/JSON: model label or glob -> {input: ..., output: ...} per million "
        "tokens) for the cost of each run and role; mmlens ships no prices",
    )


def _add_report_arguments(parser: argparse.ArgumentParser) -> None:
    _add_report_options(parser)
    parser.add_argument("-o", "--output", default="report.html", help="the HTML file (default %(default)s)")


def _add_view_arguments(parser: argparse.ArgumentParser) -> None:
    _add_report_options(parser)
    parser.add_argument(
        "--port", type=_port, default=8765, help="port on 127.0.0.1; 0 = any free port (default %(default)s)"
    )
    parser.add_argument(
        "--refresh",
        type=_seconds,
        default=2.0,
        metavar="SECONDS",
        help="how often the page asks whether the store changed (a run going on) and reloads if so; "
        "0 = never (default %(default)s)",
    )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0-65535)")
    return port


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= seconds <= 3600:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 3600 seconds")
    return seconds


def _prices(args: argparse.Namespace) -> Any:
    if not args.prices:
        return None
    from mmlens.report.usage import load_prices

    return load_prices(args.prices)


def _store(args: argparse.Namespace) -> Any:
    """The store, opened read-only: a report writes nothing to it, so read-only media work."""
    from mmlens.store.sqlite import Store

    return Store(args.store, read_only=True)


def _state(args: argparse.Namespace) -> str:
    """A server store's state (mmlens view rebuilds when it changes)."""
    with _store(args) as store:
        state: str = store.state()
        return state


def _describe(summary: Any) -> str:
    size = summary.bytes / 1e6
    return (
        f"{summary.runs} run(s), {summary.samples:,} samples, {summary.images:,} thumbnails, "
        f"{summary.comparisons} comparison(s); {size:.1f} MB"
    )


@command(
    "report",
    "build one self-contained HTML file: leaderboard, charts, sample browser, comparisons",
    _add_report_arguments,
)
def report_command(args: argparse.Namespace) -> int:
    from mmlens.report.build import build_report

    prices = _prices(args)
    with _store(args) as store:
        summary = build_report(
            store,
            args.runs,
            args.output,
            [tuple(pair) for pair in args.compare],
            args.title,
            query_from(args),
            args.show_run,
            prices,
        )
    print(f"wrote {summary.path}: {_describe(summary)}")
    return 0


@command("view", "build the report and serve it on 127.0.0.1 until Ctrl-C", _add_view_arguments)
def view_command(args: argparse.Namespace) -> int:
    from mmlens.report.build import build_report
    from mmlens.report.serve import LiveReport, serve_report

    prices = _prices(args)
    with tempfile.TemporaryDirectory(prefix="mmlens-view-") as folder:
        output = Path(folder) / "report.html"
        with _store(args) as store:
            store_path = store.path if isinstance(store.path, Path) else lambda: _state(args)

        def rebuild(state: str) -> Any:
            with _store(args) as store:
                return build_report(
                    store,
                    args.runs,
                    output,
                    [tuple(pair) for pair in args.compare],
                    args.title,
                    query_from(args),
                    args.show_run,
                    prices,
                    (state, args.refresh) if args.refresh else None,
                )

        live = LiveReport(store_path, rebuild)
        live.build()
        print(f"built the report: {_describe(live.last)}", flush=True)
        serve_report(output, args.port, live=live if args.refresh else None)
    return 0
