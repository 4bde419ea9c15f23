"""MMEB's 36 image datasets, their meta-task and whether the paper counts them out of distribution
(VLM2Vec paper, Table 1; the same sets as VLM2Vec's own result summaries)."""

from __future__ import annotations

META_TASKS: dict[str, tuple[str, ...]] = {
    "classification": (
        "ImageNet-1K", "N24News", "HatefulMemes", "VOC2007", "SUN397",
        "Place365", "ImageNet-A", "ImageNet-R", "ObjectNet", "Country211",
    ),
    "vqa": (
        "OK-VQA", "A-OKVQA", "DocVQA", "InfographicsVQA", "ChartQA", "Visual7W",
        "ScienceQA", "VizWiz", "GQA", "TextVQA",
    ),
    "retrieval": (
        "VisDial", "CIRR", "VisualNews_t2i", "VisualNews_i2t", "MSCOCO_t2i", "MSCOCO_i2t",
        "NIGHTS", "WebQA", "FashionIQ", "Wiki-SS-NQ", "OVEN", "EDIS",
    ),
    "grounding": ("MSCOCO", "RefCOCO", "RefCOCO-Matching", "Visual7W-Pointing"),
}  # fmt: skip

OUT_OF_DISTRIBUTION = frozenset(
    {
        "Place365", "ImageNet-A", "ImageNet-R", "ObjectNet", "Country211",
        "ScienceQA", "VizWiz", "GQA", "TextVQA",
        "FashionIQ", "Wiki-SS-NQ", "OVEN", "EDIS",
        "RefCOCO", "RefCOCO-Matching", "Visual7W-Pointing",
    }
)  # fmt: skip

DATASETS: tuple[str, ...] = tuple(name for names in META_TASKS.values() for name in names)
META_TASK_OF: dict[str, str] = {name: task for task, names in META_TASKS.items() for name in names}
