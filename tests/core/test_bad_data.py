"""Bad data, said out loud (issue 15, items 8-10): every defect found by feeding mmlens odd data ends
in a named bad sample or one clear line, never in a traceback or a silently changed score."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmlens import api
from mmlens.cli import main
from mmlens.core.errors import ConfigError, DataError
from mmlens.core.parts import LoadContext
from mmlens.core.results import SampleRecord
from mmlens.core.task import TaskCatalog
from mmlens.metrics.aggregation import category_nodes, mean_aggregate
from mmlens.runner.plan import load_samples
from tests.fixtures.benchmark_data import image_cell, write_parquet

MAIN = "import sys; from mmlens.cli import main; sys.exit(main(sys.argv[1:]))"


def jsonl_task(
    folder: Path, name: str = "toy", rows: list[dict] | None = None, raw: str | None = None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "toy.yaml").write_text(
        f"name: {json.dumps(name)}\ndescription: A toy.\nid_scheme: 'the \"id\" field'\n"
        "scenario: {type: jsonl, path: rows.jsonl}\nmetric: {type: accuracy}\n",
        encoding="utf-8",
    )
    text = raw if raw is not None else "".join(json.dumps(row) + "\n" for row in rows or [])
    (folder / "rows.jsonl").write_text(text, encoding="utf-8")
    return folder


def load(task_name: str, data: Path, include: list[Path] | None = None) -> tuple[list, list]:
    task = TaskCatalog(include).load(task_name)
    return load_samples(task, LoadContext(task_name, task.task_dir, str(data)))


# --- item 8: a corrupt parquet page, null ids, duplicated rows, "/" in category names ------------


def test_a_corrupt_parquet_page_is_one_line_naming_the_file(tmp_path: Path) -> None:
    rows = [
        {"question_id": f"existence/{i:03d}.png", "image": image_cell(i), "question": f"Is it {i}?",
         "answer": "Yes", "category": "existence"}
        for i in range(300)
    ]  # fmt: skip
    path = tmp_path / "mme.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=50, compression="none")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4000] = b"\xab" * 4000  # a data page, the footer intact
    path.write_bytes(bytes(data))
    assert pq.ParquetFile(path).metadata.num_rows == 300  # the file still opens
    with pytest.raises(DataError, match=rf"parquet file {path} is corrupt"):
        load("mme", path)
    process = subprocess.run(
        [sys.executable, "-c", MAIN, "plan", "mme", "--data", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert process.returncode == 2
    assert process.stderr.count("\n") == 1 and str(path) in process.stderr, process.stderr


def mme_rows(question_ids: list[str | None]) -> list[dict]:
    return [
        {"question_id": qid, "image": image_cell(i), "question": f"Is there thing {i}?",
         "answer": "Yes" if i % 2 == 0 else "No", "category": "existence"}
        for i, qid in enumerate(question_ids)
    ]  # fmt: skip


def test_a_null_question_id_is_a_bad_sample_not_one_merged_group(tmp_path: Path) -> None:
    path = write_parquet(
        mme_rows(["existence/a.png", "existence/a.png", None, None, None]), tmp_path / "m.parquet"
    )
    samples, bad = load("mme", path)
    assert [s.id for s in samples] == ["existence/a.png/0", "existence/a.png/1"]
    assert {s.group for s in samples} == {"existence/a.png"}
    assert [b.id for b in bad] == ["row2", "row3", "row4"]
    assert all("no question_id" in b.reason and str(path) in b.reason for b in bad)


def test_a_duplicated_mme_row_is_a_bad_sample_not_scored_twice(tmp_path: Path) -> None:
    rows = mme_rows(["existence/a.png", "existence/a.png"])
    path = write_parquet([*rows, rows[1]], tmp_path / "m.parquet")
    samples, bad = load("mme", path)
    assert [s.id for s in samples] == ["existence/a.png/0", "existence/a.png/1"]
    assert [(b.id, b.reason) for b in bad] == [("row2", f"{path} row 2: repeats row 1")]


def test_a_duplicated_mme_eval_tool_line_is_a_bad_sample(tmp_path: Path) -> None:
    lines = ["a.png\tIs it red?\tYes", "a.png\tIs it blue?\tNo", "a.png\tIs it blue?\tNo"]
    (tmp_path / "color.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    samples, bad = load("mme", tmp_path)
    assert [s.id for s in samples] == ["color/a.png/0", "color/a.png/1"]
    assert [(b.id, b.reason) for b in bad] == [
        ("color:3", f"{tmp_path / 'color.txt'}, line 3: repeats line 2")
    ]


def test_a_null_pope_question_id_is_a_bad_sample(tmp_path: Path) -> None:
    rows = [
        {"question_id": qid, "image": image_cell(i), "question": "Is there a cat?", "answer": "yes",
         "category": "random", "image_source": f"img{i}"}
        for i, qid in enumerate(["1", None, None])
    ]  # fmt: skip
    path = write_parquet(rows, tmp_path / "pope.parquet")
    samples, bad = load("pope_random", path)  # two null ids were one id "None": a run-ending clash
    assert [s.id for s in samples] == ["1"]
    assert [b.id for b in bad] == ["random:row1", "random:row2"]


def test_a_null_mmr_id_is_a_bad_sample_and_a_repeated_item_too(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "x.jpg").write_bytes(b"\xff\xd8 not decoded here")
    item = {"image": "x.jpg", "ground_truth": "A", "question_type": "POS"}
    rows = [
        {**item, "id": "character/ocr/01", "question": "q1"},
        {**item, "id": "character/ocr/01", "question": "q2", "question_type": "NEG"},
        {**item, "id": "character/ocr/01", "question": "q2", "question_type": "NEG"},
        {**item, "id": None, "question": "q3"},
        {**item, "id": None, "question": "q4", "question_type": "NEG"},
    ]
    (tmp_path / "MMR-benchmark.json").write_text(json.dumps(rows), encoding="utf-8")
    samples, bad = load("mmr", tmp_path)
    assert [s.id for s in samples] == ["character/ocr/01/0", "character/ocr/01/1"]
    assert [b.id for b in bad] == ["row2", "row3", "row4"]
    assert "repeats item 1" in bad[0].reason and "id is null" in bad[1].reason


def test_a_repeated_mmbench_index_is_a_bad_sample(tmp_path: Path) -> None:
    row = {"index": 7, "question": "Which?", "A": "a", "B": "b", "answer": "A", "category": "c",
           "image": image_cell(1)}  # fmt: skip
    path = write_parquet([row, {**row, "answer": "B"}], tmp_path / "mmb.parquet")
    samples, bad = load("mmbench_dev_en", path)
    assert {s.target for s in samples if s.group == "7"} == {"A", "B"}  # the first row's two passes
    assert [(b.id, b.reason) for b in bad] == [("row1", f"{path}: index 7 occurs twice")]


@pytest.mark.parametrize(("task", "column"), [("mmstar", "index"), ("seedbench", "question_id")])
def test_a_null_id_in_a_table_is_a_bad_sample(tmp_path: Path, task: str, column: str) -> None:
    row = {"index": 1, "question_id": "1", "question": "Which?", "image": [image_cell(1)], "answer": "A",
           "category": "c", "l2_category": "d", "question_type_id": 1,
           "choice_a": "a", "choice_b": "b", "choice_c": "c", "choice_d": "d"}  # fmt: skip
    if task == "mmstar":
        row["image"] = image_cell(1)
    path = write_parquet([row, {**row, column: None}], tmp_path / "t.parquet")
    samples, bad = load(task, path)
    assert [s.id for s in samples] == ["1"]
    assert [(b.id, b.reason) for b in bad] == [("row1", f"{path} row 1: no {column}")]


def record(sample_id: str, category: tuple[str, ...], correct: bool) -> SampleRecord:
    return SampleRecord(
        id=sample_id,
        category=category,
        extraction="exact",
        scores={"correct": float(correct)},
        correct=correct,
    )


def test_a_category_name_holding_a_slash_does_not_merge_with_a_sub_category() -> None:
    records = [record("1", ("a/b",), True), record("2", ("a", "b"), False)]
    nodes = category_nodes(records)
    assert sorted(nodes) == ["a", "a/b", "a\u2215b"]
    assert [r.id for r in nodes["a/b"]] == ["2"] and [r.id for r in nodes["a\u2215b"]] == ["1"]
    breakdown = mean_aggregate(records, ["correct"]).breakdown
    assert breakdown["a/b"]["correct"].value == 0.0 and breakdown["a\u2215b"]["correct"].value == 1.0


def test_a_jsonl_category_with_a_slash_keeps_its_own_node(tmp_path: Path) -> None:
    rows = [
        {"id": "1", "question": "Yes?", "answer": "yes", "category": "a/b"},
        {"id": "2", "question": "Yes?", "answer": "no", "category": ["a", "b"]},
    ]
    folder = jsonl_task(tmp_path / "t", rows=rows)
    result = api.evaluate("toy", "constant", include=[folder], store=tmp_path / "s.sqlite", output_dir=None)
    breakdown = result.results["breakdown"]
    assert breakdown["a/b"]["acc"]["n"] == 1 and breakdown["a\u2215b"]["acc"]["n"] == 1


# --- item 9: run folders stay under --output-dir -------------------------------------------------


def test_a_task_name_with_a_slash_writes_inside_the_output_dir(tmp_path: Path) -> None:
    folder = jsonl_task(
        tmp_path / "t", name="../../escaped", rows=[{"id": "1", "question": "Yes?", "answer": "yes"}]
    )
    out = tmp_path / "deep" / "out"
    result = api.evaluate(
        "../../escaped", "constant", include=[folder], store=tmp_path / "s.sqlite", output_dir=out
    )
    assert result.run_dir is not None and result.run_dir.parent == out
    assert result.run_dir.name.startswith(".._.._escaped__")
    assert (result.run_dir / "results.json").is_file()
    assert not (tmp_path / "escaped").exists() and not list(tmp_path.glob("escaped*"))


# --- item 10: a misspelt name, BOMs, --store after the command, server stores -----------------------


def test_a_task_file_with_a_misspelt_name_key_is_an_error_naming_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(
        "nmae: mine\nscenario: {type: jsonl, path: rows.jsonl}\nmetric: {type: accuracy}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as caught:
        TaskCatalog([tmp_path])
    assert str(caught.value) == (
        f"task file {tmp_path / 'mine.yaml'}: missing key 'name' ('nmae' looks like a misspelling of it)"
    )
    (tmp_path / "mine.yaml").write_text("name: mine\nscenaro: {type: jsonl}\nmetric: {type: accuracy}\n")
    with pytest.raises(ConfigError, match=r"mine.yaml: missing key 'scenario' \('scenaro' looks like"):
        TaskCatalog([tmp_path])


def test_a_model_file_beside_the_tasks_is_not_taken_for_a_task(tmp_path: Path) -> None:
    (tmp_path / "model.yaml").write_text("backend: openai\nname: gpt-4o\nargs: {concurrency: 2}\n")
    TaskCatalog([tmp_path])  # no error: it has none of a task's sections


def test_jsonl_data_and_a_predictions_file_with_a_utf8_bom_are_read(tmp_path: Path) -> None:
    text = "\ufeff" + json.dumps({"id": "q1", "question": "Yes?", "answer": "yes"}) + "\n"
    folder = jsonl_task(tmp_path / "t", raw=text)
    samples, bad = load("toy", folder / "rows.jsonl", [folder])
    assert [s.id for s in samples] == ["q1"] and bad == []
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("\ufeff" + json.dumps({"id": "q1", "response": "yes"}) + "\n", encoding="utf-8")
    result = api.score("toy", predictions, include=[folder], store=tmp_path / "s.sqlite")
    assert result.results["metrics"]["acc"]["value"] == 1.0


def test_a_tsv_with_a_utf8_bom_keeps_its_first_column(tmp_path: Path) -> None:
    from mmlens.scenarios.tables import read_table

    (tmp_path / "t.tsv").write_text("\ufeffindex\tquestion\n1\tq\n", encoding="utf-8")
    table = read_table(tmp_path / "t.tsv", default_hub_id="x", split="val", task="t")
    assert table.columns == ["index", "question"]


def test_store_is_accepted_after_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "after.sqlite"
    assert (
        main(["run", "shapes_small", "--limit", "2", "--store", str(store), "--output-dir", str(tmp_path)])
        == 0
    )
    assert store.is_file()
    capsys.readouterr()
    assert main(["show", "--store", str(store)]) == 0
    assert "shapes_small" in capsys.readouterr().out


@pytest.mark.parametrize("where", ["option", "variable"])
def test_a_store_url_of_another_database_is_one_line_saying_it_is_not_supported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    url = "mysql://user:secret@db.example/mmlens"  # postgresql:// and sqlite:/// are stores now
    monkeypatch.chdir(tmp_path)
    if where == "variable":
        monkeypatch.setenv("MMLENS_STORE", url)
        argv = ["run", "shapes_small", "--limit", "2", "--output-dir", str(tmp_path)]
    else:
        argv = ["--store", url, "run", "shapes_small", "--limit", "2", "--output-dir", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    name = "MMLENS_STORE" if where == "variable" else "--store"
    assert err == f"error: {name}: {UNSUPPORTED_STORE}\n"
    assert "secret" not in err
    assert not (tmp_path / "mysql:").exists()


def test_a_server_store_url_given_to_the_api_is_the_same_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as refused:
        api.evaluate(
            "shapes_small", store="mysql://user:secret@db.example/mmlens", limit=2, output_dir=tmp_path
        )
    assert str(refused.value) == f"store: {UNSUPPORTED_STORE}"
    assert not (tmp_path / "mysql:").exists()


UNSUPPORTED_STORE = (
    "mysql://... is not a store mmlens can use; give a SQLite file (a path or sqlite:///PATH) "
    "or a PostgreSQL URL (postgresql://USER@HOST:PORT/DATABASE)"
)
