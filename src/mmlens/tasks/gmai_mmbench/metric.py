"""GMAI-MMBench's scorer: VLMEvalKit e8e78f0 ``GMAIMMBenchDataset.evaluate`` under its default
``exact_matching`` policy (``vlmeval/dataset/utils/multiple_choice.py``: ``mcq_vanilla_eval``,
``extract_answer_from_item``, ``report_acc``; ``vlmeval/utils/matching_util.py``: ``can_infer``).

Extraction (``can_infer``), in order:
1. a response containing ``Failed to obtain answer via API`` skips the letter rules (step 4 only);
2. a refusal phrase (case-sensitive) -> ``Z`` (no option, wrong);
3. ``.()[],:;!*#{}`` become spaces, the text is split into words: exactly one option letter among
   the words, first occurring among the last 4 words -> that letter; no option letter but the word
   ``Z`` -> ``Z``;
4. else ``(correct) answer is X`` with X in A-D only (case-insensitive) and an option -> X;
5. else, if the lower-cased response is at most twice as long as all option texts together and
   exactly one option's lower-cased text occurs in it -> that option;
6. else ``Z`` (``Failed in Prefetch``): wrong, recorded here as a failed extraction.
Hit = the extracted letter equals the answer. Metric: accuracy 0-1, overall and per value of
``l2-category`` (if present), ``category``, ``clinical vqa task``, ``department`` and
``perceptual granularity`` (``report_acc`` and ``report_acc_by_groups``; modality is not reported
by the official code, but a ``--select`` on it adds it).
"""

from __future__ import annotations

from mmlens.core.options import LETTERS
from mmlens.core.parts import Aggregate, Extraction, Metric, Prediction, SampleRecord, metrics
from mmlens.core.sample import Sample
from mmlens.core.select import with_axis_breakdown
from mmlens.metrics.aggregation import mean_metrics
from mmlens.metrics.choice_judge import ChoiceRuleThenJudge
from mmlens.metrics.extractors import extractors
from mmlens.tasks.ai2d.harness_rules import can_infer

NO_OPTION = "Z"
REPORTED_AXES = ("l2-category", "category", "clinical vqa task", "department", "perceptual granularity")


def extract_gmai_answer(response: str, choices: list[str]) -> Extraction:
    options = {LETTERS[i]: choice for i, choice in enumerate(choices)}
    letter = can_infer(response, options)  # VLMEvalKit's, as GMAI's matching_util.py has it
    if letter is None:
        return Extraction(None, "failed")
    return Extraction(letter, "exact" if response.strip() == letter else "rule")


@metrics.register("gmai_mmbench")
class GMAIMMBenchAccuracy(Metric):
    """acc = share of questions whose extracted option is the answer, overall and per axis value."""

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:
            return Extraction(None, "failed")
        return extract_gmai_answer(prediction.text, sample.choices or [])

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        return {"acc": float(extraction.answer is not None and extraction.answer == sample.target)}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        overall = Aggregate(mean_metrics(records, ["acc"]))
        return with_axis_breakdown(overall, records, REPORTED_AXES, lambda rows: mean_metrics(rows, ["acc"]))


@extractors.register("vlmevalkit_can_infer")
def extract_can_infer(sample: Sample, response: str) -> Extraction:
    """``can_infer`` as a rule for ``choice_rule_then_judge`` (a judge reply is read by it too)."""
    return extract_gmai_answer(response, sample.choices or [])


@metrics.register("gmai_mmbench_judged")
class GMAIMMBenchJudged(ChoiceRuleThenJudge):
    """VLMEvalKit's judge policy: ``can_infer`` first, the judge where it finds nothing (no random
    letter after a failed judge: counted wrong), with GMAI-MMBench's breakdowns."""

    rule: str = "vlmevalkit_can_infer"

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        overall = Aggregate(mean_metrics(records, ["acc"]))
        return with_axis_breakdown(overall, records, REPORTED_AXES, lambda rows: mean_metrics(rows, ["acc"]))
