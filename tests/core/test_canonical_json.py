"""Canonical JSON written by orjson (where installed) is the standard library's text, byte for byte:
request keys and dataset fingerprints of existing stores must not change."""

from __future__ import annotations

import collections
import enum
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmlens import api
from mmlens.core import canonical
from mmlens.core.canonical import canonical_json, canonical_json_object
from mmlens.core.messages import Message
from mmlens.core.parts import LoadContext
from mmlens.core.requests import GenerationSettings, Request
from mmlens.runner.plan import load_samples
from mmlens.runner.provenance import dataset_fingerprint
from mmlens.runner.rounds import start_flows
from tests.core.test_request_keys import REQUESTS
from tests.fixtures import benchmark_data


def reference(data: Any) -> str:
    """The definition, spelt out: what every key so far was computed from."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@pytest.fixture(params=["orjson", "stdlib"])
def encoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both paths: orjson where installed, and the standard library alone (orjson not installed)."""
    if request.param == "orjson":
        pytest.importorskip("orjson")
    else:
        monkeypatch.setattr(canonical, "_fast", None)
    return str(request.param)


CODE_POINTS = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def test_every_code_point_is_escaped_and_sorted_as_the_standard_library_does() -> None:
    pytest.importorskip("orjson")
    assert canonical_json("".join(CODE_POINTS)) == reference("".join(CODE_POINTS))
    assert canonical_json(CODE_POINTS) == reference(CODE_POINTS)
    # as keys: every one- and two-byte UTF-8 code point, then every 13th (UTF-8 byte order must be
    # code point order), and the surrogate gap's and the astral planes' edges
    keys = (
        CODE_POINTS[:0x800]
        + CODE_POINTS[0x800::13]
        + ["\ud7ff", "\ue000", "\uffff", "\U00010000", "\U0010ffff"]
    )
    as_keys = {c: i for i, c in enumerate(keys)}
    assert canonical_json(as_keys) == reference(as_keys)
    # keys that share prefixes, mixing ASCII, the BMP's top and astral characters
    tricky = [
        "",
        "a",
        "a\x00",
        "a\x7f",
        "ab",
        "\uffff",
        "\U00010000",
        "\ufffd",
        "é",
        "e\u0301",
        "\u2028",
        "~",
    ]
    mixed = {x + y: [x, y] for x in tricky for y in tricky}
    assert canonical_json(mixed) == reference(mixed)


FLOATS = [
    0.0,
    -0.0,
    1.0,
    0.1,
    1e16,
    1.5e16,
    1e-5,
    1e-7,
    123456789.125,
    5e-324,
    1.7976931348623157e308,
    math.nan,
    math.inf,
    -math.inf,
    2.0**53 + 1,
]


class Colour(enum.IntEnum):
    RED = 1


class Flavour(enum.StrEnum):
    SWEET = "sweet"


Point = collections.namedtuple("Point", "x y")

VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    2**63,
    2**64 - 1,
    2**64,
    -(2**63),
    -(2**63) - 1,
    10**40,
    "",
    "null",
    ":1.5",
    "[1e5",
    'a"b\\c\n\t\x00\x1f\x7f',
    "\ud800 lone surrogate",
    *FLOATS,
    [],
    {},
    (),
    (1, "a"),
    [None],
    {"k": None},
    {"x": 1.5},
    [0.5, {"y": [1e100]}],
    {"b": 1, "a": [1, 2, {"d": "e", "c": True}]},
    {1: "int key"},
    {True: "bool key"},
    {None: 1},
    Colour.RED,
    Flavour.SWEET,
    Point(1, 2),
    collections.OrderedDict([("z", 1), ("a", 2)]),
    collections.defaultdict(int, {"q": 1}),
    type("Text", (str,), {})("a str subclass"),
    [[[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]]]],
]


@pytest.mark.parametrize("value", VALUES, ids=lambda value: repr(value)[:40])
def test_values_that_orjson_writes_differently_go_to_the_standard_library(value: Any, encoder: str) -> None:
    assert canonical_json(value) == reference(value)
    assert canonical_json({"v": value, "w": [value]}) == reference({"v": value, "w": [value]})


def test_nesting_beyond_orjsons_limit_and_values_neither_accepts(encoder: str) -> None:
    deep: Any = "x"
    for _ in range(300):
        deep = [deep]
    assert canonical_json(deep) == reference(deep)
    for refused in (b"bytes", {1.5j}, object()):
        with pytest.raises(TypeError):
            canonical_json(refused)
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises((ValueError, RecursionError)):
        canonical_json(loop)


