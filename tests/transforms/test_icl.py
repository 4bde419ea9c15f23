"""icl:<k>[:<retriever>]: the retrievers' edge cases (random never the query, ChEF's can; k = 0; k
past the pool; fixed), ChEF's numpy draws reproduced with the legacy seeding, ChEF's text, the
mmlens turns, topk through an embedder role (a tiny CLIP, end to end, the rerun fully cached),
the role refused up front, the CLI, and tiny VLM runs on POPE (yes/no) and MMStar (multiple
choice)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmlens import api
from mmlens.cli.app import main
from mmlens.core.errors import ConfigError, DataError
from mmlens.core.messages import ImagePart, Message, TextPart
from mmlens.core.parts import LoadContext, TransformContext
from mmlens.core.requests import Request, Response
from mmlens.core.sample import BadSample, Sample
from mmlens.core.task import build_transform
from mmlens.inferencers.basic import Generate
from mmlens.instructions.template import TemplateInstruction
from mmlens.models.base import ModelSpec, build_model
from mmlens.transforms.icl import CHEF_SYSTEM, PROMPT_KEY, Icl, IclInferencer, IclPrompt
from tests.fixtures.benchmark_helpers import pope_with_images
from tests.fixtures.images import random_image
from tests.fixtures.task_data import data_builder
from tests.fixtures.tiny_models import TinyModelFactory, build_tiny_clip, tiny_model_factory  # noqa: F401

MC_TEXT = "What is shown?\nA. a cat\nB. a dog\nC. a bird"


def sample(number: int, target: str | None = "yes", group: str | None = None, mc: bool = False) -> Sample:
    text = MC_TEXT if mc else f"Is there thing {number}?"
    image = ImagePart(random_image(number, 8, 8))
    return Sample(f"q{number}", [Message("user", (image, TextPart(text)))], target=target, group=group)


def context(
    pool: list[Sample], embed: Callable[[list[Request]], list[Response]] | None = None
) -> TransformContext:
    splits = {"": pool}

    def load_split(fields: dict[str, Any]) -> list[Sample]:
        splits.setdefault("asked", []).append(fields)  # type: ignore[arg-type]
        return list(pool)

    return TransformContext("toy", None, load_split, TemplateInstruction(), embed)  # type: ignore[arg-type]


def examples(result: list[Sample | BadSample]) -> dict[str, list[str]]:
    return {
        item.id: item.metadata["transform_details"]["icl"]["examples"]
        for item in result
        if isinstance(item, Sample)
    }


POOL = [sample(i, "yes" if i % 2 else "no") for i in range(10)]


def test_random_never_returns_the_query_and_draws_the_same_whatever_the_run_holds() -> None:
    icl = Icl(k=3)
    drawn = examples(icl.apply(POOL, context(POOL)))
    assert all(len(set(ids)) == 3 and sample_id not in ids for sample_id, ids in drawn.items())
    assert drawn == examples(icl.apply(POOL, context(POOL)))  # seeded: the same on every run
    assert examples(icl.apply(POOL[:3], context(POOL))) == {
        k: drawn[k] for k in ("q0", "q1", "q2")
    }  # --limit
    assert examples(Icl(k=3, seed=5).apply(POOL, context(POOL))) != drawn
    # a derived question (a circular pass, a leading rewrite) gets its original's examples
    passes = [Sample("q4#circular1", POOL[4].messages, target="yes")]
    assert examples(icl.apply(passes, context(POOL)))["q4#circular1"] == drawn["q4"]


def test_random_leaves_out_the_questions_group_and_those_without_answers() -> None:
    pool = [sample(0, group="img"), sample(1, group="img"), sample(2, target=None), sample(3), sample(4)]
    drawn = examples(Icl(k=2).apply(pool[:1], context(pool)))
    assert sorted(drawn["q0"]) == ["q3", "q4"]
    short = Icl(k=3).apply(pool[:1], context(pool))
    assert isinstance(short[0], BadSample) and "only 2 questions" in short[0].reason


def test_k_larger_than_the_pool_is_one_clear_error() -> None:
    with pytest.raises(
        DataError, match=r"icl:10: 10 examples per question need a pool of at least 11 .* has 10"
    ):
        Icl(k=10).apply(POOL, context(POOL))
    with pytest.raises(DataError, match="at least 11 questions with answers; the task has 10"):
        Icl(k=11, mode="chef").apply(POOL, context(POOL))
    Icl(k=10, mode="chef").apply(POOL, context(POOL))  # ChEF draws from all N, the query included


def test_k_zero_shows_nothing_and_loads_no_pool() -> None:
    def no_pool(fields: dict[str, Any]) -> list[Sample]:
        raise AssertionError("k = 0 needs no pool")

    ctx = TransformContext("toy", None, no_pool, TemplateInstruction())  # type: ignore[arg-type]
    [plain] = Icl(k=0).apply(POOL[:1], ctx)
    assert isinstance(plain, Sample) and plain.metadata["transform_details"]["icl"]["examples"] == []
    wrapped = Icl(k=0).adapt_inferencer(Generate())
    assert wrapped.plan(plain, plain.messages)[0].messages == tuple(plain.messages)
    [chef] = Icl(k=0, mode="chef").apply(POOL[:1], ctx)  # ChEF v1 keeps its system message at k = 0
    assert isinstance(chef, Sample)
    shown = Icl(k=0, mode="chef").adapt_inferencer(Generate()).plan(chef, chef.messages)[0].messages
    assert shown == (Message.system(CHEF_SYSTEM), *chef.messages)


def legacy_draws(size: int, k: int, seed: int, count: int) -> list[list[int]]:
    """ChEF's RandomRetriever.retrieve, verbatim (numpy's global legacy seeding)."""
    np.random.seed(seed)
    return [np.random.choice(size, k, replace=False).tolist() for _ in range(count)]


def test_chef_random_draws_equal_numpys_legacy_seeding_and_can_hold_the_query() -> None:
    pool = [sample(i) for i in range(12)]
    expected = legacy_draws(12, 3, 1, 12)  # the ICL recipes' random_seed: 1
    drawn = examples(Icl(k=3, mode="chef").apply(pool, context(pool)))
    assert drawn == {f"q{i}": [f"q{j}" for j in expected[i]] for i in range(12)}
    assert any(f"q{i}" in drawn[f"q{i}"] for i in range(12))  # the query itself can be drawn
    # a --limit run (the first items) draws what the full run drew for them
    assert examples(Icl(k=3, mode="chef").apply(pool[:4], context(pool))) == {
        f"q{i}": drawn[f"q{i}"] for i in range(4)
    }
    seven = legacy_draws(12, 2, 7, 12)
    assert examples(Icl(k=2, mode="chef", seed=7).apply(pool, context(pool)))["q5"] == [
        f"q{j}" for j in seven[5]
    ]


def test_fixed_gives_every_question_the_same_examples() -> None:
    drawn = examples(Icl(k=2, retriever="fixed").apply(POOL, context(POOL)))
    shared = [ids for sample_id, ids in drawn.items() if sample_id not in drawn["q0"] + drawn["q1"]]
    assert all(ids == shared[0] for ids in shared) and len(shared) >= 6
    assert all(sample_id not in ids for sample_id, ids in drawn.items())  # never itself: the next one instead
    np.random.seed(1)
    chef_fixed = [f"q{j}" for j in np.random.choice(10, 2, replace=False).tolist()]
    assert set(
        map(tuple, examples(Icl(k=2, retriever="fixed", mode="chef").apply(POOL, context(POOL))).values())
    ) == {tuple(chef_fixed)}
    given = Icl(k=2, retriever="fixed", ids=("q3", "q7")).apply(POOL, context(POOL))
    assert examples(given)["q0"] == ["q3", "q7"]
    assert {item.id for item in given if isinstance(item, BadSample)} == {"q3", "q7"}
    with pytest.raises(ValueError, match="ids names 1 examples, k is 2"):
        Icl(k=2, retriever="fixed", ids=("q3",))
    with pytest.raises(DataError, match="no question 'nope'"):
        Icl(k=1, retriever="fixed", ids=("nope",)).apply(POOL, context(POOL))


def test_chef_text_system_message_and_examples_before_the_question() -> None:
    pool = [sample(0, "A", mc=True), sample(1, "yes"), sample(2, "no")]
    icl = Icl(k=2, retriever="fixed", ids=("q0", "q1"), mode="chef")
    [query] = [s for s in icl.apply(pool[2:], context(pool)) if isinstance(s, Sample)]
    prompt = query.metadata[PROMPT_KEY]
    assert prompt.prefix == f"{MC_TEXT}: (A). Is there thing 1?: yes. "
    inferencer = icl.adapt_inferencer(Generate())
    system = [Message.system("You are a helpful assistant."), *query.messages]
    shown = inferencer.plan(query, system)[0].messages
    assert shown[0] == Message.system("You are a helpful assistant." + CHEF_SYSTEM)  # conv.system += sysmsg
    assert shown[1].content[0] == query.messages[0].content[0]  # the image, where the instruction put it
    assert shown[1].content[1] == TextPart(prompt.prefix + "Is there thing 2?")


def test_mmlens_examples_are_earlier_turns_as_the_task_shows_its_questions(tmp_path: Path) -> None:
    run = api.evaluate("shapes_small", "constant", transforms=["icl:2"], limit=3, store=tmp_path / "s.sqlite",
                       output_dir=None)  # fmt: skip
    assert run.results["counts"]["errors"] == 0
    assert run.results["provenance"]["task"]["transforms"] == ["icl:2"]
    task = api.load_task("shapes_small")
    pool = {s.id: s for s in task.scenario.load(context_of(task)) if isinstance(s, Sample)}
    for record in run.records:
        ids = record.details["transforms"]["icl"]["examples"]
        assert len(ids) == 2 and record.id not in ids
        expected: list[Any] = []
        for example in ids:
            expected += [m.canonical() for m in task.instruction.build(pool[example])]
            expected.append(Message.assistant(str(pool[example].target)).canonical())
        assert record.prompt[:4] == expected  # the instruction's own prompt, the images included
        assert record.prompt[4:] == [m.canonical() for m in task.instruction.build(pool[record.id])]


def context_of(task: Any) -> LoadContext:
    return LoadContext(task.name, task.task_dir)


def test_arguments_labels_and_errors() -> None:
    icl = build_transform("icl:2:random:split=train", "--transform")
    assert isinstance(icl, Icl) and (icl.k, icl.retriever, icl.split) == (2, "random", "train")
    assert icl.label() == "icl:2:split=train"
    chef = build_transform("icl:3:chef", "--transform")
    assert (
        isinstance(chef, Icl) and chef.mode == "chef" and chef.the_seed == 1 and chef.label() == "icl:3:chef"
    )
    topk = build_transform({"type": "icl", "k": 1, "retriever": "topk_img", "role": "clip"}, "transforms[0]")
    assert topk.label() == "icl:1:topk_img:role=clip" and topk.roles() == ("clip",)
    assert Icl(k=2).roles() == ()
    bad_args = [
        ("icl", "k a whole number"),
        ("icl:two", "k a whole number"),
        ("icl:2:nearest", "retrievers: random, fixed"),
        ("icl:-1", "greater than or equal to 0"),
    ]
    for bad, message in bad_args:
        with pytest.raises(ConfigError, match=message):
            build_transform(bad, "--transform")
    with pytest.raises(ConfigError, match="already has in-context examples"):
        api.load_task("shapes_small", transforms=["icl:1", "icl:2"])


def test_a_multi_round_or_ranking_inferencer_keeps_its_rounds_and_replay() -> None:
    task = api.load_task("shapes_small", transforms=["strategy:chain_of_thought", "icl:1"])
    assert (
        isinstance(task.inferencer, IclInferencer)
        and type(task.inferencer).rounds is not IclInferencer.rounds
    )
    ranking = api.load_task("pope", profile=None, transforms=["likelihood", "icl:1"])
    assert type(ranking.inferencer).replay_fields == frozenset({"option_logprobs"})


def fake_embedder(calls: list[list[Request]]) -> Callable[[list[Request]], list[Response]]:
    """Text "Is there thing N?" -> a unit vector at angle N (nearest: the neighbouring numbers)."""

    def embed(requests: list[Request]) -> list[Response]:
        calls.append(requests)
        out = []
        for request in requests:
            number = int(request.messages[0].text.split()[-1].rstrip("?"))
            out.append(Response(embedding=[float(np.cos(number / 3)), float(np.sin(number / 3))]))
        return out

    return embed


def test_topk_takes_the_nearest_less_the_query_itself() -> None:
    calls: list[list[Request]] = []
    drawn = examples(Icl(k=2, retriever="topk_text").apply(POOL, context(POOL, fake_embedder(calls))))
    assert (
        drawn["q0"] == ["q1", "q2"]
        and drawn["q5"] in (["q4", "q6"], ["q6", "q4"])
        and drawn["q9"] == ["q8", "q7"]
    )
    assert len(calls) == 1 and {r.role for r in calls[0]} == {"embedder"}  # one batch through the role
    chef = examples(
        Icl(k=2, retriever="topk_text", mode="chef").apply(POOL, context(POOL, fake_embedder([])))
    )
    assert chef["q0"] == ["q1", "q2"]  # ChEF: the k+1 nearest less the query itself
    with pytest.raises(ConfigError, match="embeds through the run's 'embedder' role"):
        Icl(k=2, retriever="topk_text").apply(POOL, context(POOL))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.mark.parametrize(
    ("retriever", "task_name"), [("topk_img", "shapes_small"), ("topk_text", "pope_random")]
)
def test_topk_through_a_clip_embedder_role_and_the_rerun_sends_nothing(
    retriever: str, task_name: str, clip: Path, tmp_path: Path
) -> None:
    data = str(pope_with_images(tmp_path / "pope", 18)) if task_name == "pope_random" else None
    options: dict[str, Any] = {"transforms": [f"icl:2:{retriever}"], "limit": 3, "data": data,
                               "store": tmp_path / "s.sqlite", "output_dir": None,
                               "roles": {"embedder": f"hf:{clip}"}}  # fmt: skip
    run = api.evaluate(task_name, "constant", **options)
    by_role = run.results["provenance"]["requests"]["by_role"]
    assert by_role["embedder"]["computed"] > 0 and run.results["counts"]["errors"] == 0
    assert run.results["counts"]["bad_samples"] == 0
    assert run.results["provenance"]["roles"]["embedder"]["label"].startswith("hf:")
    rerun = api.evaluate(task_name, "constant", **options)
    again = rerun.results["provenance"]["requests"]["by_role"]
    assert again["embedder"]["computed"] == 0 and again["embedder"]["cached"] == by_role["embedder"]["unique"]
    assert rerun.run_id == run.run_id and [r.details for r in rerun.records] == [
        r.details for r in run.records
    ]

    task = api.load_task(task_name)  # the nearest by the model's own vectors, computed here
    load = LoadContext(task.name, task.task_dir, data)
    pool = [s for s in task.scenario.load(load) if isinstance(s, Sample)]
    model = build_model(ModelSpec(backend="hf", name=str(clip)))

    def request(item: Sample) -> Request:
        if retriever == "topk_text":
            return Request("embed", (Message.user(item.question),))
        return Request("embed", (Message("user", (ImagePart(item.images[0]),)),))

    answers: dict[int, Response] = {}
    model.process([request(item) for item in pool], lambda i, r: answers.__setitem__(i, r))
    vectors = np.array([answers[i].embedding for i in range(len(pool))])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for number, record in enumerate(run.records):
        scores = vectors @ vectors[number]
        allowed = [j for j in np.argsort(-scores, kind="stable") if pool[j].id != record.id]
        nearest = [pool[j].id for j in allowed if record.group is None or pool[j].group != record.group]
        assert record.details["transforms"]["icl"]["examples"] == nearest[:2]


def test_a_missing_embedder_role_is_refused_up_front_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"needs a 'embedder' model: pass --role embedder=SPEC") as error:
        api.evaluate("shapes_small", "constant", transforms=["icl:2:topk_img"], store=tmp_path / "s.sqlite")
    assert "\n" not in str(error.value)
    args = ["run", "shapes_small", "--transform", "icl:2:topk_text", "--store", str(tmp_path / "s.sqlite"),
            "--output-dir", str(tmp_path / "runs"), "--no-progress"]  # fmt: skip
    assert main(args) == 2 and not (tmp_path / "runs").exists()


def test_cli_run_with_icl(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = ["run", "shapes_small", "--model", "constant", "--limit", "3", "--transform", "icl:2",
            "--store", str(tmp_path / "s.sqlite"), "--output-dir", str(tmp_path / "runs"), "--no-progress",
            "--json"]  # fmt: skip
    assert main(args) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["provenance"]["task"]["transforms"] == ["icl:2"]
    lines = [
        json.loads(line) for line in next((tmp_path / "runs").rglob("samples.jsonl")).read_text().splitlines()
    ]
    for line in lines:
        assert len(line["details"]["transforms"]["icl"]["examples"]) == 2
        assert [m["role"] for m in line["prompt"]] == ["user", "assistant", "user", "assistant", "user"]


@pytest.fixture(scope="module")
def llava(tiny_model_factory: TinyModelFactory) -> Path:  # noqa: F811
    pytest.importorskip("transformers")
    return tiny_model_factory("llava")


def test_icl_on_pope_and_mmstar_with_a_tiny_vlm(llava: Path, tmp_path: Path) -> None:
    options: dict[str, Any] = {
        "model_args": "dtype=float32",
        "store": tmp_path / "s.sqlite",
        "output_dir": None,
    }
    mmstar_data = data_builder("mmstar", "mmstar")
    assert mmstar_data is not None
    pope = pope_with_images(tmp_path / "pope", 2)
    runs: dict[str, dict[str, Any]] = {
        "pope_random": {"data": pope, "transforms": ["icl:1:split=popular"]},  # examples from another split
        "mmstar": {"data": mmstar_data(tmp_path / "mmstar"), "limit": 3, "transforms": ["icl:2"]},
    }
    for name, given in runs.items():
        run = api.evaluate(name, f"hf:{llava}", **given, **options)
        assert run.results["counts"]["errors"] == 0 and run.results["counts"]["bad_samples"] == 0, name
        k = 1 if name == "pope_random" else 2
        for record in run.records:
            images = [p for m in record.prompt for p in m["content"] if p["type"] == "image"]
            assert len(images) == k + 1, name  # every example shows its image
            assert record.details["transforms"]["icl"]["pool"] == ("popular" if k == 1 else "own")
        rerun = api.evaluate(name, f"hf:{llava}", **given, **options)
        assert rerun.stats is not None and rerun.stats.computed == 0, name


def test_the_prompt_object_records_its_content_for_the_fingerprint() -> None:
    prompt = IclPrompt(("q1",), turns=(Message.user("hi"), Message.assistant("yes")))
    assert json.loads(str(prompt))["turns"][1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "yes"}],
    }
