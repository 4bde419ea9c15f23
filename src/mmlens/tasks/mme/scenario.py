"""MME (Fu et al., 2023): 14 yes/no subtasks, two questions per image (one "Yes", one "No").

Data (``--data PATH``), in any of the published formats:

- the official eval_tool layout: a folder of ``<subtask>.txt`` files (the eval_tool's result
  templates), one question per line ``image<TAB>question<TAB>answer``; further columns (a model's
  response) are ignored. Images are looked up as ``<root>/<subtask>/<image>`` and
  ``<root>/<subtask>/images/<image>``, where ``<root>`` is the scenario field ``images``, the data
  folder, or its ``MME_Benchmark_release_version`` sub-folder. When no image folder exists at all
  the questions still load, for scoring only (see ``AbsentImage``).
- the official download ``MME_Benchmark_release_version``: one folder per subtask holding each
  image with a ``<image stem>.txt`` of two ``question<TAB>answer`` lines, either side by side or
  in ``images/`` and ``questions_answers_YN/``.
- the Hugging Face dataset ``lmms-lab/MME`` (split ``test``; the default without ``--data``):
  a parquet file or folder, a ``save_to_disk`` folder, or the hub id.

Sample id ``<subtask>/<image file>/<k>``, k = 0 or 1, the question's order for that image in
the data (e.g. ``existence/000000006040.jpg/0``). Category (``perception``|``cognition``,
subtask); group ``<subtask>/<image file>`` (acc+ needs both questions of an image right).

A row without an image name (a null ``question_id``) and a row repeating an earlier one (same
subtask, image, question and answer) are bad samples: neither may merge questions into one image's
group nor count a question twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from mmlens.core.errors import DataError, SampleError
from mmlens.core.media import FileImage, ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.local_images import ImageNotFound, LocalImages

PERCEPTION = (
    "existence",
    "count",
    "position",
    "color",
    "posters",
    "celebrity",
    "scene",
    "landmark",
    "artwork",
    "OCR",
)
COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")
SUBTASK_KIND = {**dict.fromkeys(PERCEPTION, "perception"), **dict.fromkeys(COGNITION, "cognition")}
HUB_ID = "lmms-lab/MME"
RELEASE_FOLDER = "MME_Benchmark_release_version"
OFFICIAL_INSTRUCTION = " Please answer yes or no."
IMAGE_SUFFIXES = (".jpg", ".png", ".jpeg", ".JPG", ".PNG")


def bare_question(question: str) -> str:
    """The question without MME's own instruction (what lmms-eval sends before its own suffix)."""
    return question.strip().replace(OFFICIAL_INSTRUCTION, "")


def mme_sample(
    subtask: str, image_name: str, index: int, question: str, answer: str, image: ImageRef
) -> Sample:
    return Sample(
        id=f"{subtask}/{image_name}/{index}",
        messages=[Message("user", (ImagePart(image), TextPart(question)))],
        target=answer.strip().lower(),
        category=(SUBTASK_KIND[subtask], subtask),
        group=f"{subtask}/{image_name}",
        metadata={"subtask": subtask, "image_file": image_name, "bare_question": bare_question(question)},
    )


