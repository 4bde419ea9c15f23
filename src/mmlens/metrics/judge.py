"""``judge_verdict``: correctness decided by a judge model (the run's ``judge`` role).

For each sample whose prediction has text, the metric sends ONE generate request to the role
``judge``: the prompt template (field ``prompt``; by default ``judge_prompts/correctness.txt``
beside this file) filled with the question, the reference answer and the model's response. The
judge's reply is parsed with one documented rule (``parse_verdict``):

    the LAST match, case-insensitive, of  ``verdict`` [spaces, * or _] ``:`` [spaces, * or _]
    ``correct`` | ``incorrect``  (whole words)

    "The answer matches.\\nVerdict: correct"        -> correct
    "**Verdict:** Incorrect"                        -> incorrect
    "Verdict: correct ... on reflection Verdict: incorrect"  -> incorrect (the last one counts)
    "It is right." / "Verdict: correctly" / ""      -> no verdict

A parsed verdict is extraction ``judge`` (answer ``correct`` or ``incorrect``). A reply without a
verdict is extraction ``failed`` (counted wrong, with ``details["judge_reply"]`` and
``details["judge_parse"] = "unparsed"``, see ``metrics.judge_governance``): a verdict is never made up.
A judge call that fails (network, server error) ends the sample as an error
through the runner (``runner.rounds.guarded``), naming the judge. A prediction without text (or
only whitespace) is ``failed`` without asking the judge.

Per sample: ``acc`` = 1.0 for ``correct``, else 0.0. Aggregate: mean accuracy with a 95% CI
(Wilson for independent questions, cluster-robust when samples share a group), per category too.

Template fields: ``{question}`` (the sample's question text), ``{reference}`` (its target),
``{response}`` (the model's response; required), ``{options}`` ("A. ..." one per line),
``{id}``, and any key of the sample's metadata. Literal braces are written ``{{`` and ``}}``.
A sample without a target, when the template uses ``{reference}``, is a bad sample, reported by id
(never judged against nothing). The judge sees the sample's images too with ``with_images: true``.

The exact prompt sent and the judge's raw reply are kept in each record's ``exchanges``
(samples.jsonl), and the judge's fingerprint is part of the run id (see ``runner.roles``).
"""

from __future__ import annotations

import re
import string
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from mmlens.core.errors import ConfigError, MmlensError, SampleError
from mmlens.core.messages import ContentPart, ImagePart, Message, TextPart
from mmlens.core.options import LETTERS
from mmlens.core.parts import Aggregate, Extraction, Metric, Prediction, Rounds, SampleRecord, metrics
from mmlens.core.requests import GenerationSettings, Request
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import mean_aggregate
from mmlens.metrics.judge_governance import parsed_reply, unparsed_reply

JUDGE_ROLE = "judge"
PROMPTS_DIR = Path(__file__).resolve().parent / "judge_prompts"
DEFAULT_PROMPT_FILE = PROMPTS_DIR / "correctness.txt"

VERDICT_PATTERN = re.compile(r"\bverdict\b[\s*_]*:[\s*_]*(correct|incorrect)\b", re.IGNORECASE)

# The fields a template may use besides the sample's metadata keys.
TEMPLATE_FIELDS = ("question", "reference", "response", "options", "id")


@cache
def default_prompt() -> str:
    """The default judge prompt template (``judge_prompts/correctness.txt``)."""
    try:
        return DEFAULT_PROMPT_FILE.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            f"metric judge_verdict: default prompt {DEFAULT_PROMPT_FILE} cannot be read "
            f"({error.strerror or error}); give metric.prompt in the task file"
        ) from None


def parse_verdict(reply: str | None) -> str | None:
    """``"correct"`` or ``"incorrect"`` from a judge's reply (the last ``Verdict: ...``), else None."""
    if not reply:
        return None
    matches = VERDICT_PATTERN.findall(reply)
    return matches[-1].lower() if matches else None


