"""InfographicVQA (Mathew et al., 2022), validation: 2,801 questions on infographics.

Data (``--data PATH``), in either published format:

- the official ``infographicsVQA_val_v1.0_withQT.json`` (``{"dataset_name": "infographicsvqa", ...,
  "data": [{questionId, question, image_local_name, image_url, answers, answer_type, evidence,
  operation/reasoning, ...}]}``); images ``<image_local_name>`` in
  ``infographicsVQA_val_v1.0_images/`` beside the JSON (or the scenario field ``image_dir``).
  Without an image folder the questions load for scoring only.
- the Hugging Face dataset ``lmms-lab/DocVQA``, config ``InfographicVQA``, split ``validation`` (the
  default without ``--data``): ``questionId``, ``question``, ``answers``, ``answer_type``, ``image``,
  ``operation/reasoning``, ``ocr`` (no ``evidence``), as parquet or ``save_to_disk``.

Sample id: the ``questionId``. The type columns answer_type, evidence and operation/reasoning are
kept for the breakdown of the official script's ``--answer_types``.
"""

from __future__ import annotations

from typing import ClassVar

from mmlens.core.parts import scenarios
from mmlens.tasks.docvqa import metric as _anls_metric  # noqa: F401 - registers the "anls" metric
from mmlens.tasks.docvqa.scenario import DocVQAScenario


@scenarios.register("infovqa")
class InfoVQAScenario(DocVQAScenario):
    """Fields: ``hub_id``, ``config`` (InfographicVQA), ``split``, ``image_dir``."""

    config: str = "InfographicVQA"
    image_name_column: ClassVar[str] = "image_local_name"
    image_folder: ClassVar[str] = "infographicsVQA_val_v1.0_images"
    type_columns: ClassVar[tuple[str, ...]] = ("answer_type", "evidence", "operation/reasoning")
    label: ClassVar[str] = "infovqa/"
