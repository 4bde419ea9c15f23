"""MedRegA multi-box grounding (regt2r sm/ms/mm) and region-to-text (regr2t).

Expected values were printed by the official evaluators themselves, xmed-lab/MedRegA@dfdb0db
``src/eval/regt2r/evaluator_reg.py`` (``SingleRegionMultiObjectEvaluator``,
``MultiRegionSingleObjectEvaluator``, ``MultiRegionMultiObjectEvaluator``, hw = [480, 640]) and
``src/eval/regr2t/evaluator.py`` (``R2TEvaluator``, torchmetrics 1.9, its BERTScorer pointed at the
tiny BERT below), run on these cases from a temporary copy (nothing of it is in the repository)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.errors import ConfigError
from mmlens.tasks.medrega import metric as medrega_metric
from mmlens.tasks.medrega.caption import caption_scores, caption_text
from mmlens.tasks.medrega.metric import bleu1, grounding_iou, predicted_boxes
from mmlens.tasks.medrega.regions import Group, hungarian_pairs, predicted_groups
from tests.fixtures.benchmark_data import write_predictions
from tests.fixtures.tiny_bert import build_tiny_bert


def ref(*groups: tuple[str, list[list[int]]]) -> str:
    return "".join(f"<ref>{obj}</ref><box>{json.dumps(boxes)}</box>" for obj, boxes in groups)


# name: (response, reference)
CASES = {
    "exact": (
        "liver [[0, 0, 100, 100]] and spleen [[200, 200, 300, 300]]",
        ref(("Liver", [[0, 0, 100, 100]]), ("spleen", [[200, 200, 300, 300]])),
    ),
    "swapped": (
        "spleen [[200, 200, 300, 300]], liver [[0, 0, 100, 100]]",
        ref(("liver", [[0, 0, 100, 100]]), ("spleen", [[200, 200, 300, 300]])),
    ),
    "more_preds": (
        "[[0, 0, 50, 100]] [[0, 0, 100, 100]] lesion [[500, 500, 600, 600]]",
        ref(("lesion", [[0, 0, 100, 100]])),
    ),
    "empty": ("", ref(("lesion", [[0, 0, 100, 100]]))),
    "no_box": ("I cannot find it.", ref(("lesion", [[0, 0, 100, 100]]), ("cyst", [[10, 10, 20, 20]]))),
    "leading_zero": (  # [[01, ...]] is a SyntaxError for literal_eval: parsing stops, a [0,0,0,0] box
        "a [[0, 0, 10, 10]] c [[5, 5, 60, 60]] b [[01, 2, 3, 4]] d [[0, 0, 10, 10]]",
        ref(("a", [[0, 0, 10, 10]])),
    ),
    "partial": (  # IoU 0.6 and 10000/11000: a match at 0.5, not at 0.75; "kidney " is no substring
        "the lesion [[0, 0, 60, 100]] kidney [[200, 200, 300, 300]]",
        ref(("lesion", [[0, 0, 100, 100]]), ("left kidney", [[200, 200, 310, 300]])),
    ),
    "one_group_two_boxes": (
        "lesion [[0, 0, 100, 100], [200, 200, 300, 300]]",
        ref(("lesion", [[0, 0, 100, 100], [200, 200, 300, 300]])),
    ),
    "two_groups": (
        "nodule [[0, 0, 100, 100]] nodule [[200, 200, 300, 300]]",
        ref(("nodule", [[0, 0, 100, 100], [200, 200, 300, 300]])),
    ),
    "mismatch": ("kidney [[0, 0, 100, 100]]", ref(("liver", [[0, 0, 100, 100]]))),
    "mm_groups": (
        "liver [[0, 0, 100, 100], [400, 400, 500, 500]] and cyst [[200, 200, 300, 300]]",
        ref(("cyst", [[200, 200, 300, 300]]), ("liver", [[0, 0, 100, 100], [400, 400, 480, 500]])),
    ),
}

# the official metrics over all of CASES (mm: without leading_zero, on which it raises KeyError)
OFFICIAL_ALL = {
    "sm": {"precision": 0.772727, "recall": 0.651515, "f1": 0.681818, "iou": 0.956818},
    "ms": {
        "box_acc": 0.818182,
        "box_iou": 0.805742,
        "object_acc": 0.439394,
        "object_iou": 1.278788,  # the IoU of every checked pair over the aligned ones: above 1
        "object_box_acc": 0.439394,
        "object_box_alignment": 0.439394,
        "object_box_detection": 0.636364,
    },
    "mm": {
        "box_pre": 0.8,
        "box_recall": 0.733333,
        "box_f1": 0.75,
        "box_iou": 0.79495,
        "object_pre": 0.55,
        "object_rec": 0.55,
        "object_f1": 0.55,
        "object_iou": 0.95,
        "object_box_pre": 0.55,
        "object_box_recall": 0.55,
        "object_box_f1": 0.55,
        "object_box_alignment": 0.55,
        "object_box_detection": 0.6,
    },
}

# one case at a time, official values (a few keys each)
OFFICIAL_ONE = [
    ("sm", "more_preds", {"precision": 1.0, "recall": 1 / 3, "f1": 0.5, "iou": 1.0}),
    ("sm", "partial", {"precision": 0.5, "recall": 0.5, "f1": 0.5, "iou": 0.754546}),
    ("sm", "mismatch", {"precision": 1.0, "f1": 1.0}),  # sm never looks at the objects
    ("sm", "leading_zero", {"precision": 1.0, "recall": 1 / 3, "iou": 1.0}),
    ("ms", "partial", {"box_acc": 1.0, "box_iou": 0.754546, "object_acc": 0.5, "object_iou": 1.509091}),
    # objects looked up by group index with box indexes: only pair (0, 0) is checked
    (
        "ms",
        "one_group_two_boxes",
        {"object_acc": 0.5, "object_box_alignment": 0.5, "object_box_detection": 1.0},
    ),
    ("ms", "two_groups", {"object_acc": 0.5, "object_box_acc": 0.5}),
    ("ms", "mm_groups", {"box_iou": 0.933333, "object_acc": 1 / 3, "object_iou": 1.0}),
    ("mm", "more_preds", {"box_pre": 1.0, "box_recall": 1 / 3, "box_f1": 0.5, "object_f1": 0.0}),
    ("mm", "partial", {"box_f1": 1.0, "object_pre": 0.5, "object_iou": 0.6, "object_box_f1": 0.5}),
    ("mm", "leading_zero", {"box_recall": 1 / 3, "object_rec": 1 / 3, "object_box_alignment": 1.0}),
    ("mm", "mm_groups", {"box_iou": 0.933333, "object_f1": 1.0, "object_iou": 0.933333}),
    ("mm", "empty", {"box_f1": 0.0, "box_iou": 0.0, "object_iou": 0.0, "object_box_detection": 0.0}),
    ("mm", "no_box", {"box_pre": 0.0, "box_recall": 0.0, "object_box_f1": 0.0}),
]


def write_data(folder: Path, cases: dict[str, tuple[str, str]], name: str = "sliver07_regt2r_test") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for sample_id, (_, reference) in cases.items():
        turns = [{"from": "human", "value": "<image>\nWhere are they?"}, {"from": "gpt", "value": reference}]
        lines.append(json.dumps({"id": sample_id, "image": "x.png", "conversations": turns}))
    path = folder / f"{name}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def score(tmp_path: Path, task: str, cases: dict[str, tuple[str, str]], **kwargs: object) -> dict:
    data = write_data(tmp_path / "data", cases)
    predictions = write_predictions(tmp_path / "p.jsonl", {k: v[0] for k, v in cases.items()})
    return api.score(task, predictions, data=data, output_dir=None, **kwargs).results  # type: ignore[arg-type]


@pytest.mark.parametrize("variant", ["sm", "ms", "mm"])
def test_multi_grounding_matches_the_official_evaluator_over_all_cases(tmp_path: Path, variant: str) -> None:
    cases = {k: v for k, v in CASES.items() if not (variant == "mm" and k == "leading_zero")}
    results = score(tmp_path, f"medrega_grounding_{variant}", cases)
    got = {name: value["value"] for name, value in results["metrics"].items()}
    assert set(got) == set(OFFICIAL_ALL[variant])
    for name, value in OFFICIAL_ALL[variant].items():
        assert got[name] == pytest.approx(value, abs=1e-6), name
    assert set(results["breakdown"]) == {"sliver07_regt2r"}


@pytest.mark.parametrize(("variant", "case", "expected"), OFFICIAL_ONE)
def test_multi_grounding_one_answer(tmp_path: Path, variant: str, case: str, expected: dict) -> None:
    metrics = score(tmp_path, f"medrega_grounding_{variant}", {case: CASES[case]})["metrics"]
    for name, value in expected.items():
        assert metrics[name]["value"] == pytest.approx(value, abs=1e-6), name


def test_where_the_official_run_divides_by_zero_the_value_is_zero(tmp_path: Path) -> None:
    # the official sm/ms stop with ZeroDivisionError when no answer has a box pair (empty, no_box),
    # and ms prints object_iou inf when pairs exist but none aligns (mismatch): mmlens gives 0
    for variant, case, name in [
        ("sm", "empty", "iou"),
        ("ms", "no_box", "box_acc"),
        ("ms", "mismatch", "object_iou"),
    ]:
        metrics = score(tmp_path / variant / case, f"medrega_grounding_{variant}", {case: CASES[case]})[
            "metrics"
        ]
        assert metrics[name]["value"] == 0.0


def test_parsing_quirks() -> None:
    groups = predicted_groups("The Liver [[1, 2, 3, 4]] [note] spleen [[5, 6, 7, 8], [9, 9, 10, 10]]")
    assert [g.obj for g in groups] == ["the liver ", " spleen "]  # the text since the last bracket
    assert [len(g.boxes) for g in groups] == [1, 2]
    stopped = predicted_groups("a [[1, 2, 3, 4]] b [[01, 2, 3, 4]] c [[5, 6, 7, 8]]")
    assert stopped == [Group("a ", ((1.0, 2.0, 3.0, 4.0),)), Group(None, ((0.0, 0.0, 0.0, 0.0),))]
    assert predicted_groups("[[0.5, 0.1, 0.2, 0.3]] none") == []  # integers only
    assert hungarian_pairs([], [[0, 0, 1, 1]]) == []
    # two empty boxes: NaN IoU (scipy refuses it in the official run) counts as 0
    assert hungarian_pairs([[0, 0, 0, 0]], [[5, 5, 5, 5]]) == [(0, 0, 0.0)]


def test_single_object_grounding_stops_at_a_bad_box_list() -> None:
    # official SingleRegionSingleObjectEvaluator: iou 0.5 (the [[0,0,100,100]] after [[01, ...]]
    # is never read)
    boxes = predicted_boxes("[[0, 0, 50, 100]] [[01, 2, 3, 4]] [[0, 0, 100, 100]]")
    assert boxes == [[0.0, 0.0, 50.0, 100.0], [0.0, 0.0, 0.0, 0.0]]
    assert grounding_iou(boxes, [[0.0, 0.0, 100.0, 100.0]]) == pytest.approx(0.5)


def test_a_failed_request_has_no_boxes(tmp_path: Path) -> None:
    data = write_data(tmp_path / "d", {"a": CASES["exact"]})
    predictions = write_predictions(tmp_path / "p.jsonl", {"a": None})
    result = api.score("medrega_grounding_mm", predictions, data=data, output_dir=None)
    assert result.results["metrics"]["box_f1"]["value"] == 0.0
    assert result.records[0].answer is None


@pytest.mark.parametrize("task", ["medrega_grounding_sm", "medrega_grounding_ms", "medrega_grounding_mm"])
def test_a_sample_without_a_prediction_scores_as_an_empty_answer(tmp_path: Path, task: str) -> None:
    # "exact" answered (2 boxes, IoU 1 each); "partial" has no line: no boxes against its 2 targets
    data = write_data(tmp_path / "d", {k: CASES[k] for k in ("exact", "partial")})
    predictions = write_predictions(tmp_path / "p.jsonl", {"exact": CASES["exact"][0]})
    result = api.score(task, predictions, data=data, output_dir=None)
    metrics = {name: value["value"] for name, value in result.results["metrics"].items()}
    assert result.results["counts"]["missing_predictions"] == 1
    expected = {
        "medrega_grounding_sm": {"f1": 0.5, "iou": 1.0},  # iou over the matched pairs only
        "medrega_grounding_ms": {"box_acc": 0.5, "box_iou": 0.5},  # 2 / the 4 target boxes
        "medrega_grounding_mm": {"box_f1": 0.5, "box_iou": 0.5, "object_iou": 1.0},
    }[task]
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value), name


def test_multi_grounding_end_to_end_with_a_constant_model(tmp_path: Path) -> None:
    from PIL import Image

    data = write_data(tmp_path / "d", {k: CASES[k] for k in ("exact", "partial")})
    Image.new("L", (64, 48), 90).save(tmp_path / "d" / "x.png")
    answer = "liver [[0, 0, 100, 100]] and spleen [[200, 200, 300, 300]]"
    result = api.evaluate("medrega_grounding_mm", "constant", model_args=f"text={answer}", data=data,
                          store=tmp_path / "s.db", output_dir=None)  # fmt: skip
    metrics = result.results["metrics"]
    # exact: everything 1; partial: pairs (0,0) IoU 1, (1,1) 10000/11000: two matches, but
    # "liver " / "lesion" and " and spleen " / "left kidney" do not align
    assert metrics["box_f1"]["value"] == 1.0
    assert metrics["box_iou"]["value"] == pytest.approx((2 + 1 + 10 / 11) / 4)
    assert metrics["object_box_f1"]["value"] == pytest.approx(0.5)
    content = result.records[0].prompt[0]["content"]
    assert [part["type"] for part in content] == ["image", "text"]


# region-to-text: (response, reference) and R2TEvaluator's numbers for that one entry
R2T_CASES = [
    (
        "The region shows the Left Kidney [[10, 20, 30, 40]].",
        "left kidney",
        0.2857142984867096,
        0.4999999962500001,
        1.0,
    ),
    ("liver.", "liver", 0.0, 0.0, 0.0),  # no cleaning: "liver." is not "liver"
    ("", "a small nodule in the right lung", 0.0, 0.0, 0.0),
    ("a small nodule in the right lung", "a small nodule in the right lung", 1.0, 0.999999995, 1.0),
    (
        "nodule nodule nodule",
        "a nodule",
        0.3333333134651184,
        0.6666666622222223,
        0.5,
    ),  # BLEU clipped, F1 by sets
    ("[[1, 2, 3, 4]] and [[5, 6, 7, 8]] text", "text", 0.5, 0.6666666622222223, 1.0),
    ("tumor in the brain [[1,2]] x]] y", "brain tumor", 0.3333333134651184, 0.4999999962500001, 1.0),
]
# R2TEvaluator().eval_pred_list over all seven, BERTScore with the tiny BERT (seed 0, layer 2)
R2T_OFFICIAL = {"bleu1": 0.35034013220242094, "f1": 0.47619047313492063, "recall": 0.6428571428571429,
                "accuracy": 0.5714285714285714}  # fmt: skip


@pytest.mark.parametrize(("response", "reference", "bleu", "f1", "recall"), R2T_CASES)
def test_region_to_text_scores(response: str, reference: str, bleu: float, f1: float, recall: float) -> None:
    scores = caption_scores(caption_text(response), reference)
    assert scores["bleu1"] == bleu  # bit for bit: torch's float32 ops, as torchmetrics
    assert scores["f1"] == pytest.approx(f1, abs=1e-12)
    assert scores["recall"] == pytest.approx(recall)
    assert scores["accuracy"] == float(recall >= 0.75)


def test_bleu1_without_torch_is_within_one_float32_step(monkeypatch: pytest.MonkeyPatch) -> None:
    exact = [bleu1(c, r) for c, r, *_ in R2T_CASES] + [bleu1("a", "a b c d e f g")]
    monkeypatch.setattr(medrega_metric, "_bleu1_torch", lambda *_: None)
    fallback = [bleu1(c, r) for c, r, *_ in R2T_CASES] + [bleu1("a", "a b c d e f g")]
    assert fallback == pytest.approx(exact, rel=2e-7)
    assert fallback[-1] == pytest.approx(0.0024787522852420807, rel=2e-7)  # exp(1 - 7)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("bert") / "bert")


def r2t_task(folder: Path, bert: Path | None, layers: str = "bertscore_num_layers: 2, ") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model = f"bertscore_model: {bert}, {layers}bertscore_device: cpu" if bert else "bertscore_model: null"
    (folder / "r2t.yaml").write_text(
        "name: r2t_local\nscenario: {type: medrega, kind: regr2t}\ninferencer: {type: generate}\n"
        f"metric: {{type: medrega_regr2t, {model}}}\n"
    )
    return folder


def test_region_to_text_end_to_end_with_a_local_bertscore_model(tmp_path: Path, tiny_bert: Path) -> None:
    cases = {str(i): (response, reference) for i, (response, reference, *_) in enumerate(R2T_CASES)}
    data = write_data(tmp_path / "d", cases, name="sliver07_regr2t_test")
    predictions = write_predictions(tmp_path / "p.jsonl", {k: v[0] for k, v in cases.items()})
    result = api.score("r2t_local", predictions, data=data, include=[r2t_task(tmp_path / "t", tiny_bert)],
                       output_dir=None)  # fmt: skip
    metrics = {name: value["value"] for name, value in result.results["metrics"].items()}
    for name, value in R2T_OFFICIAL.items():
        assert metrics[name] == pytest.approx(value, abs=1e-12), name
    # the official call: idf from the predictions (boxes removed, lower-cased), references lower-cased
    from bert_score import BERTScorer

    ress = [caption_text(response) for response, *_ in R2T_CASES]
    gts = [reference.lower() for _, reference, *_ in R2T_CASES]
    scorer = BERTScorer(model_type=str(tiny_bert), num_layers=2, lang="en", idf=True, device="cpu")
    scorer._tokenizer.build_inputs_with_special_tokens = lambda ids: [1, *ids, 2]  # [CLS] ids [SEP]
    scorer.nthreads = 0  # no process pool (the lambda above does not pickle): the same idf counts
    scorer.compute_idf(ress)
    _, _, f1 = scorer.score(ress, gts)
    assert metrics["bertscore"] == pytest.approx(float(f1.mean()), abs=1e-6)
    # printed by the official R2TEvaluator with this model (its BERTScorer on the tiny BERT, CPU)
    assert metrics["bertscore"] == pytest.approx(0.6634989295686994, abs=1e-4)


def test_region_to_text_bertscore_settings(tmp_path: Path, tiny_bert: Path) -> None:
    data = write_data(tmp_path / "d", {"0": ("left kidney", "left kidney")}, name="x_regr2t")
    predictions = write_predictions(tmp_path / "p.jsonl", {"0": "left kidney"})
    off = api.score(
        "r2t_local", predictions, data=data, include=[r2t_task(tmp_path / "off", None)], output_dir=None
    )
    assert "bertscore" not in off.results["metrics"] and off.results["metrics"]["accuracy"]["value"] == 1.0
    with pytest.raises(ConfigError, match="give bertscore_num_layers"):
        api.score("r2t_local", predictions, data=data, include=[r2t_task(tmp_path / "nl", tiny_bert, "")],
                  output_dir=None)  # fmt: skip
    gone = r2t_task(tmp_path / "gone", tmp_path / "nope")
    with pytest.raises(ConfigError, match="could not be loaded"):
        api.score("r2t_local", predictions, data=data, include=[gone], output_dir=None)
