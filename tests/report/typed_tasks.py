"""Tasks and models for the typed-results report tests: a judged two-round dialogue (exchanges,
roles), a likelihood-ranked multiple choice (option_scores), and a backend that fails on some
questions (an incomplete run)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from mmlens.core.requests import Request, Response
from mmlens.models.base import Emit
from mmlens.models.constant import ConstantArgs, ConstantModel

# A dialogue inferencer (ask, then ask again with the model's first answer in the history) and a
# metric that asks the ``judge`` role; both registered by the task's hooks file.
HOOKS = """
from mmlens.core.messages import Message
from mmlens.core.parts import Extraction, Prediction, inferencers, metrics
from mmlens.core.requests import GenerationSettings, Request
from mmlens.inferencers.basic import Generate
from mmlens.metrics.accuracy import Accuracy

FOLLOW_UP = "Are you sure? Answer once more."


@inferencers.register("report_test_ask_twice")
class AskTwice(Generate):
    def rounds(self, sample, messages):
        settings = self.settings()
        (first,) = yield [Request("generate", tuple(messages), settings)]
        if first.error is not None:
            return Prediction(text=None, error=first.error)
        history = (*messages, Message.assistant(first.text), Message.user(FOLLOW_UP))
        (second,) = yield [Request("generate", history, settings)]
        if second.error is not None:
            return Prediction(text=None, error=second.error)
        return Prediction(text=second.text, details={"turns": [first.text, second.text]})


@metrics.register("report_test_judged")
class Judged(Accuracy):
    def roles(self):
        return ("judge",)

    def extract_rounds(self, sample, prediction):
        question = (
            f"Judge: is {prediction.text!r} the answer {sample.target!r}? "
            "End with Verdict: correct or incorrect."
        )
        settings = GenerationSettings(max_new_tokens=8)
        request = Request("generate", (Message.user(question),), settings, role="judge")
        (reply,) = yield [request]
        if reply.error:
            return Extraction(None, "error", error=reply.error)
        verdict = (reply.text or "").strip().lower()
        return Extraction(sample.target if verdict.endswith(": correct") else "(judged wrong)", "judge")
"""

DEBATE_YAML = """name: debate
description: a judged two-round dialogue (report tests)
hooks: hooks.py
scenario: {type: jsonl, path: debate.jsonl}
inferencer: {type: report_test_ask_twice, max_new_tokens: 8}
metric: {type: report_test_judged}
roles:
  judge: {model: constant, args: {text: "Verdict: correct"}}
"""

CHOICE_YAML = """name: pick
description: likelihood-ranked multiple choice (report tests)
scenario: {type: jsonl, path: pick.jsonl}
inferencer: {type: rank_choices}
metric: {type: accuracy, extractor: choice_letter}
"""

QUIZ_YAML = """name: flaky_quiz
description: yes/no questions, some of which the backend fails (report tests)
scenario: {type: jsonl, path: flaky_quiz.jsonl}
inferencer: {type: generate, max_new_tokens: 4}
metric: {type: accuracy, extractor: yes_no}
"""

FAILING_QUESTION = "Question 3"


def build_typed_tasks(folder: Path) -> Path:
    """Write the three tasks into ``folder`` (pass it as ``include``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hooks.py").write_text(HOOKS)
    debate = [
        {"id": f"debate-{i}", "question": f"Debate {i}: is {i} even? Answer yes or no.", "answer": answer}
        for i, answer in enumerate(["yes", "no", "yes"])
    ]
    pick = [
        {
            "id": "pick-0",
            "question": "Which is a colour?",
            "choices": ["red", "table", "seventeen"],
            "answer": "A",
        },
        {
            "id": "pick-1",
            "question": "Which is a number?",
            "choices": ["blue", "chair", "two"],
            "answer": "C",
        },
    ]
    quiz = [
        {
            "id": f"flaky-{i}",
            "question": f"Question {i}: is this yes? Please answer yes or no.",
            "answer": "yes",
        }
        for i in range(6)
    ]
    for name, rows, yaml in (
        ("debate", debate, DEBATE_YAML),
        ("pick", pick, CHOICE_YAML),
        ("flaky_quiz", quiz, QUIZ_YAML),
    ):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        (folder / f"{name}.yaml").write_text(yaml)
    return folder


class LengthModel(ConstantModel):
    """Generates ``text``; scores a continuation by its length (shorter is likelier), so that each
    option of a ranking gets a different log-probability."""

    backend = "report_test_length"

    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        for index, request in enumerate(requests):
            if request.kind == "loglikelihood":
                emit(index, Response(logprob=-float(len(request.continuation or "")), is_greedy=False))
            else:
                emit(index, Response(text=self.args.text if isinstance(self.args, ConstantArgs) else "yes"))


class FlakyModel(ConstantModel):
    """Answers ``text`` except to the questions that contain FAILING_QUESTION, which fail (HTTP 503)."""

    backend = "report_test_flaky"

    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        for index, request in enumerate(requests):
            if FAILING_QUESTION in json.dumps(request.canonical()["messages"]):
                emit(index, Response(error="HTTP 503 from the test server"))
            else:
                emit(index, Response(text=self.args.text if isinstance(self.args, ConstantArgs) else "yes"))


def length_model(text: str = "yes") -> LengthModel:
    return LengthModel("", ConstantArgs(text=text))


def flaky_model(text: str = "yes") -> FlakyModel:
    return FlakyModel("", ConstantArgs(text=text))
