"""Judge governance: what pins a judge, how its failures are counted, and rule-first extraction.

Public helpers for every judge-scored metric (``judge_verdict``, a benchmark's own metric):

- **Fingerprint.** A judge is pinned by ``JudgeFingerprint``: the judge model's own fingerprint
  (backend, snapshot/name, options), the prompt template version (``prompt_version``: the sha256 of
  the template text(s), e.g. the prompt file's bytes) and the decoding settings its requests were
  sent with. A metric names its templates with an optional method
  ``judge_prompt_templates() -> dict[str, str]`` (name -> text, e.g. ``{"verdict.txt": text}``);
  without one, its string fields named ``prompt``/``system``/``*_prompt`` are used, else the
  metric's whole configuration (``template_texts``).

- **Failures.** A judge call that fails is ended by the runner (``runner.rounds.guarded``) as an
  ``error`` with ``failed_role`` set: counted in ``counts.errors``, so ``complete`` is false and a
  rerun (which re-sends only the failed requests) fills it. A reply that cannot be parsed is
  ``unparsed_reply(...)``: extraction ``failed`` (counted wrong, never a made-up verdict) with
  ``details["judge_parse"] = "unparsed"``. A benchmark whose official code gives unparsable replies a
  value (MMCircuitEval's 0.5) returns ``official_fallback(...)``: the official value, counted apart.
  A parsed reply is ``parsed_reply(...)``. ``runner.judging`` counts the three kinds per run.

- **Rule first, then the judge** (VLMEvalKit's multiple-choice approach): ``rule_then_judge(rule,
  judge)`` keeps a rule's answer when it found one and asks the judge only otherwise; the record's
  ``details["extracted_by"]`` is ``rule``, ``judge`` or ``failed`` (counted per run).

Example, inside a metric's ``extract_rounds``::

    rule = extract_choice_letter(prediction.text, sample.choices)        # an Extraction
    return (yield from rule_then_judge(rule, lambda: self.judge_letter(sample, prediction)))

    def judge_letter(self, sample, prediction):
        (reply,) = yield [self.judge_request(sample, prediction.text)]
        letter = parse_letter(reply.text)
        if letter is None:
            return unparsed_reply(reply.text)
        return parsed_reply(letter, reply.text)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mmlens.core.errors import ConfigError
from mmlens.core.parts import Extraction, Metric, Rounds
from mmlens.core.requests import canonical_json

JUDGE_ROLE = "judge"
JUDGE_PARSE_KEY = "judge_parse"  # Extraction.details key: how the judge's reply was read
JUDGE_REPLY_KEY = "judge_reply"  # Extraction.details key: the raw reply (also in the record's exchanges)
EXTRACTED_BY_KEY = "extracted_by"  # Extraction.details key of rule_then_judge: rule / judge / failed
JudgeParse = Literal["parsed", "unparsed", "official fallback"]
ExtractedBy = Literal["rule", "judge", "failed"]


def is_judge_role(name: str) -> bool:
    """``judge`` and the extra judges of a panel (``judge-2``, ``judge-3``, ...)."""
    return name == JUDGE_ROLE or (name.startswith(JUDGE_ROLE + "-") and name[len(JUDGE_ROLE) + 1 :].isdigit())


# -- fingerprint -----------------------------------------------------------------------------------


def prompt_version(*texts: str) -> str:
    """The version of a prompt template: the first 16 hex digits of the sha256 of its text(s)
    (several texts, e.g. a system and a user template, are joined with NUL)."""
    return hashlib.sha256("\0".join(texts).encode("utf-8")).hexdigest()[:16]


def read_prompt_file(path: str | Path, where: str = "judge prompt") -> str:
    """A prompt file's text (UTF-8, as it is: no stripping); a missing file is one ConfigError."""
    file = Path(path)
    try:
        return file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{where} {file}: cannot be read ({error.strerror or error})") from None


def template_texts(metric: Metric) -> dict[str, str]:
    """The judge prompt templates of ``metric``, name -> text (see the module doc)."""
    declared = getattr(metric, "judge_prompt_templates", None)
    if callable(declared):
        return {str(k): str(v) for k, v in dict(declared()).items()}
    fields = {
        name: value
        for name, value in metric.model_dump(mode="json").items()
        if isinstance(value, str) and (name in ("prompt", "system") or name.endswith("_prompt"))
    }
    return fields or {"metric config": canonical_json(metric.model_dump(mode="json"))}


class JudgeFingerprint(BaseModel):
    """What pins a judge: model, prompt template version, decoding settings."""

    model_config = ConfigDict(extra="forbid")

    label: str
    model: dict[str, Any]  # the judge model's fingerprint (backend, name/snapshot, options)
    prompt_version: str
    prompt_templates: list[str] = Field(default_factory=list)  # the template names hashed
    decoding: list[dict[str, Any]] = Field(default_factory=list)  # distinct settings of its requests

    def key(self) -> str:
        return canonical_json(self.model_dump(mode="json"))


def judge_fingerprint(
    label: str, model_fingerprint: dict[str, Any], metric: Metric, decoding: Iterable[dict[str, Any]] = ()
) -> JudgeFingerprint:
    templates = template_texts(metric)
    distinct = {canonical_json(d): d for d in decoding}
    return JudgeFingerprint(
        label=label,
        model=model_fingerprint,
        prompt_version=prompt_version(*(templates[name] for name in sorted(templates))),
        prompt_templates=sorted(templates),
        decoding=[distinct[k] for k in sorted(distinct)],
    )


# -- how a reply was read --------------------------------------------------------------------------


def parsed_reply(answer: str, reply: str | None, **details: Any) -> Extraction:
    """A verdict read from the judge's reply: extraction ``judge``."""
    return Extraction(answer, "judge", details={JUDGE_REPLY_KEY: reply, JUDGE_PARSE_KEY: "parsed", **details})


def unparsed_reply(reply: str | None, **details: Any) -> Extraction:
    """A reply no verdict could be read from: extraction ``failed`` (counted wrong and counted as an
    unparsed judge reply; never a made-up verdict)."""
    return Extraction(
        None, "failed", details={JUDGE_REPLY_KEY: reply, JUDGE_PARSE_KEY: "unparsed", **details}
    )


def official_fallback(answer: str, reply: str | None, **details: Any) -> Extraction:
    """An unparsable reply given the value the benchmark's official code gives it (say which in the
    metric's doc): extraction ``judge``, counted apart as ``official fallback``."""
    return Extraction(
        answer, "judge", details={JUDGE_REPLY_KEY: reply, JUDGE_PARSE_KEY: "official fallback", **details}
    )


def rule_then_judge(rule: Extraction, judge: Callable[[], Rounds[Extraction]]) -> Rounds[Extraction]:
    """The rule's extraction when it found an answer (``exact``/``rule``), else the judge's rounds
    (``judge()`` builds them); ``details["extracted_by"]`` says which decided (or ``failed``)."""
    if rule.answer is not None and rule.method in ("exact", "rule"):
        return Extraction(rule.answer, rule.method, details={**rule.details, EXTRACTED_BY_KEY: "rule"})
    judged = yield from judge()
    if judged.method == "error":
        return judged
    by: ExtractedBy = "judge" if judged.answer is not None else "failed"
    details = {**({"rule": rule.details} if rule.details else {}), **judged.details, EXTRACTED_BY_KEY: by}
    return Extraction(judged.answer, judged.method, judged.error, details, judged.failed_role)
