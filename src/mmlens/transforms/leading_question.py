"""``leading_question``: every question asked twice, as published and as a leading (misleading)
rewrite that suggests a wrong answer, in the manner of MMR's positive / negative pairs (MMR
asks each fact straight and with a wrong premise; here the rewrite is made from any yes/no or
multiple-choice question). The reference answer stays the same: only the suggestion misleads.

=================  ===============================================================================
question           leading rewrite (deterministic per sample)
=================  ===============================================================================
yes/no, "Is/Are    the wrong answer presupposed, the polarity kept (yes still means there is):
there ...?"        reference no: "Isn't it true that there is a cat in the image?"; reference
                   yes: "There isn't a cat in the image, is there?" (the rest of the text, such as
                   "Please answer yes or no.", kept after it)
other yes/no       the question, then "I'm quite sure the answer is no." (the wrong answer)
multiple choice    "Isn't the answer C (a dog)?" after the question's stem (before options written
                   in the text), C a wrong option drawn by the seed and the sample's id
=================  ===============================================================================

The pair: the original keeps its id (so it shares its cached answer with the plain run) and the
rewrite is ``<id>#leading``; both get the group ``<group or id>``, and
``metadata["transform_details"]["leading_question"]`` (the record's
``details["transforms"]["leading_question"]``) says ``of`` (the original id), ``leading``, and for
the rewrite the ``suggested`` answer and the ``form`` used. A question that is neither yes/no nor
multiple choice is a bad sample.

The metric: the task's own per question; ``robust_acc`` (primary) = pairs with both right / pairs,
``original_acc`` and ``leading_acc`` = accuracy on each half of those pairs, ``misled_rate`` = of
the pairs whose original is right, the share whose rewrite is wrong (MMR's MR, over pairs), and
``vanilla_<metric>`` = the task's own metrics on the originals (the plain run's questions).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, ClassVar

from mmlens.core.errors import SampleError
from mmlens.core.messages import Message, TextPart
from mmlens.core.options import LETTERS
from mmlens.core.parts import (
    Aggregate,
    Extraction,
    Metric,
    Prediction,
    Rounds,
    SampleRecord,
    Transform,
    register_transform,
)
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import mean_aggregate
from mmlens.metrics.wrapped import WrappedMetric, with_vanilla, wrap_right_wrong
from mmlens.transforms.choices import find_options
from mmlens.transforms.options import sample_rng

KEY = "leading_question"  # metadata["transform_details"][KEY] -> the record's details["transforms"][KEY]
DETAILS_KEY = "transform_details"
SUFFIX = "#leading"
EXISTENCE = re.compile(r"^(Is|Are|Was|Were) there\b\s*(.*?)\s*\?$", re.S)
SENTENCE_START = re.compile(r"(?:^|(?<=[.!?:\n])\s*)(?=\S)")


def leading_id(sample_id: str) -> str:
    return f"{sample_id}{SUFFIX}"


def is_yes_no(sample: Sample) -> bool:
    return sample.target is not None and sample.target.strip().lower() in ("yes", "no")


def leading_yes_no(question: str, wrong: str) -> tuple[str, str]:
    """The leading form of one yes/no question sentence (ending in "?") and the form's name."""
    match = EXISTENCE.match(question.strip())
    if match is None:
        return f"{question} I'm quite sure the answer is {wrong}.", "suggestion"
    verb, rest = match.group(1).lower(), match.group(2)
    if wrong == "yes":
        return f"Isn't it true that there {verb} {rest}?", "presupposition"
    return f"There {verb}n't {rest}, {verb} there?", "presupposition"


def _question_span(text: str) -> tuple[int, int] | None:
    """Where the first question sentence of ``text`` is: from the start of its sentence to its "?"."""
    end = text.find("?")
    if end < 0:
        return None
    starts = [m.end() for m in SENTENCE_START.finditer(text, 0, end)]
    return (starts[-1] if starts else 0), end + 1


def _rewrite_last_user_text(sample: Sample, rewrite: Any) -> list[Message]:
    """The messages with ``rewrite(text) -> text | None`` applied to the first text part of the last
    user message that it changes (None: try the next part)."""
    messages = list(sample.messages)
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.role != "user":
            continue
        parts = list(message.content)
        for number, part in enumerate(parts):
            if isinstance(part, TextPart) and (changed := rewrite(part.text)) is not None:
                parts[number] = TextPart(changed)
                messages[index] = Message("user", tuple(parts))
                return messages
    raise SampleError(sample.id, "no question text to rewrite")


def rewrite_yes_no(sample: Sample) -> tuple[list[Message], dict[str, Any]]:
    assert sample.target is not None
    wrong = "no" if sample.target.strip().lower() == "yes" else "yes"
    form = ""

    def rewrite(text: str) -> str | None:
        nonlocal form
        span = _question_span(text)
        if span is None:
            return None
        start, end = span
        leading, form = leading_yes_no(text[start:end], wrong)
        return text[:start] + leading + text[end:]

    try:
        messages = _rewrite_last_user_text(sample, rewrite)
    except SampleError:  # no "?" anywhere: the suggestion after the last text

        def append(text: str) -> str:
            return f"{text} I'm quite sure the answer is {wrong}." if text else text

        messages = _rewrite_last_text(sample, append)
        form = "suggestion"
    return messages, {"suggested": wrong, "form": form}


