"""MMEB V2's image part (``ziyjiang/MMEB_Test_Instruct``) as VLM2Vec builds its inputs.

``TIGER-AI-Lab/VLM2Vec@6e1e1d4``: ``experiments/public/eval/image.yaml`` names each dataset's parser
(``PARSER_OF``); ``src/data/eval_dataset/image_{cls,qa,i2t,t2i,i2i_vg}*.py::data_prepare`` build
the query and candidate texts from a row's ``qry_inst``, ``qry_text``, ``qry_img_path``,
``tgt_inst``, ``tgt_text`` (list) and ``tgt_img_path`` (list) with
``src/model/processor.py::process_input_text`` (``"<image token> " + instruction + " " + text``
for the generic backbones). ``cand_names`` name the candidates: ``base_eval_dataset.py`` keeps the
first candidate of each name in a dataset (line 127-137), ``eval.py`` ranks each query against its
own ``cand_names`` (``eval_type: local``); the label is ``cand_names[0]``.

Here the backbone's image token is written ``<|image_1|>``, which ``candidate_message`` removes
(mmlens's backends place the image themselves) along with the text's surrounding whitespace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

IMAGE = "<|image_1|>"


@dataclass(frozen=True)
class Parsed:
    """One row as V2 embeds it: the query, and each candidate with its name."""

    query_text: str
    query_image: str
    candidates: list[tuple[str, str]]
    names: list[str]


def process_input_text(instruction: str, text: str = "") -> str:
    """``process_input_text(instruction, backbone, text, add_image_token=True)`` for the generic
    backbones (not GME, LamRA, E5-V, InternVideo2)."""
    prompt = instruction + (" " + text if text else "")
    return IMAGE + " " + prompt


def _image_query(row: dict[str, Any], leading_newline: bool) -> tuple[str, str]:
    instruction = str(row["qry_inst"]).replace(IMAGE, "")
    if leading_newline:  # image_qa, image_i2i_vg
        instruction = "\n" + instruction.strip()
    text = process_input_text(instruction, str(row["qry_text"] or ""))
    return text.replace(" \n", "\n") + "\n", str(row["qry_img_path"] or "")


def _text_candidates(row: dict[str, Any]) -> tuple[list[tuple[str, str]], list[str]]:
    texts = [str(t) for t in row["tgt_text"]]
    return [(t, "") for t in texts], texts


def _image_candidates(row: dict[str, Any], newline_without_caption: bool) -> list[tuple[str, str]]:
    captions, paths = [str(t) for t in row["tgt_text"]], [str(p) for p in row["tgt_img_path"]]
    instruction = str(row["tgt_inst"]).replace(IMAGE, "")
    if captions[0].strip():  # WebQA, EDIS, RefCOCO-Matching: captions with the images
        texts = [process_input_text(instruction + " " + c).replace(" \n", "\n") + "\n" for c in captions]
    else:
        text = process_input_text(instruction).replace(" \n", "\n") + (
            "\n" if newline_without_caption else ""
        )
        texts = [text] * len(paths)
    return list(zip(texts, paths, strict=True))


def parse_cls(row: dict[str, Any], dataset: str) -> Parsed:  # image_cls and image_i2t alike
    text, image = _image_query(row, leading_newline=False)
    candidates, names = _text_candidates(row)
    return Parsed(text, image, candidates, names)


def parse_qa(row: dict[str, Any], dataset: str) -> Parsed:
    text, image = _image_query(row, leading_newline=True)
    candidates, names = _text_candidates(row)
    return Parsed(text, image, candidates, names)


def parse_t2i(row: dict[str, Any], dataset: str) -> Parsed:
    text = str(row["qry_inst"]) + " " + str(row["qry_text"] or "") + "\n"  # the image token, no image
    if dataset == "VisDial":
        text += "\n"
    paths = [str(p) for p in row["tgt_img_path"]]
    return Parsed(text, "", _image_candidates(row, newline_without_caption=True), paths)


def parse_i2i_vg(row: dict[str, Any], dataset: str) -> Parsed:
    text, image = _image_query(row, leading_newline=True)
    paths, captions = [str(p) for p in row["tgt_img_path"]], [str(t) for t in row["tgt_text"]]
    names = [path + ":" + caption.strip('"') for path, caption in zip(paths, captions, strict=True)]
    return Parsed(text, image, _image_candidates(row, newline_without_caption=False), names)


PARSERS: dict[str, Callable[[dict[str, Any], str], Parsed]] = {
    "image_cls": parse_cls,
    "image_i2t": parse_cls,
    "image_qa": parse_qa,
    "image_t2i": parse_t2i,
    "image_i2i_vg": parse_i2i_vg,
}

_BY_PARSER = {
    "image_cls": (
        "ImageNet-1K", "N24News", "HatefulMemes", "VOC2007", "SUN397", "Place365", "ImageNet-A",
        "ImageNet-R", "ObjectNet", "Country211",
    ),
    "image_qa": (
        "OK-VQA", "A-OKVQA", "DocVQA", "InfographicsVQA", "ChartQA", "Visual7W", "ScienceQA",
        "VizWiz", "GQA", "TextVQA",
    ),
    "image_i2t": ("MSCOCO_i2t", "VisualNews_i2t"),
    "image_t2i": ("VisDial", "MSCOCO_t2i", "VisualNews_t2i", "WebQA", "EDIS", "Wiki-SS-NQ"),
    "image_i2i_vg": (
        "CIRR", "NIGHTS", "OVEN", "FashionIQ", "MSCOCO", "RefCOCO", "RefCOCO-Matching",
        "Visual7W-Pointing",
    ),
}  # fmt: skip
PARSER_OF: dict[str, str] = {name: parser for parser, names in _BY_PARSER.items() for name in names}


class CandidateNames:
    """A dataset's candidates by name, the first of each name kept (``base_eval_dataset.py``)."""

    def __init__(self) -> None:
        self.first: dict[str, tuple[str, str]] = {}

    def resolve(self, parsed: Parsed) -> list[list[str]]:
        out = []
        for name, candidate in zip(parsed.names, parsed.candidates, strict=True):
            text, image = self.first.setdefault(name, candidate)
            out.append([text, image])
        return out
