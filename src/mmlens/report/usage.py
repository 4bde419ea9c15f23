"""Token usage and cost per run and role, for the report's Usage section.

Usage is what each run recorded (``provenance.requests.by_role[role].usage``: the tokens the backend
reported, summed over every unique request the run used, answered by the model or from the store).
Cost comes only from a price table the user gives (``--prices FILE``); mmlens ships no prices. The
file maps a model label, or a glob over labels (``openai:gpt-4o*``), to its price per million tokens:

    openai:gpt-4o-mini-2024-07-18: {input: 0.15, output: 0.60}
    "openai:gpt-4o*": {input: 2.50, output: 10.00, currency: USD}

The first entry that matches a role's model label (exactly, else as a glob, in file order) prices it:
``prompt_tokens`` at ``input``, ``completion_tokens`` at ``output``. A model no entry matches has no
cost (shown as such, never a guess).
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, NonNegativeFloat, ValidationError

from mmlens.core.errors import ConfigError
from mmlens.report.runs import ReportRun

PER_TOKENS = 1_000_000


class Price(BaseModel):
    """A model's price per million tokens."""

    model_config = ConfigDict(extra="forbid")

    input: NonNegativeFloat  # per million prompt tokens
    output: NonNegativeFloat  # per million completion tokens
    currency: str = "USD"

    def cost(self, usage: dict[str, int]) -> float | None:
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if prompt is None and completion is None:
            return None
        return ((prompt or 0) * self.input + (completion or 0) * self.output) / PER_TOKENS


def load_prices(path: str | Path) -> dict[str, Price]:
    """The price table of ``path`` (YAML or JSON); a bad file is one error naming it and the key."""
    import yaml

    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"--prices {file}: cannot read it ({error.strerror or error})") from None
    try:
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise ConfigError(
            f"--prices {file}: not valid {'JSON' if file.suffix == '.json' else 'YAML'}: "
            f"{' '.join(str(error).split())}"
        ) from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(
            f"--prices {file}: expected a mapping of model label (or glob) to "
            "{input: <price per million prompt tokens>, output: <per million completion tokens>}"
        )
    prices: dict[str, Price] = {}
    for label, entry in data.items():
        try:
            prices[str(label)] = Price.model_validate(entry)
        except ValidationError as error:
            problems = error.errors()  # a misspelt key first: it is usually why one is missing
            first = next((p for p in problems if p["type"] == "extra_forbidden"), problems[0])
            where = ".".join(str(part) for part in first["loc"])
            raise ConfigError(
                f"--prices {file}: entry {label!r}{f' key {where!r}' if where else ''}: {first['msg']} "
                "(expected {input: <per million prompt tokens>, output: <per million completion tokens>})"
            ) from None
    return prices


def price_for(label: str, prices: dict[str, Price]) -> tuple[str, Price] | None:
    """The entry pricing the model ``label``: an exact match, else the first glob that matches."""
    if label in prices:
        return label, prices[label]
    for pattern, price in prices.items():
        if fnmatch.fnmatchcase(label, pattern):
            return pattern, price
    return None


def usage_view(runs: list[ReportRun], prices: dict[str, Price] | None) -> dict[str, Any]:
    """One row per run and role: the requests, the tokens and (with prices) the cost."""
    rows: list[dict[str, Any]] = []
    totals: dict[str, float] = {}
    for run in runs:
        provenance = run.results.provenance
        by_role = provenance.requests.by_role
        for role, counts in by_role.items():
            if role == "model":
                label = provenance.model.label or run.label
            else:
                role_provenance = provenance.roles.get(role)
                label = (role_provenance.label if role_provenance else None) or role
            usage = dict(counts.usage or {})
            matched = price_for(label, prices) if prices else None
            cost = matched[1].cost(usage) if matched else None
            currency = matched[1].currency if matched else None
            if cost is not None and currency is not None:
                totals[currency] = totals.get(currency, 0.0) + cost
            rows.append(
                {
                    "run_id": run.run_id,
                    "run": run.display,
                    "task": run.task,
                    "role": role,
                    "model": label,
                    "unique": counts.unique,
                    "computed": counts.computed,
                    "cached": counts.cached,
                    "prompt_tokens": usage.get("prompt_tokens"),
                    "completion_tokens": usage.get("completion_tokens"),
                    "cost": cost,
                    "currency": currency,
                    "price": matched[0] if matched else None,
                }
            )
    return {
        "rows": rows,
        "priced": prices is not None,
        "any_tokens": any(r["prompt_tokens"] is not None or r["completion_tokens"] is not None for r in rows),
        "totals": sorted(totals.items()),
    }
