"""The official judge prompts (``prompts/pairing/*.txt``, ``prompts/scoring/*.txt``: the strings of
``scripts/utils/Pairing_Prompt.py`` and ``Scoring_Prompt.py`` at URRealHero/JudgeAnything@5108730,
verbatim) and the system instructions ``scripts/utils/prompt_builder.py`` builds from them.

The output keys are those of ``scripts/utils/schemas.py``: ``overall_choice`` / ``overall_comment``
(pair, overall), ``<rubric>_choice`` / ``<rubric>_comment`` for the six rubrics (pair, rubric);
``..._score`` in place of ``..._choice`` for score evaluation. Gemini receives the schema as
``response_schema`` (structured output); a backend without one gets the same keys as a text hint
(``schema_hint.txt``, mmlens's wording, not official) unless the task's ``schema_hint`` is off.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

PROMPTS = Path(__file__).resolve().parent / "prompts"

Mode = Literal["pair", "score"]
Setting = Literal["overall", "rubric", "checklist"]

# scripts/utils/config.py RUBRICS, in that order (the order of prompt_builder's rubric sections).
RUBRICS = ("relevance", "trustworthiness", "creativity", "clarity", "coherence", "completeness")
OVERALL = "overall"  # the key prefix of the "overall_score" rubric (gen_batch_api_judge.py)
RUBRIC_FILES = {rubric: f"{rubric.upper()}_PROMPT" for rubric in RUBRICS}
FOLDERS: dict[Mode, str] = {"pair": "pairing", "score": "scoring"}
VALUE_SUFFIX: dict[Mode, str] = {"pair": "choice", "score": "score"}


@cache
def official_text(mode: Mode, name: str) -> str:
    return (PROMPTS / FOLDERS[mode] / f"{name}.txt").read_text(encoding="utf-8")


def rubric_keys(setting: Setting) -> tuple[str, ...]:
    """The rubrics a setting's judge answers: overall -> ("overall",); rubric, checklist -> the six
    (gen_batch_api_judge.py: ``["overall_score"] if baseline == "overall" else RUBRICS``)."""
    return (OVERALL,) if setting == "overall" else RUBRICS


def system_prompt(mode: Mode, setting: Setting) -> str:
    """``SystemPromptBuilder.build_{overall,rubric}_{scoring,pairing}_prompt`` (a checklist run uses
    the rubric prompt: ``baseline != "overall"`` selects the rubric content)."""
    prompt = official_text(mode, "SYS_PROMPT")
    rule = "pairing" if mode == "pair" else "scoring"
    if setting == "overall":
        return prompt + f"\n\nHere is the {rule} rule:\n{official_text(mode, 'OVERALL_SCORE_PROMPT')}"
    for rubric in RUBRICS:
        text = official_text(mode, RUBRIC_FILES[rubric])
        prompt += f"\n\nHere is the rubric for {rule} based on {rubric}:\n{text}"
    return prompt


def value_key(mode: Mode, rubric: str) -> str:
    return f"{rubric}_{VALUE_SUFFIX[mode]}"


@cache
def schema_hint(mode: Mode, setting: Setting) -> str:
    """The schema's keys as text, for a judge that has no structured output (not official)."""
    values = '"0" | "1" | "2"' if mode == "pair" else "an integer from 1 to 5"
    fields = ", ".join(
        f'"{value_key(mode, rubric)}": {values}, "{rubric}_comment": "..."' for rubric in rubric_keys(setting)
    )
    template = (PROMPTS / "schema_hint.txt").read_text(encoding="utf-8")
    return template.format(fields="{" + fields + "}")
