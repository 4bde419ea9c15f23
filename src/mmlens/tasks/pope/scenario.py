"""POPE (Li et al., 2023): "Is there a <object> in the image?" on COCO val2014, three splits.

Data (``--data PATH``), in either published format:

- the official files (RUCAIBox/POPE ``output/coco``): a folder holding
  ``coco_pope_{random,popular,adversarial}.json`` (directly or in ``coco/``), JSON lines
  ``{question_id, image, text, label}``; or one such file for a single-split task. Images are COCO
  val2014 files looked up in the scenario field ``images``, ``<folder>/val2014``,
  ``<folder>/images`` and the folder itself. When none of these holds images the questions still
  load, for scoring only (decoding such an image raises a clear error).
- the Hugging Face dataset ``lmms-lab/POPE`` (split ``test``, ``category`` = the split; the
  default without ``--data``): a parquet file or folder, a ``save_to_disk`` folder, or the hub id.

Sample id: the file's ``question_id`` (1–3000 within a split); the all-splits task prefixes the
split: ``<split>/<question_id>``. Category (split,); group ``<split>/<image file>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from mmlens.core.errors import DataError, SampleError
from mmlens.core.jsonlines import json_lines
from mmlens.core.media import ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.local_images import ImageNotFound, LocalImages

Split = Literal["random", "popular", "adversarial"]
SPLITS: tuple[Split, ...] = ("random", "popular", "adversarial")
HUB_ID = "lmms-lab/POPE"
_FILE_SPLIT = re.compile(r"_(random|popular|adversarial)\.jsonl?$")


def official_file_name(split: str) -> str:
    return f"coco_pope_{split}.json"


@scenarios.register("pope")
class POPEScenario(Scenario):
    """Fields: ``split`` (random|popular|adversarial; none = all three), ``images`` (COCO val2014 folder)."""

    split: Split | None = None
    images: str | None = None

    @property
    def splits(self) -> tuple[Split, ...]:
        return (self.split,) if self.split else SPLITS

    def sample_id(self, split: str, question_id: Any) -> str:
        return str(question_id) if self.split else f"{split}/{question_id}"

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        files = self._official_files(context)
        if files is None:
            yield from self._load_table(context)
            return
        for split, file in files.items():
            yield from self._load_official_file(split, file, context)

    # --- the official JSON-lines files -----------------------------------------------------------

    def _official_files(self, context: LoadContext) -> dict[str, Path] | None:
        """split -> file for the official layout; None when ``--data`` is in another format."""
        if context.data_path is None:
            return None
        source = Path(context.data_path).expanduser()
        if source.is_file():
            return self._official_single_file(source, context) if is_official_file(source) else None
        if not source.is_dir():
            return None
        for folder in (source, source / "coco"):
            found = {split: folder / official_file_name(split) for split in self.splits}
            present: dict[str, Path] = {split: file for split, file in found.items() if file.is_file()}
            if present and len(present) < len(found):
                missing = ", ".join(str(found[s]) for s in found if s not in present)
                raise DataError(f"task {context.task_name}: {missing} does not exist")
            if present:
                return present
        return None

    def _official_single_file(self, source: Path, context: LoadContext) -> dict[str, Path]:
        match = _FILE_SPLIT.search(source.name)
        file_split = match.group(1) if match else self.split
        if self.split is None or file_split != self.split:
            shown = f"is the {file_split} split" if file_split else "is one split"
            wanted = official_file_name(self.split) if self.split else "the folder holding all three files"
            raise DataError(f"task {context.task_name}: --data {source} {shown}; pass {wanted}")
        return {self.split: source}

    def _image_roots(self, folder: Path, context: LoadContext) -> tuple[list[Path], bool]:
        explicit = [folder / "val2014", folder / "images"]
        if self.images is not None:
            given = Path(self.images).expanduser()
            explicit.insert(0, given if given.is_absolute() else context.task_dir / given)
        roots = [root for root in explicit if root.is_dir()]
        return [*roots, folder], bool(roots)

    def _load_official_file(
        self, split: str, file: Path, context: LoadContext
    ) -> Iterator[Sample | BadSample]:
        roots, has_image_folder = self._image_roots(file.parent, context)
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise DataError(f"task {context.task_name}: cannot read {file}: {error}") from None
        images = LocalImages(
            roots,
            has_image_folder,
            "coco/",
            f"{file.parent} holds the questions only; running a model needs the COCO val2014 "
            f"images in {file.parent}/val2014/, scoring a predictions file does not",
        )
        for line in json_lines(lines):
            number, row = line.number, line.value
            if line.error is not None or not isinstance(row, dict):
                yield BadSample(
                    f"{split}:{number}", f"{file}, line {number}: {line.error or 'expected a JSON object'}"
                )
                continue
            missing = [key for key in ("question_id", "image", "text", "label") if key not in row]
            sample_id = self.sample_id(split, row.get("question_id", f"line{number}"))
            if missing:
                yield BadSample(sample_id, f"{file}, line {number}: missing {', '.join(missing)}")
                continue
            if _no_id(row["question_id"]):
                yield BadSample(f"{split}:{number}", f"{file}, line {number}: question_id is null")
                continue
            image_name = str(row["image"])
            try:
                image = images.find(image_name)
            except ImageNotFound as error:
                yield BadSample(sample_id, str(error))
                continue
            bad = _bad_label(row["label"])
            if bad:
                yield BadSample(sample_id, f"{file}, line {number}: {bad}")
                continue
            yield self._sample(split, sample_id, str(row["text"]), str(row["label"]), image, image_name)

    # --- the Hugging Face dataset -------------------------------------------------------------

    def _load_table(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        from mmlens.scenarios.tables import one_row_image, read_table

        table = read_table(context.data_path, default_hub_id=HUB_ID, split="test", task=context.task_name)
        table.require_columns("question_id", "question", "answer", "image", "category")
        for number, row in enumerate(table):
            split = str(row["category"])
            if split not in self.splits:
                continue
            if _no_id(row["question_id"]):
                yield BadSample(f"{split}:row{number}", f"{table.origin} row {number}: question_id is null")
                continue
            sample_id = self.sample_id(split, row["question_id"])
            bad = _bad_label(row["answer"])
            if bad:
                yield BadSample(sample_id, f"{table.origin} row {number}: {bad}")
                continue
            try:
                image = one_row_image(row, "image", table, sample_id)
            except SampleError as error:
                yield BadSample(sample_id, error.reason)
                continue
            image_name = str(row.get("image_source") or row["question_id"])
            yield self._sample(split, sample_id, str(row["question"]), str(row["answer"]), image, image_name)

    @staticmethod
    def _sample(
        split: str, sample_id: str, question: str, label: str, image: ImageRef, image_name: str
    ) -> Sample:
        return Sample(
            id=sample_id,
            messages=[Message("user", (ImagePart(image), TextPart(question)))],
            target=label.strip().lower(),
            category=(split,),
            group=f"{split}/{image_name}",
            metadata={"split": split, "image_file": image_name},
        )


def is_official_file(path: Path) -> bool:
    """JSON lines with the official keys (the files are named .json but are not one JSON document)."""
    if path.suffix.lower() not in (".json", ".jsonl"):
        return False
    try:
        with path.open(encoding="utf-8") as handle:
            first = next((line for line in handle if line.strip()), "")
        row = json.loads(first)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(row, dict) and {"question_id", "text", "label"} <= row.keys()


def _no_id(value: Any) -> bool:
    """A null, NaN or blank question_id (it would give every such row the id "None")."""
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() == ""


def _bad_label(label: Any) -> str | None:
    if str(label).strip().lower() in ("yes", "no"):
        return None
    return f"label {label!r} is not yes or no"