@scenarios.register("mme")
class MMEScenario(Scenario):
    """Fields: ``images`` (folder with one sub-folder of images per subtask; eval_tool layout only)."""

    images: str | None = None

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        source = Path(context.data_path).expanduser() if context.data_path else None
        if source is not None and source.is_dir() and eval_tool_files(source):
            yield from self._load_eval_tool(source, context)
        elif source is not None and source.is_dir() and release_folders(source):
            yield from self._load_release(source, context)
        else:
            yield from self._load_table(context)

    # --- the official eval_tool layout ---------------------------------------------------------

    def _image_roots(self, folder: Path, context: LoadContext) -> list[Path]:
        roots = [folder, folder / RELEASE_FOLDER]
        if self.images is not None:
            given = Path(self.images).expanduser()
            roots.insert(0, given if given.is_absolute() else context.task_dir / given)
        return roots

    def _load_eval_tool(self, folder: Path, context: LoadContext) -> Iterator[Sample | BadSample]:
        files = eval_tool_files(folder)
        roots = self._image_roots(folder, context)
        has_images = any((root / subtask).is_dir() for root in roots for subtask in files)
        for subtask, file in files.items():
            image_dirs = [
                d for root in roots for d in (root / subtask, root / subtask / "images") if d.is_dir()
            ]
            images = LocalImages(
                image_dirs,
                has_images,
                f"mme/{subtask}/",
                f"{folder} holds the questions only; running a model needs the images in {folder}/<subtask>/ "
                f"(or {folder}/{RELEASE_FOLDER}/<subtask>/), scoring a predictions file does not",
                searched=", ".join(str(d) for d in image_dirs) or f"{folder}/{subtask}",
            )
            seen: Counter[str] = Counter()
            first_line: dict[tuple[str, str, str], int] = {}
            try:
                lines = file.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as error:
                raise DataError(f"task {context.task_name}: cannot read {file}: {error}") from None
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                columns = line.split("\t")
                if len(columns) < 3:
                    yield BadSample(
                        f"{subtask}:{number}",
                        f"{file}, line {number}: expected image<TAB>question<TAB>answer",
                    )
                    continue
                image_name, question, answer = columns[0], columns[1], columns[2]
                earlier = first_line.setdefault((image_name, question, answer), number)
                if earlier != number:
                    yield BadSample(f"{subtask}:{number}", f"{file}, line {number}: repeats line {earlier}")
                    continue
                index = seen[image_name]
                seen[image_name] += 1
                sample_id = f"{subtask}/{image_name}/{index}"
                if answer.strip().lower() not in ("yes", "no"):
                    yield BadSample(sample_id, f"{file}, line {number}: answer {answer!r} is not Yes or No")
                    continue
                try:
                    image = images.find(image_name)
                except ImageNotFound as error:
                    yield BadSample(sample_id, str(error))
                    continue
                yield mme_sample(subtask, image_name, index, question, answer, image)

    # --- the MME_Benchmark_release_version layout ----------------------------------------------

    def _load_release(self, root: Path, context: LoadContext) -> Iterator[Sample | BadSample]:
        for subtask, folder in release_folders(root).items():
            questions_dir = folder / "questions_answers_YN"
            if not questions_dir.is_dir():
                questions_dir = folder
            images_dir = folder / "images" if (folder / "images").is_dir() else folder
            for file in sorted(questions_dir.glob("*.txt")):
                image = next(
                    (
                        images_dir / (file.stem + s)
                        for s in IMAGE_SUFFIXES
                        if (images_dir / (file.stem + s)).is_file()
                    ),
                    None,
                )
                image_name = image.name if image is not None else file.stem
                try:
                    lines = [line for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
                except (OSError, UnicodeDecodeError) as error:
                    raise DataError(f"task {context.task_name}: cannot read {file}: {error}") from None
                for index, line in enumerate(lines):
                    sample_id = f"{subtask}/{image_name}/{index}"
                    columns = line.split("\t")
                    if image is None:
                        yield BadSample(sample_id, f"{file}: no image {file.stem}.* in {images_dir}")
                    elif len(columns) < 2 or columns[1].strip().lower() not in ("yes", "no"):
                        yield BadSample(sample_id, f"{file}, line {index + 1}: expected question<TAB>Yes|No")
                    else:
                        yield mme_sample(subtask, image_name, index, columns[0], columns[1], FileImage(image))

    # --- the Hugging Face dataset -------------------------------------------------------------

    def _load_table(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        from mmlens.scenarios.tables import cell_text, one_row_image, read_table

        table = read_table(context.data_path, default_hub_id=HUB_ID, split="test", task=context.task_name)
        table.require_columns("question_id", "image", "question", "answer", "category")
        seen: Counter[str] = Counter()
        first_row: dict[tuple[str, str, str, str], int] = {}
        for number, row in enumerate(table):
            subtask = str(row["category"])
            image_id = cell_text(row["question_id"])
            if image_id is None or not PurePosixPath(image_id).name:
                yield BadSample(f"row{number}", f"{table.origin} row {number}: no question_id (image name)")
                continue
            image_name = PurePosixPath(image_id).name
            key = (subtask, image_name, str(row["question"]), str(row["answer"]))
            earlier = first_row.setdefault(key, number)
            if earlier != number:
                yield BadSample(f"row{number}", f"{table.origin} row {number}: repeats row {earlier}")
                continue
            index = seen[f"{subtask}/{image_name}"]
            seen[f"{subtask}/{image_name}"] += 1
            sample_id = f"{subtask}/{image_name}/{index}"
            if subtask not in SUBTASK_KIND:
                yield BadSample(sample_id, f"{table.origin} row {number}: unknown MME category {subtask!r}")
                continue
            answer = str(row["answer"])
            if answer.strip().lower() not in ("yes", "no"):
                yield BadSample(sample_id, f"{table.origin} row {number}: answer {answer!r} is not Yes or No")
                continue
            try:
                image = one_row_image(row, "image", table, sample_id)
            except SampleError as error:
                yield BadSample(sample_id, error.reason)
                continue
            yield mme_sample(subtask, image_name, index, str(row["question"]), answer, image)


def release_folders(root: Path) -> dict[str, Path]:
    """``<subtask>/`` folders of the official MME_Benchmark_release_version download, official order."""
    for base in (root, root / RELEASE_FOLDER):
        found = {name: base / name for name in SUBTASK_KIND if any((base / name).glob("**/*.txt"))}
        if found:
            return found
    return {}


def eval_tool_files(folder: Path) -> dict[str, Path]:
    """The ``<subtask>.txt`` files of an eval_tool folder, in the official subtask order."""
    return {name: folder / f"{name}.txt" for name in SUBTASK_KIND if (folder / f"{name}.txt").is_file()}
