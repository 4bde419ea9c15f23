"""self_consistency: k seeded samples in the request keys, a majority vote with ties to the first."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.errors import ConfigError, DataError
from mmlens.inferencers.self_consistency import majority_vote
from tests.fixtures.dialogue_server import DialogueServer
from tests.inferencers.conftest import run_on_hf_batched_and_unbatched, run_on_server

# tests/fixtures/rounds_bench/votes.jsonl: the server answers a question's "votes=" entry at the seed.
MAJORITY = ["C", "The answer is A.", "B", "a", "A."]  # letters C A B A A
TIE = ["B", "The answer is A.", "A", "b", "(C)"]  # letters B A A B C: A and B tie, B came first


def write_variant(bench: Path, name: str, inferencer: str) -> None:
    (bench / f"{name}.yaml").write_text(
        f"name: {name}\nscenario: {{type: jsonl, path: votes.jsonl}}\ninferencer: {inferencer}\n"
        "metric: {type: accuracy, extractor: choice_letter}\n"
    )


def test_majority_vote_counts_and_breaks_ties_by_first_occurrence() -> None:
    assert majority_vote(["B", "A", "A", "B", "C"]) == ("B", {"B": 2, "A": 2, "C": 1})
    assert majority_vote(["C", "A", "B", "A", "A"]) == ("A", {"C": 1, "A": 3, "B": 1})
    assert majority_vote([None, "B", None, "A", "A"]) == ("A", {"B": 1, "A": 2})
    assert majority_vote([None, None]) == (None, {})


def test_the_vote_over_http(bench: Path, server: DialogueServer, tmp_path: Path) -> None:
    result = run_on_server("toy_vote", bench, server, tmp_path / "s.sqlite")
    assert result.results["provenance"]["requests"]["rounds"] == 1
    seeds = Counter(item.body["seed"] for item in server.received)
    assert seeds == {seed: 4 for seed in range(5)}  # request i of each sample: run seed 0 * 65536 + i
    assert all(item.body["temperature"] == 0.7 for item in server.received)
    by_id = {r.id: r for r in result.records}

    majority = by_id["majority"]
    assert majority.details["responses"] == MAJORITY
    assert majority.details["votes"] == {"C": 1, "A": 3, "B": 1}
    # the text is the first response that voted for the winner, not the most frequent raw text
    assert majority.response == "The answer is A." and majority.answer == "A" and majority.correct

    tie = by_id["tie"]
    assert tie.details["votes"] == {"B": 2, "A": 2, "C": 1} and tie.details["winner"] == "B"
    assert tie.response == "B" and tie.correct

    assert by_id["late"].details["votes"] == {"B": 2, "A": 3} and by_id["late"].answer == "A"
    none = by_id["none"]  # no response names a letter: nothing votes, and nothing is guessed
    assert none.details["votes"] == {} and none.details["winner"] is None
    assert none.response is None and none.extraction == "failed" and none.correct is False
    assert none.details["responses"][0] == "maybe"  # every response is kept
    assert result.results["metrics"]["acc"]["value"] == pytest.approx(3 / 4)


def test_k_and_the_seeds_are_in_the_request_keys(bench: Path, server: DialogueServer, tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    write_variant(
        bench, "toy_vote_3", "{type: self_consistency, k: 3, max_new_tokens: 6, extractor: choice_letter}"
    )
    three = run_on_server("toy_vote_3", bench, server, store)
    assert three.stats is not None and three.stats.computed == 12
    assert {r.id: r.answer for r in three.records}["late"] == "B"  # B B A: k matters

    server.clear()
    five = run_on_server("toy_vote", bench, server, store)
    assert five.stats is not None and (five.stats.cached, five.stats.computed) == (12, 8)
    assert Counter(item.body["seed"] for item in server.received) == {3: 4, 4: 4}  # only the 2 new ones
    assert {r.id: r.answer for r in five.records}["late"] == "A"

    server.clear()
    reseeded = run_on_server("toy_vote", bench, server, store, seed=10)
    assert reseeded.stats is not None and (reseeded.stats.cached, reseeded.stats.computed) == (0, 20)
    assert sorted(set(item.body["seed"] for item in server.received)) == [655360 + i for i in range(5)]
    by_id = {r.id: r for r in reseeded.records}  # seeds 10 * 65536 + i pick entries 0..4 again (modulo 5)
    assert by_id["majority"].details["responses"] == MAJORITY

    # An explicit seed in the task wins over the run's seed (and so shares its cache across runs).
    write_variant(bench, "toy_vote_fixed", "{type: self_consistency, seed: 3, extractor: choice_letter}")
    server.clear()
    fixed = run_on_server("toy_vote_fixed", bench, server, store, seed=99)
    assert sorted(set(item.body["seed"] for item in server.received)) == [3 * 65536 + i for i in range(5)]
    assert fixed.stats is not None and fixed.stats.computed == 20


def test_without_an_extractor_the_stripped_texts_vote(
    bench: Path, server: DialogueServer, tmp_path: Path
) -> None:
    write_variant(bench, "toy_vote_raw", "{type: self_consistency, k: 5}")
    result = run_on_server("toy_vote_raw", bench, server, tmp_path / "s.sqlite")
    late = {r.id: r for r in result.records}["late"]
    assert late.details["votes"] == {"B": 2, "A": 3} and late.response == "A"
    majority = {r.id: r for r in result.records}["majority"]  # five different texts: the first wins
    assert majority.details["winner"] == "C" and majority.response == "C"


@pytest.mark.parametrize(
    ("inferencer", "message"),
    [
        ("{type: self_consistency, temperature: 0}", "temperature"),
        ("{type: self_consistency, k: 0}", "k"),
        ("{type: self_consistency, extractor: no_such_extractor}", "no_such_extractor"),
    ],
)
def test_bad_options_are_refused_when_the_task_loads(bench: Path, inferencer: str, message: str) -> None:
    write_variant(bench, "toy_vote_bad", inferencer)
    with pytest.raises(ConfigError, match=rf"toy_vote_bad.yaml: inferencer.*{message}"):
        api.load_task("toy_vote_bad", include=[bench])


def test_self_consistency_on_a_tiny_hf_model(llava: Path, bench: Path, tmp_path: Path) -> None:
    lines = run_on_hf_batched_and_unbatched("toy_vote", llava, bench, tmp_path, rounds=1)
    for line in lines.values():
        responses = line["details"]["responses"]
        assert len(responses) == 5 and len(set(responses)) > 1  # five seeds, five different samples
        # A random tiny model names no letter: nothing votes, so there is no response to score.
        voted = line["details"]["winner"] is not None
        assert (line["response"] in responses) if voted else (line["response"] is None)


def test_score_replays_the_k_responses(bench: Path, tmp_path: Path) -> None:
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(
        json.dumps({"id": "majority", "responses": MAJORITY})
        + "\n"
        + json.dumps({"id": "tie", "responses": TIE})
        + "\n"
    )
    result = api.score("toy_vote", predictions, include=[bench])
    by_id = {r.id: r for r in result.records}
    assert by_id["majority"].response == "The answer is A." and by_id["majority"].answer == "A"
    assert by_id["tie"].answer == "B" and by_id["tie"].details["votes"] == {"B": 2, "A": 2, "C": 1}

    predictions.write_text(json.dumps({"id": "tie", "responses": TIE[:3]}) + "\n")
    with pytest.raises(DataError, match=r'line 1: self_consistency samples k=5: give "responses", 5 texts'):
        api.score("toy_vote", predictions, include=[bench])


def test_plan_lists_the_k_seeded_requests_and_no_later_rounds(bench: Path) -> None:
    planned = api.plan("toy_vote", include=[bench], seed=4)
    assert planned.later_rounds is False and planned.request_count == 4 * 5
    for _, requests in planned.samples:
        assert [r.canonical["settings"]["seed"] for r in requests] == [4 * 65536 + i for i in range(5)]
        assert {r.canonical["settings"]["temperature"] for r in requests} == {0.7}
