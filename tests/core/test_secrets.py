"""Credentials are recognised and masked out of text, URLs and command lines (core/secrets.py)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from mmlens.core.secrets import (
    is_env_var_name,
    looks_like_key,
    mask,
    mask_command,
    mask_then_cut,
    mask_url,
    url_secrets,
)

OPENAI_KEY = "sk-proj-Zx81mQ4vT2bN7cK9wL3pR6sY"
HF_TOKEN = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"Incorrect API key provided: {OPENAI_KEY}.", OPENAI_KEY[8:]),
        ("sk-ant-api03-Qw8Er7Ty6Ui5Op4As3Df2Gh1", "Qw8Er7Ty6Ui5Op4As3Df2Gh1"),
        (f"token {HF_TOKEN} was refused", HF_TOKEN[3:]),
        ("Authorization: Bearer abc123def456ghi789", "abc123def456ghi789"),
        ("http://user:hunter2pass@127.0.0.1:8000/v1", "hunter2pass"),
        ("http://tokenonly4242@127.0.0.1:8000/v1", "tokenonly4242"),
        ("https://h/v1?api_key=Q1w2E3r4&x=1", "Q1w2E3r4"),
        (
            "https://generativelanguage.googleapis.com/v1?key=AIzaSyQ1w2E3r4T5y6U7i8O9p0",
            "SyQ1w2E3r4T5y6U7i8O9p0",
        ),
        ('{"error": {"api_key": "zz9-secret-zz9"}}', "zz9-secret-zz9"),
        ("x-api-key: k3y-v4lue-here", "k3y-v4lue-here"),
        ("--model-args password=pa55word,concurrency=2", "pa55word"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "dozjgNryP4J3jVmNHl0w5N"),
    ],
)
def test_credentials_in_text_are_masked(text: str, secret: str) -> None:
    masked = mask(text)
    assert secret not in masked
    assert "***" in masked


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens=5 token_limit_field=max_tokens api_key_env=OPENAI_API_KEY concurrency=8",
        "/models/hf_internal_testing_tiny_llava (a local folder)",
        "unexpected token: } at line 1",
        "Bearer authentication failed; check the key",
        "http://127.0.0.1:8000/v1/chat/completions returned 500",
        "task-shapes__reference__0123456789",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask(text) == text


def test_known_secrets_are_masked_verbatim_percent_encoded_or_decoded() -> None:
    assert mask("the key is plainsecret99!", ["plainsecret99!"]) == "the key is ***"
    assert mask("in a URL: pa%40ss%3Aword", ["pa@ss:word"]) == "in a URL: ***"
    assert mask("short ones stay: abc", ["abc"]) == "short ones stay: abc"


def test_masking_comes_before_cutting_so_no_prefix_survives() -> None:
    key = "s3cr3t-value-that-is-long-42"
    text = "x" * 290 + key + " and more"
    cut = mask_then_cut(text, 300, [key])
    assert cut == "x" * 290 + "*** and mo..."
    # Cutting first (the old order) would have kept the key's first characters.
    assert key[:8] in (text[:300] + "...").replace(key, "***")


def test_url_credentials_are_found_and_masked_keeping_the_rest() -> None:
    url = "https://me:pa%40ss99@api.example.com:8443/v1?api_key=Q1w2E3r4&region=eu"
    assert mask_url(url) == "https://***@api.example.com:8443/v1?api_key=***&region=eu"
    found = url_secrets(url)
    assert "me" in found and "pa%40ss99" in found and "Q1w2E3r4" in found
    assert base64.b64encode(b"me:pa@ss99").decode() in found  # as sent in a Basic header
    assert mask_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"


def test_a_command_line_is_recorded_masked() -> None:
    argv = ["run", "shapes", "--base-url", "http://u:p4ssw0rd99@h:1/v1?token=T0k3n", "--model", "openai:m"]
    recorded = mask_command(argv)
    assert "p4ssw0rd99" not in recorded and "T0k3n" not in recorded
    assert recorded == "run shapes --base-url 'http://***@h:1/v1?token=***' --model openai:m"


def test_environment_variable_names_and_keys_are_told_apart() -> None:
    for name in ("OPENAI_API_KEY", "MY_ENDPOINT_KEY2", "_private", "hf_token"):
        assert is_env_var_name(name), name
    for value in (OPENAI_KEY, "sk-abc", HF_TOKEN, "a1b2c3d4e5f6a7b8c9d0e1f2a3", "2KEY", "MY-KEY", "", "A B"):
        assert not is_env_var_name(value), value
    assert looks_like_key(OPENAI_KEY) and looks_like_key(HF_TOKEN) and looks_like_key("Bearer abc123def456")
    # A commit hash (an hf revision) is long and random, but not a key shape: it may be an option.
    assert not looks_like_key("0123456789abcdef0123456789abcdef01234567")


def test_the_api_records_its_resume_hint_masked(tmp_path: Path) -> None:
    from mmlens import api
    from mmlens.store.sqlite import Store

    store = tmp_path / "s.sqlite"
    hint = f"rerun `python eval.py --base-url https://me:{OPENAI_KEY}@h/v1 --key {HF_TOKEN}`"
    result = api.evaluate("shapes_small", limit=2, store=store, output_dir=tmp_path, resume_hint=hint)
    recorded = result.results["provenance"]["resume"]
    assert recorded == "rerun `python eval.py --base-url https://***@h/v1 --key hf_***`"
    with Store(store, read_only=True) as opened:
        row = opened.get_run(result.run_id)
    assert row is not None and row.provenance["resume"] == recorded
    written = (tmp_path / result.run_id / "results.json").read_text() + store.read_bytes().decode("latin-1")
    assert OPENAI_KEY not in written and HF_TOKEN not in written
