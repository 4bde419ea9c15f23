"""The report opened from file:// in headless Chromium: what a user sees must equal what the runs computed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mmlens.cli import main
from mmlens.report.build import format_p_value
from mmlens.report.payload import format_interval, format_value
from mmlens.report.stats import mcnemar_exact
from tests.report.conftest import ARTIFACTS, Runs, TypedRuns

TEXTS = {"yes": "constant (text=yes)", "no": "constant (text=no)", "maybe": "constant (text=maybe)"}


@pytest.fixture(scope="module")
def report(runs: Runs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every run, with survey's yes and no runs compared explicitly (quiz has two runs: compared anyway)."""
    output = tmp_path_factory.mktemp("report") / "report.html"
    yes_run, no_run = runs.run("survey", "yes").run_id, runs.run("survey", "no").run_id
    assert main(["--store", str(runs.store), "report", "-o", str(output), "--compare", yes_run, no_run]) == 0
    return output


class Page:
    """A page with the report loaded, recording console errors and every request it made."""

    def __init__(self, page: Any, url: str) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", lambda request: self.requests.append(request.url))
        page.goto(url)
        page.wait_for_function("window.mmlens && window.mmlens.ready", timeout=15000)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def count_text(self) -> str:
        return str(self.page.inner_text("#sample-count"))


@pytest.fixture
def page(browser: Any, report: Path) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield Page(context.new_page(), report.as_uri())
    finally:
        context.close()


def outcome(record: dict[str, Any]) -> str:
    if record["extraction"] == "error":
        return "error"
    if record["extraction"] == "failed":
        return "failed"
    return "right" if record["scores"]["acc"] == 1 else "wrong"


def test_leaderboard_values_equal_results_json_and_columns_sort(page: Page, runs: Runs) -> None:
    for (task, text), result in runs.results.items():
        cell = page.page.locator(f'#leaderboard-table tr[data-model="{TEXTS[text]}"] td[data-task="{task}"]')
        entry = result.results["metrics"][result.results["primary_metric"]]
        assert float(cell.get_attribute("data-value")) == entry["value"]
        assert cell.locator(".value").inner_text() == format_value(entry["value"])
        assert cell.locator(".ci").inner_text() == format_interval(entry["ci95"])
        assert cell.get_attribute("data-run") == result.run_id
    assert (
        page.page.locator(
            '#leaderboard-table tr[data-model="constant (text=maybe)"] td[data-task="quiz"]'
        ).inner_text()
        == "—"
    )

    def order() -> list[str]:
        return page.page.eval_on_selector_all(
            "#leaderboard-table tbody tr", "rows => rows.map(r => r.dataset.model)"
        )

    by_survey = sorted(TEXTS, key=lambda t: runs.run("survey", t).results["metrics"]["acc"]["value"])
    header = page.page.locator('#leaderboard-table th[data-task="survey"]')
    header.click()
    assert (
        order() == [TEXTS[t] for t in reversed(by_survey)]
        and header.get_attribute("aria-sort") == "descending"
    )
    header.click()
    assert order() == [TEXTS[t] for t in by_survey] and header.get_attribute("aria-sort") == "ascending"
    page.page.locator('#leaderboard-table th[data-task="quiz"]').click()
    assert order()[-1] == TEXTS["maybe"]  # no quiz run: last whichever the direction
    page.page.locator('#leaderboard-table th[data-task="quiz"]').click()
    assert order()[-1] == TEXTS["maybe"]


def test_filtering_by_outcome_and_category_shows_the_right_counts(page: Page, runs: Runs) -> None:
    p = page.page
    records = runs.records("survey", "yes")
    wrong = [r["id"] for r in records if outcome(r) == "wrong"]
    assert 0 < len(wrong) < len(records)
    p.select_option("#filter-task", "survey")
    p.select_option("#filter-run", label=TEXTS["yes"])
    p.click('#filter-outcome .chip[data-outcome="wrong"]')
    assert page.count_text() == f"Showing 1–{len(wrong)} of {len(wrong)} samples"
    rows = p.locator("#sample-rows tr.sample-row")
    assert rows.count() == len(wrong)
    assert sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.id)")) == sorted(wrong)
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.outcome)")) == {"wrong"}

    colors_wrong = [r["id"] for r in records if outcome(r) == "wrong" and r["category"][0] == "colors"]
    p.select_option("#filter-category", "colors")
    assert page.count_text() == f"Showing 1–{len(colors_wrong)} of {len(colors_wrong)} samples"
    p.select_option("#filter-category", "colors/warm")
    warm_wrong = [r for r in records if outcome(r) == "wrong" and r["category"] == ["colors", "warm"]]
    assert page.count_text().endswith(f"of {len(warm_wrong)} samples")

    p.select_option("#filter-category", "")
    p.select_option("#filter-run", label=TEXTS["maybe"])
    failed = p.locator('#filter-outcome .chip[data-outcome="failed"]')
    assert failed.locator(".count").inner_text() == "30"
    failed.click()
    assert page.count_text() == "Showing 1–30 of 30 samples"


