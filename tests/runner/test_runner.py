"""The runner end to end: alignment through batching, de-duplication, caching and resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.plugins import load_plugins
from mmlens.store.sqlite import Store
from tests.conftest import PLUGINS
from tests.fixtures.numbers_bench import build_numbers_task
from tests.fixtures.store_probe import stored_responses

ORACLE = str(PLUGINS / "pixel_oracle.py")


@pytest.fixture(autouse=True)
def oracle_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMLENS_PLUGINS", ORACLE)
    load_plugins()


def test_every_question_reaches_the_model_with_its_own_image(tmp_path: Path) -> None:
    task = build_numbers_task(tmp_path / "bench", count=150, duplicates=12)
    result = api.evaluate(
        "numbers",
        "pixel_oracle",
        model_args="batch_size=8",
        include=[task],
        store=tmp_path / "s.sqlite",
        output_dir=tmp_path / "runs",
    )
    assert result.results["counts"]["scored"] == 162
    assert result.results["metrics"]["acc"]["value"] == 1.0
    assert all(r.scores["acc"] == 1.0 for r in result.records)
    # 12 duplicated samples share their original's image bytes and question: one request each.
    assert result.stats is not None and result.stats.unique_requests == 150
    assert [r.id for r in result.records][:3] == ["n0", "n1", "n2"]


def test_a_swapped_image_is_caught(tmp_path: Path) -> None:
    """The alignment check can fail: swapping two images on disk makes exactly those samples wrong."""
    task = build_numbers_task(tmp_path / "bench", count=20, duplicates=0)
    images = tmp_path / "bench" / "images"
    (images / "4.png").rename(images / "tmp.png")
    (images / "6.png").rename(images / "4.png")
    (images / "tmp.png").rename(images / "6.png")
    result = api.evaluate(
        "numbers", "pixel_oracle", include=[task], store=tmp_path / "s.sqlite", output_dir=None
    )
    wrong = sorted(r.id for r in result.records if r.scores["acc"] == 0)
    assert wrong == ["n4", "n6"]


def test_rerun_is_served_from_the_cache_and_writes_outputs(tmp_path: Path) -> None:
    task = build_numbers_task(tmp_path / "bench", count=40, duplicates=0)
    log = tmp_path / "computed.log"
    kwargs = dict(
        model_args=f"log={log}", include=[task], store=tmp_path / "s.sqlite", output_dir=tmp_path / "runs"
    )
    first = api.evaluate("numbers", "pixel_oracle", **kwargs)
    second = api.evaluate("numbers", "pixel_oracle", **kwargs)
    assert first.stats and second.stats
    assert (first.stats.computed, second.stats.computed, second.stats.cached) == (40, 0, 40)
    assert len(log.read_text().splitlines()) == 40
    assert second.results["metrics"] == first.results["metrics"]
    assert second.run_id == first.run_id
    run_dir = second.run_dir
    assert run_dir is not None
    results = json.loads((run_dir / "results.json").read_text())
    provenance = results["provenance"]
    for key in ("mmlens_version", "git_commit", "run_id", "seed"):
        assert key in provenance
    assert provenance["task"]["version_hash"] and provenance["dataset"]["fingerprint"]
    assert provenance["model"]["fingerprint"]["backend"] == "pixel_oracle"
    assert results["metrics"]["acc"]["ci95"][0] <= 1.0 <= results["metrics"]["acc"]["ci95"][1] + 1e-12
    lines = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert len(lines) == 40
    first_line = lines[0]
    assert (
        first_line["id"] == "n0" and first_line["response"] == "Yes" and first_line["extraction"] == "exact"
    )
    image_part = first_line["prompt"][0]["content"][0]
    assert image_part["type"] == "image" and image_part["image"].startswith("sha256:")


def test_changing_the_model_fingerprint_misses_the_cache(tmp_path: Path) -> None:
    task = build_numbers_task(tmp_path / "bench", count=10, duplicates=0)
    store = tmp_path / "s.sqlite"
    api.evaluate("numbers", "constant", model_args="text=yes", include=[task], store=store, output_dir=None)
    other = api.evaluate(
        "numbers", "constant", model_args="text=no", include=[task], store=store, output_dir=None
    )
    assert other.stats is not None and other.stats.computed == 10
    assert other.results["metrics"]["acc"]["value"] == 0.5


def test_failed_requests_are_counted_not_cached_and_retried(tmp_path: Path) -> None:
    task = build_numbers_task(tmp_path / "bench", count=10, duplicates=0)
    kwargs = dict(include=[task], store=tmp_path / "s.sqlite", output_dir=None)
    result = api.evaluate("numbers", "pixel_oracle", model_args="fail_numbers=4", **kwargs)
    counts = result.results["counts"]
    assert counts["errors"] == 2 and counts["scored"] == 10 and result.results["complete"] is False
    failed = [r for r in result.records if r.extraction == "error"]  # n3 and n4 ask about the number 4
    assert [r.id for r in failed] == ["n3", "n4"]
    assert all(r.error == "simulated server failure" and r.scores["acc"] == 0.0 for r in failed)
    rerun = api.evaluate("numbers", "pixel_oracle", **kwargs)
    assert rerun.stats is not None and (rerun.stats.cached, rerun.stats.computed) == (8, 2)
    assert rerun.results["complete"] is True and rerun.results["metrics"]["acc"]["value"] == 1.0


def test_an_unreadable_image_is_a_bad_sample_not_a_retried_request(tmp_path: Path) -> None:
    task = build_numbers_task(tmp_path / "bench", count=10, duplicates=0)
    (tmp_path / "bench" / "images" / "3.png").write_bytes(b"not a png")
    log = tmp_path / "computed.log"
    kwargs = dict(include=[task], store=tmp_path / "s.sqlite", output_dir=None)
    for _ in range(2):
        result = api.evaluate("numbers", "constant", **kwargs)
        counts = result.results["counts"]
        assert (counts["scored"], counts["bad_samples"], counts["errors"]) == (9, 1, 0)
        assert result.results["bad_samples"] == [
            {
                "id": "n3",
                "reason": f"unreadable image {tmp_path / 'bench' / 'images' / '3.png'}: "
                "not a recognised image format",
            }
        ]
    oracle = api.evaluate("numbers", "pixel_oracle", model_args=f"log={log}", **kwargs)
    assert oracle.results["counts"]["bad_samples"] == 1 and len(log.read_text().splitlines()) == 9


def _run_cli(args: list[str], env: dict[str, str], **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mmlens", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )  # type: ignore[call-overload]


def test_resume_after_kill_9_gives_identical_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = build_numbers_task(tmp_path / "bench", count=200, duplicates=0)
    env = {**os.environ, "MMLENS_PLUGINS": ORACLE, "MMLENS_HOME": str(tmp_path / "home")}
    log = tmp_path / "computed.log"
    store = tmp_path / "interrupted.sqlite"
    args = [
        "--store",
        str(store),
        "run",
        "numbers",
        "--include",
        str(task),
        "--model",
        "pixel_oracle",
        "--model-args",
        f"batch_size=5,delay=0.04,log={log}",
        "--output-dir",
        str(tmp_path / "runs"),
    ]
    process = _run_cli(args, env)
    deadline = time.monotonic() + 60
    while stored_responses(store) < 40 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    saved = stored_responses(store)
    assert 40 <= saved < 200
    computed_before = len(log.read_text().splitlines())
    from mmlens.cli import main

    assert main(["--store", str(store), "show"]) == 0
    assert "killed" in capsys.readouterr().out
    assert main(["--store", str(store), "show", "numbers"]) == 0
    assert f"killed; rerun `mmlens {' '.join(args[:3])}" in capsys.readouterr().out

    finished = _run_cli(args, env)
    out, err = finished.communicate(timeout=120)
    assert finished.returncode == 0, err
    computed_after = len(log.read_text().splitlines()) - computed_before
    assert computed_after == 200 - saved  # nothing already stored was computed again
    assert stored_responses(store) == 200

    clean_store = tmp_path / "clean.sqlite"
    clean_args = [a if a != str(store) else str(clean_store) for a in args]
    clean_args[clean_args.index("--output-dir") + 1] = str(tmp_path / "clean-runs")
    clean = _run_cli(clean_args, env)
    clean.communicate(timeout=120)
    resumed = json.loads(next((tmp_path / "runs").glob("*/results.json")).read_text())
    uninterrupted = json.loads(next((tmp_path / "clean-runs").glob("*/results.json")).read_text())
    assert resumed["metrics"] == uninterrupted["metrics"]
    assert resumed["breakdown"] == uninterrupted["breakdown"]
    assert resumed["metrics"]["acc"]["value"] == 1.0
    resumed_samples = (next((tmp_path / "runs").glob("*/samples.jsonl"))).read_text()
    assert resumed_samples == next((tmp_path / "clean-runs").glob("*/samples.jsonl")).read_text()


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path: Path) -> None:
    task = build_numbers_task(tmp_path / "bench", count=200, duplicates=0)
    env = {**os.environ, "MMLENS_PLUGINS": ORACLE, "MMLENS_HOME": str(tmp_path / "home")}
    store = tmp_path / "s.sqlite"
    args = [
        "--store",
        str(store),
        "run",
        "numbers",
        "--include",
        str(task),
        "--model",
        "pixel_oracle",
        "--model-args",
        "batch_size=5,delay=0.04",
        "--output-dir",
        str(tmp_path / "runs"),
    ]
    process = _run_cli(args, env)
    deadline = time.monotonic() + 60
    while stored_responses(store) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "Traceback" not in err
    assert "responses are saved" in err and "to resume" in err and "mmlens" in err
    with Store(store) as db:
        runs = db.find_runs("numbers")
        assert [r.status for r in runs] == ["interrupted"]


def test_a_task_needing_likelihoods_is_refused_by_a_generate_only_backend(tmp_path: Path) -> None:
    from mmlens.core.errors import MmlensError

    task = build_numbers_task(tmp_path / "bench", count=4, duplicates=0)
    rows = [json.loads(line) for line in (tmp_path / "bench" / "numbers.jsonl").read_text().splitlines()]
    for row in rows:
        row["choices"], row["answer"] = ["yes", "no"], "A" if row["answer"] == "yes" else "B"
    (tmp_path / "bench" / "numbers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ranked = tmp_path / "bench" / "ranked.yaml"
    ranked.write_text(
        task.read_text()
        .replace("name: numbers", "name: ranked")
        .replace("inferencer: {type: generate, max_new_tokens: 4}", "inferencer: {type: rank_choices}")
    )
    with pytest.raises(
        MmlensError,
        match="model pixel_oracle cannot answer loglikelihood requests, which task "
        "ranked sends .its inferencer is 'rank_choices'",
    ):
        api.evaluate("ranked", "pixel_oracle", include=[ranked], store=tmp_path / "s.sqlite", output_dir=None)
    with Store(tmp_path / "s.sqlite") as store:
        assert store.find_runs() == []  # refused before the run began
    ranked_result = api.evaluate(
        "ranked", "constant", include=[ranked], store=tmp_path / "s.sqlite", output_dir=None
    )
    assert ranked_result.results["counts"]["scored"] == 4
