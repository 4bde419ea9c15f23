"""Judge Anything (URRealHero/JudgeAnything@5108730, HF ``pudashi/JudgeAnything``): the model under
test is a judge of other models' responses to TaskAnything's 1,500 any-to-any queries (15
categories of 100, ``<Input>2<Output>``), asked as ``scripts/utils/Gemini2/api.py`` asks Gemini.

Data (``--data``): the dataset folder (``X2XRawBenchmark/TaskAnything.json``,
``ResponseCollection/JudgeAnything.json``, ``Preference/Human_Pairing.json`` /
``Human_Scoring.json``, ``Checklist/checklist.json``; or the repository root holding ``dataset/``,
or TaskAnything.json itself). Query media are read beside TaskAnything.json (``BASE_DIR``),
response media beside JudgeAnything.json (``RESULT_DIR``), as ``utils.py`` joins them.

Samples: each query's responses in JudgeAnything.json order. Pair comparison pairs them as the
script does, (1st, 2nd) and (3rd, 4th): id ``<uniq_id>/<response_id>_vs_<response_id>``. Score
evaluation takes each response: id ``<uniq_id>/<response_id>``.

Messages (``construct_content``): the system instruction of ``prompt_builder.py``; one user turn:
``"Here is the query of {Input} to {Output} generation task:\\n" + question``, the query's media
(images from ``image_path``; the video of ``video_path`` for Video and AudioVideo), the checklist
text (checklist setting), then ``"\\nHere is the first model's response:\\n"``, the first response
(its text, or its images / video), ``"\\nHere is the second model's response:\\n"``, the second
(score evaluation: ``"\\nHere is the model's reponse:\\n"``, sic, and the one response).

mmlens backends read text, images and video but not audio: a sample whose query or responses hold
audio (Audio*, AudioVideo2Text, *2Audio) keeps its id and labels (``mmlens score`` scores judge
outputs made elsewhere for it) and is a bad sample naming the audio when a model is asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mmlens.core.errors import DataError
from mmlens.core.media import AbsentImage, AbsentVideo, FileImage, VideoRef
from mmlens.core.messages import ContentPart, ImagePart, Message, TextPart, VideoPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.media.sampling import FrameSampling
from mmlens.scenarios.local_images import stays_inside
from mmlens.tasks.judge_anything.files import read_rows, text_field
from mmlens.tasks.judge_anything.labels import HumanLabels, read_labels
from mmlens.tasks.judge_anything.prompts import Mode, Setting, rubric_keys, schema_hint, system_prompt

TASKS_FILE = Path("X2XRawBenchmark") / "TaskAnything.json"
RESPONSES_FILE = Path("ResponseCollection") / "JudgeAnything.json"
LABEL_FILES: dict[Mode, Path] = {
    "pair": Path("Preference") / "Human_Pairing.json",
    "score": Path("Preference") / "Human_Scoring.json",
}
CHECKLIST_FILE = Path("Checklist") / "checklist.json"
# Multimodal understanding: the response is text (X2Text, Text2Text included); the other ten
# categories are generation. The paper's MMU / MMG split (arXiv 2503.17489), by output modality.
UNDERSTANDING = "understanding"
GENERATION = "generation"
FIRST, SECOND = "\nHere is the first model's response:\n", "\nHere is the second model's response:\n"
ONE = "\nHere is the model's reponse:\n"  # sic, Gemini2/api.py ScoringGoogleContentCreator
NO_MEDIA_HINT = "the dataset's images/ and videos/ folders are needed to ask a judge (scoring needs none)"
NO_AUDIO = "mmlens backends read text, images and video, not audio"


def modalities(task_name: str, where: str) -> tuple[str, str]:
    parts = task_name.split("2")
    if len(parts) != 2 or not all(parts):
        raise DataError(f"{where}: task_name {task_name!r} is not <Input>2<Output> (e.g. Image2Text)")
    return parts[0], parts[1]


def task_group(task_name: str) -> str:
    return UNDERSTANDING if task_name.endswith("2Text") else GENERATION


def _paths(value: Any, where: str, name: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise DataError(f"{where}: {name} must be a path or a list of paths")
    return values


class Media:
    """Media parts from one folder; unreadable kinds (audio) are collected, not sent."""

    def __init__(self, root: Path, frames: FrameSampling) -> None:
        self.root = root
        self.frames = frames
        self.unreadable: list[str] = []

    def _file(self, name: str) -> tuple[Path | None, str]:
        """The media file ``name`` (relative to the dataset folder, which it must not leave), or
        None and why it cannot be sent."""
        if not name or not stays_inside(self.root, name):
            return None, f"the media path {name!r} must be relative to {self.root} and stay inside it"
        path = self.root / PurePosixPath(name)
        return (path, "") if path.is_file() else (None, NO_MEDIA_HINT)

    def images(self, names: list[str]) -> list[ContentPart]:
        parts: list[ContentPart] = []
        for name in names:
            path, why = self._file(name)
            parts.append(ImagePart(FileImage(path) if path is not None else AbsentImage(name, why)))
        return parts

    def video(self, name: str) -> list[ContentPart]:
        path, why = self._file(name)
        video = VideoRef(path) if path is not None else AbsentVideo(name, why)
        return [VideoPart(video, sampling=self.frames)]

    def audio(self, name: str, what: str) -> list[ContentPart]:
        self.unreadable.append(f"{what} is audio ({name})")
        return []


def query_parts(entry: dict[str, Any], media: Media, where: str) -> list[ContentPart]:
    """The query text and its media, as ``construct_content`` adds them."""
    task_name = text_field(entry, "task_name", where)
    source, target = modalities(task_name, where)
    question = entry.get("question")
    if not isinstance(question, str):
        raise DataError(f"{where}: question must be a string")
    parts: list[ContentPart] = [
        TextPart(f"Here is the query of {source} to {target} generation task:\n" + question)
    ]
    kind = source.lower()
    if kind == "image":
        parts += media.images(_paths(entry.get("image_path"), where, "image_path"))
    elif kind == "audio":
        parts += media.audio(_paths(entry.get("audio_path"), where, "audio_path")[0], "the query")
    elif kind in ("video", "audiovideo"):
        parts += media.video(_paths(entry.get("video_path"), where, "video_path")[0])
        if kind == "audiovideo":  # Gemini hears the video's sound track; mmlens decodes frames only
            media.unreadable.append(f"the query's sound track is audio ({entry.get('audio_path')})")
    return parts


def response_parts(entry: dict[str, Any], media: Media, what: str, where: str) -> list[ContentPart]:
    response = entry.get("response")
    if not isinstance(response, dict) or not isinstance(response.get("type"), str):
        raise DataError(f"{where}: response must be an object with type and content")
    kind, content = response["type"].lower(), response.get("content")
    if kind == "text":
        if not isinstance(content, str):
            raise DataError(f"{where}: a text response's content must be a string")
        return [TextPart(content)] if content != "" else []  # api.py: an empty text adds nothing
    if kind == "image":
        return media.images(_paths(content, where, "response.content"))
    if kind == "video":
        return media.video(_paths(content, where, "response.content")[0])
    if kind == "audio":
        return media.audio(_paths(content, where, "response.content")[0], what)
    raise DataError(f"{where}: response type {response['type']!r} is not text, image, video or audio")


def resolve(root: Path, given: str | None, default: Path) -> Path:
    if given is None:
        return root / default
    path = Path(given).expanduser()
    return path if path.is_absolute() else root / path


def dataset_root(data_path: str | None, task: str) -> tuple[Path, Path | None]:
    """The dataset folder and, where --data names it, TaskAnything.json."""
    if data_path is None:
        raise DataError(
            f"task {task}: give --data: the pudashi/JudgeAnything dataset folder (X2XRawBenchmark/, "
            "ResponseCollection/, Preference/)"
        )
    path = Path(data_path).expanduser()
    if path.is_file():
        return path.parent.parent, path
    for root in (path, path / "dataset"):
        if (root / TASKS_FILE).is_file():
            return root, None
    raise DataError(f"task {task}: {path / TASKS_FILE} does not exist (nor {path / 'dataset' / TASKS_FILE})")


@dataclass
class Found:
    """What every sample of a load shares."""

    labels: HumanLabels | None
    checklists: dict[str, str]
    system: str
    base_dir: Path  # BASE_DIR: TaskAnything.json's folder (query media)
    result_dir: Path  # RESULT_DIR: JudgeAnything.json's folder (response media)
    frames: FrameSampling

    def media(self) -> tuple[Media, Media]:
        return Media(self.base_dir, self.frames), Media(self.result_dir, self.frames)


def read_checklists(path: Path) -> dict[str, str]:
    """``get_checklist``: per uniq_id, every row's ``"Here is the checklist items for rubric
    {rubric}:\\n\\n"`` and its items numbered ``"1. item\\n"``, in file order."""
    texts: dict[str, str] = {}
    for where, row in read_rows(path, "checklist file"):
        uniq_id = text_field(row, "uniq_id", where)
        items = row.get("checklists")
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise DataError(f"{where}: checklists must be a list of strings")
        text = f"Here is the checklist items for rubric {row.get('rubric')}:\n\n"
        text += "".join(f"{i + 1}. {item}\n" for i, item in enumerate(items))
        texts[uniq_id] = texts.get(uniq_id, "") + text
    return texts


