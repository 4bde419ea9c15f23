"""How far a judge can be trusted: agreement within a judge panel and between the judge and a rule.

Read from the records a ``metrics.judge_panel.JudgePanel`` wrote (``details["judge_panel"]``: one
vote per member, the primary first; ``details["rule_answer"]``):

- ``members``: per member (``judge``, ``judge#2`` a repeat, ``judge-2`` another judge) the samples
  it answered and its mean score (its accuracy, had it been the judge).
- ``disagreement``: samples whose members did not all give the same answer (count, share, and the
  first 50 ids) among the samples every member was asked about.
- ``krippendorff_alpha``: nominal Krippendorff's alpha over the members' answers (the PyPI
  ``krippendorff`` package; an unanswered vote is a missing value), with the number of samples.
- ``cohen_kappa``: for exactly two members, Cohen's kappa (scikit-learn ``cohen_kappa_score``) on
  the samples both answered.
- ``judge_vs_rule``: on the samples a rule could decide (``rule_answer`` not null), how often the
  primary judge's answer equals the rule's (``agreement``), with ``n`` and the ids that differ.

A statistic that cannot be computed (a single category everywhere, too few samples) is ``None`` with
a ``note`` saying why, never a made-up number.
"""

from __future__ import annotations

import math
from typing import Any

from mmlens.core.parts import SampleRecord
from mmlens.metrics.judge_panel import PANEL_KEY, RULE_ANSWER_KEY

SHOWN_IDS = 50


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def krippendorff_alpha(ratings: list[list[str | None]]) -> float | None:
    """Nominal alpha; ``ratings[member][sample]`` (None = missing). None where undefined."""
    import krippendorff
    import numpy as np

    labels = sorted({value for row in ratings for value in row if value is not None})
    if len(labels) < 2:
        return None  # one category only: alpha is undefined (0/0)
    codes = {label: float(i) for i, label in enumerate(labels)}
    data = np.array([[codes[v] if v is not None else np.nan for v in row] for row in ratings], dtype=float)
    try:
        alpha = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    except (ValueError, ZeroDivisionError):
        return None
    return _finite(float(alpha))


def cohen_kappa(first: list[str], second: list[str]) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    if not first or len(set(first) | set(second)) < 2:
        return None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(cohen_kappa_score(first, second))
    return _finite(value)


def panel_agreement(records: list[SampleRecord]) -> dict[str, Any] | None:
    """The panel statistics of a run (see the module doc); None when no record has a panel."""
    panels = [(r.id, r.details[PANEL_KEY]) for r in records if isinstance(r.details.get(PANEL_KEY), list)]
    if not panels or len(panels[0][1]) < 2:
        return None
    names = [vote["member"] for vote in panels[0][1]]
    members: dict[str, dict[str, Any]] = {}
    for position, name in enumerate(names):
        votes = [panel[position] for _, panel in panels if len(panel) > position]
        scores = [v["score"] for v in votes if v["asked"] and v["score"] is not None]
        members[name] = {
            "answered": sum(1 for v in votes if v["asked"] and v["answer"] is not None),
            "mean_score": sum(scores) / len(scores) if scores else None,
        }
    asked = [(sid, panel) for sid, panel in panels if all(v["asked"] for v in panel)]
    differing = [sid for sid, panel in asked if len({v["answer"] for v in panel}) > 1]
    ratings = [[panel[i]["answer"] for _, panel in asked] for i in range(len(names))]
    result: dict[str, Any] = {
        "members": members,
        "samples": len(asked),
        "disagreement": {
            "count": len(differing),
            "share": len(differing) / len(asked) if asked else None,
            "ids": differing[:SHOWN_IDS],
        },
        "krippendorff_alpha": krippendorff_alpha(ratings) if asked else None,
    }
    if result["krippendorff_alpha"] is None:
        result["note"] = (
            "alpha is undefined: fewer than two distinct answers, or no sample every member judged"
        )
    if len(names) == 2:
        both = [
            (a, b) for a, b in zip(ratings[0], ratings[1], strict=True) if a is not None and b is not None
        ]
        result["cohen_kappa"] = cohen_kappa([a for a, _ in both], [b for _, b in both])
    return result


def judge_vs_rule(records: list[SampleRecord]) -> dict[str, Any] | None:
    """Agreement of the primary judge with a rule on the samples the rule decides; None if none."""
    decided = [
        r
        for r in records
        if r.details.get(RULE_ANSWER_KEY) is not None and r.extraction in ("judge", "failed")
    ]
    if not decided:
        return None
    differing = [r.id for r in decided if r.answer != r.details[RULE_ANSWER_KEY]]
    return {
        "n": len(decided),
        "agreement": 1 - len(differing) / len(decided),
        "differing_ids": differing[:SHOWN_IDS],
    }
