"""MMCircuitEval (cure-lab/MMCircuitEval, HF ``charlie314159/MMCircuitEval``): 3,614 circuit QA
in four splits (general, spec, frontend, backend).

A row is a problem: ``statement`` and the parallel lists ``questions``, ``question_types`` (single,
multi, blank, open), ``answers``, ``explanations``, ``difficulties``, ``abilities``; ``images`` (a
list, shared by the problem's sub-questions). One sample per sub-question, id ``<row>/<k>`` (the
row's position in the split, as ``runner.py`` keys its predictions, and the sub-question's).

The prompt is ``utils/prompts.py`` ``getQuestionPrompt`` (version v1: answer in JSON; ``v2`` through
the scenario field ``version``) + ``" You may refer to the provided images."`` when the problem has
images (a multimodal model), the images before the text (``models/demo_mllm.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from mmlens.core.errors import SampleError
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, Scenario, scenarios
from mmlens.core.sample import BadSample, Sample
from mmlens.scenarios.tables import read_table, row_images

HUB_ID = "charlie314159/MMCircuitEval"
COLUMNS = ("statement", "questions", "question_types", "answers", "explanations", "abilities")
IMAGE_PROMPT = "You may refer to the provided images."
COT_PROMPT = """
Please use the Chain of Thought (CoT) technique to reason through your answer step-by-step:
1. Understand the Question: Read the question carefully. What is being asked? Is it asking for a specific concept, calculation, or parameter identification? Clarify the core of the question.
2. Locate Relevant Information: Look through the document to find the section where the relevant information is described. This may include module functions, electrical characteristics, circuit configurations, or specific calculations.
3. Extract Key Data: Identify the specific details mentioned in the question. This could include module descriptions, or functional descriptions of components.
4. Apply Relevant Knowledge: Based on the extracted data, apply relevant electrical engineering concepts or formulas to interpret the information. If a calculation is required (e.g., capacitance, power, or voltage), recall and use the appropriate formulas.
5. Check Consistency and Reasonableness: After applying the knowledge, check if the results make sense in the context of the device. Are there any logical inconsistencies? Does the result align with the expected range or design requirements? If not, please go to step 2 and relocate more relevant information.
6. Conclusion: After completing the reasoning steps, summarize your findings and provide the answers and explanations in the last two paragraphs.
"""  # noqa: E501 - prompts.py's cot_prompt verbatim
_JSON_FORMAT = (
    "{{statement}}\n{{question}}\nAnswer this {kind} in JSON format and return the JSON object only. "
    'The response format should be: {{{{"answer": `{answer}`, "explanation": `no more than 3 sentences '
    "to explain your thoughts to give the answer`}}}}."
)
_TITLED = (
    "{{statement}}\n{{question}}\nAnswer this {kind}. The response should end with two paragraphs: one "
    'paragraph titled "### Answer ###" with {answer}, and another paragraph titled "### Explanation ###" '
    "with no more than 3 sentences to explain your thoughts to give the answer."
)
_KINDS = {
    "single": ("single-answer choice question", 'single choice among "A", "B", "C", and "D"'),
    "multi": ("multi-answer choice question", 'multiple choices among "A", "B", "C", and "D"'),
    "blank": ("fill-in-the-blank question", "a word, phrase, or sentence"),
    "open": ("question", "no more than 3 sentences to answer this question"),
}
_V2_ANSWERS = {
    "single": 'a single choice among "A", "B", "C", and "D"',
    "multi": 'multiple choices among "A", "B", "C", and "D"',
    "blank": "a word, phrase, or sentence to answer this question",
    "open": "no more than 3 sentences to answer this question",
}
INSTRUCTION_PROMPTS: dict[str, dict[str, str]] = {
    "v1": {t: _JSON_FORMAT.format(kind=k, answer=a) for t, (k, a) in _KINDS.items()},
    "v2": {t: _TITLED.format(kind=_KINDS[t][0], answer=_V2_ANSWERS[t]) for t in _KINDS},
}


def question_prompt(statement: str, question: str, question_type: str, version: str, cot: bool) -> str:
    """prompts.py ``getQuestionPrompt``."""
    prompt = INSTRUCTION_PROMPTS[version][question_type].format(statement=statement, question=question)
    return prompt + COT_PROMPT if cot else prompt


def _texts(row: dict[str, Any], column: str, count: int, where: str) -> list[str]:
    value = row.get(column)
    if value is None:
        value = [""] * count
    if not isinstance(value, list | tuple) or len(value) != count:
        raise SampleError(where, f"{column} must be a list of {count} entries, one per question")
    return ["" if item is None else str(item) for item in value]


@scenarios.register("mmcircuiteval")
class MMCircuitEvalScenario(Scenario):
    """Fields: ``split`` (general, spec, frontend, backend), ``version`` (v1, v2), ``cot``."""

    hub_id: str = HUB_ID
    split: Literal["general", "spec", "frontend", "backend"] = "general"
    version: Literal["v1", "v2"] = "v1"
    cot: bool = False

    def load(self, context: LoadContext) -> Iterator[Sample | BadSample]:
        table = read_table(
            context.data_path,
            default_hub_id=self.hub_id,
            split=self.split,
            task=context.task_name,
            image_columns=("images",),
        )
        table.require_columns(*COLUMNS, "images")
        for number, row in enumerate(table):
            try:
                yield from self._samples(number, row, table.origin)
            except SampleError as error:
                yield BadSample(f"{number}", error.reason)

    def _samples(self, number: int, row: dict[str, Any], origin: str) -> Iterator[Sample | BadSample]:
        where = f"{origin} row {number}"
        questions = row.get("questions")
        if not isinstance(questions, list | tuple) or not questions:
            raise SampleError(f"{number}", f"{where}: questions must be a non-empty list")
        count = len(questions)
        types = _texts(row, "question_types", count, where)
        answers = _texts(row, "answers", count, where)
        explanations = _texts(row, "explanations", count, where)
        abilities = _texts(row, "abilities", count, where)
        difficulties = _texts(row, "difficulties", count, where)
        images = row_images(row, "images", origin, f"{number}")
        statement = "" if row.get("statement") is None else str(row["statement"])
        for k, question in enumerate(questions):
            sample_id = f"{number}/{k}"
            if types[k] not in _KINDS:
                yield BadSample(
                    sample_id, f"{where}: question type {types[k]!r} is none of {', '.join(_KINDS)}"
                )
                continue
            text = question_prompt(statement, str(question), types[k], self.version, self.cot)
            if images:
                text += " " + IMAGE_PROMPT
            yield Sample(
                id=sample_id,
                messages=[Message("user", (*[ImagePart(image) for image in images], TextPart(text)))],
                target=answers[k],
                category=(abilities[k],) if abilities[k] else (),
                metadata={
                    "explanation": explanations[k],
                    "ability": abilities[k],
                    "difficulty": difficulties[k],
                    "question_type": types[k],
                    "multimodal": bool(images),
                    "version": self.version,
                },
            )