def template_names(template: str) -> list[str]:
    """The field names a template uses (``{name}``, ``{name.attr}`` -> ``name``); ValueError when
    it is not a valid format string or uses positional fields."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise ValueError(f"not a valid template: {error} (write literal braces as {{{{ and }}}})") from None
    names = []
    for _, field_name, _, _ in parsed:
        if field_name is None:
            continue
        name = re.split(r"[.\[]", field_name, maxsplit=1)[0]
        if not name or name.isdigit():
            raise ValueError(
                "positional fields ({} or {0}) are not allowed; use named fields: "
                + ", ".join(f"{{{n}}}" for n in TEMPLATE_FIELDS)
            )
        names.append(name)
    return names


def _normal(text: str) -> str:
    return text.strip().rstrip(".").strip().lower()


def format_options(choices: list[str] | None) -> str:
    return "\n".join(f"{LETTERS[i]}. {choice}" for i, choice in enumerate(choices or []))


@metrics.register("judge_verdict")
class JudgeVerdict(Metric):
    """Judged correctness: acc = share of samples the judge calls correct (see the module doc).

    Fields: prompt (the template), system (an optional system message for the judge),
    max_new_tokens and temperature (the judge's generation settings; greedy by default), seed
    (for a sampling judge), with_images (show the judge the sample's images)."""

    prompt: str = Field(default_factory=default_prompt)
    system: str | None = None
    max_new_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0.0)
    seed: int | None = None
    with_images: bool = False

    @field_validator("prompt")
    @classmethod
    def _check_prompt(cls, value: str) -> str:
        if "response" not in template_names(value):
            raise ValueError("the judge prompt must contain {response} (the model's answer)")
        return value

    def roles(self) -> tuple[str, ...]:
        return (JUDGE_ROLE,)

    def judge_prompt_templates(self) -> dict[str, str]:
        """The templates that pin this judge (``metrics.judge_governance.JudgeFingerprint``)."""
        return {"prompt": self.prompt, **({"system": self.system} if self.system else {})}

    def settings(self) -> GenerationSettings:
        return GenerationSettings(
            max_new_tokens=self.max_new_tokens, temperature=self.temperature, seed=self.seed
        )

    def judge_text(self, sample: Sample, response: str) -> str:
        """The prompt text for one sample; a SampleError (the sample becomes a bad sample, reported
        by id) when the sample lacks a field the template uses."""
        names = set(template_names(self.prompt))
        if "reference" in names and sample.target is None:
            raise SampleError(sample.id, "has no reference answer for the judge")
        fields: dict[str, Any] = {
            **sample.metadata,
            "question": sample.question,
            "reference": sample.target,
            "response": response,
            "options": format_options(sample.choices),
            "id": sample.id,
        }
        try:
            return self.prompt.format_map(fields)
        except (KeyError, AttributeError, IndexError, ValueError) as error:
            raise SampleError(
                sample.id,
                f"the judge prompt uses {error}, which the sample does not have "
                f"(fields: {', '.join(TEMPLATE_FIELDS)} and the sample's metadata)",
            ) from None

    def judge_request(self, sample: Sample, response: str) -> Request:
        content: list[ContentPart] = [ImagePart(image) for image in sample.images] if self.with_images else []
        content.append(TextPart(self.judge_text(sample, response)))
        messages = [Message.system(self.system)] if self.system else []
        messages.append(Message("user", tuple(content)))
        return Request("generate", tuple(messages), settings=self.settings(), role=JUDGE_ROLE)

    def rule_answer(self, sample: Sample, prediction: Prediction) -> str | None:
        """The verdict a rule gives without a judge, for judge-vs-rule agreement: ``correct`` when the
        response equals the reference once both are lower-cased and stripped of surrounding
        whitespace and final ``.``; None otherwise (a rule cannot tell a paraphrase from a wrong
        answer, so it decides only exact matches)."""
        if prediction.text is None or sample.target is None:
            return None
        if _normal(prediction.text) and _normal(prediction.text) == _normal(sample.target):
            return "correct"
        return None

    def _without_judge(self, prediction: Prediction) -> Extraction | None:
        """The outcome when there is nothing to judge (no text), else None."""
        if prediction.text is None or not prediction.text.strip():
            return Extraction(None, "failed", details={"judge": "not asked: the response is empty"})
        return None

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        settled = self._without_judge(prediction)
        if settled is not None:
            return settled
        raise MmlensError(
            "metric judge_verdict decides through a judge model: it is scored in rounds (extract_rounds)"
        )

    def extract_rounds(self, sample: Sample, prediction: Prediction) -> Rounds[Extraction]:
        settled = self._without_judge(prediction)
        if settled is not None:
            return settled
        assert prediction.text is not None
        request = self.judge_request(sample, prediction.text)
        (reply,) = yield [request]
        verdict = parse_verdict(reply.text)
        if verdict is None:
            return unparsed_reply(reply.text)
        return parsed_reply(verdict, reply.text)

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        return {"acc": 1.0 if extraction.answer == "correct" else 0.0}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        return mean_aggregate(records, ["acc"])
