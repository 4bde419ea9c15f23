"""The report as a working tool, in headless Chromium: the sample table's question and response
columns, search over the prompt, downloads of the filtered samples (CSV, JSON), token usage and cost
per run and role (`--prices`), and `mmlens view` reloading while a run goes on."""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mmlens import api
from mmlens.cli import main
from mmlens.core.requests import Request, Response
from mmlens.models.base import Emit
from mmlens.models.constant import ConstantArgs, ConstantModel
from tests.fixtures.report_builders import build_task
from tests.report.conftest import TypedRuns

MAIN = "import sys; from mmlens.cli import main; sys.exit(main(sys.argv[1:]))"


class CountingModel(ConstantModel):
    """Answers ``text`` and reports usage: a prompt token per word of the messages, 2 completion tokens."""

    backend = "report_test_counting"

    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        text = self.args.text if isinstance(self.args, ConstantArgs) else "yes"
        for index, request in enumerate(requests):
            words = sum(len(message.text.split()) for message in request.messages)
            emit(index, Response(text=text, usage={"prompt_tokens": words, "completion_tokens": 2}))


def counting(text: str) -> CountingModel:
    return CountingModel("", ConstantArgs(text=text))


@dataclass
class Bench:
    store: Path
    folder: Path
    survey: api.RunResult
    debate: api.RunResult


@pytest.fixture(scope="module")
def bench(typed_runs: TypedRuns, tmp_path_factory: pytest.TempPathFactory) -> Bench:
    """survey (constant-like model with usage) and debate (the typed runs' judged task, model and
    judge both reporting usage) in a store of their own."""
    folder = tmp_path_factory.mktemp("working-tool")
    build_task(folder, "survey", count=30, distinct_images=20)
    store = folder / "store.sqlite"
    common: dict[str, Any] = {"store": store, "output_dir": folder / "runs"}
    survey = api.evaluate("survey", counting("yes"), include=[folder], **common)
    debate = api.evaluate(
        "debate",
        counting("no"),
        include=[typed_runs.folder],
        roles={"judge": counting("Verdict: incorrect")},
        **common,
    )
    return Bench(store, folder, survey, debate)


@pytest.fixture(scope="module")
def prices(bench: Bench) -> Path:
    path = bench.folder / "prices.yaml"
    path.write_text("report_test_counting: {input: 1000, output: 5000, currency: EUR}\n")
    return path


@pytest.fixture(scope="module")
def report(bench: Bench, prices: Path) -> Path:
    output = bench.folder / "report.html"
    assert main(["--store", str(bench.store), "report", "-o", str(output), "--prices", str(prices)]) == 0
    return output


@pytest.fixture
def page(browser: Any, report: Path) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(report.as_uri())
        page.wait_for_function("window.mmlens && window.mmlens.ready", timeout=15000)
        yield page
        assert errors == []
    finally:
        context.close()


def question_of(record: Any) -> str:
    users = [m for m in record.prompt if m["role"] == "user"]
    return "\n".join(p["text"] for p in users[-1]["content"] if p.get("type") == "text")


def test_the_table_shows_question_response_answer_target_and_score(page: Any, bench: Bench) -> None:
    page.select_option("#filter-task", "survey")
    headers = page.eval_on_selector_all("#sample-table thead th", "hs => hs.map(h => h.textContent)")
    assert headers == [
        "Image",
        "Sample",
        "Model",
        "Question",
        "Response",
        "Answer",
        "Target",
        "Outcome",
        "Score",
    ]
    records = {record.id: record for record in bench.survey.records}
    rows = page.locator("#sample-rows tr.sample-row")
    assert rows.count() == 30
    for k in range(3):
        row = rows.nth(k)
        record = records[row.get_attribute("data-id")]
        cell = row.locator('td[data-col="question"] .cell-text')
        assert cell.get_attribute("title") == question_of(record)
        assert row.locator('td[data-col="response"] .cell-text').inner_text() == record.response
        assert row.locator('td[data-col="answer"]').inner_text() == record.answer
        assert row.locator('td[data-col="target"]').inner_text() == record.target
        assert row.locator("td.num").inner_text() == ("1" if record.correct else "0")


