"""The shared table reader: every published format, image encodings, and the errors users see."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmlens.core.errors import DataError, SampleError
from mmlens.core.media import FileImage, StoredImage
from mmlens.scenarios.tables import cell_text, is_missing, read_table, row_images
from tests.fixtures.benchmark_data import image_cell, png_bytes, write_parquet, write_tsv


def read(source: Path | str | None, split: str = "val", config: str | None = None) -> list[dict]:
    return list(read_table(source, default_hub_id="someone/bench", split=split, task="t", config=config))


def rows(count: int, start: int = 0) -> list[dict]:
    return [{"index": i, "question": f"q{i}", "image": image_cell(i)} for i in range(start, start + count)]


def test_parquet_file_and_image_structs(tmp_path: Path) -> None:
    path = write_parquet(rows(3), tmp_path / "one.parquet")
    table = read_table(path, default_hub_id="x", split="val", task="t")
    assert len(table) == 3 and table.columns == ["index", "question", "image"]
    loaded = list(table)
    assert [r["question"] for r in loaded] == ["q0", "q1", "q2"]
    assert isinstance(loaded[1]["image"], StoredImage)  # a reference: its bytes are read again
    assert loaded[1]["image"].encoded() == png_bytes(1)
    assert loaded[1]["image"].pil().size == (16, 16)


def test_hub_shard_layout_picks_the_split(tmp_path: Path) -> None:
    write_parquet(rows(2), tmp_path / "data" / "val-00000-of-00002.parquet")
    write_parquet(rows(3, start=2), tmp_path / "data" / "val-00001-of-00002.parquet")
    write_parquet(rows(7, start=100), tmp_path / "data" / "test-00000-of-00001-1f0f3ff5b7a0b8a5.parquet")
    assert [r["index"] for r in read(tmp_path)] == [0, 1, 2, 3, 4]
    assert len(read(tmp_path, split="test")) == 7
    with pytest.raises(DataError, match=r"no 'dev' shards \(found splits: test, val\)"):
        read(tmp_path, split="dev")


def test_config_subfolder_and_split_folder(tmp_path: Path) -> None:
    write_parquet(rows(2), tmp_path / "en" / "dev-00000-of-00001.parquet")
    write_parquet(rows(4), tmp_path / "cn" / "dev-00000-of-00001.parquet")
    assert len(read(tmp_path, split="dev", config="cn")) == 4
    write_parquet(rows(5), tmp_path / "converted" / "val" / "0000.parquet")
    assert len(read(tmp_path / "converted")) == 5


def test_save_to_disk_dataset_and_dataset_dict(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"index": datasets.Value("int64"), "image": datasets.Image()})
    data = {
        "index": [7, 8],
        "image": [{"bytes": png_bytes(7), "path": None}, {"bytes": png_bytes(8), "path": None}],
    }
    dataset = datasets.Dataset.from_dict(data, features=features)
    dataset.save_to_disk(str(tmp_path / "single"))
    datasets.DatasetDict({"val": dataset, "test": dataset.select([0])}).save_to_disk(str(tmp_path / "dict"))
    single = read(tmp_path / "single")
    assert [r["index"] for r in single] == [7, 8]
    assert single[1]["image"].encoded() == png_bytes(8)
    assert len(read(tmp_path / "dict")) == 2 and len(read(tmp_path / "dict", split="test")) == 1
    with pytest.raises(DataError, match="has no split 'dev'"):
        read(tmp_path / "dict", split="dev")


def test_tsv_with_base64_images_multiline_cells_and_references(tmp_path: Path) -> None:
    encoded = base64.b64encode(png_bytes(3)).decode()
    path = write_tsv(
        [
            {"index": 1, "question": "line one\nline two", "image": encoded, "hint": ""},
            {"index": 1000001, "question": "rotated", "image": "1", "hint": "nan"},
            {"index": 2, "question": "not an image", "image": "abcd" * 40, "hint": "x"},  # valid base64
        ],
        tmp_path / "bench.tsv",
    )
    loaded = read(path)
    assert loaded[0]["question"] == "line one\nline two"
    assert loaded[0]["image"].encoded() == png_bytes(3)
    assert loaded[1]["image"] == "1"  # a short cell is another row's index, left for the scenario
    assert loaded[2]["image"] == "abcd" * 40  # decodes, but not to an image: left as text
    assert is_missing(loaded[0]["hint"]) and is_missing(loaded[1]["hint"])
    with pytest.raises(SampleError, match=r"column 'image' holds '1', not an image"):
        row_images(loaded[1], "image", str(path), "1000001")


def test_json_list_json_with_questions_key_and_jsonl_with_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(png_bytes(1))
    items = [{"id": "a", "image": "img/a.png"}, {"id": "b", "image": ["img/a.png", "img/a.png"]}]
    (tmp_path / "list.json").write_text(json.dumps(items))
    (tmp_path / "keyed.json").write_text(json.dumps({"questions": items, "question_type": {"x": 1}}))
    (tmp_path / "lines.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    for name in ("list.json", "keyed.json", "lines.jsonl"):
        loaded = read(tmp_path / name)
        assert [r["id"] for r in loaded] == ["a", "b"]
        assert (
            isinstance(loaded[0]["image"], FileImage)
            and loaded[0]["image"].path == tmp_path / "img" / "a.png"
        )
        assert len(row_images(loaded[1], "image", name, "b")) == 2


def test_errors_name_the_file_and_the_problem(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read(tmp_path / "nothing.parquet")
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(
        DataError, match=r"unknown file type \(expected .arrow, .json, .jsonl, .parquet, .tsv"
    ):
        read(tmp_path / "data.csv")
    pq.write_table(pa.table({"index": pa.array([], pa.int64())}), tmp_path / "empty.parquet")
    with pytest.raises(DataError, match="empty.parquet has no rows"):
        read(tmp_path / "empty.parquet")
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\nnot json\n')
    with pytest.raises(DataError, match=r"bad.jsonl, line 2: not valid JSON"):
        read(tmp_path / "bad.jsonl")
    table = read_table(
        write_parquet(rows(1), tmp_path / "x.parquet"), default_hub_id="x", split="val", task="t"
    )
    with pytest.raises(DataError, match=r"x.parquet: missing column\(s\) answer, category \(found: index"):
        table.require_columns("index", "answer", "category")
    (tmp_path / "noparquet").mkdir()
    with pytest.raises(DataError, match="holds no parquet files"):
        read(tmp_path / "noparquet")


def test_offline_hub_load_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("datasets")
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataError) as caught:
        read(None)
    message = str(caught.value)
    assert message.startswith("cannot load someone/bench from the Hugging Face hub (")
    assert message.endswith("pass --data PATH to a local copy in the published format")
    assert "\n" not in message


def test_cell_text() -> None:
    assert cell_text(12.0) == "12" and cell_text(float("nan")) is None and cell_text("None") is None
    assert cell_text(" x ") == " x " and cell_text(3) == "3"
