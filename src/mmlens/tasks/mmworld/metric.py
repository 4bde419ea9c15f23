"""MMWorld's judge protocol (eric-ai-lab/MMWorld@b218230 evaluation/eval.py, main_utils.py).

An open model's answer first goes through ``answer_post_processing`` (text before the first
``.``, "The answer is" removed, stripped, lower-cased, quotes stripped, text before the first
``:``); then always the judge (role ``judge``, system "You are a helpful assistant that provides
concise answers."): ``For question: {q}\\nOption A: ..\\nOption D: ..(please select one)\\nGround
truth answer: {label}\\nModel predicted answer: {answer}\\nBased on the question and the ground
truth answer, is the model's predicted answer correct? If multi-choice provided, think about which
choice is selected by the model, is it correct? (please answer yes/no)\\n``; right iff "yes" is in
its lower-cased reply. Accuracy: overall, per discipline, per question type, and per annotation
flag over the questions where the flag is true.

Profile ``lmms-eval``: no judge; Video-MME's first-capital regex against
``correct_answer_label.upper()``; every question in the denominator.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from mmlens.core.messages import Message
from mmlens.core.parts import (
    Aggregate,
    Extraction,
    Metric,
    MetricValue,
    Prediction,
    Rounds,
    SampleRecord,
    metrics,
)
from mmlens.core.requests import GenerationSettings, Request
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import mean_metrics
from mmlens.tasks.videomme.metric import FIRST_PREFIXES, extract_characters_regex

JUDGE_SYSTEM = "You are a helpful assistant that provides concise answers."


def answer_post_processing(model_answer: str) -> str:
    parts = model_answer.split(".")
    processed = parts[0].replace("The answer is", "").strip().lower().strip("\"'")
    return processed.split(":")[0].strip()


def judge_prompt(question: str, options: dict[str, str], label: str, answer: str) -> str:
    options_str = "\n".join(f"Option {key.upper()}: {text}" for key, text in options.items())
    return (
        "For question: "
        + question
        + "\n"
        + options_str
        + "(please select one)\nGround truth answer: "
        + label
        + "\nModel predicted answer: "
        + answer
        + "\nBased on the question and the ground truth answer, is the model's predicted answer correct? "
        "If multi-choice provided, think about which choice is selected by the model, is it correct? "
        "(please answer yes/no)\n"
    )


@metrics.register("mmworld")
class MMWorldAccuracy(Metric):
    """Fields: ``scoring`` (judge: official; lmms_eval: the letter rule), ``post_process`` (the
    official does it for open models, not for GPT-4V / Gemini), ``role``."""

    primary: ClassVar[str] = "acc"
    correct_key: ClassVar[str | None] = "acc"

    scoring: Literal["judge", "lmms_eval"] = "judge"
    post_process: bool = True
    role: str = "judge"
    judge_max_new_tokens: int = 64

    def roles(self) -> tuple[str, ...]:
        return (self.role,) if self.scoring == "judge" else ()

    def _groups(self, sample: Sample) -> dict[str, object]:
        return {
            "discipline": sample.metadata.get("discipline"),
            "type": sample.metadata.get("type"),
            "flags": sample.metadata.get("flags", {}),
        }

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:
            return Extraction(None, "failed", details=self._groups(sample))
        letter = extract_characters_regex(prediction.text, FIRST_PREFIXES)
        return Extraction(letter or None, "rule" if letter else "failed", details=self._groups(sample))

    def extract_rounds(self, sample: Sample, prediction: Prediction) -> Rounds[Extraction]:
        if self.scoring != "judge" or prediction.text is None:
            return self.extract(sample, prediction)
        answer = answer_post_processing(prediction.text) if self.post_process else prediction.text
        prompt = judge_prompt(
            sample.metadata["question"], sample.metadata["options"], sample.target or "", answer
        )
        settings = GenerationSettings(max_new_tokens=self.judge_max_new_tokens, temperature=0.0)
        messages = (Message.system(JUDGE_SYSTEM), Message.user(prompt))
        (reply,) = yield [Request("generate", messages, settings=settings, role=self.role)]
        if reply.error is not None:
            return Extraction(None, "error", error=reply.error, failed_role=self.role)
        verdict = "yes" in (reply.text or "").strip().lower()
        details = {
            **self._groups(sample),
            "processed_answer": answer,
            "judge_reply": reply.text,
            "verdict": verdict,
        }
        return Extraction(answer, "judge", details=details)

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        if self.scoring == "judge":
            return {"acc": float(bool(extraction.details.get("verdict")))}
        return {
            "acc": float(extraction.answer is not None and extraction.answer == (sample.target or "").upper())
        }

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        breakdown: dict[str, dict[str, MetricValue]] = {}
        for field in ("discipline", "type"):
            groups: dict[str, list[SampleRecord]] = {}
            for record in records:
                groups.setdefault(str(record.details.get(field)), []).append(record)
            for value, group in sorted(groups.items()):
                breakdown[f"{field}/{value}"] = mean_metrics(group, ["acc"])
        flags = sorted({name for record in records for name in record.details.get("flags", {})})
        for name in flags:
            flagged = [record for record in records if record.details.get("flags", {}).get(name)]
            breakdown[f"flag/{name}"] = mean_metrics(flagged, ["acc"])
        return Aggregate(mean_metrics(records, ["acc"]), breakdown)
