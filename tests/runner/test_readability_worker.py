"""The unreadable-image check of a large first run in a child process (issue 15 item 11): the same
bad samples with the same messages as the check in the run's own process, which then reads none of
those images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmlens import api
from mmlens.core.media import BytesImage, ImageRef
from mmlens.runner import evaluate
from mmlens.runner.readability_worker import check_sources
from mmlens.store.sqlite import Store
from tests.fixtures.benchmark_data import build_mmstar, mmstar_rows
from tests.fixtures.numbers_bench import build_numbers_task


def test_the_child_process_finds_the_unreadable_image_and_the_run_checks_none_itself(
    tmp_path: Path, monkeypatch: Any
) -> None:
    task = build_numbers_task(tmp_path / "bench", count=10, duplicates=0)
    (tmp_path / "bench" / "images" / "3.png").write_bytes(b"not a png")
    monkeypatch.setattr(evaluate, "CHECK_IN_PROCESS_FROM", 1)
    checked_here: list[ImageRef] = []
    original = ImageRef.unreadable_reason

    def counting(self: ImageRef) -> str | None:
        checked_here.append(self)
        return original(self)

    monkeypatch.setattr(ImageRef, "unreadable_reason", counting)
    result = api.evaluate("numbers", "constant", include=[task], store=tmp_path / "s.sqlite", output_dir=None)
    counts = result.results["counts"]
    assert (counts["scored"], counts["bad_samples"], counts["errors"]) == (9, 1, 0)
    broken = tmp_path / "bench" / "images" / "3.png"
    reason = f"unreadable image {broken}: not a recognised image format"
    assert result.results["bad_samples"] == [{"id": "n3", "reason": reason}]
    assert checked_here == []


def test_verdicts_on_parquet_cells_match_the_in_process_check(tmp_path: Path) -> None:
    data = build_mmstar(tmp_path / "mmstar")
    store = tmp_path / "s.sqlite"
    api.evaluate("mmstar", "constant", data=data, store=store, output_dir=None)
    digests = [BytesImage(row["image"]["bytes"]).digest for row in mmstar_rows()]
    with Store(store) as opened:
        sources = opened.image_sources(digests)
    items = [[digest, f"row of {digest[:12]}", source] for digest, source in sources.items()]
    assert check_sources(items) == dict.fromkeys(digests)  # all readable
    wrong = "sha256:" + "0" * 64  # the cell holds another image than the digest names
    assert check_sources([[wrong, "the label", sources[digests[0]]]]) == {
        wrong: "image the label changed since the data was read (its content hash differs)"
    }
    gone = {**sources[digests[0]], "table": {"parquet": [str(tmp_path / "gone.parquet")], "base_dir": "/"}}
    [reason] = check_sources([[digests[0], "x", gone]]).values()
    assert reason is not None and "gone.parquet" in reason


def test_several_children_split_the_images_and_give_the_same_verdicts(tmp_path: Path) -> None:
    from mmlens.core.media import FileImage
    from mmlens.runner.readability_worker import (
        IMAGES_PER_CHILD,
        MAX_CHILDREN,
        ReadabilityChecker,
        child_count,
    )

    build_numbers_task(tmp_path / "bench", count=9, duplicates=0)
    folder = tmp_path / "bench" / "images"
    for broken in (1, 7):  # one in the first child's share, one in the last's
        (folder / f"{broken}.png").write_bytes(f"not a png {broken}".encode())
    images: list[ImageRef] = [FileImage(folder / f"{n}.png") for n in range(9)]
    expected = {image.digest: image.unreadable_reason() for image in images}
    assert sum(reason is not None for reason in expected.values()) == 2
    for children in (1, 2, 3):
        checker = ReadabilityChecker(images, children=children)
        assert len(checker._children) == children
        assert checker.verdicts() == expected
    counts = (0, IMAGES_PER_CHILD * 2 - 1, IMAGES_PER_CHILD * 2, 10**6)
    assert [child_count(n, cores=2) for n in counts] == [1, 1, 2, 2]
    assert child_count(10**6, cores=64) == MAX_CHILDREN
