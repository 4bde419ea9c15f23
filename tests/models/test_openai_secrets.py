"""No credential reaches the store, results.json, samples.jsonl, a report or an error message.

End to end through ``mmlens run`` and ``mmlens report`` against a real server on 127.0.0.1 (the
fault server, here taught two more ways of repeating the key), with keys in the environment
variable, in the URL's userinfo and in its query; every file written is then searched for them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from mmlens.cli.app import main
from mmlens.core.messages import Message
from mmlens.core.requests import GenerationSettings, Request, Response
from mmlens.models.base import ModelSpec, build_model
from tests.fixtures.fault_server import FaultServer, error_response

pytestmark = pytest.mark.timeout(60)

ENV_KEY = "sk-proj-EnvKey7Qx4Lm9Tz2Wb8Rc5Yd1"
URL_PASSWORD = "UrlPass8Kd3Nf6Hj1Vm4"
QUERY_KEY = "QueryKey5Gt2Ps9Lw7Xe3"
SECRETS = (ENV_KEY, URL_PASSWORD, QUERY_KEY)


class EchoingServer(FaultServer):
    """The fault server, plus replies that repeat the credentials where a cut would fall through them:
    ``longleak`` (a 500 whose message puts the key around character 300) and ``leaknotjson`` (a 200
    whose body is no JSON, the key around character 80)."""

    async def behave(
        self, request: web.Request, behaviour: str, body: dict[str, Any], text: str
    ) -> web.StreamResponse:
        credential = request.headers.get("Authorization") or ""
        if behaviour == "longleak":
            return error_response(500, "x" * 280 + f" rejected credential: {credential}")
        if behaviour == "leaknotjson":
            return web.Response(status=200, text="<html>" + "y" * 50 + f" {credential}</html>")
        return await super().behave(request, behaviour, body, text)


ROWS = [
    ("q1", "Say hello", "hello"),
    ("q2", "leaky #fault=leakkey", "x"),
    ("q3", "long leak #fault=longleak", "x"),
    ("q4", "not json #fault=leaknotjson", "x"),
    ("q5", "missing #fault=404", "x"),
]


def write_task(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": i, "question": q, "answer": a}) for i, q, a in ROWS]
    (folder / "data.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "secret_toy.yaml").write_text(
        "name: secret_toy\n"
        "description: A toy task whose prompts make the server repeat the key.\n"
        "scenario: {type: jsonl, path: data.jsonl}\n"
        "instruction: {type: template}\n"
        "inferencer: {type: generate, max_new_tokens: 8}\n"
        "metric: {type: accuracy}\n",
        encoding="utf-8",
    )
    return folder


def every_written_text(*places: Path) -> dict[str, str]:
    """Each file under ``places`` (the SQLite file and its -wal/-shm included), read as text."""
    texts = {}
    for place in places:
        for path in [place] if place.is_file() else sorted(p for p in place.rglob("*") if p.is_file()):
            texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    return texts


def leaks(texts: dict[str, str], secrets: tuple[str, ...]) -> list[str]:
    """``file: secret`` for each secret, or a 10-character prefix of its random part, found."""
    found = []
    for name, text in texts.items():
        for secret in secrets:
            for piece in {secret, secret[-18:-8]}:
                if piece in text:
                    found.append(f"{name}: {piece}")
    return found


def run_mmlens(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """(exit status, stdout, stdout and stderr)."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.out + captured.err