def test_search_reaches_the_prompt_and_the_filtered_set_downloads(page: Any, bench: Bench) -> None:
    page.select_option("#filter-task", "survey")
    # "13th" is only in the text of sample 13's question: not in its id, response, answer or target
    page.fill("#filter-query", "the 13th one")
    page.wait_for_function("document.getElementById('sample-count').textContent.includes('of 1 samples')")
    assert page.locator("#sample-rows tr.sample-row").get_attribute("data-id") == "survey-13"

    page.fill("#filter-query", "")
    page.click('#filter-outcome .chip[data-outcome="wrong"]')
    wrong = [r for r in bench.survey.records if r.correct is False]
    assert 0 < len(wrong) < 30
    with page.expect_download() as download_info:
        page.click('[data-export="csv"]')
    download = download_info.value
    assert download.suggested_filename == "mmlens-samples.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert [row["id"] for row in rows] == [r.id for r in wrong]  # every page, in the table's order
    first = rows[0]
    assert first["question"] == question_of(wrong[0]) and first["response"] == wrong[0].response
    assert first["outcome"] == "wrong" and first["score"] == "0" and first["run"] == bench.survey.run_id
    assert question_of(wrong[0]) in first["prompt"]

    with page.expect_download() as download_info:
        page.click('[data-export="json"]')
    exported = json.loads(Path(download_info.value.path()).read_text(encoding="utf-8"))
    assert [row["id"] for row in exported] == [r.id for r in wrong]
    assert exported[0]["target"] == wrong[0].target and exported[0]["score"] == 0


def test_token_usage_and_cost_per_run_and_role(page: Any, bench: Bench) -> None:
    expected_total = 0.0
    for result in (bench.survey, bench.debate):
        by_role = result.results["provenance"]["requests"]["by_role"]
        assert set(by_role) == ({"model", "judge"} if result is bench.debate else {"model"})
        for role, counts in by_role.items():
            row = page.locator(f'#usage-table tr[data-run="{result.run_id}"][data-role="{role}"]')
            usage = counts["usage"]
            assert row.locator('[data-field="prompt_tokens"]').inner_text() == f"{usage['prompt_tokens']:,}"
            assert (
                row.locator('[data-field="completion_tokens"]').inner_text()
                == f"{usage['completion_tokens']:,}"
            )
            cost = (usage["prompt_tokens"] * 1000 + usage["completion_tokens"] * 5000) / 1e6
            assert float(row.locator('[data-field="cost"]').get_attribute("data-value")) == pytest.approx(
                cost
            )
            assert row.locator('[data-field="cost"]').inner_text() == f"{cost:.4f} EUR"
            expected_total += cost
    total = page.locator('#usage-table [data-field="total"]').inner_text()
    assert total == f"{expected_total:.4f} EUR"


def test_a_model_without_a_price_has_no_cost_and_a_bad_price_file_is_one_line(
    bench: Bench, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "prices.json"
    other.write_text(json.dumps({"openai:gpt-4o*": {"input": 2.5, "output": 10}}))
    output = tmp_path / "report.html"
    assert main(["--store", str(bench.store), "report", "-o", str(output), "--prices", str(other)]) == 0
    html = output.read_text()
    assert html.count(">no price<") == 3 and 'data-field="total"' not in html
    assert main(["--store", str(bench.store), "report", "-o", str(output)]) == 0  # no prices: no cost column
    assert "Pass <code>--prices FILE</code>" in output.read_text()
    capsys.readouterr()
    bad = tmp_path / "bad.yaml"
    bad.write_text("report_test_counting: {input: 1, outptu: 2}\n")
    assert main(["--store", str(bench.store), "report", "-o", str(output), "--prices", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "report_test_counting" in err and "outptu" in err


def test_view_reloads_while_a_run_goes_on(bench: Bench, browser: Any, tmp_path: Path) -> None:
    store = tmp_path / "live.sqlite"
    common: dict[str, Any] = {"store": store, "output_dir": tmp_path / "runs", "include": [bench.folder]}
    first = api.evaluate("survey", counting("yes"), limit=5, **common)
    process = subprocess.Popen(
        [sys.executable, "-c", MAIN, "--store", str(store), "view", "--port", "0", "--refresh", "0.3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    context = browser.new_context()
    try:
        assert process.stdout is not None
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            match = re.search(r"(http://127\.0\.0\.1:\d+/\S+)", line)
            url = match.group(1) if match else None
        assert url is not None
        page = context.new_page()
        page.goto(url)
        page.wait_for_function("window.mmlens && window.mmlens.ready", timeout=15000)
        ids = "JSON.parse(document.getElementById('mmlens-data').textContent).runs.map(r => r.id)"
        assert page.evaluate(ids) == [first.run_id]
        second = api.evaluate("survey", counting("no"), limit=5, **common)  # a new run finishes
        page.wait_for_function(
            f"window.mmlens && window.mmlens.ready && {ids}.includes({json.dumps(second.run_id)})",
            timeout=20000,
        )
        assert sorted(page.evaluate(ids)) == sorted([first.run_id, second.run_id])
    finally:
        context.close()
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
