"""The ``openai`` backend: any OpenAI-compatible ``/v1/chat/completions`` endpoint.

``--model openai:gpt-4o-mini --model-args base_url=http://127.0.0.1:8000/v1,concurrency=32``

- Requests run concurrently on one asyncio event loop inside ``process`` (so ``emit`` is called on
  the caller's thread), at most ``concurrency`` in flight, over one aiohttp session whose keep-alive
  pool holds a connection per slot; each body is serialised once, whatever the retries. While the
  server pushes back (429, 503, 529) the limit is halved and then grows back by about one
  slot per window of successes (AIMD); a ``Retry-After`` (seconds or HTTP date, or
  ``retry-after-ms``) holds back every request until then. Other failures are retried with
  exponential backoff and jitter: 408, 409, 5xx, timeouts, connection errors and malformed replies.
  3xx, 400/401/403/404/422 and 501 are not retried. When the attempts run out the request gets
  ``Response(error=...)``, never an invented answer. A timeout is no overload signal: it does not
  lower the limit, and a request that timed out is retried only once every untried request has been
  sent, so hanging requests never hold up healthy ones; a request waiting to retry holds no place.
- An endpoint that cannot be connected to (refused, unknown host, untrusted certificate) or refuses
  the key (401/403) on ``FAIL_FAST_ATTEMPTS`` attempts in a row before it has answered once (after,
  on ``concurrency`` x attempts in a row) raises ``ModelUnavailable``: the run stops at once instead
  of sending every request through its retries.
- The API key is read from the environment variable named by ``api_key_env`` at the start of each
  ``process`` call; it is sent as a bearer token (nothing is sent when the variable is unset, for
  local servers) and appears in no fingerprint, log or error message. ``timeout`` bounds each attempt
  as a whole, connecting and reading included. Proxies come from HTTP(S)_PROXY / ALL_PROXY / NO_PROXY.
- Output length is sent as ``max_tokens`` by default: every compatible server we know (vLLM, SGLang,
  TGI, llama.cpp, Ollama, transformers serve) reads it, and OpenAI still accepts it for chat models.
  OpenAI's reasoning models (o1, o3, ...) want ``token_limit_field=max_completion_tokens``.
- Log-likelihood uses vLLM's chat extensions: the continuation is prefilled as the assistant's
  message (``continue_final_message``) and ``prompt_logprobs`` returns the log-probability of every
  prompt token; the continuation's tokens are the trailing ones. This works with images, which the
  ``/v1/completions`` echo route cannot carry. Endpoints without it (api.openai.com; ``transformers
  serve``, which rejects or ignores these fields) are detected on the first such request, and every
  log-likelihood request then gets a clear "not supported" error. A request that also scores the
  token closing the assistant's turn (``continuation_ends_turn``) gets an error of its own: the open
  final message leaves that token out. (Sending the turn closed, without ``continue_final_message``,
  would let vLLM score it; not done yet.)
- Embeddings go to ``POST {base_url}/embeddings`` through the same retries, backoff and concurrency
  limit: a text-only request as OpenAI's ``{"model", "input": text}`` (its text parts joined), one
  with images in the chat form vLLM's embeddings endpoint accepts for multimodal embedding models,
  ``{"model", "messages": [...]}`` (see ``openai_payload.embedding_body``). An endpoint without
  embeddings (404, 405, 501, or a 400 saying it does not support them, before any embedding came
  back) is detected on the first embed request, and every embed request then gets one clear
  "not supported" error without being sent.
- Rewards (``reward`` requests) go to vLLM's ``POST /classify`` on the server root (``base_url``
  without its ``/v1``), in its chat form with the raw logit asked for (``openai_reward``); an
  endpoint without it is detected on the first reward request, as for embeddings.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import json
import logging
import os
import queue
import ssl
import threading
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import Field, field_validator, model_validator

from mmlens.core.errors import ConfigError, MmlensError, ModelUnavailable
from mmlens.core.messages import Message
from mmlens.core.requests import Request, RequestKind, Response
from mmlens.core.secrets import is_env_var_name, mask, mask_then_cut, mask_url, url_secrets
from mmlens.models.base import Emit, Model, ModelArgs, models
from mmlens.models.http_retry import backoff_delay, parse_retry_after
from mmlens.models.openai_payload import (
    ContinuationNotFound,
    ImageDetail,
    ImageEncoder,
    ImageFormat,
    ImageSettings,
    LogprobsUnavailable,
    MalformedReply,
    RequestNotSendable,
    TokenLimitField,
    VideoInput,
    apply_stop_sequences,
    chat_messages,
    continuation_logprob,
    dump_json,
    embedding_body,
    generation_body,
    has_video,
    load_json,
    loglikelihood_body,
    reply_embedding,
    reply_text,
    reply_usage,
)
from mmlens.models.openai_reward import REWARD_PATH, reply_reward, reward_body, rewards_missing, server_root
from mmlens.models.replicas import Lease, ReplicaPool

if TYPE_CHECKING:
    import aiohttp

logger = logging.getLogger(__name__)
T = TypeVar("T")

OVERLOAD_STATUSES = frozenset({429, 503, 529})
RETRY_STATUSES = frozenset({408, 409})  # plus every 5xx but 501
# A 4xx answering a request for prompt log-probabilities means the server does not take the fields.
LOGPROBS_REJECTED_STATUSES = frozenset({400, 422})
# Statuses from /embeddings meaning the endpoint has no embeddings (vLLM: 400 in older versions, 501
# in newer ones, "The model does not support Embeddings API", for a model that does not pool).
EMBEDDINGS_MISSING_STATUSES = frozenset({404, 405, 501})
SERVER_MESSAGE_LIMIT = 300
# Idle connections are closed before servers close them (vLLM and uvicorn: after 5 s), so that a request
# is rarely sent on a socket the server is just closing (a POST is not resent automatically).
KEEPALIVE_SECONDS = 4.0
# Requests that timed out wait to be retried until every untried request has been sent, at most this
# many per slot (past that they are retried in turn).
DEFERRED_RETRIES_PER_SLOT = 4
# An endpoint that cannot be connected to or refuses the key on this many attempts in a row, before it
# has answered once, ends the run (ModelUnavailable) instead of failing every request in turn.
FAIL_FAST_ATTEMPTS = 3
# A body whose images are encoded already is built on the event loop when their data URLs come to at
# most this many characters (writing the JSON of a larger one would hold the loop up).
INLINE_BODY_IMAGE_CHARS = 256 * 1024


END_OF_TURN_UNSUPPORTED = (
    "end-of-turn likelihood is not supported by this endpoint: vLLM's prompt_logprobs scores the "
    "assistant's message left open (continue_final_message), without the token that closes the turn. "
    "Use the hf backend, or a task profile that scores the option's tokens only (include_end_of_turn: false)"
)


class OpenAIArgs(ModelArgs):
    base_url: str = Field("https://api.openai.com/v1", description="the endpoint, ending in /v1")
    base_urls: list[str] = Field(
        [], description="replicas of one model (instead of base_url); concurrency is per replica"
    )
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the API key")
    concurrency: int = Field(16, ge=1, le=4096, description="most requests in flight")
    timeout: float = Field(120.0, gt=0, description="seconds per request")
    max_retries: int = Field(5, ge=0)
    retry_backoff: float = Field(0.5, ge=0, description="first backoff in seconds; doubles per attempt")
    max_wait: float = Field(60.0, ge=0, description="longest single wait: backoff or Retry-After")
    image_detail: ImageDetail | None = Field(None, description="OpenAI's image detail: auto, low or high")
    image_format: ImageFormat = Field("original", description="original (bytes as they are), png or jpeg")
    max_pixels: int | None = Field(None, ge=1, description="downscale larger images to this many pixels")
    extra_body: dict[str, Any] = Field({}, description="merged into every request body; null removes a key")
    drop_images: bool = Field(False, description="send the text only (a 'without images' baseline)")
    video_input: VideoInput = Field(
        "frames", description="frames (a video as its sampled frames) or video_url (the file; vLLM, SGLang)"
    )
    token_limit_field: TokenLimitField = "max_tokens"

    @field_validator("base_url")
    @classmethod
    def _normalise_base_url(cls, value: str) -> str:
        return normalise_base_url(value)

    @field_validator("base_urls", mode="before")
    @classmethod
    def _normalise_base_urls(cls, value: Any) -> Any:
        if isinstance(value, str):  # from --model-args base_urls=[URL1,URL2] (JSON, or unquoted)
            value = [
                part.strip().strip("\"'") for part in value.strip().strip("[]").split(",") if part.strip()
            ]
        return [normalise_base_url(url) for url in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _one_way_to_give_the_endpoint(self) -> OpenAIArgs:
        if self.base_urls and "base_url" in self.model_fields_set:
            raise ValueError("give base_url (one endpoint) or base_urls (replicas), not both")
        return self

    @property
    def replica_urls(self) -> list[str]:
        return list(self.base_urls) or [self.base_url]

    @field_validator("api_key_env")
    @classmethod
    def _check_api_key_env(cls, value: str) -> str:
        # The value is never shown: it may be the key itself, typed where the variable's name goes.
        if not is_env_var_name(value.strip()):
            raise ValueError(
                "must be the name of the environment variable that holds the key (such as "
                "OPENAI_API_KEY), not the key itself; the value given is not such a name (not shown: "
                "it may be a key). Set the variable, e.g. export OPENAI_API_KEY=..., and pass its name"
            )
        return value.strip()

    @field_validator("extra_body", mode="before")
    @classmethod
    def _parse_extra_body(cls, value: Any) -> Any:
        if isinstance(value, str):  # from --model-args extra_body={"top_k":1}
            try:
                return json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(f"extra_body must be a JSON object: {error}") from None
        return value

    @field_validator("max_pixels", "image_detail", mode="before")
    @classmethod
    def _none_from_text(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() in ("", "none", "null") else value


@dataclass
class Failure:
    """Why one attempt (or, once attempts ran out, the request) failed."""

    message: str
    retryable: bool
    status: int | None = None
    overload: bool = False
    retry_after: float | None = None
    timed_out: bool = False
    # the endpoint answers nobody: it cannot be connected to, or it refuses the key
    unavailable: bool = False


@dataclass
class OpenAIRunStats:
    """What the last ``process`` call went through (for logs and tests)."""

    requests: int = 0
    attempts: int = 0
    retries: int = 0
    overload_signals: int = 0
    errors: int = 0
    lowest_concurrency: int = 0
    max_in_flight: int = 0
    replicas: dict[str, int] = dataclasses.field(default_factory=dict)  # answers per replica URL (masked)


@models.register("openai")
class OpenAIModel(Model):
    """Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, SGLang, transformers serve, ...)."""

    backend = "openai"
    Args = OpenAIArgs
    supported_kinds: ClassVar[frozenset[RequestKind]] = frozenset(
        {"generate", "loglikelihood", "embed", "reward"}
    )

    def __init__(self, name: str, args: OpenAIArgs) -> None:
        if not name:
            raise ConfigError(
                "model openai: name the served model, e.g. --model openai:gpt-4o-mini "
                "(for a local server, the name it serves under; see GET <base_url>/models)"
            )
        super().__init__(name, args)
        self.args: OpenAIArgs = args
        self.last_stats = OpenAIRunStats()
        self.replica_answers: dict[str, int] = {}  # over every process call

    def fingerprint(self) -> dict[str, Any]:
        """Backend, model, endpoint and what changes the pixels or the body the model sees.

        Not the key (nor one in the URL: its credentials are masked), nor concurrency/timeout/retries:
        they do not change answers. Nor the URLs of replicas: which one answered changes nothing.
        """
        args = self.args
        urls = args.replica_urls
        return {
            "backend": self.backend,
            "name": self.name,
            **({"base_url": mask_url(urls[0])} if len(urls) == 1 else {}),
            "media": {
                "image_format": args.image_format,
                "max_pixels": args.max_pixels,
                "image_detail": args.image_detail,
                "drop_images": args.drop_images,
                # only when set: the keys of models that predate it stay the same
                **({"video_input": args.video_input} if args.video_input != "frames" else {}),
            },
            "extra_body": args.extra_body,
        }

    def process(self, requests: Sequence[Request], emit: Emit) -> None:
        if not requests:
            return
        run = _Run(self.name, self.args, requests)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            try:
                asyncio.run(run.main(emit))
            finally:
                self._record(run)
            return
        try:
            _run_beside_running_loop(run, emit)
        finally:
            self._record(run)

    def serving(self) -> dict[str, int]:
        answers, self.replica_answers = self.replica_answers, {}
        return answers if len(answers) > 1 else {}

    def _record(self, run: _Run) -> None:
        stats = run.stats
        stats.lowest_concurrency = run.pool.lowest_limit
        stats.max_in_flight = run.pool.max_in_flight
        stats.replicas = run.pool.answered()
        self.last_stats = stats
        for label, count in stats.replicas.items():
            self.replica_answers[label] = self.replica_answers.get(label, 0) + count
        if stats.retries or stats.errors:
            logger.info(
                "%s: %d requests, %d retries, %d overload signals (concurrency went down to %d), %d errors",
                self.label,
                stats.requests,
                stats.retries,
                stats.overload_signals,
                stats.lowest_concurrency,
                stats.errors,
            )


def _run_beside_running_loop(run: _Run, emit: Emit) -> None:
    """Called from inside a running event loop (a notebook): run ours in a thread, emit from this one."""
    finished = object()
    outbox: queue.Queue[tuple[object, Any]] = queue.Queue()

    def thread_main() -> None:
        try:
            asyncio.run(run.main(lambda index, response: outbox.put((index, response))))
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            outbox.put((finished, error))
        else:
            outbox.put((finished, None))

    worker = threading.Thread(target=thread_main, name="mmlens-openai", daemon=True)
    worker.start()
    try:
        while True:
            index, item = outbox.get()
            if index is finished:
                if item is not None:
                    raise item
                return
            assert isinstance(index, int)
            emit(index, item)
    except BaseException:
        run.cancel_threadsafe()
        worker.join()
        raise


class _Place:
    """A request's place among the ``concurrency`` being worked on; given up once (on retry or end)."""

    def __init__(self, places: asyncio.Semaphore) -> None:
        self._places: asyncio.Semaphore | None = places

    def give_up(self) -> None:
        if self._places is not None:
            self._places.release()
            self._places = None


