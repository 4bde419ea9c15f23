"""MMXU (LinjieMu/MMXU@4b77721, ``MMXU-test.jsonl``): disease progression between two chest X-rays.

One JSON object per line: ``id`` (the sample id), ``content_type`` (no change, worsen, improved;
1,000 each), ``question``, ``options`` ({"A": ..., "D": ...}), ``answer`` (a letter),
``cur_image_path`` and ``prior_image_path`` (MIMIC-CXR-JPG paths ``files/p12/...``; the dev split
writes ``prior_image_path`` as a list). The images need PhysioNet credentials: they are looked up
under ``image_root`` (relative to the JSONL's folder; MMXU's README links MIMIC-CXR-JPG's
``files/`` folder beside the file). A missing image is an ``AbsentImage``: the question still
loads for ``mmlens score`` and a run is refused, naming the path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from mmlens.core.errors import DataError, SampleError
from mmlens.core.media import ImageRef
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.core.select import AXES_KEY
from mmlens.scenarios.jsonl import object_lines
from mmlens.scenarios.local_images import confined_image

DATA_FILE = "MMXU-test.jsonl"
CONTENT_TYPES = ("no change", "worsen", "improved")
LETTERS = "ABCD"


@scenarios.register("mmxu")
class MMXUScenario(Scenario):
    """Fields: ``image_root`` (where the MIMIC-CXR-JPG paths start, relative to the JSONL's folder)."""

    id_scheme: ClassVar[str] = 'the "id" field of each line (e.g. "1")'
    axes: ClassVar[tuple[str, ...]] = ("content type",)
    image_root: str = "."

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        if context.data_path is None:
            raise DataError(
                f"task {context.task_name}: give {DATA_FILE} (github.com/LinjieMu/MMXU or HF LinjieMu/MMXU) "
                "with --data PATH, MIMIC-CXR-JPG's files/ folder beside it"
            )
        file = Path(context.data_path).expanduser()
        if file.is_dir():
            file = file / DATA_FILE
        if not file.is_file():
            raise DataError(f"task {context.task_name}: data file {file} does not exist")
        root = file.parent / self.image_root
        yield from object_lines(file, lambda sample_id, row, where: self._sample(sample_id, row, root, where))

    def _image(self, sample_id: str, path: Any, root: Path, where: str) -> ImageRef:
        note = f"; MIMIC-CXR-JPG (PhysioNet) images go under {root} (link its files/ folder there)"
        return confined_image(sample_id, path, root, where, note)

    def _sample(self, sample_id: str, row: dict[str, Any], root: Path, where: str) -> Sample:
        options = row.get("options")
        question, answer, kind = row.get("question"), row.get("answer"), row.get("content_type")
        if not isinstance(options, dict) or list(options) != list(LETTERS):
            raise SampleError(sample_id, f"{where}: options must be {{A, B, C, D}} (got {options!r})")
        if not isinstance(question, str) or answer not in LETTERS:
            raise SampleError(sample_id, f"{where}: no question, or answer {answer!r} is not A-D")
        if kind not in CONTENT_TYPES:
            raise SampleError(
                sample_id, f"{where}: content_type {kind!r} is not one of {', '.join(CONTENT_TYPES)}"
            )
        priors = row.get("prior_image_path")
        prior_paths = priors if isinstance(priors, list) else [priors]
        images = [
            self._image(sample_id, path, root, where) for path in [*prior_paths, row.get("cur_image_path")]
        ]
        if len(images) == 2:
            order = "The first image is the patient's prior chest X-ray and the second is the current one."
        else:
            order = (
                f"The first {len(images) - 1} images are the patient's prior chest X-rays, "
                "the last the current one."
            )
        return Sample(
            id=sample_id,
            messages=[Message("user", (*[ImagePart(image) for image in images], TextPart(question)))],
            target=answer,
            choices=[str(options[letter]) for letter in LETTERS],
            category=(kind,),
            metadata={"image_order": order, AXES_KEY: {"content type": kind}},
        )
