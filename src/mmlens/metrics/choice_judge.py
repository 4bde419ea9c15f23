"""``choice_rule_then_judge``: multiple-choice accuracy, rule first and a judge only where the rule
finds no letter (VLMEvalKit's approach, ``vlmeval/dataset/utils/multiple_choice.py``: ``can_infer``,
then ``build_prompt`` to an extractor model); an explicit profile, never a task's official default.

1. The rule (field ``rule``, an extractor of ``metrics.extractors``; default ``choice_letter``)
   reads the response: a letter it finds is the answer (``details["extracted_by"] = "rule"``).
2. Otherwise the ``judge`` role gets VLMEvalKit's extraction prompt (``judge_prompts/vlmevalkit_mcq.txt``,
   verbatim; ``{options}`` is VLMEvalKit's ``build_option_str``: "There are several options: \\n"
   then "A. text\\n" per option) and its reply is read by the same rule: a letter of the sample's
   options is the answer (``extracted_by = "judge"``); ``Z`` (no option matches) is answer ``Z``,
   wrong; anything else is an unparsed reply (``failed``, counted wrong).
Deviation from VLMEvalKit, on purpose: it retries the extractor and after the last failure draws a
**random letter**; here a failed extraction is failed (counted in ``judging.failures.unparsed``).
Per sample ``acc`` (1 when the answer is the target letter); aggregate: mean with a 95% CI.
"""

from __future__ import annotations

from functools import cache

from pydantic import Field

from mmlens.core.messages import Message, TextPart
from mmlens.core.options import LETTERS
from mmlens.core.parts import (
    Aggregate,
    Extraction,
    Metric,
    Prediction,
    Rounds,
    SampleRecord,
    metrics,
)
from mmlens.core.requests import GenerationSettings, Request
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import mean_aggregate
from mmlens.metrics.extractors import extractors
from mmlens.metrics.judge import PROMPTS_DIR
from mmlens.metrics.judge_governance import (
    JUDGE_ROLE,
    parsed_reply,
    read_prompt_file,
    rule_then_judge,
    unparsed_reply,
)

MCQ_PROMPT_FILE = PROMPTS_DIR / "vlmevalkit_mcq.txt"


@cache
def mcq_prompt() -> str:
    return read_prompt_file(MCQ_PROMPT_FILE, "metric choice_rule_then_judge: prompt")


def option_block(choices: list[str] | None) -> str:
    """VLMEvalKit ``build_option_str``."""
    return "There are several options: \n" + "".join(
        f"{LETTERS[i]}. {c}\n" for i, c in enumerate(choices or [])
    )


@metrics.register("choice_rule_then_judge")
class ChoiceRuleThenJudge(Metric):
    """Rule first, judge fallback (see the module doc). Fields: rule, max_new_tokens, temperature."""

    rule: str = "choice_letter"
    max_new_tokens: int = Field(16, ge=1)
    temperature: float = Field(0.0, ge=0.0)
    seed: int | None = None

    def roles(self) -> tuple[str, ...]:
        return (JUDGE_ROLE,)

    def judge_prompt_templates(self) -> dict[str, str]:
        return {MCQ_PROMPT_FILE.name: mcq_prompt()}

    def settings(self) -> GenerationSettings:
        return GenerationSettings(
            max_new_tokens=self.max_new_tokens, temperature=self.temperature, seed=self.seed
        )

    def read_rule(self, sample: Sample, text: str) -> Extraction:
        return extractors.get(self.rule)(sample, text)

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:
            return Extraction(None, "failed")
        return self.read_rule(sample, prediction.text)

    def judge_letter(self, sample: Sample, response: str) -> Rounds[Extraction]:
        text = mcq_prompt().format(
            question=sample.question, options=option_block(sample.choices), response=response
        )
        request = Request(
            "generate", (Message("user", (TextPart(text),)),), settings=self.settings(), role=JUDGE_ROLE
        )
        (reply,) = yield [request]
        found = self.read_rule(sample, reply.text or "")
        if found.answer is not None:
            return parsed_reply(found.answer, reply.text)
        if (reply.text or "").strip().rstrip(".").upper() == "Z":
            return parsed_reply("Z", reply.text)
        return unparsed_reply(reply.text)

    def extract_rounds(self, sample: Sample, prediction: Prediction) -> Rounds[Extraction]:
        if prediction.text is None:
            return Extraction(None, "failed")
        text = prediction.text
        return (
            yield from rule_then_judge(self.read_rule(sample, text), lambda: self.judge_letter(sample, text))
        )

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        right = extraction.answer is not None and sample.target is not None
        return {"acc": float(right and extraction.answer == str(sample.target).strip().upper())}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        return mean_aggregate(records, ["acc"])
