"""The video media step on real mp4 files made with PyAV: which frames each rule picks (worked
out from the official scripts' formulas), that decoders return exactly those frames, that the
sampling and decoder are part of the content hash, and that both backends send those frames."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mmlens.core.errors import ConfigError, DataError
from mmlens.core.media import AbsentVideo, PILImageRef, VideoRef
from mmlens.core.messages import ImagePart, Message, VideoPart
from mmlens.core.requests import Request
from mmlens.media.decoders import VideoInfo, available_decoders, get_decoder
from mmlens.media.sampling import FrameSampling, decode_frames, plan_frames
from tests.fixtures.fault_server import FaultServer
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401
from tests.fixtures.videos import frame_index, make_video

pytestmark = pytest.mark.timeout(120)


def official_get_seq_frames(total: int, desired: int) -> list[int]:
    """video-slicer's get_seq_frames, as written there (numpy round)."""
    seg_size = float(total - 1) / desired
    return [(int(np.round(seg_size * i)) + int(np.round(seg_size * (i + 1)))) // 2 for i in range(desired)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("video") / "clip.mp4", frame_count=301, fps=30)


@pytest.mark.parametrize("total", [2, 7, 100, 301, 1800, 5397])
@pytest.mark.parametrize("count", [1, 3, 8, 32, 64])
def test_uniform_rules_pick_the_official_indices(total: int, count: int) -> None:
    info = VideoInfo(total, 30.0)
    assert FrameSampling("videomme", count).indices(info) == official_get_seq_frames(total, count)
    linspace = np.linspace(0, total - 1, count, dtype=int).tolist()
    assert FrameSampling("linspace", count).indices(info) == linspace
    step = total / (count + 1)
    assert FrameSampling("vlmevalkit", count).indices(info) == [int(i * step) for i in range(1, count + 1)]


def test_videomme_rule_rounds_half_to_even_like_numpy() -> None:
    # total 10, 4 frames: segment 2.25 -> round(2.25)=2, round(4.5)=4 (not 5), round(6.75)=7, 9
    assert official_get_seq_frames(10, 4) == [1, 3, 5, 8]
    assert FrameSampling("videomme", 4).indices(VideoInfo(10, 1.0)) == [1, 3, 5, 8]


def test_fps_rule_takes_every_nth_frame_and_caps_the_count(clip: Path) -> None:
    planned = plan_frames(clip, FrameSampling("fps", frames=0, fps=2.0))
    assert planned.indices == list(range(0, 301, 15))[: int(301 / 30 * 2)]
    assert planned.times[:3] == [0.0, 0.5, 1.0]
    capped = plan_frames(clip, FrameSampling("fps", frames=5, fps=2.0))
    assert len(capped.indices) == 5 and capped.indices[0] == 0 and set(capped.indices) <= set(planned.indices)


@pytest.mark.parametrize("decoder", ["pyav", "decord", "torchcodec"])
def test_each_installed_decoder_returns_exactly_the_sampled_frames(clip: Path, decoder: str) -> None:
    if decoder not in available_decoders():  # scripts/setup.sh installs pyav and decord, not torchcodec
        with pytest.raises(DataError, match=rf"video decoder '{decoder}' is not installed \(pip install"):
            get_decoder(decoder)
        return
    info = get_decoder(decoder).probe(clip)
    assert (info.frame_count, info.fps) == (301, 30.0)
    for count in (1, 8, 32):
        sampling = FrameSampling("videomme", count, decoder=decoder)
        frames = decode_frames(clip, sampling)
        assert [frame_index(f) for f in frames] == official_get_seq_frames(301, count)
    # arbitrary order, repeats, the last frame, backwards jumps
    wanted = [300, 0, 13, 13, 250, 12, 299]
    assert [frame_index(f) for f in get_decoder(decoder).frames(clip, wanted)] == wanted


def test_pyav_frames_equal_a_sequential_read(clip: Path) -> None:
    """The official extractor reads every frame in order and keeps the chosen counts; seeking
    must give the same pictures."""
    import av

    with av.open(str(clip)) as container:
        every = [frame.to_image() for frame in container.decode(video=0)]
    indices = official_get_seq_frames(len(every), 16)
    seeked = decode_frames(clip, FrameSampling("videomme", 16))
    for index, frame in zip(indices, seeked, strict=True):
        assert np.array_equal(np.asarray(frame), np.asarray(every[index].convert("RGB")))


def key(part: VideoPart) -> str:
    return Request("generate", (Message.user(part, "What happens?"),)).key("model-x")


def test_sampling_and_decoder_are_part_of_the_content_hash(clip: Path) -> None:
    import av

    video = VideoRef(clip)
    keys = {
        key(VideoPart(video, sampling=FrameSampling("videomme", 8))),
        key(VideoPart(video, sampling=FrameSampling("videomme", 16))),
        key(VideoPart(video, sampling=FrameSampling("linspace", 8))),
        key(VideoPart(video, sampling=FrameSampling("fps", frames=8, fps=1.0))),
        key(VideoPart(video)),
    }
    assert len(keys) == 5
    assert key(VideoPart(video, sampling=FrameSampling("videomme", 8))) in keys  # stable
    canonical = VideoPart(video, sampling=FrameSampling("videomme", 8)).canonical()
    assert canonical["sampling"] == {"rule": "videomme", "frames": 8, "decoder": f"pyav {av.__version__}"}
    if "decord" in available_decoders():
        assert key(VideoPart(video, sampling=FrameSampling("videomme", 8, decoder="decord"))) not in keys


def test_bad_sampling_settings_are_named() -> None:
    with pytest.raises(ConfigError, match="unknown frame sampling rule 'uniformly'"):
        FrameSampling("uniformly", 8)
    with pytest.raises(ConfigError, match="needs fps > 0"):
        FrameSampling("fps", fps=None)
    with pytest.raises(ConfigError, match="frames >= 1"):
        FrameSampling("videomme", 0)
    with pytest.raises(ConfigError, match="unknown video decoder 'nodecoder'"):
        FrameSampling("videomme", 2, decoder="nodecoder")


def test_unreadable_and_absent_videos_are_data_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    with pytest.raises(DataError, match="broken.mp4"):
        decode_frames(broken, FrameSampling("videomme", 2))
    with pytest.raises(DataError, match="does not exist"):
        VideoRef(tmp_path / "missing.mp4").local_path()
    absent = AbsentVideo("001.mp4", "download the videos")
    assert absent.digest == "absent:001.mp4"
    with pytest.raises(DataError, match="001.mp4 is not in the local copy"):
        absent.local_path()


# ----- backends -----


def decoded_frames(parts: list[dict[str, Any]]) -> list[int]:
    indices = []
    for part in parts:
        url = part["image_url"]["url"]
        assert url.startswith("data:image/jpeg;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        indices.append(frame_index(image))
    return indices


def test_openai_backend_sends_the_sampled_frames_as_images(clip: Path) -> None:
    from tests.models.test_openai_backend import make_model, run

    sampling = FrameSampling("videomme", 6)
    part = VideoPart(VideoRef(clip), subtitles="a line of subtitles", sampling=sampling)
    requests = [
        Request("generate", (Message.user(part, "frames"),)),
        Request("generate", (Message.user(VideoPart(VideoRef(clip)), "unsampled"),)),
    ]
    with FaultServer() as server:
        responses, _ = run(make_model(server), requests)
        parts = server.record.bodies["a line of subtitlesframes"][0]["messages"][0]["content"]
        assert "unsampled" not in server.record.counts
    assert responses[0].ok, responses[0].error
    assert parts[0] == {"type": "text", "text": "a line of subtitles"}
    assert decoded_frames(parts[1:-1]) == official_get_seq_frames(301, 6)
    assert parts[-1] == {"type": "text", "text": "frames"}
    assert responses[1].error is not None and "no frame sampling" in responses[1].error


def test_openai_backend_sends_the_file_as_video_url_where_asked(clip: Path) -> None:
    from tests.models.test_openai_backend import make_model, run

    part = VideoPart(VideoRef(clip), sampling=FrameSampling("videomme", 4))
    with FaultServer() as server:
        model = make_model(server, video_input="video_url")
        responses, _ = run(model, [Request("generate", (Message.user(part, "whole"),))])
        parts = server.record.bodies["whole"][0]["messages"][0]["content"]
    assert responses[0].ok
    assert parts[0]["type"] == "video_url"
    assert base64.b64decode(parts[0]["video_url"]["url"].split(",", 1)[1]) == clip.read_bytes()
    assert model.fingerprint()["media"]["video_input"] == "video_url"
    assert "video_input" not in make_model(server).fingerprint()["media"]  # old keys unchanged


def test_hf_backend_shows_the_sampled_frames(clip: Path, tiny_model_factory: TinyModelFactory) -> None:  # noqa: F811
    from tests.models.test_hf_backend import assert_ok, hf_model, run

    folder = tiny_model_factory("qwen2_vl")
    sampling = FrameSampling("videomme", 3)
    frames = decode_frames(clip, sampling)
    assert [frame_index(f) for f in frames] == official_get_seq_frames(301, 3)
    as_video = Request(
        "loglikelihood",
        (Message.user(VideoPart(VideoRef(clip), sampling=sampling), "What happens?"),),
        continuation=" yes",
    )
    as_images = Request(
        "loglikelihood",
        (Message.user(*[ImagePart(PILImageRef(f)) for f in frames], "What happens?"),),
        continuation=" yes",
    )
    # the part's own sampling wins over the backend's video_frames
    from_video, from_images = run(hf_model(folder, video_frames=5), [as_video, as_images])
    assert_ok([from_video, from_images])
    assert from_video.logprob == pytest.approx(from_images.logprob, abs=1e-5)


def test_questions_about_one_video_in_flight_decode_it_once(
    clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import mmlens.media.sampling as sampling_module
    from mmlens.models.openai_payload import ImageEncoder, ImageSettings

    calls = []
    real = sampling_module.decode_frames

    def counted(path: Path, sampling: FrameSampling) -> list[Any]:
        calls.append(path)
        return real(path, sampling)

    monkeypatch.setattr(sampling_module, "decode_frames", counted)
    encoder = ImageEncoder(ImageSettings())
    part = VideoPart(VideoRef(clip), sampling=FrameSampling("videomme", 4))
    results: list[list[str]] = []
    threads = [threading.Thread(target=lambda: results.append(encoder.frame_urls(part))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(results) == 3 and results[0] == results[1] == results[2]
    other = VideoPart(VideoRef(clip), sampling=FrameSampling("videomme", 5))
    assert len(encoder.frame_urls(other)) == 5 and len(calls) == 2
