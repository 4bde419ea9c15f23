"""The jsonl scenario keeps image paths inside the data file's folder (they are sent to the model's
endpoint): absolute paths, ../ and symlinks leading out are bad samples unless the task opts out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlens.core.media import FileImage
from mmlens.core.parts import LoadContext
from mmlens.core.task import TaskCatalog
from mmlens.runner.plan import load_samples
from tests.fixtures.benchmark_data import png_bytes


def build(tmp_path: Path, images: dict[str, str], allow: bool | None = None) -> tuple[Path, Path]:
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "private.png").write_bytes(png_bytes(1))
    data = tmp_path / "data"
    (data / "img").mkdir(parents=True)
    (data / "img" / "ok.png").write_bytes(png_bytes(2))
    (data / "img" / "link.png").symlink_to(outside / "private.png")
    (data / "img" / "inner_link.png").symlink_to(data / "img" / "ok.png")
    option = "" if allow is None else f", allow_outside_media: {str(allow).lower()}"
    (data / "task.yaml").write_text(
        "name: media_toy\ndescription: Images.\nid_scheme: 'the \"id\" field'\n"
        f"scenario: {{type: jsonl, path: rows.jsonl{option}}}\nmetric: {{type: accuracy}}\n"
    )
    lines = [
        json.dumps({"id": sid, "question": "What?", "answer": "x", "image": path})
        for sid, path in images.items()
    ]
    (data / "rows.jsonl").write_text("\n".join(lines) + "\n")
    return data, outside


def load(data: Path) -> tuple[list, list]:
    task = TaskCatalog([data]).load("media_toy")
    return load_samples(task, LoadContext("media_toy", task.task_dir))


def test_images_outside_the_data_folder_are_refused(tmp_path: Path) -> None:
    data, _ = build(
        tmp_path,
        {
            "inside": "img/ok.png",
            "inner_link": "img/inner_link.png",
            "dotted_inside": "img/../img/ok.png",
            "absolute": str(tmp_path / "secret" / "private.png"),
            "parent": "../secret/private.png",
            "symlink": "img/link.png",
        },
    )
    samples, bad = load(data)
    assert [s.id for s in samples] == ["inside", "inner_link", "dotted_inside"]
    assert [b.id for b in bad] == ["absolute", "parent", "symlink"]
    for item in bad:
        assert f"is outside the data folder {data}" in item.reason
        assert "allow_outside_media: true" in item.reason


def test_allow_outside_media_lets_the_user_opt_out(tmp_path: Path) -> None:
    data, _ = build(
        tmp_path,
        {"absolute": str(tmp_path / "secret" / "private.png"), "symlink": "img/link.png"},
        allow=True,
    )
    samples, bad = load(data)
    assert bad == [] and [s.id for s in samples] == ["absolute", "symlink"]
    assert isinstance(samples[0].images[0], FileImage)


@pytest.mark.parametrize("allow", [None, False])
def test_the_default_is_confinement(tmp_path: Path, allow: bool | None) -> None:
    data, _ = build(tmp_path, {"parent": "../secret/private.png"}, allow=allow)
    with pytest.raises(Exception, match="no samples"):  # the only row is refused: nothing to run
        load(data)