def test_sample_list_is_paged(page: Page, runs: Runs) -> None:
    total = sum(len(result.records) for result in runs.results.values())
    assert total > 100
    assert page.count_text() == f"Showing 1–50 of {total} samples"
    assert page.page.locator("#sample-rows tr.sample-row").count() == 50
    page.page.click('#pager-top button[data-page="next"]')
    assert page.count_text() == f"Showing 51–100 of {total} samples"
    page.page.fill("#pager-bottom .page-input", "3")
    page.page.dispatch_event("#pager-bottom .page-input", "change")
    assert page.count_text() == f"Showing 101–{total} of {total} samples"
    assert page.page.locator("#sample-rows tr.sample-row").count() == total - 100
    page.page.fill("#filter-query", "survey-29")
    page.page.wait_for_function(
        "document.querySelector('#sample-count').textContent.startsWith('Showing 1–3 ')"
    )


def test_opening_a_sample_shows_its_images_prompt_and_response(page: Page, runs: Runs) -> None:
    p = page.page
    record = next(r for r in runs.records("survey", "yes") if r["id"] == "survey-6")
    image_parts = [part for part in record["prompt"][0]["content"] if part["type"] == "image"]
    assert len(image_parts) == 2
    p.fill("#filter-query", "survey-6")
    p.select_option("#filter-task", "survey")
    p.select_option("#filter-run", label=TEXTS["yes"])
    p.wait_for_function("document.querySelectorAll('#sample-rows tr.sample-row').length === 1")
    p.click('#sample-rows tr.sample-row[data-id="survey-6"]')
    detail = p.locator('#sample-rows tr.detail[data-id="survey-6"]')
    detail.scroll_into_view_if_needed()
    images = detail.locator(".images img")
    assert images.count() == 2
    sizes = images.evaluate_all("imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
    assert all(complete and 0 < width <= 160 and 0 < height <= 160 for complete, width, height in sizes)
    question = next(part["text"] for part in record["prompt"][0]["content"] if part["type"] == "text")
    assert question in detail.locator(".message-body").inner_text()
    assert detail.locator("pre.response").inner_text() == record["response"]
    fields = detail.locator("dl.fields").inner_text()
    assert f"target\n{record['target']}" in fields and f"extracted answer\n{record['answer']}" in fields
    assert "extraction\nexact" in fields
    assert detail.locator(".others tbody tr").count() == 2  # the no and maybe runs answered it too
    ARTIFACTS.mkdir(exist_ok=True)
    detail.screenshot(path=str(ARTIFACTS / "report-sample.png"))


@pytest.mark.parametrize(("task", "explicit"), [("survey", True), ("quiz", False)])
def test_comparison_shows_flips_and_the_mcnemar_p_value(
    page: Page, runs: Runs, task: str, explicit: bool
) -> None:
    p = page.page
    a = {r["id"]: r for r in runs.records(task, "yes")}
    b = {r["id"]: r for r in runs.records(task, "no")}
    right_to_wrong = {i for i in a if a[i]["scores"]["acc"] == 1 and b[i]["scores"]["acc"] == 0}
    wrong_to_right = {i for i in a if a[i]["scores"]["acc"] == 0 and b[i]["scores"]["acc"] == 1}
    card = p.locator("article.comparison").filter(has_text=f"{task}:")
    assert card.count() == 1
    assert card.locator('[data-field="right_to_wrong"]').inner_text() == f"{len(right_to_wrong):,}"
    assert card.locator('[data-field="wrong_to_right"]').inner_text() == f"{len(wrong_to_right):,}"
    expected_p = mcnemar_exact(len(right_to_wrong), len(wrong_to_right))
    assert card.locator('[data-field="p_value"]').inner_text() == format_p_value(expected_p)
    card.locator('button[data-flip="wrong_to_right"]').click()
    assert not p.locator("#active-set").is_hidden()
    # Both runs' answers to each flipped sample are listed.
    assert page.count_text() == f"Showing 1–{2 * len(wrong_to_right)} of {2 * len(wrong_to_right)} samples"
    shown = p.locator("#sample-rows tr.sample-row").evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert set(shown) == wrong_to_right
    p.click("#active-set button")
    assert p.locator("#active-set").is_hidden()


def test_category_charts_render_bars_with_error_bars_and_a_radar(page: Page, runs: Runs) -> None:
    p = page.page
    p.wait_for_function("window.mmlens.chartsReady === true", timeout=20000)
    survey = p.locator('article.task[data-task="survey"]')
    survey.scroll_into_view_if_needed()
    bars = survey.locator(".chart-bars svg .layer_0_marks path")
    assert bars.count() == 3 * 3  # 3 top-level categories x 3 models
    assert survey.locator(".chart-bars svg .layer_1_marks line").count() == 3 * 3  # one CI rule per bar
    assert survey.locator(".chart-radar svg .mark-line path").count() >= 3  # one outline per model (+ grid)
    survey.locator('.level-buttons button[data-depth="2"]').click()
    p.wait_for_function(
        "document.querySelector('article.task[data-task=survey] .chart-bars').dataset.renderedDepth === '2'"
    )
    assert survey.locator(".chart-bars svg .layer_0_marks path").count() == 6 * 3
    quiz_bars = p.locator('article.task[data-task="quiz"] .chart-bars svg .layer_0_marks path')
    assert quiz_bars.count() == 3 * 2


def test_page_is_self_contained_and_error_free(page: Page) -> None:
    p = page.page
    p.wait_for_function("window.mmlens.chartsReady === true", timeout=20000)
    p.click("#sample-rows tr.sample-row >> nth=0")
    assert page.errors == []
    assert all(url.startswith(("file:", "data:")) for url in page.requests), page.requests
    ARTIFACTS.mkdir(exist_ok=True)
    p.evaluate("window.scrollTo(0, 0)")
    p.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


@pytest.fixture(scope="module")
def typed_report(typed_runs: TypedRuns, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The judged dialogue, ranking and incomplete runs (see conftest.typed_runs)."""
    output = tmp_path_factory.mktemp("typed-report") / "report.html"
    assert main(["--store", str(typed_runs.store), "report", "-o", str(output)]) == 0
    return output


@pytest.fixture
def typed_page(browser: Any, typed_report: Path) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield Page(context.new_page(), typed_report.as_uri())
    finally:
        context.close()


def open_detail(page: Page, task: str, sample_id: str, run_label: str) -> Any:
    p = page.page
    p.select_option("#filter-task", task)
    p.select_option("#filter-run", label=run_label)
    p.fill("#filter-query", sample_id)
    p.wait_for_function("document.querySelectorAll('#sample-rows tr.sample-row').length === 1")
    p.click(f'#sample-rows tr.sample-row[data-id="{sample_id}"]')
    detail = p.locator(f'#sample-rows tr.detail[data-id="{sample_id}"]')
    detail.scroll_into_view_if_needed()
    return detail


def test_a_judged_dialogue_shows_every_round_with_its_prompt_and_raw_reply(
    typed_page: Page, typed_runs: TypedRuns
) -> None:
    record = typed_runs.results["debate_default"].records[1]
    assert len(record.exchanges) == 3
    detail = open_detail(typed_page, "debate", record.id, "constant (text=yes)")
    exchanges = detail.locator(".rounds .exchange")
    assert exchanges.count() == 3
    for index, exchange in enumerate(record.exchanges):
        shown = exchanges.nth(index)
        assert shown.is_visible()
        assert shown.get_attribute("data-role") == exchange.role
        assert shown.get_attribute("data-round") == str(exchange.round)
        summary = shown.locator("summary").inner_text()
        assert summary.startswith(f"{exchange.role} · round {exchange.round} · generate")
        assert shown.locator("pre.exchange-response").inner_text() == exchange.response
        assert shown.locator("pre.exchange-response").is_visible()
        bodies = shown.locator(".message-body").all_inner_texts()
        sent = [part["text"] for message in exchange.prompt for part in message["content"]]
        assert [body.strip() for body in bodies] == sent
    judge = exchanges.nth(2)
    assert judge.locator("pre.exchange-response").inner_text() == "Verdict: correct"
    assert "Judge: is 'yes' the answer 'no'?" in judge.locator(".message-body").inner_text()
    assert exchanges.nth(1).locator(".message-role").all_inner_texts() == ["USER", "ASSISTANT", "USER"]
    fields = detail.locator("dl.fields").inner_text()
    assert "extraction\njudge" in fields and "correct\nyes" in fields
    ARTIFACTS.mkdir(exist_ok=True)
    detail.screenshot(path=str(ARTIFACTS / "report-exchanges.png"))
    assert typed_page.errors == []


def test_option_scores_and_incomplete_runs_are_shown(typed_page: Page, typed_runs: TypedRuns) -> None:
    p = typed_page.page
    flaky = typed_runs.results["flaky"]
    cell = p.locator(f'#leaderboard-table td[data-run="{flaky.run_id}"]')
    assert cell.locator(".badge.incomplete").is_visible() and cell.get_attribute("data-complete") == "false"
    steady = typed_runs.results["steady"]
    assert p.locator(f'#leaderboard-table td[data-run="{steady.run_id}"] .badge').count() == 0
    record = typed_runs.results["pick"].records[1]
    assert record.option_scores is not None
    detail = open_detail(typed_page, "pick", record.id, "report_test_length")
    rows = detail.locator("table.option-scores tbody tr")
    assert rows.count() == 3
    assert rows.nth(2).get_attribute("class") == "chosen" and "chosen" in rows.nth(2).inner_text()
    cells = [rows.nth(i).locator("td").all_inner_texts() for i in range(3)]
    assert [row[1] for row in cells] == [f"{value:.4f}" for value in record.option_scores.logprobs]
    probabilities = record.option_scores.probabilities()
    assert [row[2] for row in cells] == [f"{value:.4f}" for value in probabilities]
    assert "normalization: sum" in detail.inner_text()
    assert detail.locator(".rounds").count() == 0  # one round, model only: no exchanges kept
    assert typed_page.errors == []
