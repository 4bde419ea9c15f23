"""HallusionBench's official scoring (tianyi-lab/HallusionBench@744007c ``utils.py``,
``evaluation.py``), and VLMEvalKit's judge-free yes/no rule as a profile.

Official (``verdict: judge``): every response goes to the ``judge`` role (the official judge is
``gpt-4``) with the official prompt (``JUDGE_PROMPT``: question, ``gt_answer_details``, the
response); the reply is read as ``'incorrect' in reply.lower()`` -> 0 (incorrect), elif
``'correct' in ...`` -> 1 (correct), else 2 (unclear). ``assign_correctness``: a question is right
when the verdict is 1, or, for a VS question without its figure (``figure_id`` 0), 1 or 2.

``verdict: yes_no`` (VLMEvalKit ``YOrN_Extraction`` in ``exact_matching`` mode): the lower-cased
response after ``process_punctuation``, split on whitespace: "yes" without "no" -> Yes, "no"
without "yes" -> No, else Unknown (wrong); right when it equals the answer (gt_answer 1 = Yes).

Aggregates (0-1; the official tables print 100 x, rounded to 4 places):
- ``aAcc``: right questions / questions.
- ``fAcc``: figures all of whose questions are right / figures, a figure being
  ``category_subcategory_set_id_figure_id`` (official: VS questions without a figure are left out;
  ``grouping: vlmevalkit``: ``subcategory_set_id_figure_id``, every question counted).
- ``qAcc``: question pairs all right / pairs, a pair being ``category_subcategory_set_id_question_id``
  (``vlmevalkit``: ``subcategory_set_id_question_id``).
- ``easy_aAcc`` / ``hard_aAcc`` (official only): the leaderboard's "Acc per easy / hard question",
  which the official code computes as ``qAcc`` over the questions with ``visual_input`` != 2 / == 2
  (pairs, not questions).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import ClassVar, Literal

from pydantic import Field

from mmlens.core.messages import Message, TextPart
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
from mmlens.metrics.aggregation import category_nodes, mean_metrics
from mmlens.metrics.stats import mean_interval

JUDGE_ROLE = "judge"
VERDICTS = {"0": "incorrect", "1": "correct", "2": "unclear"}

JUDGE_PROMPT_HEAD = (
    "Imagine you are an intelligent teacher. Thoroughly read the question, reference answer and the "
    "prediction answer to ensure a clear understanding of the information provided. Assess the "
    "correctness of the predictions. If the prediction answer does not conflict with the reference "
    "answer, please generate \u201ccorrect\u201d. If the prediction answer conflict with the reference "
    "answer, please generate \u201cincorrect\u201d. If the prediction answer is unclear about the answer, "
    'please generate "unclear". \n\n Question:'
)


def judge_prompt(question: str, reference: str, prediction: str) -> str:
    """The official judge prompt (utils.py ``evaluate_by_chatgpt``), byte for byte."""
    return (
        JUDGE_PROMPT_HEAD
        + question
        + "\nReference answer: "
        + reference
        + "\nPrediction answer:"
        + prediction
        + "\nOutput:"
    )


def parse_judge_reply(reply: str) -> str:
    """'0' (incorrect), '1' (correct) or '2' (unclear), as the official script reads a reply."""
    text = reply.lower()
    if "incorrect" in text:
        return "0"
    if "correct" in text:
        return "1"
    return "2"


_PUNCT = [
    ";",
    r"/",
    "[",
    "]",
    '"',
    "{",
    "}",
    "(",
    ")",
    "=",
    "+",
    "\\",
    "_",
    "-",
    ">",
    "<",
    "@",
    "`",
    ",",
    "?",
    "!",
]
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
_PERIOD_STRIP = re.compile(r"(?<!\d)\.(?!\d)")


def process_punctuation(text: str) -> str:
    """VLMEvalKit's ``process_punctuation`` (vlmeval/smp/misc.py), its quirks included: a mark is
    deleted when any mark sits beside a space (or a digit comma exists), else replaced by a space;
    at most 32 lone periods are removed (``re.UNICODE`` passed as the count)."""
    out = text
    for mark in _PUNCT:
        if (mark + " " in text or " " + mark in text) or _COMMA_STRIP.search(text) is not None:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD_STRIP.sub("", out, count=re.UNICODE)


def extract_yes_no_vlmevalkit(response: str) -> str:
    """'Yes', 'No' or 'Unknown' (VLMEvalKit ``YOrN_Extraction``)."""
    words = process_punctuation(response.lower()).split()
    if "yes" in words and "no" not in words:
        return "Yes"
    if "yes" not in words and "no" in words:
        return "No"
    return "Unknown"


def id_parts(sample_id: str) -> tuple[str, str, str, str, str]:
    """(category, subcategory, set_id, figure_id, question_id) of a HallusionBench sample id."""
    category, subcategory, set_id, figure_id, question_id = sample_id.split("_")
    return category, subcategory, set_id, figure_id, question_id


def _all_right_share(records: list[SampleRecord], key: Callable[[SampleRecord], str | None]) -> MetricValue:
    units: dict[str, bool] = {}
    for record in records:
        name = key(record)
        if name is not None:
            units[name] = units.get(name, True) and record.scores.get("acc") == 1.0
    if not units:
        return MetricValue(math.nan, n=0)
    values = [float(right) for right in units.values()]
    low, high = mean_interval(values)
    return MetricValue(sum(values) / len(values), low, high, len(values))


@metrics.register("hallusionbench")
class HallusionBenchMetrics(Metric):
    """aAcc, fAcc, qAcc (and the official easy/hard pair accuracies); see the module doc.

    Fields: verdict (``judge``: the official judge protocol through the judge role; ``yes_no``:
    VLMEvalKit's judge-free rule), grouping (``official`` or ``vlmevalkit`` figure/pair keys),
    judge_max_new_tokens and judge_temperature (official: the OpenAI defaults, no token limit and
    temperature 1; lmms-eval: max_tokens 16)."""

    primary: ClassVar[str] = "qAcc"
    verdict: Literal["judge", "yes_no"] = "judge"
    grouping: Literal["official", "vlmevalkit"] = "official"
    judge_max_new_tokens: int = Field(256, ge=1)
    judge_temperature: float = Field(1.0, ge=0.0)
    judge_seed: int | None = None

    def roles(self) -> tuple[str, ...]:
        return (JUDGE_ROLE,) if self.verdict == "judge" else ()

    def judge_request(self, sample: Sample, response: str) -> Request:
        text = judge_prompt(sample.question, str(sample.metadata["gt_answer_details"]), response)
        settings = GenerationSettings(
            max_new_tokens=self.judge_max_new_tokens, temperature=self.judge_temperature, seed=self.judge_seed
        )
        return Request("generate", (Message("user", (TextPart(text),)),), settings=settings, role=JUDGE_ROLE)

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:
            return Extraction(None, "failed")
        if self.verdict == "judge":
            raise NotImplementedError("the judge verdict is read in extract_rounds")
        answer = extract_yes_no_vlmevalkit(prediction.text)
        if answer == "Unknown":
            return Extraction(None, "failed", details={"yes_no": "Unknown"})
        return Extraction(
            answer.lower(), "exact" if prediction.text.strip().lower() == answer.lower() else "rule"
        )

    def extract_rounds(self, sample: Sample, prediction: Prediction) -> Rounds[Extraction]:
        if self.verdict != "judge" or prediction.text is None:
            return self.extract(sample, prediction)
        # The official script judges every response, an empty one too.
        (reply,) = yield [self.judge_request(sample, prediction.text)]
        code = parse_judge_reply(reply.text or "")
        return Extraction(VERDICTS[code], "judge", details={"judge_reply": reply.text, "verdict": code})

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        hard = float(str(sample.metadata.get("visual_input")) == "2")
        answer = extraction.answer
        if self.verdict == "yes_no":
            return {"acc": float(answer is not None and answer == sample.target), "hard": hard}
        no_figure_vs = (
            sample.metadata.get("category") == "VS" and str(sample.metadata.get("figure_id")) == "0"
        )
        right = answer == "correct" or (no_figure_vs and answer == "unclear")
        return {"acc": float(right), "hard": hard}

    # --- aggregation ------------------------------------------------------------------------------

    def figure_key(self, record: SampleRecord) -> str | None:
        category, subcategory, set_id, figure_id, _ = id_parts(record.id)
        if self.grouping == "vlmevalkit":
            return f"{subcategory}_{set_id}_{figure_id}"
        if category == "VS" and figure_id == "0":  # no figure
            return None
        return f"{category}_{subcategory}_{set_id}_{figure_id}"

    def pair_key(self, record: SampleRecord) -> str:
        category, subcategory, set_id, _, question_id = id_parts(record.id)
        if self.grouping == "vlmevalkit":
            return f"{subcategory}_{set_id}_{question_id}"
        return f"{category}_{subcategory}_{set_id}_{question_id}"

    def values(self, records: list[SampleRecord]) -> dict[str, MetricValue]:
        result = {
            "aAcc": mean_metrics(records, ["acc"])["acc"],
            "fAcc": _all_right_share(records, self.figure_key),
            "qAcc": _all_right_share(records, self.pair_key),
        }
        if self.grouping == "official":
            easy = [r for r in records if r.scores.get("hard") != 1.0]
            hard = [r for r in records if r.scores.get("hard") == 1.0]
            result["easy_aAcc"] = _all_right_share(easy, self.pair_key)
            result["hard_aAcc"] = _all_right_share(hard, self.pair_key)
        return result

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        breakdown = {node: self.values(subset) for node, subset in category_nodes(records).items()}
        return Aggregate(self.values(records), breakdown)
