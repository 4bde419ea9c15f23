"""``verbalizer:<map>``: ChEF's instruction-following setting on any likelihood-ranked
multiple-choice task.

ChEF (``scenario/vqa_dataset.py`` and ``MMBench_dataset.py`` of Coach257/ChEF@54df7bb; the same maps
in OpenGVLab/LAMM@ea57136) tells the model to answer each option with another word and ranks those
words: for option i the question gains the clause ``If the answer is "(A)", you need to output
"1". `` (one per option, in order, each ending with a space), and the ranked continuations are the
map's words instead of ChEF's ``(A``, ``(B``, ... The options the model sees, the target letter and
the sample id are unchanged, so the run's ``acc`` is ChEF's Acc for the map (the chosen position is
the gold one) and the match ratio pairs its records with the unmapped run's by id
(``mmlens.analyses.desiderata.instruction_following``).

Maps (``OPTION_MAP``): natural_0 ``1..8``, natural_1 ``I..VII``, natural_2 ``first..sixth``,
natural_3 ``(1)..(8)``, natural_4 ``α..θ``, neutral_0 ``Smith..Wilson``, neutral_1
``foo..joy``, neutral_2 ``~ @ # $ % ^ & *``; unnatural_0 answers option i with the next option's
label (``(A)`` -> ``"(B"``, the last -> ``"(A"``), unnatural_1 with the previous one. ``origin`` is
ChEF's unmapped run: no clause, the labels ``(A``, ``(B``, ... ranked. ChEF runs natural_0-2,
neutral_0-1 and unnatural_0 (``CHEF_RUN_SET``). A question with more options than its map has
words (natural_2 has six) is an error, as it is in ChEF (an IndexError there).

With the ``likelihood`` transform before it (ChEF's PPL ranking, ``--transform likelihood
--transform verbalizer:natural_0``), the words are ranked in its template (``The answer is
{option}``), as ChEF ranks them; with a task's own ranking (``rank_choices``), as the options' texts.

The clause goes at the end of the question text (ChEF: after its ``Options: ...`` line), on a new
line unless the text already ends with whitespace. Questions without options pass unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from pydantic import SerializeAsAny, field_validator

from mmlens.core.errors import ConfigError, SampleError
from mmlens.core.messages import Message, TextPart
from mmlens.core.parts import (
    Inferencer,
    Prediction,
    ReplayOutput,
    Transform,
    TransformContext,
    register_transform,
)
from mmlens.core.requests import Request, Response
from mmlens.core.sample import BadSample, Sample
from mmlens.transforms.calibration import gives_option_scores
from mmlens.transforms.choices import find_options
from mmlens.transforms.likelihood import ChefLikelihood
from mmlens.transforms.options import require_multiple_choice

# ChEF's OPTION and OPTION_MAP, as published.
CHEF_LABELS = ["A", "B", "C", "D", "E", "F", "G", "H"]
OPTION_MAP: dict[str, list[list[str]]] = {
    "natural": [
        ["1", "2", "3", "4", "5", "6", "7", "8"],
        ["I", "II", "III", "IV", "V", "VI", "VII"],
        ["first", "second", "third", "fourth", "fifth", "sixth"],
        ["(1)", "(2)", "(3)", "(4)", "(5)", "(6)", "(7)", "(8)"],
        ["α", "β", "γ", "δ", "ε", "ζ", "η", "θ"],
    ],
    "neutral": [
        ["Smith", "Johnson", "Williams", "Jones", "Brown", "Davis", "Miller", "Wilson"],
        ["foo", "dog", "hip", "oh", "cat", "lake", "river", "joy"],
        ["~", "@", "#", "$", "%", "^", "&", "*"],
    ],
}
MAP_NAMES: tuple[str, ...] = (
    *(f"{kind}_{i}" for kind, maps in OPTION_MAP.items() for i in range(len(maps))),
    "unnatural_0",
    "unnatural_1",
    "origin",
)
# eval_insfollow.py's settings: Acc and MR are reported per map and as plain means over these six.
CHEF_RUN_SET: tuple[str, ...] = (
    "natural_0",
    "natural_1",
    "natural_2",
    "neutral_0",
    "neutral_1",
    "unnatural_0",
)
CLAUSE = 'If the answer is "{}", you need to output "{}". '
METADATA_KEY = "verbalizer"  # sample metadata: {"map": name, "options": the ranked words}


def verbalizers(map_name: str, n_options: int) -> list[str]:
    """The words ranked for a question with ``n_options`` options under ``map_name``."""
    if map_name not in MAP_NAMES:
        raise ValueError(f"unknown verbalizer map {map_name!r} (known: {', '.join(MAP_NAMES)})")
    if n_options > len(CHEF_LABELS):
        raise ValueError(f"ChEF's option labels stop at (H); this question has {n_options} options")
    labels = [f"({letter}" for letter in CHEF_LABELS[:n_options]]
    kind, _, index = map_name.partition("_")
    if map_name == "origin":
        return labels
    if kind == "unnatural":
        return labels[1:] + labels[:1] if index == "0" else labels[-1:] + labels[:-1]
    words = OPTION_MAP[kind][int(index)]
    if n_options > len(words):
        raise ValueError(f"map {map_name} has {len(words)} words; this question has {n_options} options")
    return words[:n_options]


def clause(map_name: str, n_options: int) -> str:
    """The text ChEF appends to the question ('' for the unmapped run)."""
    if map_name == "origin":
        return ""
    words = verbalizers(map_name, n_options)
    return "".join(CLAUSE.format(f"({CHEF_LABELS[i]})", word) for i, word in enumerate(words))


def _with_clause(message: Message, text: str) -> Message:
    parts = list(message.content)
    last = max((i for i, part in enumerate(parts) if isinstance(part, TextPart)), default=None)
    if last is None:
        parts.append(TextPart(text))
    else:
        old = parts[last]
        assert isinstance(old, TextPart)
        joiner = "" if not old.text or old.text[-1].isspace() else "\n"
        parts[last] = TextPart(old.text + joiner + text)
    return Message(message.role, tuple(parts))


def verbalized(sample: Sample) -> Sample:
    """The sample as its ranking sees it: the map's words as its choices."""
    tag = sample.metadata.get(METADATA_KEY)
    return replace(sample, choices=list(tag["options"])) if tag else sample


