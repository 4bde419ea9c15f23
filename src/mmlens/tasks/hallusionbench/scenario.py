"""HallusionBench (tianyi-lab/HallusionBench): 1,129 yes/no questions, 951 on a figure and 178
(visual-supplement questions asked without their figure) on none.

Data (``--data PATH``), in either published format:

- the official ``HallusionBench.json`` (a list of objects: ``category`` VD/VS, ``subcategory``,
  ``visual_input`` '0'/'1'/'2', ``set_id``, ``figure_id``, ``sample_note``, ``question_id``,
  ``question``, ``gt_answer_details``, ``gt_answer`` '0'/'1', ``filename``), the file or a folder
  holding it. Images (``filename``, e.g. ``./VD/ocr/0_1.png``) are looked up beside the file, in
  ``hallusion_bench/`` there, and in the scenario field ``images``; without any, the questions load
  for scoring only.
- ``lmms-lab/HallusionBench`` (the default without ``--data``): splits ``image`` (951) and
  ``non_image`` (178), the same columns plus ``image``, as parquet, ``save_to_disk`` or the hub id.

Sample id: ``category_subcategory_set_id_figure_id_question_id`` (e.g. ``VD_ocr_3_1_0``), the key
the official ``get_eval_all`` asserts to be unique. Category (category, subcategory); group the
question pair ``category_subcategory_set_id_question_id``. target "yes" (gt_answer 1) or "no".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from mmlens.core.errors import DataError, SampleError
from mmlens.core.media import ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.local_images import ImageNotFound, LocalImages
from mmlens.scenarios.tables import cell_text, read_table, row_images

HUB_ID = "lmms-lab/HallusionBench"
OFFICIAL_FILE = "HallusionBench.json"
KEY_COLUMNS = ("category", "subcategory", "set_id", "figure_id", "question_id")
Split = Literal["image", "non_image"]


def split_of(row: dict[str, Any]) -> str:
    """``non_image`` for the questions asked without a figure (visual_input 0), else ``image``."""
    return "non_image" if str(cell_text(row.get("visual_input"))) == "0" else "image"


@scenarios.register("hallusionbench")
class HallusionBenchScenario(Scenario):
    """Fields: ``splits`` (image, non_image; lmms-eval runs image only), ``images`` (a folder)."""

    hub_id: str = HUB_ID
    splits: tuple[Split, ...] = ("image", "non_image")
    images: str | None = None

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        official = self._official_file(context.data_path)
        if official is not None:
            yield from self._load_official(official, context)
            return
        seen: set[str] = set()
        for split in self.splits:
            table = read_table(
                context.data_path, default_hub_id=self.hub_id, split=split, task=context.task_name
            )
            table.require_columns(*KEY_COLUMNS, "visual_input", "question", "gt_answer_details", "gt_answer")
            for number, row in enumerate(table):
                if split_of(row) != split:  # a copy holding both splits in one table
                    continue
                sample = self._row_sample(row, f"{table.origin} row {number}", seen)
                if isinstance(sample, Sample) and "image" in table.columns and split == "image":
                    sample = self._with_table_image(sample, row, table.origin)
                if sample is not None:
                    yield sample

    @staticmethod
    def _official_file(data_path: str | None) -> Path | None:
        if data_path is None:
            return None
        path = Path(data_path).expanduser()
        if path.is_dir() and (path / OFFICIAL_FILE).is_file():
            return path / OFFICIAL_FILE
        if path.is_file() and path.suffix.lower() == ".json":
            return path
        return None

    def _load_official(self, file: Path, context: LoadContext) -> Iterator[Sample | BadSample]:
        table = read_table(file, default_hub_id=self.hub_id, split="", task=context.task_name)
        table.require_columns(
            *KEY_COLUMNS, "visual_input", "question", "gt_answer_details", "gt_answer", "filename"
        )
        roots = [file.parent, file.parent / "hallusion_bench"]
        if self.images is not None:
            given = Path(self.images).expanduser()
            roots.insert(0, given if given.is_absolute() else context.task_dir / given)
        has_folder = any((root / "VD").is_dir() or (root / "VS").is_dir() for root in roots)
        images = LocalImages(
            roots,
            has_folder,
            "hallusionbench/",
            f"{file.parent} holds the questions only; running a model needs the figures (VD/, VS/) "
            f"beside {file.name}, scoring a predictions file does not",
        )
        seen: set[str] = set()
        for number, row in enumerate(table):
            if split_of(row) not in self.splits:
                continue
            sample = self._row_sample(row, f"{file} item {number}", seen)
            if isinstance(sample, Sample) and cell_text(row.get("filename")):
                name = str(row["filename"]).removeprefix("./")
                try:
                    sample = _with_image(sample, images.find(name))
                except ImageNotFound as error:
                    sample = BadSample(sample.id, str(error))
            if sample is not None:
                yield sample

    def _with_table_image(self, sample: Sample, row: dict[str, Any], origin: str) -> Sample | BadSample:
        try:
            found = row_images(row, "image", origin, sample.id)
        except SampleError as error:
            return BadSample(sample.id, error.reason)
        if not found:
            from mmlens.core.media import AbsentImage

            hint = f"{origin} holds no figure for {sample.id}; running a model needs the figures"
            return _with_image(sample, AbsentImage(f"hallusionbench/{sample.id}", hint))
        return _with_image(sample, found[0])

    @staticmethod
    def _row_sample(row: dict[str, Any], where: str, seen: set[str]) -> Sample | BadSample | None:
        parts = [cell_text(row.get(column)) for column in KEY_COLUMNS]
        if any(part is None or "_" in part for part in parts):
            return BadSample(where, f"{where}: {', '.join(KEY_COLUMNS)} must all be given, without '_'")
        category, subcategory, set_id, figure_id, question_id = (str(part) for part in parts)
        sample_id = "_".join((category, subcategory, set_id, figure_id, question_id))
        if sample_id in seen:
            return None
        seen.add(sample_id)
        question, details = cell_text(row.get("question")), cell_text(row.get("gt_answer_details"))
        answer = cell_text(row.get("gt_answer"))
        if question is None or details is None:
            return BadSample(sample_id, f"{where}: empty question or gt_answer_details")
        if answer not in ("0", "1"):
            return BadSample(sample_id, f"{where}: gt_answer {row.get('gt_answer')!r} is not '0' or '1'")
        return Sample(
            id=sample_id,
            messages=[Message("user", (TextPart(question),))],
            target="yes" if answer == "1" else "no",
            category=(category, subcategory),
            group=f"{category}_{subcategory}_{set_id}_{question_id}",
            metadata={
                "category": category,
                "subcategory": subcategory,
                "visual_input": cell_text(row.get("visual_input")),
                "set_id": set_id,
                "figure_id": figure_id,
                "question_id": question_id,
                "gt_answer": answer,
                "gt_answer_details": details,
                "sample_note": cell_text(row.get("sample_note")) or "",
            },
        )


def _with_image(sample: Sample, image: ImageRef) -> Sample:
    (message,) = sample.messages
    sample.messages = [Message("user", (ImagePart(image), *message.content))]
    return sample


__all__ = ["DataError", "HallusionBenchScenario", "split_of"]
