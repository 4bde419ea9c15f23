"""A tiny judged task for the CLI tests: the metric asks a ``judge`` role whether each response is right."""

from __future__ import annotations

import json
from pathlib import Path

HOOKS = """
from mmlens.core.messages import Message
from mmlens.core.parts import Extraction, metrics
from mmlens.core.requests import GenerationSettings, Request
from mmlens.metrics.accuracy import Accuracy


@metrics.register("cli_test_judged")
class JudgedAccuracy(Accuracy):
    def roles(self):
        return ("judge",)

    def extract_rounds(self, sample, prediction):
        question = f"Is {prediction.text!r} the answer {sample.target!r}? Answer yes or no."
        settings = GenerationSettings(max_new_tokens=2)
        request = Request("generate", (Message.user(question),), settings, role="judge")
        (reply,) = yield [request]
        if reply.error:
            return Extraction(None, "error", error=reply.error)
        verdict = (reply.text or "").strip().lower()
        return Extraction(sample.target if verdict.startswith("yes") else "(judged wrong)", "judge")
"""

TASK = """name: judged
description: |-
  a judged test task
  (second line, not listed)
id_scheme: "q<number>"
hooks: hooks.py
scenario: {type: jsonl, path: judged.jsonl}
inferencer: {type: generate, max_new_tokens: 4}
metric: {type: cli_test_judged}
"""


def build_judged_task(folder: Path, count: int = 4) -> Path:
    """The task file of ``count`` text questions whose metric needs a judge."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"q{i}", "question": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(count)]
    (folder / "judged.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (folder / "hooks.py").write_text(HOOKS)
    (folder / "judged.yaml").write_text(TASK)
    return folder / "judged.yaml"
