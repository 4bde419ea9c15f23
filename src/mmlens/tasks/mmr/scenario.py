"""MMR (Liu et al., 2024, "Seeing Clearly, Answering Incorrectly"): 300 pairs of a positive and a
leading (negative) multiple-choice question on the same image, 12 categories in 3 levels.

Data (``--data PATH``): the published ``MMR-benchmark.json`` (a JSON list of ``{id, image,
question (options inline), ground_truth, question_type (POS|NEG)}``), or a folder holding it
directly or in ``MMR-benchmark/`` (the layout of the Hugging Face dataset
``BAAI/Multimodal-Robustness-Benchmark``, whose images come as ``MMR-benchmark-images.zip``).
Image paths are looked up in the scenario field ``images``, ``<folder>/MMR-benchmark-images``,
``<folder>/images`` and the folder itself; when none holds images the questions still load, for
scoring only. Without ``--data`` the JSON and the image zip are fetched from the hub (needs
``huggingface_hub``; the zip is extracted under ``$MMLENS_HOME/data/mmr``).

Sample id ``<id>/<k>``: the pair's ``id`` (``<level>/<category>/<nn>``, shared by its two
questions) and k = 0|1, the question's order in the file. Category (level, category) from the
id, as the official calculation derives it; group = the pair id.
"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmlens.core.errors import DataError
from mmlens.core.media import ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.local_images import ImageNotFound, LocalImages

HUB_ID = "BAAI/Multimodal-Robustness-Benchmark"
JSON_NAME = "MMR-benchmark.json"
IMAGES_ZIP = "MMR-benchmark-images.zip"
IMAGE_FOLDERS = ("MMR-benchmark-images", "images")
REQUIRED = ("id", "image", "question", "ground_truth", "question_type")


@scenarios.register("mmr")
class MMRScenario(Scenario):
    """Fields: ``images`` (folder the JSON's image paths are relative to)."""

    images: str | None = None

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        file = self._questions_file(context)
        try:
            rows = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DataError(f"task {context.task_name}: cannot read {file}: {error}") from None
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise DataError(f"task {context.task_name}: {file}: expected a JSON list of question objects")
        roots, has_image_folder = self._image_roots(file.parent, context)
        images = LocalImages(
            roots,
            has_image_folder,
            "mmr/",
            f"{file.parent} holds the questions only; running a model needs the images of "
            f"{IMAGES_ZIP} in {file.parent}/MMR-benchmark-images/, scoring a predictions file does not",
        )
        seen: Counter[str] = Counter()
        first_item: dict[tuple[str, str], int] = {}
        for number, row in enumerate(rows):
            if "id" in row and (row["id"] is None or not str(row["id"]).strip()):
                yield BadSample(f"row{number}", f"{file}, item {number}: id is null (it names the pair)")
                continue
            pair = str(row.get("id", f"row{number}"))
            earlier = first_item.setdefault((pair, str(row.get("question"))), number)
            if earlier != number:
                yield BadSample(f"row{number}", f"{file}, item {number}: repeats item {earlier}")
                continue
            sample_id = f"{pair}/{seen[pair]}"
            seen[pair] += 1
            missing = [key for key in REQUIRED if key not in row]
            if missing:
                yield BadSample(sample_id, f"{file}, item {number}: missing {', '.join(missing)}")
                continue
            if row["question_type"] not in ("POS", "NEG"):
                yield BadSample(sample_id, f"{file}, item {number}: question_type {row['question_type']!r}")
                continue
            try:
                image = images.find(str(row["image"]))
            except ImageNotFound as error:
                yield BadSample(sample_id, str(error))
                continue
            yield mmr_sample(sample_id, pair, row, image)

    def _questions_file(self, context: LoadContext) -> Path:
        if context.data_path is None:
            return download_from_hub(context.task_name)
        source = Path(context.data_path).expanduser()
        if source.is_file():
            return source
        for candidate in (source / JSON_NAME, source / "MMR-benchmark" / JSON_NAME):
            if candidate.is_file():
                return candidate
        raise DataError(
            f"task {context.task_name}: --data {source}: expected {JSON_NAME} or a folder holding it "
            f"(directly or in MMR-benchmark/)"
        )

    def _image_roots(self, folder: Path, context: LoadContext) -> tuple[list[Path], bool]:
        explicit = [folder / name for name in IMAGE_FOLDERS]
        if self.images is not None:
            given = Path(self.images).expanduser()
            explicit.insert(0, given if given.is_absolute() else context.task_dir / given)
        roots = [root for root in explicit if root.is_dir()]
        return [*roots, folder], bool(roots)


def mmr_sample(sample_id: str, pair: str, row: dict[str, Any], image: ImageRef) -> Sample:
    parts = pair.split("/")
    category = tuple(parts[:2]) if len(parts) >= 3 else (parts[0],)
    return Sample(
        id=sample_id,
        messages=[Message("user", (ImagePart(image), TextPart(str(row["question"]))))],
        target=str(row["ground_truth"]).strip(),
        category=category,
        group=pair,
        metadata={"question_type": row["question_type"], "image_file": str(row["image"])},
    )


def download_from_hub(task: str) -> Path:
    """The hub's MMR-benchmark.json, with its images extracted beside a copy; DataError offline."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise DataError(
            f"task {task}: loading {HUB_ID} from the Hugging Face hub needs huggingface_hub "
            "(pip install 'mmlens[data]'); or pass --data PATH to a local copy in the published format"
        ) from None
    from mmlens.scenarios.tables import ensure_hub_reachable

    ensure_hub_reachable(HUB_ID)
    try:
        snapshot = Path(
            snapshot_download(
                HUB_ID,
                repo_type="dataset",
                allow_patterns=[f"MMR-benchmark/{JSON_NAME}", f"MMR-benchmark/{IMAGES_ZIP}"],
            )
        )
    except Exception as error:  # noqa: BLE001 - network, auth, offline: all end in one message
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise DataError(
            f"cannot load {HUB_ID} from the Hugging Face hub ({reason}); "
            "pass --data PATH to a local copy in the published format"
        ) from None
    from mmlens.core.paths import default_home

    target = default_home() / "data" / "mmr" / snapshot.name
    if not (target / JSON_NAME).is_file():
        extract_images(snapshot / "MMR-benchmark" / IMAGES_ZIP, target / IMAGE_FOLDERS[0])
        (target / JSON_NAME).write_bytes((snapshot / "MMR-benchmark" / JSON_NAME).read_bytes())
    return target / JSON_NAME


def extract_images(archive_path: Path, destination: Path) -> None:
    """Unzip so that the JSON's paths (``<level>/<category>/<nn>.jpg``) resolve under ``destination``:
    a single top folder wrapping the level folders is dropped."""
    with zipfile.ZipFile(archive_path) as archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX")]
        tops = {m.filename.split("/")[0] for m in members}
        strip = len(tops) == 1 and not tops & {"character", "attribute", "context"}
        for member in members:
            parts = member.filename.split("/")[1 if strip else 0 :]
            if any(part in ("", "..") for part in parts):
                continue
            path = destination.joinpath(*parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(archive.read(member))