@scenarios.register("judge_anything")
class JudgeAnythingScenario(Scenario):
    """Fields: mode (pair, score), setting (overall, rubric, checklist), schema_hint (the output
    keys as text after the system prompt), video_fps / video_frames / video_decoder (the frames
    of a video: 1 per second, at most 256, as ``Phi4mm/Processor.py VideoProcessor(target_fps=1,
    max_frames=256)`` takes them; Gemini samples 1 fps itself), and paths overriding the dataset
    layout: tasks, responses, labels, checklist (relative to the dataset folder, or absolute)."""

    mode: Mode = "pair"
    setting: Setting = "overall"
    schema_hint: bool = True
    video_fps: float = 1.0
    video_frames: int = 256
    video_decoder: str = "pyav"
    tasks: str | None = None
    responses: str | None = None
    labels: str | None = None
    checklist: str | None = None

    id_scheme = (
        'pair: "<uniq_id>/<response_id>_vs_<response_id>" (JudgeAnything.json\'s 1st vs 2nd, 3rd vs 4th '
        'response of the query); score: "<uniq_id>/<response_id>"'
    )

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        root, named = dataset_root(context.data_path, context.task_name)
        tasks_file = (
            named if named is not None and self.tasks is None else resolve(root, self.tasks, TASKS_FILE)
        )
        responses_file = resolve(root, self.responses, RESPONSES_FILE)
        labels_file = resolve(root, self.labels, LABEL_FILES[self.mode])
        labels = self._labels(labels_file)
        checklists = self._checklists(resolve(root, self.checklist, CHECKLIST_FILE))
        by_query: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for where, row in read_rows(responses_file, "response file"):
            by_query.setdefault(text_field(row, "uniq_id", where), []).append((where, row))
        system = system_prompt(self.mode, self.setting)
        if self.schema_hint:
            system += "\n\n" + schema_hint(self.mode, self.setting)
        frames = FrameSampling("fps", self.video_frames, self.video_fps, self.video_decoder)
        found = Found(labels, checklists, system, tasks_file.parent, responses_file.parent, frames)
        for where, entry in read_rows(tasks_file, "task file"):
            uniq_id = text_field(entry, "uniq_id", where)
            responses = by_query.get(uniq_id, [])
            if self.mode == "pair":
                yield from self._pairs(entry, responses, found, where)
            else:
                yield from self._scores(entry, responses, found, where)

    def _labels(self, path: Path) -> HumanLabels | None:
        jsonl = path.with_suffix(".jsonl")
        if path.is_file():
            return read_labels(path, self.mode)
        if self.labels is None and jsonl.is_file():
            return read_labels(jsonl, self.mode)
        if self.labels is not None:
            raise DataError(f"human label file {path} does not exist")
        return None  # no labels: judge outputs are kept, agreement is not computed (counted unlabelled)

    def _checklists(self, path: Path) -> dict[str, str]:
        if self.setting != "checklist":
            return {}
        if not path.is_file():
            raise DataError(
                f"the checklist setting needs the checklist file (Checklist/checklist.json of "
                f"pudashi/JudgeAnything: uniq_id, rubric, checklists); {path} does not exist"
            )
        return read_checklists(path)

    def _base(self, entry: dict[str, Any], found: Found, media: Media, where: str) -> list[ContentPart]:
        parts = query_parts(entry, media, where)
        checklist = found.checklists.get(entry["uniq_id"], "")
        if checklist:  # ``if self.checklists:`` an empty checklist adds nothing
            parts.append(TextPart(checklist))
        return parts

    def _sample(
        self,
        sample_id: str,
        entry: dict[str, Any],
        parts: list[ContentPart],
        system: str,
        labels: dict[str, str | float] | None,
        unreadable: list[str],
        extra: dict[str, Any],
    ) -> Sample:
        rubrics = rubric_keys(self.setting)
        known = {r: labels[r] for r in rubrics if labels and r in labels}
        task_name = entry["task_name"]
        return Sample(
            id=sample_id,
            messages=[Message.system(system), Message("user", tuple(parts))],
            target=", ".join(f"{r}={v:g}" if isinstance(v, float) else f"{r}={v}" for r, v in known.items())
            or None,
            category=(task_group(task_name), task_name),
            group=entry["uniq_id"],
            metadata={
                "uniq_id": entry["uniq_id"],
                "task_name": task_name,
                "mode": self.mode,
                "setting": self.setting,
                "rubrics": list(rubrics),
                "labels": known,
                "unreadable": unreadable,
                **extra,
            },
        )

    def _pairs(
        self,
        entry: dict[str, Any],
        responses: list[tuple[str, dict[str, Any]]],
        found: Found,
        where: str,
    ) -> Iterator[Sample | BadSample]:
        uniq_id = entry["uniq_id"]
        if len(responses) % 2:
            count = len(responses)
            yield BadSample(
                uniq_id, f"{where}: {count} responses in the response file: the last one has no pair"
            )
        for k in range(0, len(responses) - 1, 2):
            (where_a, a), (where_b, b) = responses[k], responses[k + 1]
            first, second = text_field(a, "response_id", where_a), text_field(b, "response_id", where_b)
            sample_id = f"{uniq_id}/{first}_vs_{second}"
            model_pair = f"{a.get('model_name')}_vs_{b.get('model_name')}"
            media, answers = found.media()
            try:
                parts = self._base(entry, found, media, where)
                parts += [TextPart(FIRST), *response_parts(a, answers, "the first response", where_a)]
                parts += [TextPart(SECOND), *response_parts(b, answers, "the second response", where_b)]
            except DataError as error:
                yield BadSample(sample_id, str(error))
                continue
            labels = found.labels.for_pair(uniq_id, first, second, model_pair) if found.labels else None
            extra = {"response_ids": [first, second], "model_pair": model_pair}
            unreadable = media.unreadable + answers.unreadable
            yield self._sample(sample_id, entry, parts, found.system, labels, unreadable, extra)

    def _scores(
        self,
        entry: dict[str, Any],
        responses: list[tuple[str, dict[str, Any]]],
        found: Found,
        where: str,
    ) -> Iterator[Sample | BadSample]:
        uniq_id = entry["uniq_id"]
        for where_r, row in responses:
            response_id = text_field(row, "response_id", where_r)
            sample_id = f"{uniq_id}/{response_id}"
            media, answers = found.media()
            try:
                parts = self._base(entry, found, media, where)
                parts += [TextPart(ONE), *response_parts(row, answers, "the response", where_r)]
            except DataError as error:
                yield BadSample(sample_id, str(error))
                continue
            model_name = str(row.get("model_name"))
            labels = found.labels.for_response(uniq_id, response_id, model_name) if found.labels else None
            extra = {"response_ids": [response_id], "model_name": model_name}
            unreadable = media.unreadable + answers.unreadable
            yield self._sample(sample_id, entry, parts, found.system, labels, unreadable, extra)
