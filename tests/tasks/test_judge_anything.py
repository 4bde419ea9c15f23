"""Judge Anything: the official prompts and message layout (URRealHero/JudgeAnything@5108730
scripts/utils/Pairing_Prompt.py, Scoring_Prompt.py, prompt_builder.py, Gemini2/api.py), the
schemas.py JSON parsing, the reconstructed agreement metric worked out by hand on the tiny dataset
of tests/fixtures/judge_anything_data.py, the official judge output files and ``mmlens score``."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mmlens import api
from mmlens.core.errors import DataError
from mmlens.core.media import AbsentImage
from mmlens.core.messages import ImagePart, TextPart
from mmlens.core.parts import LoadContext
from mmlens.core.sample import Sample
from mmlens.core.task import TaskCatalog
from mmlens.runner.plan import load_samples
from mmlens.tasks.judge_anything.official_outputs import convert, main, task_for
from mmlens.tasks.judge_anything.parsing import parse_reply
from mmlens.tasks.judge_anything.prompts import official_text, system_prompt
from tests.fixtures.judge_anything_data import build_judge_anything

MIRROR = Path("/work/.mirror/URRealHero+JudgeAnything/repo")
COMMIT = "5108730dd6604e095594dfa83b40d2608f891409"


def samples_of(task: str, data: Path, profile: str | None = None) -> dict[str, Sample]:
    loaded = TaskCatalog().load(task, profile)
    samples, bad = load_samples(loaded, LoadContext(task, loaded.task_dir, str(data)))
    assert not bad
    return {s.id: s for s in samples}


def write_predictions(path: Path, replies: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps({"id": k, "response": v}) + "\n" for k, v in replies.items()))
    return path


def values(result: api.RunResult) -> dict[str, float]:
    return {k: v["value"] for k, v in result.results["metrics"].items()}


# --- prompts -------------------------------------------------------------------------------------


def test_prompt_files_are_the_official_strings() -> None:
    pairing = official_text("pair", "SYS_PROMPT")
    assert pairing.startswith("You are a loyal judge, your task is to choose the better one from two models'")
    assert pairing.endswith(
        "0 means the first response is better, 1 means the two responses are equally good, "
        "2 means the second response is better.\n"
    )
    assert official_text("pair", "COHERENCE_PROMPT").startswith(
        "\nYou are going to choose base on the coherence"
    )
    assert official_text("pair", "TRUSTWORTHINESS_PROMPT").endswith("misleading information. \n")
    assert "5: The output surpasses expectations" in official_text("score", "OVERALL_SCORE_PROMPT")
    assert official_text("score", "SYS_PROMPT").endswith("use it to assist your scoring process.")


@pytest.mark.skipif(not MIRROR.is_dir(), reason="the JudgeAnything mirror is not on this machine")
def test_prompt_files_match_the_repository_byte_for_byte(tmp_path: Path) -> None:
    import runpy

    for module, mode in (("Pairing", "pair"), ("Scoring", "score")):
        source = subprocess.run(
            ["git", "-C", str(MIRROR), "show", f"{COMMIT}:scripts/utils/{module}_Prompt.py"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (tmp_path / f"{module}.py").write_text(source)
        strings = runpy.run_path(str(tmp_path / f"{module}.py"))
        for name in ("SYS_PROMPT", "OVERALL_SCORE_PROMPT", "RELEVANCE_PROMPT", "COMPLETENESS_PROMPT"):
            assert official_text(mode, name) == strings[name]


def test_system_prompts_are_built_as_prompt_builder_does() -> None:
    overall = system_prompt("pair", "overall")
    assert overall == official_text("pair", "SYS_PROMPT") + "\n\nHere is the pairing rule:\n" + official_text(
        "pair", "OVERALL_SCORE_PROMPT"
    )
    rubric = system_prompt("score", "rubric")
    sections = [
        "\n\nHere is the rubric for scoring based on relevance:\n",
        "\n\nHere is the rubric for scoring based on trustworthiness:\n",
        "\n\nHere is the rubric for scoring based on completeness:\n",
    ]
    positions = [rubric.index(s) for s in sections]
    assert positions == sorted(positions) and rubric.startswith(official_text("score", "SYS_PROMPT"))
    assert system_prompt("pair", "checklist") == system_prompt("pair", "rubric")  # baseline != overall


# --- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "lenient", "strict"),
    [
        ('{"overall_choice": "2", "overall_comment": "x"}', "2", "2"),
        ('```json\n{"overall_choice": "0"}\n```', "0", None),
        ('I pick {"overall_choice": 1} here', "1", None),
        ('{"overall_choice": 2}', "2", None),  # an int: not the enum's string
        ('{"overall_choice": "first"}', None, None),
        ('{"overall_choice": true}', None, None),
        ('{"overall_choice": 3}', None, None),
        ('{"overall_comment": "no choice"}', None, None),
        ("The first one.", None, None),
        ("[1, 2]", None, None),  # JSON, but not an object
    ],
)
def test_pair_replies(reply: str, lenient: str | None, strict: str | None) -> None:
    assert parse_reply(reply, "pair", ("overall",), "lenient").values.get("overall") == lenient
    assert parse_reply(reply, "pair", ("overall",), "strict").values.get("overall") == strict


@pytest.mark.parametrize(
    ("reply", "lenient", "strict"),
    [
        ('{"overall_score": 4}', 4, 4),
        ('{"overall_score": 7}', 7, 7),  # the schema is a bare int: no range check
        ('{"overall_score": 4.0}', 4, None),
        ('{"overall_score": "4"}', 4, None),
        ('{"overall_score": 3.5}', None, None),
        ('{"overall_score": false}', None, None),
        ('{"overall_score": null}', None, None),
        ('{"overall_score": "²"}', None, None),  # str.isdigit() is true, int() refuses it
    ],
)
def test_score_replies(reply: str, lenient: int | None, strict: int | None) -> None:
    assert parse_reply(reply, "score", ("overall",), "lenient").values.get("overall") == lenient
    assert parse_reply(reply, "score", ("overall",), "strict").values.get("overall") == strict


def test_a_rubric_reply_missing_a_key_keeps_the_others() -> None:
    parsed = parse_reply(
        '{"relevance_choice": "0", "clarity_choice": "x"}',
        "pair",
        ("relevance", "clarity", "coherence"),
        "strict",
    )
    assert parsed.values == {"relevance": "0"}
    assert set(parsed.problems) == {"clarity", "coherence"}


# --- scenario ------------------------------------------------------------------------------------


def test_ids_messages_and_labels(tmp_path: Path) -> None:
    data = build_judge_anything(tmp_path / "ja")
    pairs = samples_of("judge_anything_pair", data)
    assert list(pairs) == [
        "t2t/a1_vs_a2", "t2t/a3_vs_a4", "i2t/b1_vs_b2", "i2t/b3_vs_b4",
        "t2i/c1_vs_c2", "t2i/c3_vs_c4", "a2t/d1_vs_d2", "a2t/d3_vs_d4",
    ]  # fmt: skip
    pair = pairs["i2t/b1_vs_b2"]
    system, user = pair.messages
    assert system.role == "system" and system.text.startswith(system_prompt("pair", "overall"))
    assert system.text.endswith(
        'with these keys: {"overall_choice": "0" | "1" | "2", "overall_comment": "..."}\n'
    )
    kinds = [type(p).__name__ for p in user.content]
    assert kinds == ["TextPart", "ImagePart", "ImagePart", "TextPart", "TextPart", "TextPart", "TextPart"]
    texts = [p.text for p in user.content if isinstance(p, TextPart)]
    assert texts == [
        "Here is the query of Image to Text generation task:\nContinue the story of the pictures.",
        "\nHere is the first model's response:\n",
        "good: the girl walks on",
        "\nHere is the second model's response:\n",
        "bad",
    ]
    assert pair.metadata["labels"] == {"overall": "0"}  # labelled [b2, b1] "2": mirrored
    assert pair.category == ("understanding", "Image2Text") and pair.group == "i2t"
    assert pairs["t2t/a3_vs_a4"].metadata["labels"] == {"overall": "1"}  # long form, by model_pair
    assert pairs["i2t/b3_vs_b4"].metadata["labels"] == {}
    image_pair = pairs["t2i/c1_vs_c2"].messages[1].content
    assert [type(p).__name__ for p in image_pair] == [
        "TextPart",
        "TextPart",
        "ImagePart",
        "TextPart",
        "ImagePart",
    ]
    assert isinstance(image_pair[2], ImagePart) and image_pair[2].image.describe().endswith(
        "ResponseCollection/Image/Text2Image/t2i_m1.png"
    )
    assert pairs["a2t/d1_vs_d2"].metadata["unreadable"] == ["the query is audio (audios/LTU/a.mp3)"]

    scores = samples_of("judge_anything_score", data)
    assert len(scores) == 16 and "t2i/c4" in scores
    one = scores["t2t/a2"].messages[1].content
    assert [p.text for p in one if isinstance(p, TextPart)][1] == "\nHere is the model's reponse:\n"  # sic
    assert scores["t2i/c4"].metadata["labels"] == {"overall": 2.0}  # labelled by model_name


def test_the_checklist_setting_adds_the_official_checklist_text(tmp_path: Path) -> None:
    data = build_judge_anything(tmp_path / "ja")
    pairs = samples_of("judge_anything_pair_checklist", data)
    texts = [p.text for p in pairs["t2t/a1_vs_a2"].messages[1].content if isinstance(p, TextPart)]
    assert texts[1] == (
        "Here is the checklist items for rubric relevance:\n\n1. Does it define it?\n2. Is it on topic?\n"
        "Here is the checklist items for rubric clarity:\n\n1. Is it clear?\n"
    )
    other = [p.text for p in pairs["i2t/b1_vs_b2"].messages[1].content if isinstance(p, TextPart)]
    assert other[1] == "\nHere is the first model's response:\n"  # no checklist: no part
    (data / "Checklist" / "checklist.json").unlink()
    with pytest.raises(DataError, match="the checklist setting needs the checklist file"):
        samples_of("judge_anything_pair_checklist", data)
    samples_of("judge_anything_pair_rubric", data)  # the rubric setting does not need it


def test_label_file_errors_name_the_rows(tmp_path: Path) -> None:
    data = build_judge_anything(tmp_path / "ja")
    labels = data / "Preference" / "Human_Pairing.json"
    rows = json.loads(labels.read_text())
    labels.write_text(
        json.dumps([*rows, {"uniq_id": "t2t", "response_ids": ["a2", "a1"], "overall_choice": "0"}])
    )
    with pytest.raises(DataError, match=r"row 8: overall is '2', but .*row 0 gave '0'"):
        samples_of("judge_anything_pair", data)
    labels.write_text(json.dumps([{"uniq_id": "t2t", "response_ids": ["a1", "a2"], "overall_choice": "A"}]))
    with pytest.raises(DataError, match=r'row 0: overall_choice must be "0", "1" or "2"'):
        samples_of("judge_anything_pair", data)
    labels.write_text(json.dumps([{"uniq_id": "t2t", "overall_choice": "0"}]))
    with pytest.raises(DataError, match="needs response_ids"):
        samples_of("judge_anything_pair", data)


# --- metric --------------------------------------------------------------------------------------

PAIR_REPLIES = {
    "t2t/a1_vs_a2": '{"overall_choice": "0", "overall_comment": "x"}',  # human 0: agrees
    "t2t/a3_vs_a4": '```json\n{"overall_choice": "1"}\n```',  # human tie, judge tie: agrees (lenient)
    "i2t/b1_vs_b2": '{"overall_choice": "2"}',  # human 0 (mirrored): disagrees
    "i2t/b3_vs_b4": '{"overall_choice": "0"}',  # unlabelled
    "t2i/c1_vs_c2": "The first one.",  # unparsed: a disagreement
    "t2i/c3_vs_c4": '{"overall_choice": 2}',  # human 2: agrees (lenient only)
    "a2t/d1_vs_d2": '{"overall_choice": "0"}',  # human 0: agrees
    "a2t/d3_vs_d4": '{"overall_choice": "0"}',  # human tie: disagrees (left out without ties)
}


@pytest.mark.parametrize(
    ("profile", "acc", "unparsed", "understanding", "generation"),
    [
        (None, 4 / 7, 1, 3 / 5, 1 / 2),
        ("without_ties", 3 / 5, 1, 2 / 3, 1 / 2),  # a3_vs_a4 and d3_vs_d4 left out
        ("strict_json", 2 / 7, 3, 2 / 5, 0.0),  # the fenced block and the int 2 are unparsed
    ],
)
def test_pair_agreement_by_hand(
    tmp_path: Path, profile: str | None, acc: float, unparsed: int, understanding: float, generation: float
) -> None:
    data = build_judge_anything(tmp_path / "ja", with_media=False)
    predictions = write_predictions(tmp_path / "p.jsonl", PAIR_REPLIES)
    result = api.score("judge_anything_pair", predictions, data=str(data), profile=profile)
    metrics = values(result)
    assert metrics["acc"] == pytest.approx(acc)
    assert metrics["unparsed"] == unparsed and metrics["unlabelled"] == 1
    breakdown = result.results["breakdown"]
    assert breakdown["understanding"]["acc"]["value"] == pytest.approx(understanding)
    assert breakdown["generation"]["acc"]["value"] == pytest.approx(generation)
    assert breakdown["generation/Text2Image"]["acc"]["value"] == pytest.approx(generation)
    assert breakdown["rubric/overall"]["acc"]["value"] == pytest.approx(acc)
    by_id = {r.id: r for r in result.records}
    assert by_id["t2i/c1_vs_c2"].extraction == "failed" and by_id["t2i/c1_vs_c2"].answer is None
    assert by_id["i2t/b3_vs_b4"].score is None  # no label: no agreement
    assert by_id["t2t/a1_vs_a2"].extraction == "exact" and by_id["t2t/a1_vs_a2"].score == 1.0


def pearson(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    return sxy / math.sqrt(sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys))


# human overall: 4 for a1 a3 b1 b3 c1 c3 d1 d3, 2 for the others (c4 labelled by model_name)
SCORE_REPLIES = {
    **{
        f"{q}/{r}": f'{{"overall_score": {4 if r[1] in "13" else 2}}}'
        for q, p in (("t2t", "a"), ("i2t", "b"), ("t2i", "c"), ("a2t", "d"))
        for r in (f"{p}1", f"{p}2", f"{p}3", f"{p}4")
    },  # noqa: E501
    "t2t/a4": "n/a",  # unparsed
    "i2t/b3": '{"overall_score": 5}',  # human 4: off by one
    "t2i/c1": '{"overall_score": "4"}',  # a string: lenient only
    "a2t/d2": '{"overall_score": 3}',  # human 2: off by one
}


def test_score_agreement_and_correlations_by_hand(tmp_path: Path) -> None:
    data = build_judge_anything(tmp_path / "ja", with_media=False)
    predictions = write_predictions(tmp_path / "p.jsonl", SCORE_REPLIES)
    result = api.score("judge_anything_score", predictions, data=str(data))
    metrics = values(result)
    assert metrics["acc"] == pytest.approx(13 / 16)  # a4 unparsed, b3 and d2 off by one
    assert metrics["unparsed"] == 1 and metrics["unlabelled"] == 0
    # the 15 judged units: human 4 x8 (judge seven 4s, one 5), human 2 x7 (judge six 2s, one 3)
    human = [4.0] * 8 + [2.0] * 7
    judge = [4.0] * 7 + [5.0] + [2.0] * 6 + [3.0]
    assert metrics["pearson"] == pytest.approx(pearson(human, judge))
    assert metrics["pearson"] == pytest.approx(14.8 / math.sqrt((156 - 2116 / 15) * (170 - 2304 / 15)))
    # average ranks: human 2s 1-7 -> 4, 4s 8-15 -> 11.5; judge 2s 1-6 -> 3.5, 3 -> 7, 4s 8-14 -> 11, 5 -> 15
    assert metrics["spearman"] == pytest.approx(
        pearson([11.5] * 8 + [4.0] * 7, [11.0] * 7 + [15.0] + [3.5] * 6 + [7.0])
    )
    assert result.results["metrics"]["pearson"]["n"] == 15
    breakdown = result.results["breakdown"]
    assert breakdown["understanding"]["acc"]["value"] == pytest.approx(9 / 12)
    assert breakdown["generation/Text2Image"]["acc"]["value"] == 1.0
    assert math.isnan(breakdown["generation/Text2Image"]["pearson"]["value"]) or breakdown[
        "generation/Text2Image"
    ]["pearson"]["value"] == pytest.approx(1.0)
    within = api.score("judge_anything_score", predictions, data=str(data), profile="within_one")
    assert values(within)["acc"] == pytest.approx(15 / 16)
    strict = api.score("judge_anything_score", predictions, data=str(data), profile="strict_json")
    assert values(strict)["acc"] == pytest.approx(12 / 16) and values(strict)["unparsed"] == 2


def test_rubric_scores_with_missing_labels_and_predictions(tmp_path: Path) -> None:
    data = build_judge_anything(tmp_path / "ja", with_media=False)
    # only t2t has relevance labels (5, 1, 4, 2); the other rubrics have none anywhere
    replies = {
        f"t2t/a{k}": json.dumps({"relevance_score": s, "clarity_score": 3})
        for k, s in zip((1, 2, 3), (5, 2, 4), strict=True)
    }
    predictions = write_predictions(tmp_path / "p.jsonl", replies)
    result = api.score("judge_anything_score_rubric", predictions, data=str(data))
    metrics = values(result)
    assert metrics["acc"] == pytest.approx(2 / 4)  # a1 and a3 exact; a2 off; a4 has no prediction
    assert metrics["unparsed"] == 1 and metrics["unlabelled"] == 12
    assert metrics["pearson"] == pytest.approx(pearson([5, 1, 4], [5, 2, 4]))
    assert result.results["counts"]["missing_predictions"] == 13
    assert set(result.results["breakdown"]) == {
        "understanding", "understanding/Text2Text", "rubric/relevance"
    }  # fmt: skip


def test_without_labels_nothing_is_compared(tmp_path: Path) -> None:
    data = build_judge_anything(tmp_path / "ja", with_media=False, with_labels=False)
    predictions = write_predictions(tmp_path / "p.jsonl", {"t2t/a1_vs_a2": '{"overall_choice": "0"}'})
    metrics = values(api.score("judge_anything_pair", predictions, data=str(data)))
    assert math.isnan(metrics["acc"]) and metrics["unlabelled"] == 8


# --- official judge output files and the command line --------------------------------------------


def gemini_pair_rows() -> list[dict[str, Any]]:
    """gen_batch_api_judge.py's rows (overall baseline): one per pair, its rubric's choice and comment."""
    chosen = {("t2t", "m1_vs_m2"): "0", ("t2t", "m3_vs_m4"): "0", ("t2i", "m3_vs_m4"): "2"}
    return [
        {
            "uniq_id": q,
            "task_name": "x",
            "model_pair": p,
            "rubric_name": "overall_score",
            "choice": c,
            "comment": "ok",
        }
        for (q, p), c in chosen.items()
    ]


def test_official_output_files_score(tmp_path: Path) -> None:
    data = build_judge_anything(tmp_path / "ja", with_media=False)
    official = tmp_path / "flash" / "Pair_overall.json"
    official.parent.mkdir()
    official.write_text(json.dumps(gemini_pair_rows(), indent=4))
    assert task_for(official) == "judge_anything_pair"
    assert task_for(Path("Score_checklist.json")) == "judge_anything_score_checklist"
    out = tmp_path / "p.jsonl"
    assert main([str(official), "--data", str(data), "-o", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0] == {"id": "t2t/a1_vs_a2", "response": '{"overall_choice": "0", "overall_comment": "ok"}'}
    result = api.score("judge_anything_pair", out, data=str(data))
    assert values(result)["acc"] == pytest.approx(2 / 7)  # a1_vs_a2 and c3_vs_c4 agree; 4 unanswered
    assert result.results["counts"]["missing_predictions"] == 5

    # a local script's scoring rows: the raw text, response_id "N/A" -> matched by model_name
    local = tmp_path / "phi4" / "Score_overall.json"
    local.parent.mkdir()
    local.write_text(
        json.dumps(
            [
                {
                    "uniq_id": "t2t",
                    "task_name": "Text2Text",
                    "model_name": "m1",
                    "response": '{"overall_score": 4}',
                },
                {
                    "uniq_id": "t2t",
                    "task_name": "Text2Text",
                    "model_name": "m2",
                    "response_id": "N/A",
                    "response": "3",
                },
            ]
        )
    )
    samples = list(samples_of("judge_anything_score", data).values())
    assert convert(local, samples) == [
        {"id": "t2t/a1", "response": '{"overall_score": 4}'},
        {"id": "t2t/a2", "response": "3"},
    ]
    local.write_text(json.dumps([{"uniq_id": "t2t", "model_name": "m9", "response": "x"}]))
    with pytest.raises(DataError, match=r"row 0: no sample of query 't2t' has 'm9'"):
        convert(local, samples)


def test_mmlens_score_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mmlens.cli import main as cli

    data = build_judge_anything(tmp_path / "ja", with_media=False)
    predictions = write_predictions(tmp_path / "p.jsonl", PAIR_REPLIES)
    code = cli(
        [
            "--store",
            str(tmp_path / "s.sqlite"),
            "score",
            "judge_anything_pair",
            "--predictions",
            str(predictions),
        ]
        + ["--data", str(data), "--profile", "without_ties", "--json"]
    )
    results = json.loads(capsys.readouterr().out)
    assert code == 0 and results["metrics"]["acc"]["value"] == pytest.approx(3 / 5)


@pytest.mark.skipif(not MIRROR.is_dir(), reason="the JudgeAnything mirror is not on this machine")
def test_the_published_files_load(tmp_path: Path) -> None:
    for name, folder in (("TaskAnything", "X2XRawBenchmark"), ("JudgeAnything", "ResponseCollection")):
        (tmp_path / folder).mkdir()
        path = f"dataset/{folder}/{name}.json"
        with (tmp_path / folder / f"{name}.json").open("wb") as handle:
            subprocess.run(["git", "-C", str(MIRROR), "show", f"{COMMIT}:{path}"], stdout=handle, check=True)
    pairs = samples_of("judge_anything_pair", tmp_path)
    assert len(pairs) == 3000
    readable = [s for s in pairs.values() if not s.metadata["unreadable"]]
    assert len(readable) == 1600
    assert {s.category[1] for s in readable} == {
        "Text2Text", "Image2Text", "Video2Text", "Text2Image",
        "Image2Image", "Text2Video", "Image2Video", "Video2Video",
    }  # fmt: skip
    assert pairs["34d8478e/c08610f9_vs_86d4b2b5"].metadata["model_pair"] == (
        "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo_answer_vs_Qwen/Qwen2.5-72B-Instruct-Turbo_answer"
    )
    assert len(samples_of("judge_anything_score", tmp_path)) == 6000


def test_media_paths_stay_inside_the_dataset_folder(tmp_path: Path) -> None:
    data = build_judge_anything(tmp_path / "ja")
    outside = tmp_path / "outside.png"
    outside.write_bytes((data / "X2XRawBenchmark" / "images/Bench/i2t_0.png").read_bytes())
    (data / "X2XRawBenchmark" / "escape").symlink_to(tmp_path)
    queries_file = data / "X2XRawBenchmark" / "TaskAnything.json"
    queries = json.loads(queries_file.read_text())
    names = ["../../outside.png", str(outside), "escape/outside.png", "images/Bench/i2t_1.png"]
    next(q for q in queries if q["uniq_id"] == "i2t")["image_path"] = names
    queries_file.write_text(json.dumps(queries))
    sample = next(s for s in samples_of("judge_anything_pair", data).values() if s.id.startswith("i2t"))
    images = [image for message in sample.messages for image in message.images]
    assert [type(image).__name__ for image in images] == ["AbsentImage"] * 3 + ["FileImage"]
    for image in images[:3]:
        assert isinstance(image, AbsentImage) and "must be relative to" in image.hint
