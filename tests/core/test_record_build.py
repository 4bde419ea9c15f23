"""SampleRecord.build (the runner's unvalidated constructor) makes what validation makes."""

from __future__ import annotations

import pytest

from mmlens.core.results import SCHEMA_VERSION, Exchange, OptionScores, SampleRecord

VALUES = {
    "schema_version": SCHEMA_VERSION,
    "id": "q1",
    "category": ("perception", "count"),
    "group": "img1",
    "target": "B",
    "prompt": [{"role": "user", "content": [{"type": "text", "text": "How many?"}]}],
    "response": "B",
    "answer": "B",
    "extraction": "exact",
    "scores": {"acc": 1.0},
    "correct": True,
    "score": None,
    "error": None,
    "failed_role": None,
    "details": {"turns": ["B"]},
    "option_scores": OptionScores(logprobs=[-2.0, -0.5], normalization="sum", chosen=1),
    "exchanges": [Exchange(round=1, role="model", kind="generate", prompt=[], response="B")],
}


def test_build_equals_validation() -> None:
    built = SampleRecord.build(**VALUES)
    validated = SampleRecord.model_validate(VALUES)
    assert built == validated
    assert built.to_dict() == validated.to_dict()
    assert SampleRecord.from_dict(built.to_dict()) == validated
    assert built.model_copy(update={"group": "other"}).group == "other"


def test_build_refuses_a_missing_field() -> None:
    values = {k: v for k, v in VALUES.items() if k != "score"}
    with pytest.raises(TypeError, match="missing \\['score'\\]"):
        SampleRecord.build(**values)
    with pytest.raises(TypeError, match="unknown \\['scor'\\]"):
        SampleRecord.build(**values, scor=1.0)