def _rewrite_last_text(sample: Sample, rewrite: Any) -> list[Message]:
    messages = list(sample.messages)
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        texts = [i for i, part in enumerate(message.content) if isinstance(part, TextPart)]
        if message.role == "user" and texts:
            parts = list(message.content)
            last = parts[texts[-1]]
            assert isinstance(last, TextPart)
            parts[texts[-1]] = TextPart(rewrite(last.text))
            messages[index] = Message("user", tuple(parts))
            return messages
    raise SampleError(sample.id, "no question text to rewrite")


def rewrite_multiple_choice(sample: Sample, seed: int) -> tuple[list[Message], dict[str, Any]]:
    options = find_options(sample)
    assert options is not None
    wrong = sample_rng(seed, KEY, sample.id).choice(
        [i for i in range(len(options.choices)) if i != options.answer]
    )
    sentence = f"Isn't the answer {LETTERS[wrong]} ({options.choices[wrong]})?"
    info = {"suggested": LETTERS[wrong], "form": "option"}
    layout = options.layout
    if layout is not None:

        def before_block(text: str) -> str | None:
            span = layout.block(text)
            if span is None:
                return None
            stem = text[: span[0]]
            at = stem.rfind("?") + 1 or len(stem.rstrip())  # after the stem's question, else its end
            return f"{text[:at]} {sentence}{text[at:]}" if at else f"{sentence}\n{text}"

        return _rewrite_last_user_text(sample, before_block), info
    return _rewrite_last_text(sample, lambda text: f"{text} {sentence}" if text else sentence), info


def _tagged(sample: Sample, info: dict[str, Any]) -> Sample:
    details = {**sample.metadata.get(DETAILS_KEY, {}), KEY: info}
    return replace(sample, metadata={**sample.metadata, DETAILS_KEY: details})


def pair_tag(record: SampleRecord) -> dict[str, Any]:
    transforms = record.details.get("transforms")
    tag = transforms.get(KEY) if isinstance(transforms, dict) else None
    return tag if isinstance(tag, dict) else {"of": record.id, "leading": False}


class LeadingMetric(WrappedMetric):
    """The task's own metric per question; robust, original, leading accuracy and misled rate over pairs."""

    primary: ClassVar[str] = "robust_acc"

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        pairs: dict[str, dict[bool, SampleRecord]] = {}
        for record in records:
            tag = pair_tag(record)
            pairs.setdefault(str(tag["of"]), {})[bool(tag.get("leading"))] = record
        per_pair = []
        for of, pair in pairs.items():
            if len(pair) < 2:
                continue  # one of the two was a bad sample: the pair is not scored
            original, leading = pair[False].correct is True, pair[True].correct is True
            scores = {
                "robust_acc": float(original and leading),
                "original_acc": float(original),
                "leading_acc": float(leading),
            }
            if original:
                scores["misled_rate"] = float(not leading)
            per_pair.append(
                SampleRecord.model_validate(
                    {
                        "id": of,
                        "category": pair[False].category,
                        "group": pair[False].group,
                        "extraction": "exact",
                        "scores": scores,
                    }
                )
            )
        names = ["robust_acc", "original_acc", "leading_acc", "misled_rate"]
        paired = mean_aggregate(per_pair, names)
        vanilla = self.inner.aggregate([r for r in records if not pair_tag(r).get("leading")])
        return with_vanilla(paired, vanilla)


class LeadingJudgedMetric(LeadingMetric):
    """LeadingMetric over a metric that asks a role (a judge) for the answer."""

    def extract_rounds(self, sample: Sample, prediction: Prediction) -> Rounds[Extraction]:
        return (yield from self.inner_rounds(sample, prediction))


@register_transform("leading_question")
class LeadingQuestion(Transform):
    """Each question as published and as a leading rewrite (``<id>#leading``); right in both counts.

    ``--transform leading_question[:SEED]`` (the seed picks the wrong option suggested)."""

    seed: int = 0

    @classmethod
    def from_args(cls, args: str) -> dict[str, Any]:
        if not args:
            return {}
        key, equals, value = args.partition("=")
        return {key: value} if equals else {"seed": args}

    def adapt_metric(self, metric: Metric) -> Metric:
        if isinstance(metric, LeadingMetric):
            return metric
        return wrap_right_wrong(
            metric, LeadingMetric, LeadingJudgedMetric, "leading_question", "a leading-question pair needs"
        )

    def transform_sample(self, sample: Sample) -> list[Sample]:
        if sample.id.endswith(SUFFIX):
            raise SampleError(sample.id, "already a leading rewrite")
        if find_options(sample) is not None:
            messages, info = rewrite_multiple_choice(sample, self.seed)
        elif is_yes_no(sample):
            messages, info = rewrite_yes_no(sample)
        else:
            raise SampleError(
                sample.id, "neither a yes/no nor a multiple-choice question: nothing to mislead to"
            )
        group = sample.group or sample.id
        original = _tagged(replace(sample, group=group), {"of": sample.id, "leading": False})
        leading = _tagged(
            replace(sample, id=leading_id(sample.id), messages=messages, group=group),
            {"of": sample.id, "leading": True, **info},
        )
        return [original, leading]