CURRENT_PLACE: contextvars.ContextVar[_Place | None] = contextvars.ContextVar(
    "mmlens_openai_place", default=None
)


class EndpointFeature:
    """Whether the endpoint answers one kind of request (log-likelihood, embeddings), learnt from replies.

    Until one request of the kind has succeeded, they are sent one at a time (a probe), so that an
    endpoint without the feature gets one such request, not ``concurrency`` of them, before every
    other one is answered with the same error without being sent.
    """

    def __init__(self) -> None:
        self.supported = False
        self.unsupported: str | None = None
        self._probe: asyncio.Lock | None = None  # made on the event loop that uses it

    async def run(self, attempt: Callable[[], Awaitable[Response]]) -> Response:
        if not self.supported and self.unsupported is None:
            if self._probe is None:
                self._probe = asyncio.Lock()
            async with self._probe:  # one probe at a time until the server has shown support
                if not self.supported and self.unsupported is None:
                    return await attempt()
        if self.unsupported is not None:
            return Response(error=self.unsupported)
        return await attempt()

    def mark_unsupported(self, message: str) -> Response:
        self.unsupported = message
        return Response(error=message)


class _Run:
    """The state of one ``process`` call: limiter, log-likelihood and embeddings support, stats."""

    def __init__(self, model_name: str, args: OpenAIArgs, requests: Sequence[Request]) -> None:
        self.model_name = model_name
        self.args = args
        self.requests = requests
        urls = args.replica_urls
        self.url = endpoint(urls[0], "/chat/completions")
        self.embeddings_url = endpoint(urls[0], "/embeddings")
        self.rewards_url = endpoint(server_root(urls[0]), REWARD_PATH)
        proxies = [environment_proxy(endpoint(url, "/chat/completions")) for url in urls]
        self.pool = ReplicaPool(urls, args.concurrency, FAIL_FAST_ATTEMPTS, proxies)
        self.encoder = ImageEncoder(
            ImageSettings(
                args.image_format, args.max_pixels, args.image_detail, args.drop_images, args.video_input
            )
        )
        self.stats = OpenAIRunStats(requests=len(requests))
        self.key_is_set = bool(os.environ.get(args.api_key_env))
        self.loglikelihood = EndpointFeature()
        self.embeddings = EndpointFeature()
        self.rewards = EndpointFeature()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main_task: asyncio.Task[Any] | None = None
        self._cancelled = threading.Event()
        self.fresh_sent = asyncio.Event()
        self.deferred = 0
        self._encoding: dict[str, asyncio.Future[str]] = {}  # images being encoded, by digest

    def check_available(self, failure: Failure, lease: Lease) -> None:
        """Stop the run (ModelUnavailable) once attempts in a row, with no success between them, found
        the endpoint unreachable or refusing the key: FAIL_FAST_ATTEMPTS of them before it has
        answered once, a full round of retries for every slot after (a server that went away). A
        replica with another healthy one beside it is taken out after FAIL_FAST_ATTEMPTS instead."""
        replica = lease.replica
        if not failure.unavailable:
            replica.unavailable_in_a_row = 0
            return
        replica.unavailable_in_a_row += 1
        in_a_row = replica.unavailable_in_a_row
        if self.pool.others_healthy([replica]):
            if in_a_row >= FAIL_FAST_ATTEMPTS:
                self.pool.take_out(replica, f"{failure.message}, {in_a_row} attempts in a row")
            return
        attempts = self.args.max_retries + 1
        needed = FAIL_FAST_ATTEMPTS
        answered = any(replica.answered for replica in self.pool.replicas)
        if answered:
            needed = max(FAIL_FAST_ATTEMPTS, self.args.concurrency * attempts)
        if in_a_row >= needed:
            raise ModelUnavailable(
                f"{failure.message} ({in_a_row} attempts in a row"
                + (")" if not answered else ", after it had answered)")
            )

    async def retry_after_fresh_requests(self) -> None:
        """A request that timed out is retried once every request not yet tried has been sent (or too
        many wait so), so that a hanging request's retries never take slots from healthy ones."""
        self.deferred += 1
        if self.deferred > DEFERRED_RETRIES_PER_SLOT * self.args.concurrency:
            self.fresh_sent.set()  # bound what waits (each holds its body): retry in turn from now on
        await self.fresh_sent.wait()

    def cancel_threadsafe(self) -> None:
        self._cancelled.set()
        if self._loop is not None and self._main_task is not None:
            self._loop.call_soon_threadsafe(self._main_task.cancel)

    async def main(self, emit: Emit) -> None:
        self._loop = asyncio.get_running_loop()
        self._main_task = asyncio.current_task()
        if self._cancelled.is_set():  # cancelled before the loop started
            raise asyncio.CancelledError
        workers_count = min(self.pool.concurrency, len(self.requests))
        # At most `concurrency` requests are being worked on (encoded, waiting for a slot, in flight);
        # a request waiting to retry gives its place up (see `post`), so one that keeps failing or
        # timing out never holds back the healthy ones behind it.
        places = asyncio.Semaphore(workers_count)
        tasks: set[asyncio.Task[None]] = set()
        raised: list[BaseException] = []
        main_task = asyncio.current_task()

        async def answer_one(
            session: aiohttp.ClientSession, index: int, request: Request, place: _Place
        ) -> None:
            CURRENT_PLACE.set(place)  # this task's own context
            try:
                response = await self.answer(session, request)
            finally:
                place.give_up()
            if not response.ok:
                self.stats.errors += 1
            emit(index, response)

        def finished(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            if not task.cancelled() and task.exception() is not None:
                if not raised and main_task is not None:
                    main_task.cancel()  # stop sending; the first error is raised below
                raised.append(task.exception())  # type: ignore[arg-type]

        session_url = next((u for u in self.args.replica_urls if u.startswith("https://")), self.url)
        async with open_session(self.args, session_url, connections=workers_count) as session:
            try:
                for index, request in enumerate(self.requests):
                    await places.acquire()
                    task = asyncio.create_task(answer_one(session, index, request, _Place(places)))
                    tasks.add(task)
                    task.add_done_callback(finished)
                    # One loop turn per request: its connection opens and it goes out before the next
                    # starts, rather than all connects first and all requests ~20 ms later in one
                    # burst (at 64) that the replies then keep arriving in.
                    await asyncio.sleep(0)
                self.fresh_sent.set()
                while tasks:
                    await asyncio.gather(*list(tasks))
            except asyncio.CancelledError:
                if raised:
                    raise raised[0] from None
                raise
            finally:
                for task in list(tasks):
                    task.cancel()
                await asyncio.gather(*list(tasks), return_exceptions=True)
            if raised:
                raise raised[0]

    async def answer(self, session: aiohttp.ClientSession, request: Request) -> Response:
        """The response, its error (if any) with every credential masked (key, URL userinfo, ...)."""
        response = await self._answer(session, request)
        if response.error is not None:
            masked = self.scrub(response.error)
            if masked != response.error:
                response = dataclasses.replace(response, error=masked)
        return response

    async def _answer(self, session: aiohttp.ClientSession, request: Request) -> Response:
        if request.kind == "loglikelihood" and request.continuation is None:
            return Response(error="log-likelihood request without a continuation")
        if request.kind == "loglikelihood" and request.continuation_ends_turn:
            return Response(error=END_OF_TURN_UNSUPPORTED)
        try:
            payload = await self.payload_of(request)
        except (RequestNotSendable, MmlensError) as error:
            return Response(error=str(error))
        if request.kind == "loglikelihood":
            return await self.loglikelihood.run(lambda: self.loglikelihood_attempt(session, request, payload))
        if request.kind == "embed":
            return await self.embeddings.run(lambda: self.embed_attempt(session, payload))
        if request.kind == "reward":
            return await self.rewards.run(lambda: self.reward_attempt(session, payload))
        result = await self.post(session, payload, lambda data: (reply_text(data), reply_usage(data)))
        if isinstance(result, Failure):
            return Response(error=result.message)
        text, usage = result
        return Response(text=apply_stop_sequences(text, request.settings.stop), usage=usage)

    async def payload_of(self, request: Request) -> bytes:
        """The request body, serialised once for all its attempts. An image that must be encoded
        (read, resized, base64) is encoded off the loop, once however many requests in flight show
        it; the body itself is then built on the loop (cheaper than a thread hop: text-only
        bodies, the questions about one image, a ranking's options), in a thread only when its
        images' URLs are long (writing that JSON would hold the loop up)."""
        urls = await self.image_urls(request.messages)
        encoder = self.encoder.pinned(urls) if urls else self.encoder
        short = sum(len(url) for url in urls.values()) <= INLINE_BODY_IMAGE_CHARS
        if short and not has_video(request.messages):  # a video's frames are decoded in the body
            return self.body_bytes(request, encoder)
        return await asyncio.to_thread(self.body_bytes, request, encoder)

    async def image_urls(self, messages: tuple[Message, ...]) -> dict[str, str]:
        """Digest -> URL of each image in ``messages``: cached ones at once, the others encoded in a
        thread (a request showing an image already being encoded waits for that encoding)."""
        if self.encoder.settings.drop_images:
            return {}
        urls: dict[str, str] = {}
        waiting: dict[str, asyncio.Future[str]] = {}
        for message in messages:
            for image in message.images:
                digest = image.digest
                if digest in urls or digest in waiting:
                    continue
                url = self.encoder.cached_url(image)
                if url is not None:
                    urls[digest] = url
                    continue
                future = self._encoding.get(digest)
                if future is None:
                    future = asyncio.ensure_future(asyncio.to_thread(self.encoder.data_url, image))
                    self._encoding[digest] = future
                    future.add_done_callback(functools.partial(self._encoded, digest))
                waiting[digest] = future
        for digest, future in waiting.items():
            urls[digest] = await asyncio.shield(future)  # one request cancelled: the others still wait
        return urls

    def _encoded(self, digest: str, future: asyncio.Future[str]) -> None:
        self._encoding.pop(digest, None)
        if not future.cancelled():
            future.exception()  # retrieved: each waiting request raises it itself

    def body_bytes(self, request: Request, encoder: ImageEncoder | None = None) -> bytes:
        args = self.args
        encoder = encoder or self.encoder
        if request.kind == "embed":
            body = embedding_body(self.model_name, request.messages, encoder, args.extra_body)
        elif request.kind == "reward":
            body = reward_body(self.model_name, request.messages, encoder, args.extra_body)
        elif request.kind == "loglikelihood":
            messages = chat_messages(request.messages, encoder)
            body = loglikelihood_body(
                self.model_name, messages, request.continuation or "", args.token_limit_field, args.extra_body
            )
        else:
            messages = chat_messages(request.messages, encoder)
            body = generation_body(
                self.model_name, messages, request.settings, args.token_limit_field, args.extra_body
            )
        try:
            return dump_json(body)
        except (TypeError, ValueError) as error:
            raise RequestNotSendable(f"the request body cannot be written as JSON: {error}") from None

    async def loglikelihood_attempt(
        self, session: aiohttp.ClientSession, request: Request, payload: bytes
    ) -> Response:
        continuation = request.continuation or ""
        try:
            result = await self.post(
                session, payload, lambda data: (continuation_logprob(data, continuation), reply_usage(data))
            )
        except LogprobsUnavailable as error:
            return self.mark_loglikelihood_unsupported(
                f"{error} from {self.url}; the server ignores `prompt_logprobs`"
            )
        except ContinuationNotFound as error:
            self.loglikelihood.supported = True
            return Response(error=f"log-likelihood: {error}")
        if isinstance(result, Failure):
            if result.status in LOGPROBS_REJECTED_STATUSES and not self.loglikelihood.supported:
                return self.mark_loglikelihood_unsupported(
                    f"it rejected a chat request asking for prompt log-probabilities: {result.message}"
                )
            return Response(error=result.message)
        self.loglikelihood.supported = True
        (logprob, greedy, scored_tokens), usage = result
        # completion_tokens = the continuation's scored tokens, as the hf backend reports them (the
        # per-token mean of SEED-Bench-2 divides by it), not the one token the server generated.
        usage = {**(usage or {}), "completion_tokens": scored_tokens}
        return Response(logprob=logprob, is_greedy=greedy, usage=usage)

    def mark_loglikelihood_unsupported(self, reason: str) -> Response:
        return self.loglikelihood.mark_unsupported(
            f"log-likelihood is not supported by this endpoint ({reason}). It needs vLLM's "
            "chat extensions `prompt_logprobs` and `continue_final_message` (vLLM's OpenAI-compatible "
            "server has them; api.openai.com and `transformers serve` do not)"
        )

    async def embed_attempt(self, session: aiohttp.ClientSession, payload: bytes) -> Response:
        result = await self.post(
            session, payload, lambda data: (reply_embedding(data), reply_usage(data)), "/embeddings"
        )
        if isinstance(result, Failure):
            if not self.embeddings.supported and embeddings_missing(result):
                return self.embeddings.mark_unsupported(
                    f"embeddings are not supported by this endpoint ({result.message}); embed requests go to "
                    f"POST {self.embeddings_url}, OpenAI's embeddings API, which needs an embedding model "
                    "(vLLM serves it for pooling models; a chat model does not embed)"
                )
            return Response(error=result.message)
        self.embeddings.supported = True
        vector, usage = result
        return Response(embedding=vector, usage=usage)

    async def reward_attempt(self, session: aiohttp.ClientSession, payload: bytes) -> Response:
        """vLLM's ``POST /classify`` on the server root (``openai_reward``)."""
        result = await self.post(
            session, payload, lambda data: (reply_reward(data), reply_usage(data)), REWARD_PATH, at_root=True
        )
        if isinstance(result, Failure):
            if not self.rewards.supported and rewards_missing(result.status, result.message):
                return self.rewards.mark_unsupported(
                    f"rewards are not supported by this endpoint ({result.message}); reward requests go to "
                    f"POST {self.rewards_url}, vLLM's classification API, which needs a reward model "
                    "(a ...ForSequenceClassification with one label, served by vLLM as a pooling model)"
                )
            return Response(error=result.message)
        self.rewards.supported = True
        reward, usage = result
        return Response(reward=reward, usage=usage)

    async def post(
        self,
        session: aiohttp.ClientSession,
        payload: bytes,
        read: Callable[[Any], T],
        path: str = "/chat/completions",
        at_root: bool = False,
    ) -> T | Failure:
        """POST (to ``path`` under a replica's base URL, or under its server root with ``at_root``)
        with retries; ``read`` turns the JSON reply into the result (MalformedReply → retry)."""
        attempts = self.args.max_retries + 1
        failure = Failure("no attempt was made", retryable=False)
        for attempt in range(1, attempts + 1):
            outcome, lease, url = await self.attempt(session, payload, path, at_root)
            if isinstance(outcome, Failure):
                failure = outcome
            else:
                try:
                    value = read(outcome)
                except MalformedReply as error:
                    failure = Failure(f"malformed reply from {url}: {self.scrub(str(error))}", True)
                else:
                    self.pool.succeeded(lease)
                    return value
            if not failure.retryable:
                return failure
            if failure.overload:
                self.stats.overload_signals += 1
                self.pool.overloaded(lease)
            if attempt == attempts:
                break
            if failure.retry_after is not None:
                wait = min(failure.retry_after, self.args.max_wait)
                self.pool.pause(lease, wait)
            else:
                wait = backoff_delay(attempt, self.args.retry_backoff, self.args.max_wait)
            self.stats.retries += 1
            place = CURRENT_PLACE.get()
            if place is not None:
                place.give_up()  # waiting to retry: another request may be worked on meanwhile
            if failure.timed_out:
                await self.retry_after_fresh_requests()
            await asyncio.sleep(wait)
        return Failure(f"gave up after {attempts} attempts: {failure.message}", False, failure.status)

    async def attempt(
        self, session: aiohttp.ClientSession, payload: bytes, path: str, at_root: bool = False
    ) -> tuple[Any, Lease, str]:
        """One attempt on a replica (the reply or a Failure, the lease, the URL); sent on to another
        at once, without using an attempt up, while the one tried cannot be reached and another is
        healthy."""
        tried: list[Any] = []
        while True:
            lease = await self.pool.acquire(avoid=tried)
            base = server_root(lease.replica.base_url) if at_root else lease.replica.base_url
            url = endpoint(base, path)
            try:
                self.stats.attempts += 1
                outcome = await self.send(session, payload, url, lease.replica.proxy)
            finally:
                self.pool.release(lease)
            if isinstance(outcome, Failure):
                self.check_available(outcome, lease)
                if outcome.unavailable and self.pool.others_healthy([*tried, lease.replica]):
                    tried.append(lease.replica)
                    continue
            return outcome, lease, url

    async def send(
        self, session: aiohttp.ClientSession, payload: bytes, url: str, proxy: str | None = None
    ) -> Any:
        """One attempt: the parsed JSON reply, or a Failure saying whether to retry."""
        import aiohttp

        try:
            async with session.post(url, data=payload, proxy=proxy, allow_redirects=False) as reply:
                content = await reply.read()
        except TimeoutError:  # the whole attempt, connecting included, took longer than `timeout`
            # Not an overload signal: a request that hangs says nothing about the server's capacity,
            # and halving the limit for it would slow every healthy request down.
            return Failure(
                f"no reply from {url} within {self.args.timeout:g} s", retryable=True, timed_out=True
            )
        except aiohttp.ClientConnectorCertificateError as error:
            return Failure(
                f"the certificate of {url} is not trusted ({error.certificate_error}); if it is "
                "your own server's, point SSL_CERT_FILE at its certificate authority",
                retryable=False,
                unavailable=True,
            )
        except aiohttp.ClientConnectorError as error:  # refused, unknown host, unreachable network
            detail = self.scrub(str(error)) or type(error).__name__
            return Failure(f"connection to {url} failed: {detail}", retryable=True, unavailable=True)
        except aiohttp.ClientError as error:  # refused, reset, dropped mid-reply, unreadable HTTP
            detail = self.scrub(str(error)) or type(error).__name__
            return Failure(f"connection to {url} failed: {detail}", retryable=True)
        status = reply.status
        if 200 <= status < 300:
            try:
                return load_json(content)
            except ValueError:
                preview = self.scrub(content[:4096].decode("utf-8", "replace"))[:80]  # masked, then cut
                return Failure(f"malformed reply from {url}: not JSON: {preview!r}", retryable=True)
        return self.http_failure(status, reply.headers, content.decode("utf-8", "replace"), url)

    def http_failure(
        self, status: int, headers: Mapping[str, str], text: str, url: str | None = None
    ) -> Failure:
        message, code = self.server_message(text)
        where = f"HTTP {status} from {url or self.url}"
        if status in (401, 403):
            state = "it is set" if self.key_is_set else "it is not set"
            return Failure(
                f"{where}: the API key was refused; it is read from the environment variable "
                f"{self.args.api_key_env} ({state})",
                retryable=False,
                status=status,
                unavailable=True,
            )
        if status == 404:
            return Failure(
                f"{where}: {message or 'not found'} (check base_url, which should end in /v1, "
                f"and the model name {self.model_name!r})",
                retryable=False,
                status=status,
            )
        if 300 <= status < 400:  # a POST is not followed to another address
            location = headers.get("Location", "elsewhere")
            return Failure(
                f"{where}: redirected to {location} (set base_url to where the API now is)",
                retryable=False,
                status=status,
            )
        if status == 429 and code == "insufficient_quota":
            return Failure(f"{where}: {message or 'quota exhausted'}", retryable=False, status=status)
        # 501 Not Implemented is no passing state (vLLM: "The model does not support Embeddings API").
        retryable = (
            status in OVERLOAD_STATUSES or status in RETRY_STATUSES or (status >= 500 and status != 501)
        )
        return Failure(
            f"{where}: {message}" if message else where,
            retryable=retryable,
            status=status,
            overload=status in OVERLOAD_STATUSES,
            retry_after=retry_after_seconds(headers) if retryable else None,
        )

    def server_message(self, text: str) -> tuple[str, str | None]:
        """The server's own error message (scrubbed, shortened) and error code, if it gave them."""
        message, code = text, None
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            error = data.get("error")
            if isinstance(error, dict):
                message = str(error.get("message") or error)
                code = error.get("code") if isinstance(error.get("code"), str) else None
            elif error is not None:
                message = str(error)
            elif "detail" in data:
                message = str(data["detail"])
            elif "message" in data:
                message = str(data["message"])
        message = mask_then_cut(" ".join(message.split()), SERVER_MESSAGE_LIMIT, self.secrets())
        return message, code

    def secrets(self) -> list[str | None]:
        """The credentials this run knows: the key and whatever the URL carries."""
        urls = self.args.replica_urls
        return [os.environ.get(self.args.api_key_env), *(s for url in urls for s in url_secrets(url))]

    def scrub(self, text: str) -> str:
        return mask(text, self.secrets())


def embeddings_missing(failure: Failure) -> bool:
    """Whether a failed /embeddings request says the endpoint does not embed at all."""
    if failure.status in EMBEDDINGS_MISSING_STATUSES:
        return True
    message = failure.message.lower()  # vLLM's older 400 for a model that does not pool
    about_embeddings = "embedding" in message or "pool" in message  # not "does not support images"
    return failure.status == 400 and "not support" in message and about_embeddings


def open_session(args: OpenAIArgs, url: str, connections: int) -> aiohttp.ClientSession:
    """One HTTP client for a ``process`` call: a keep-alive pool of ``connections`` sockets to the server.

    The key is read here and lives only in this session's default headers.
    """
    import aiohttp

    key = os.environ.get(args.api_key_env)
    headers = {"Content-Type": "application/json"}
    parts = urllib.parse.urlsplit(url)
    if key and (parts.username or parts.password):  # aiohttp sends those as Basic auth: one header only
        logger.info("%s: base_url carries credentials; sent instead of %s", mask_url(url), args.api_key_env)
    elif key:
        headers["Authorization"] = f"Bearer {key}"
    connector = aiohttp.TCPConnector(
        limit=connections,
        limit_per_host=0,
        keepalive_timeout=KEEPALIVE_SECONDS,
        ssl=ssl_context() if url.startswith("https://") else True,
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=args.timeout, sock_connect=min(args.timeout, 30.0)),
    )


