"""MIBench accuracy (paper only: arXiv 2407.15272 publishes no scorer; reconstructed).

Extraction: VLMEvalKit's ``can_infer`` under exact matching (an option letter, else the one option
text the response contains, else failed = wrong). hit = the letter equals the answer's letter.
Accuracy (0-1) overall (micro), per family (MII / MKS / MIC) and per sub-task. The paper's rule that
a sample counts only if it is right under option-shuffled repeats is the ``mibench_shuffled``
variant (the ``circular`` transform: every rotation must be right).
"""

from __future__ import annotations

from mmlens.core.options import LETTERS
from mmlens.core.parts import Aggregate, Extraction, Metric, Prediction, SampleRecord, metrics
from mmlens.core.sample import Sample
from mmlens.metrics.aggregation import mean_aggregate
from mmlens.tasks.ai2d.harness_rules import can_infer


@metrics.register("mibench")
class MIBenchAccuracy(Metric):
    primary = "hit"
    correct_key = "hit"

    def extract(self, sample: Sample, prediction: Prediction) -> Extraction:
        if prediction.text is None:
            return Extraction(None, "failed")
        choices = {LETTERS[k]: text for k, text in enumerate(sample.choices or [])}
        letter = can_infer(prediction.text, choices)
        if letter is None or letter == "Z":
            return Extraction(None, "failed")
        return Extraction(letter, "exact" if prediction.text.strip() == letter else "rule")

    def score(self, sample: Sample, extraction: Extraction) -> dict[str, float]:
        return {"hit": float(extraction.answer is not None and extraction.answer == sample.target)}

    def aggregate(self, records: list[SampleRecord]) -> Aggregate:
        return mean_aggregate(records, ["hit"])
