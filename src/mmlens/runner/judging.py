"""results.json ``judging``: what a judged run's judges were, how they failed, agreed and cost.

Written only for runs with a judge role (``judge``, and ``judge-2`` ... of a panel)::

    "judging": {
      "judges": {"judge": {"label", "official", "official_label", "fingerprint": {model,
                 prompt_version, decoding, ...}, "calls": {unique, cached, computed, errors}}},
      "official": true,            # every judge is the task's default (never compare with false)
      "failures": {"call_errors": n, "unparsed": n, "official_fallback": n},
      "extracted_by": {"rule": n, "judge": n, "failed": n},   # rule-then-judge metrics only
      "agreement": {...}, "judge_vs_rule": {...},            # metrics.judge_agreement
      "cost": {role: {"prompt_tokens", "completion_tokens", "cost", "currency", "price"}}
    }

``cost`` covers every role (the model under test too) and has money only with a price table
(``--prices FILE``, ``report.usage.load_prices``); tokens are there whenever the backend reported
them. A failed judge call is also counted in ``counts.errors``, so ``complete`` stays false until a
rerun fills it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from mmlens.core.parts import Metric, SampleRecord
from mmlens.core.requests import MODEL_ROLE
from mmlens.core.results import RoleProvenance
from mmlens.metrics.judge_agreement import judge_vs_rule, panel_agreement
from mmlens.metrics.judge_governance import (
    EXTRACTED_BY_KEY,
    JUDGE_PARSE_KEY,
    is_judge_role,
    judge_fingerprint,
)
from mmlens.metrics.judge_panel import JudgePanel


def role_costs(
    by_role: dict[str, dict[str, Any]], labels: dict[str, str], prices: dict[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """Tokens (and, with prices, money) per role from provenance ``requests.by_role``."""
    from mmlens.report.usage import price_for

    costs: dict[str, dict[str, Any]] = {}
    for role, counts in by_role.items():
        usage = dict(counts.get("usage") or {})
        entry: dict[str, Any] = {
            "model": labels.get(role, role),
            "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": usage.get("completion_tokens"),
        }
        if prices is not None:
            matched = price_for(entry["model"], prices)
            entry["price"] = matched[0] if matched else None
            entry["cost"] = matched[1].cost(usage) if matched else None
            entry["currency"] = matched[1].currency if matched else None
        costs[role] = entry
    return costs


def judge_decoding(metric: Metric) -> dict[str, Any]:
    """The decoding settings a metric sends its judge requests with: its ``settings()`` where it has
    one (``judge_verdict``), else its fields that set them (``judge_temperature``, ...)."""
    settings = getattr(metric, "settings", None)
    if callable(settings):
        return dict(settings().canonical())
    words = ("temperature", "max_new_tokens", "max_tokens", "top_p", "seed")
    return {k: v for k, v in metric.model_dump(mode="json").items() if any(w in k for w in words)}


def judging_summary(
    metric: Metric,
    records: list[SampleRecord],
    roles: dict[str, RoleProvenance],
    by_role: dict[str, dict[str, Any]],
    model_label: str | None,
    prices: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The ``judging`` section (see the module doc); None for a run without a judge."""
    judge_names = [name for name in roles if is_judge_role(name)]
    if not judge_names:
        return None
    inner = metric.inner if isinstance(metric, JudgePanel) else metric
    decoding = [judge_decoding(inner)]
    judges: dict[str, Any] = {}
    for name in judge_names:
        role = roles[name]
        fingerprint = judge_fingerprint(role.label or "?", role.fingerprint or {}, inner, decoding)
        judges[name] = {
            "label": role.label,
            "official": bool(role.is_task_default),
            "official_label": role.task_default,
            "source": role.source,
            "fingerprint": fingerprint.model_dump(mode="json"),
            "calls": {k: v for k, v in by_role.get(name, {}).items() if k != "usage"},
        }
    parses = Counter(str(r.details.get(JUDGE_PARSE_KEY)) for r in records if JUDGE_PARSE_KEY in r.details)
    summary: dict[str, Any] = {
        "judges": judges,
        "official": all(j["official"] for j in judges.values()),
        "failures": {
            "call_errors": sum(
                1 for r in records if r.failed_role is not None and is_judge_role(r.failed_role)
            ),
            "unparsed": parses.get("unparsed", 0),
            "official_fallback": parses.get("official fallback", 0),
        },
    }
    extracted = Counter(str(r.details[EXTRACTED_BY_KEY]) for r in records if EXTRACTED_BY_KEY in r.details)
    if extracted:
        summary["extracted_by"] = {key: extracted.get(key, 0) for key in ("rule", "judge", "failed")}
    agreement = panel_agreement(records)
    if agreement is not None:
        summary["agreement"] = agreement
        if isinstance(metric, JudgePanel) and metric.repeats > 1:
            agreement["repeats"] = metric.repeats
            agreement["repeat_temperature"] = metric.repeat_temperature
    versus = judge_vs_rule(records)
    if versus is not None:
        summary["judge_vs_rule"] = versus
    labels = {MODEL_ROLE: model_label or MODEL_ROLE, **{n: r.label or n for n, r in roles.items()}}
    summary["cost"] = role_costs(by_role, labels, prices)
    return summary