def normalise_base_url(value: str) -> str:
    value, query = split_query(value.strip())  # a query (``?api_key=...``) stays after the path
    value = value.rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {mask_url(value)!r}")
    for suffix in ("/chat/completions", "/chat"):
        if value.endswith(suffix):
            value = value[: -len(suffix)]
    return value + query


def split_query(url: str) -> tuple[str, str]:
    """``(everything before the query, "?query" or "")``."""
    before, mark, query = url.partition("?")
    return before, mark + query


def endpoint(base_url: str, path: str) -> str:
    """``base_url`` + ``path``, with base_url's query (``?api_key=...``) kept at the end."""
    before, query = split_query(base_url)
    return before + path + query


def environment_proxy(url: str) -> str | None:
    """The proxy HTTPS_PROXY / HTTP_PROXY / ALL_PROXY name for ``url`` unless NO_PROXY exempts its host
    (as requests and aiohttp read them; on macOS and Windows the system settings when none is set).

    Read once per ``process`` call: aiohttp's own ``trust_env`` looks it up in a worker thread per request.
    """
    parts = urllib.parse.urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(parts.scheme) or proxies.get("all")


def ssl_context() -> ssl.SSLContext:
    """The certificates to trust, chosen as httpx and requests do: SSL_CERT_FILE or SSL_CERT_DIR when
    set, else certifi's bundle when installed, else the system's."""
    return _ssl_context(os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None)


@functools.cache
def _ssl_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    """Built once per choice: loading a certificate store takes tens of milliseconds."""
    if cafile is None and capath is None:
        try:
            import certifi
        except ImportError:
            return ssl.create_default_context()
        cafile = certifi.where()
    return ssl.create_default_context(cafile=cafile, capath=capath)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))