@pytest.mark.parametrize("where", ["environment", "url"])
def test_no_key_is_written_anywhere_by_a_run_and_its_report(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_task(tmp_path / "task")
    store, runs, report = tmp_path / "store.sqlite", tmp_path / "runs", tmp_path / "report.html"
    with EchoingServer() as server:
        if where == "environment":  # sent as a bearer token; the query carries one as well
            monkeypatch.setenv("SECRET_TOY_KEY", ENV_KEY)
            base_url = f"{server.base_url}?api_key={QUERY_KEY}"
        else:  # sent as HTTP Basic from the URL's userinfo, which also holds an sk- key as user name
            monkeypatch.delenv("SECRET_TOY_KEY", raising=False)
            base_url = server.base_url.replace("://", f"://{ENV_KEY}:{URL_PASSWORD}@") + f"?token={QUERY_KEY}"
        command = [
            "--store", str(store), "run", "secret_toy", "--include", str(folder),
            "--model", "openai:fault-model", "--base-url", base_url,
            "--model-args", "api_key_env=SECRET_TOY_KEY,max_retries=0,timeout=5",
            "--output-dir", str(runs), "--no-progress", "--json",
        ]  # fmt: skip
        code, stdout, output = run_mmlens(capsys, *command)
        assert code in (0, 1), output  # finished (1: some requests failed, where that is told)
        authorization = [a for a in server.record.authorization if a]
    code, _, report_output = run_mmlens(capsys, "--store", str(store), "report", "-o", str(report))
    assert code == 0, report_output
    written = every_written_text(store.parent / "store.sqlite", runs, report)
    written.update({"run output": output, "report output": report_output})
    assert any(name.endswith("samples.jsonl") for name in written)
    assert leaks(written, SECRETS) == []  # nowhere in what was written or printed...

    assert len(authorization) == len(ROWS)  # ...though every request was sent with them
    results = json.loads(stdout)
    assert results["counts"]["errors"] == len(ROWS) - 1, output
    # What is recorded is the masked form: the endpoint in the fingerprint, the command to resume.
    provenance = results["provenance"]
    assert "***" in provenance["model"]["fingerprint"]["base_url"]
    assert "***" in provenance["resume"] and "secret_toy" in provenance["resume"]
    errors = [json.loads(line).get("error") or "" for line in (next(runs.iterdir()) / "samples.jsonl").open()]
    assert any("Incorrect API key provided" in error for error in errors)
    assert any("rejected credential" in error for error in errors)
    assert any("not JSON" in error for error in errors)


def test_a_key_given_where_the_variable_name_goes_is_refused_in_one_line_without_echoing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store.sqlite"
    for args in (
        f"api_key_env={ENV_KEY}",
        "api_key_env=not-a-variable-name",
        f"api_key_env={QUERY_KEY}1a2b3c",
    ):
        code, _, output = run_mmlens(
            capsys, "--store", str(store), "run", "shapes_small", "--model", "openai:gpt-4o-mini",
            "--model-args", args, "--output-dir", str(tmp_path / "runs"), "--limit", "2",
        )  # fmt: skip
        assert code != 0
        lines = output.strip().splitlines()
        assert len(lines) == 1, output
        assert "api_key_env" in lines[0] and "environment variable" in lines[0], output
        assert args.split("=", 1)[1] not in output
    assert not store.exists()  # refused before anything was opened or sent
    # The same for a key-shaped value in any option of any backend (here the constant model's text).
    code, _, output = run_mmlens(
        capsys, "run", "shapes_small", "--model", "constant", "--model-args", f"text={ENV_KEY}"
    )
    assert code != 0 and len(output.strip().splitlines()) == 1 and ENV_KEY not in output
    assert "looks like an API key" in output


def test_error_texts_are_masked_before_they_are_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reply cut through the key (the 80-character preview of a non-JSON body, the 300-character
    server message) keeps no prefix of it: masking comes first."""
    monkeypatch.setenv("SECRET_TOY_KEY", ENV_KEY)
    with EchoingServer() as server:
        settings = {"base_url": server.base_url, "api_key_env": "SECRET_TOY_KEY", "max_retries": 0}
        model = build_model(ModelSpec(backend="openai", name="fault-model", args=settings))
        prompts = ["not json #fault=leaknotjson", "long leak #fault=longleak", "leaky #fault=leakkey"]
        requests = [Request("generate", (Message.user(p),), GenerationSettings()) for p in prompts]
        responses: dict[int, Response] = {}
        model.process(requests, responses.__setitem__)
    errors = [responses[i].error or "" for i in range(len(prompts))]
    assert all(errors), errors
    assert "not JSON" in errors[0] and "rejected credential" in errors[1] and "Incorrect API key" in errors[2]
    key_part = ENV_KEY.removeprefix("sk-proj-")
    for error in errors:
        assert not any(key_part[:n] in error for n in range(4, len(key_part) + 1)), error
