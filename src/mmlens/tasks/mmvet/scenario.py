"""MM-Vet (yuweihao/MM-Vet): 218 open-ended questions on 200 images, each tagged with the
capabilities it needs (rec, ocr, know, gen, spat, math).

Data (``--data PATH``): the official ``mm-vet.json`` (an object keyed by question id, e.g.
``"v1_0": {"imagename": "v1_0.png", "capability": ["ocr", "math"], "question": ..., "answer": ...}``),
the file or the unzipped ``mm-vet/`` folder holding it; images are looked up in ``images/`` beside
it (and in the scenario field ``images``). Without any image the questions load for scoring only.

Sample id: the json key (``v1_0`` ... ``v1_217``). target: the ground truth as published (with
``<AND>`` / ``<OR>``); metadata ``capability``: the list as published (its order names the
capability integration).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from mmlens.core.errors import DataError
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.local_images import ImageNotFound, LocalImages

OFFICIAL_FILE = "mm-vet.json"
CAPABILITIES = ("rec", "ocr", "know", "gen", "spat", "math")


def official_file(data_path: str | None, task: str) -> Path:
    if data_path is None:
        raise DataError(
            f"task {task}: give --data: the official {OFFICIAL_FILE} or the mm-vet/ folder holding it"
        )
    path = Path(data_path).expanduser()
    if path.is_dir():
        path = path / OFFICIAL_FILE
    if not path.is_file():
        raise DataError(f"task {task}: {path} does not exist (expected the official {OFFICIAL_FILE})")
    return path


def read_questions(file: Path, task: str) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"task {task}: cannot read {file}: {error}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise DataError(
            f"task {task}: {file}: expected an object of questions keyed by id (the official mm-vet.json)"
        )
    return data


@scenarios.register("mmvet")
class MMVetScenario(Scenario):
    """Fields: ``images`` (a folder with the images, if not ``images/`` beside the json)."""

    images: str | None = None

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        file = official_file(context.data_path, context.task_name)
        roots = [file.parent / "images", file.parent]
        if self.images is not None:
            given = Path(self.images).expanduser()
            roots.insert(0, given if given.is_absolute() else context.task_dir / given)
        images = LocalImages(
            roots,
            (file.parent / "images").is_dir(),
            "mmvet/",
            f"{file} holds the questions only; running a model needs the images (images/ beside it)",
        )
        for sample_id, item in read_questions(file, context.task_name).items():
            yield self._sample(sample_id, item, images, file)

    @staticmethod
    def _sample(
        sample_id: str, item: dict[str, object], images: LocalImages, file: Path
    ) -> Sample | BadSample:
        where = f"{file}, question {sample_id}"
        question, answer, name = item.get("question"), item.get("answer"), item.get("imagename")
        capability = item.get("capability")
        if not isinstance(question, str) or not isinstance(answer, str) or not isinstance(name, str):
            return BadSample(sample_id, f"{where}: question, answer and imagename must be strings")
        if (
            not isinstance(capability, list)
            or not capability
            or not all(c in CAPABILITIES for c in capability)
        ):
            return BadSample(sample_id, f"{where}: capability must be a list of {', '.join(CAPABILITIES)}")
        try:
            image = images.find(name)
        except ImageNotFound as error:
            return BadSample(sample_id, str(error))
        return Sample(
            id=sample_id,
            messages=[Message("user", (ImagePart(image), TextPart(question)))],
            target=answer,
            metadata={"capability": list(capability), "imagename": name},
        )
