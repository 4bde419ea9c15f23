"""Rounds in which a flow waits for others (``WAIT``) or sends requests on their behalf
(``SharedRequests``), as pool ranking uses them: answered with the rest, not counted as the flow's
own rounds nor recorded as its exchanges; flows that all wait, round after round, stop the run."""

from __future__ import annotations

import pytest

from mmlens.core.errors import MmlensError
from mmlens.core.messages import Message
from mmlens.core.requests import Request, Response
from mmlens.core.sample import Sample
from mmlens.runner.rounds import WAIT, SampleFlow, SharedRequests, drive


def embed(text: str) -> Request:
    return Request("embed", (Message.user(text),))


def answer_all(sent: list[list[str]]):
    def answer(unique: dict[str, Request]) -> dict[str, Response]:
        sent.append([str(r.messages[0].content[0].text) for r in unique.values()])
        return {key: Response(embedding=[1.0, float(len(sent))]) for key in unique}

    return answer


def flow(sample_id: str, rounds) -> SampleFlow:
    item = SampleFlow(Sample(id=sample_id, messages=[Message.user("q")], target="0"), rounds)
    item.advance(None)
    return item


def test_a_flow_sends_shared_requests_while_another_waits_then_both_end() -> None:
    shared: list[int] = []

    def leader():
        got = yield [embed("query a")]
        for chunk in ("pool 0", "pool 1"):
            answered = yield SharedRequests([embed(chunk)])
            shared.append(len(answered))
        return ("a", len(got))

    def waiter():
        yield [embed("query b")]
        while len(shared) < 2:
            answered = yield WAIT
            assert answered == []
        return ("b", len(shared))

    first, second = flow("a", leader()), flow("b", waiter())
    sent: list[list[str]] = []
    rounds, planned = drive([first, second], {"model": "fp"}, answer_all(sent))
    assert sent == [["query a", "query b"], ["pool 0"], ["pool 1"]]
    assert (rounds, planned) == (3, 4)
    assert first.outcome == ("a", 1) and second.outcome == ("b", 2)
    # their own rounds only: one each; the shared requests are not the leader's exchanges
    assert first.round == second.round == 1
    assert [e.prompt[0]["content"][0]["text"] for e in first.exchanges] == ["query a"]


def test_flows_that_only_wait_stop_the_run_by_name() -> None:
    def stuck():
        yield [embed("query")]
        while True:
            yield WAIT

    with pytest.raises(MmlensError, match="samples s, ...: every sample waits and none sends a request"):
        drive([flow("s", stuck())], {"model": "fp"}, answer_all([]))


def test_an_empty_round_that_is_not_a_wait_is_still_a_bad_sample() -> None:
    def empty():
        yield [embed("query")]
        yield []

    item = flow("e", empty())
    drive([item], {"model": "fp"}, answer_all([]))
    assert item.bad is not None and "a round yielded no requests" in item.bad.reason