@pytest.mark.parametrize("value", [v for v in VALUES if isinstance(v, dict)] + [{"messages": [1], "z": None}])
def test_an_object_encoded_one_value_at_a_time_is_the_whole_encoded_at_once(value: Any, encoder: str) -> None:
    assert canonical_json_object(value) == reference(value)
    data = {"kind": "x", "messages": [{"a": 1}], "n": None, "f": 0.25, "s": "é"}
    assert canonical_json_object(data, {"messages": reference(data["messages"])}) == reference(data)


@pytest.mark.parametrize(
    "settings",
    [
        GenerationSettings(),
        GenerationSettings(16, -0.0, 1.0),
        GenerationSettings(16, 0, 1),  # ints where floats belong: written as ints, not from the cache
        GenerationSettings(16, 0.0, 1.0, ("\n", "é"), True),
        GenerationSettings(16, 0.0, 1.0, ("\n",), 1),
        GenerationSettings(16, math.nan, math.inf, seed=2**70),
        GenerationSettings(16, chat_template_kwargs=(("enable_thinking", False), ("x", [1.5, None]))),
        GenerationSettings(16, stop=["a list"]),  # type: ignore[arg-type]
        # numpy floats, cached by their bits too (before: 0.0's text served for -0.0)
        GenerationSettings(16, np.float64(0.0), 1.0),
        GenerationSettings(16, np.float64(-0.0), 1.0),
    ],
    ids=repr,
)
def test_settings_text_cached_by_exact_value(settings: GenerationSettings, encoder: str) -> None:
    for _ in range(2):  # the second from the cache
        assert settings.canonical_json() == reference(settings.canonical())
    request = Request("generate", (Message.user("q"),), settings)
    assert request.canonical_text() == reference(request.canonical())


# Keys of tests/core/test_request_keys.py's requests, as mmlens computed them before orjson.
GOLDEN_KEYS = [
    "ebe7b4184398e8700aa3aa28afed92e6d84ae8091b82d9dc6b0cad7ee00927bf",
    "3195ab4e9d3c223bdc16d2332d62b7c0f01174daea1dc3c1a98324bf87476774",
    "306b2c609169ccb006ccd644d0a8265e7febbbb2487f7b28a102182bbaf791b0",
    "e310cb12fe8cac690618318ac16f269b95148b3f8ce2cc3b9830acb9a8f484e4",
    "995726505e80196ba0a3cb02ae8260efe56a117528fe2bab6a2bdf6b081f2cb6",
    "14452d083bb875ff728dfedff8294519d2f7fcd122e25394d4e0a392b6927d22",
]


def test_known_request_keys_are_unchanged(encoder: str) -> None:
    assert [request.key("fp") for request in REQUESTS] == GOLDEN_KEYS


# (task, fixture builder, sha256 of its request keys one a line, dataset fingerprint), as mmlens
# computed them before orjson: real requests of three benchmarks (images, options, unicode).
CORPUS = [
    (
        "mmstar",
        lambda tmp: benchmark_data.build_mmstar(tmp / "mmstar"),
        "9225cdffee81076566121ccfdaaa8d250f64d94bf89f6034d8b7b3980a460b02",
        "f7554cd017182e461bfd27565da472bb4a4474a5aa28a3ea598b30271abdefea",
    ),
    (
        "mmbench_dev_en",
        lambda tmp: benchmark_data.build_mmbench_tsv(tmp / "mmbench.tsv"),
        "028aabece538a491137f8626562484db44f465f5669fc72e7aa74035d9268b7f",
        "b22c785576c01d731ee874d5f4525425ccf3ca7f85594601b4538f78af23e9a5",
    ),
    (
        "seedbench2",
        lambda tmp: benchmark_data.build_seed2_json(tmp / "seed2"),
        "77207e16ba71f2c03c148b03fda3e9f5ef50f4b529b478edfc63c8f08047cfa2",
        "6bacceada96ec75b5c6d60e04669afdfd71023bdc9130d79afb67195e53fdf8d",
    ),
]


@pytest.mark.parametrize(("name", "build", "keys_hash", "fingerprint"), CORPUS, ids=[c[0] for c in CORPUS])
def test_real_requests_keep_their_keys_and_the_dataset_its_fingerprint(
    name: str, build: Any, keys_hash: str, fingerprint: str, tmp_path: Path, encoder: str
) -> None:
    task = api.load_task(name)
    samples, _ = load_samples(task, LoadContext(task.name, task.task_dir, str(build(tmp_path))))
    flows, _ = start_flows(task, samples)
    requests = [request for flow in flows for request in flow.pending]
    assert requests
    for request in requests:
        assert request.canonical_text() == reference(request.canonical())
    for sample in samples:
        assert canonical_json(sample.canonical()) == reference(sample.canonical())
    keys = "\n".join(request.key("fp") for request in requests)
    assert hashlib.sha256(keys.encode()).hexdigest() == keys_hash
    assert dataset_fingerprint(samples) == fingerprint