class VerbalizedRanking(Inferencer):
    """The task's likelihood ranking over the verbalizer's words instead of the option texts; the
    prediction is the chosen position's letter (the target's scale), the word in its details."""

    inner: SerializeAsAny[Inferencer]
    replay_fields: ClassVar[frozenset[str]] = frozenset({"option_logprobs"})

    def plan(self, sample: Sample, messages: list[Message]) -> list[Request]:
        return self.inner.plan(verbalized(sample), messages)

    def combine(self, sample: Sample, requests: list[Request], responses: list[Response]) -> Prediction:
        return self._tagged(sample, self.inner.combine(verbalized(sample), requests, responses))

    def replay(self, sample: Sample, output: ReplayOutput) -> Prediction:
        return self._tagged(sample, self.inner.replay(verbalized(sample), output))

    @staticmethod
    def _tagged(sample: Sample, prediction: Prediction) -> Prediction:
        tag = sample.metadata.get(METADATA_KEY)
        if tag is None or prediction.option_scores is None:
            return prediction
        word = tag["options"][prediction.option_scores.chosen]
        return replace(
            prediction, details={**prediction.details, METADATA_KEY: {"map": tag["map"], "output": word}}
        )


@register_transform("verbalizer")
class Verbalizer(Transform):
    """ChEF's verbalizer maps: ``--transform verbalizer:natural_0`` (``origin``: the unmapped run)."""

    map: str = "natural_0"

    @field_validator("map")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in MAP_NAMES:
            raise ValueError(f"unknown verbalizer map {name!r} (known: {', '.join(MAP_NAMES)})")
        return name

    @classmethod
    def from_args(cls, args: str) -> dict[str, Any]:
        return {"map": args} if args else {}

    def label(self) -> str:
        return f"{self.name}:{self.map}"

    def adapt_inferencer(self, inferencer: Inferencer) -> Inferencer:
        if isinstance(inferencer, VerbalizedRanking):
            raise ConfigError("transform verbalizer: only one verbalizer map per run")
        if not gives_option_scores(inferencer) or type(inferencer).rounds is not Inferencer.rounds:
            raise ConfigError(
                "transform verbalizer ranks the map's words by likelihood: the task needs a one-round "
                f"likelihood ranking (rank_choices, rank_choices_token_mean), not {type(inferencer).__name__}"
            )
        if isinstance(inferencer, ChefLikelihood):  # it ranks "(A", "(B", ...: rank the words instead
            inferencer = inferencer.model_copy(update={"options": "content"})
        return VerbalizedRanking(inner=inferencer)

    def apply(self, samples: list[Sample], context: TransformContext) -> list[Sample | BadSample]:
        require_multiple_choice(samples, self, context)
        return super().apply(samples, context)

    def transform_sample(self, sample: Sample) -> list[Sample]:
        if find_options(sample) is None:
            return [sample]
        if not sample.choices:
            raise SampleError(
                sample.id,
                "the verbalizer ranks words in place of the options, and this sample's options are only "
                "written in its text (use --transform likelihood first)",
            )
        try:
            words = verbalizers(self.map, len(sample.choices))
        except ValueError as error:  # ChEF stops with an IndexError; here the sample is a bad sample
            raise SampleError(sample.id, str(error)) from None
        text = clause(self.map, len(sample.choices))
        messages = list(sample.messages)
        if text:
            last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
            if last_user is None:
                messages.append(Message("user", (TextPart(text),)))
            else:
                messages[last_user] = _with_clause(messages[last_user], text)
        tag = {"map": self.map, "options": words}
        return [replace(sample, messages=messages, metadata={**sample.metadata, METADATA_KEY: tag})]
