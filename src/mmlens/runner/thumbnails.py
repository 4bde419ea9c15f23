"""Small JPEG thumbnails of the images a run used, for the HTML report.

An image that can be read again later (a file, or a cell of a parquet, arrow or TSV file: it has
a ``source()``) gets no thumbnail during the run: the run records where it is
(``record_image_sources``, one insert per image, no decoding), and ``mmlens report`` makes the
thumbnails it needs from there (``report_thumbnails``), in worker processes, without writing to
the store. On 2 cores a 160-px thumbnail costs ~0.6 ms of CPU, more than all
the rest of a zero-latency run's work per sample, so the run itself no longer pays for it.

An image that exists only in the run (drawn, corrupted, held in memory) is thumbnailed during the
run, as before: ``ThumbnailMaker`` works in a background thread from the moment the samples are
loaded (in a worker process for many images), and the run waits only for what is left when the
last response is in. Each image is decoded at reduced scale (``Image.draft``) and shrunk with
``reduce`` by whole factors before the final resample. Makers hold image references, never their
bytes, and commit every ``BATCH``.
"""

from __future__ import annotations

import io
import os
import queue
import threading
from collections.abc import Iterable

from mmlens.core.errors import MmlensError
from mmlens.core.media import BytesImage, FileImage, ImageRef, ImageSource, StoredImage
from mmlens.core.sample import Sample
from mmlens.runner.thumbnail_worker import WorkerProcess, jpeg_thumbnail
from mmlens.store.sqlite import Store

THUMBNAIL_SIDE = 160
BATCH = 256
# A run with at least this many images to thumbnail makes them in a worker process (CHUNK at a time)
PROCESS_FROM = 2000
CHUNK = 128


def make_thumbnail(image: ImageRef, side: int = THUMBNAIL_SIDE) -> bytes | None:
    """A JPEG at most ``side`` pixels wide and high; None when the image cannot be decoded."""
    from PIL import Image

    if isinstance(image, BytesImage | FileImage | StoredImage):  # an encoded file: decode it small
        try:
            data = image.encoded()
        except (MmlensError, OSError):
            return None
        return jpeg_thumbnail(data, side)
    try:  # drawn, corrupted or in-memory images: their pixels (thumbnail() changes them in place)
        picture = image.pil().copy()
        if picture.mode not in ("RGB", "L"):  # palette, alpha, CMYK, 16-bit: JPEG takes RGB or L
            picture = picture.convert("RGB")
        picture.thumbnail((side, side), reducing_gap=2.0)  # reduce() by whole factors, then resample
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=80)
    except (MmlensError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None  # an unreadable image has no thumbnail (its sample is a bad sample)
    return buffer.getvalue()


def distinct_images(samples: Iterable[Sample]) -> dict[str, ImageRef]:
    images: dict[str, ImageRef] = {}
    for sample in samples:
        for image in sample.images:
            images.setdefault(image.digest, image)
    return images


def images_without_thumbnails(
    samples: Iterable[Sample], store: Store, *, without_source: bool = False
) -> list[ImageRef]:
    """The images the store has no thumbnail of; with ``without_source`` only those that cannot be
    read again later (their thumbnails must be made now)."""
    images = distinct_images(samples)
    if without_source:
        images = {digest: image for digest, image in images.items() if image.source() is None}
    missing = store.missing_thumbnails(images)
    return [image for digest, image in images.items() if digest in missing]


def record_image_sources(
    samples: Iterable[Sample], store: Store, thumbnailed: set[str] | None = None
) -> int:
    """Record where each image of ``samples`` that has no thumbnail yet can be read again (for the
    report's thumbnails, and as "decoded before" for the next run's readability check); returns how
    many were recorded. ``thumbnailed``: the digests known to have a thumbnail (a run's, taken
    before it started: an image with a source gets none during the run), else asked of the store."""
    sources = {}
    for digest, image in distinct_images(samples).items():
        source = image.source()
        if source is not None:
            sources[digest] = source
    if thumbnailed is None:
        thumbnailed = store.thumbnailed(sources)
    sources = {digest: source for digest, source in sources.items() if digest not in thumbnailed}
    store.put_image_sources(sources)
    return len(sources)


def save_thumbnails(samples: list[Sample], store: Store) -> int:
    """Record the sources of the images that have one and thumbnail the others here and now;
    returns how many thumbnails were made."""
    record_image_sources(samples, store)
    return save_thumbnails_of(images_without_thumbnails(samples, store, without_source=True), store)


def report_thumbnails(store: Store, digests: Iterable[str], workers: int | None = None) -> dict[str, bytes]:
    """Thumbnails of ``digests`` for a report: those in the store, and those made now from the
    images' recorded sources (in ``workers`` processes; by default one per core, up to 4). The new
    ones are not written to the store: report and view open it read-only (and a live view must not
    change the store it watches); the next report makes them again (50,000 in ~14 s on 2 cores)."""
    wanted = list(dict.fromkeys(digests))
    found = store.get_thumbnails(wanted)
    missing = [digest for digest in wanted if digest not in found]
    sources = store.image_sources(missing) if missing else {}
    if not sources:
        return found
    made = _thumbnails_of_sources(sources, workers)
    found.update(made)
    return found


def _thumbnails_of_sources(sources: dict[str, ImageSource], workers: int | None) -> dict[str, bytes]:
    from mmlens.scenarios.image_sources import read_sources

    count = workers or max(1, min(4, os.cpu_count() or 1))
    if len(sources) < PROCESS_FROM // 4 or count == 1:
        return {d: t for d, data in read_sources(sources) if (t := jpeg_thumbnail(data, THUMBNAIL_SIDE))}
    return _thumbnails_in_processes(read_sources(sources), count)


def _thumbnails_in_processes(items: Iterable[tuple[str, bytes]], count: int) -> dict[str, bytes]:
    """Thumbnails of ``items`` (digest, encoded image) made by ``count`` worker processes, each fed
    CHUNK images at a time by its own thread (which waits without the GIL); this thread reads the
    images, at most two chunks per worker ahead."""
    made: dict[str, bytes] = {}
    chunks: queue.Queue[list[tuple[str, bytes]] | None] = queue.Queue(maxsize=2 * count)
    errors: list[BaseException] = []

    def feed_one_worker() -> None:
        worker = WorkerProcess(THUMBNAIL_SIDE)
        try:
            while (chunk := chunks.get()) is not None:
                if errors:
                    continue  # drain: the reader must never block on a full queue
                try:
                    thumbnails = worker.thumbnails([data for _, data in chunk])
                except BaseException as error:  # noqa: BLE001 - raised in the caller's thread
                    errors.append(error)
                    continue
                made.update((d, t) for (d, _), t in zip(chunk, thumbnails, strict=True) if t)
        finally:
            worker.close()

    threads = [threading.Thread(target=feed_one_worker, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    try:
        chunk: list[tuple[str, bytes]] = []
        for item in items:
            chunk.append(item)
            if len(chunk) == CHUNK:
                chunks.put(chunk)
                chunk = []
        if chunk:
            chunks.put(chunk)
    finally:
        for _ in threads:
            chunks.put(None)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return made


def _encoded(image: ImageRef) -> bytes | None:
    try:
        return image.encoded()
    except (MmlensError, OSError):
        return None  # unreadable: no thumbnail (its sample is a bad sample)


def save_thumbnails_in_process(todo: list[ImageRef], store: Store, stop: threading.Event) -> int:
    """Thumbnail ``todo`` in a worker process: this thread reads each CHUNK's encoded images and
    waits (without the GIL) while the process decodes and shrinks them; committed every chunk."""
    made = 0
    encoded = [image for image in todo if isinstance(image, BytesImage | FileImage | StoredImage)]
    others = [image for image in todo if not isinstance(image, BytesImage | FileImage | StoredImage)]
    worker = WorkerProcess(THUMBNAIL_SIDE)
    try:
        for start in range(0, len(encoded), CHUNK):
            if stop.is_set():
                break
            chunk = [(image.digest, _encoded(image)) for image in encoded[start : start + CHUNK]]
            readable = [(digest, data) for digest, data in chunk if data is not None]
            thumbnails = worker.thumbnails([data for _, data in readable])
            batch = {d: t for (d, _), t in zip(readable, thumbnails, strict=True) if t is not None}
            store.put_thumbnails(batch)
            made += len(batch)
    finally:
        worker.close()
    return made + save_thumbnails_of(others, store, stop)


def save_thumbnails_of(todo: list[ImageRef], store: Store, stop: threading.Event | None = None) -> int:
    """Thumbnail ``todo`` in order, committing every BATCH; ``stop`` ends it early."""
    made = 0
    batch: dict[str, bytes] = {}
    for image in todo:
        if stop is not None and stop.is_set():
            break
        thumbnail = make_thumbnail(image)
        if thumbnail is not None:
            batch[image.digest] = thumbnail
        if len(batch) >= BATCH:
            store.put_thumbnails(batch)
            made, batch = made + len(batch), {}
    store.put_thumbnails(batch)
    return made + len(batch)


class ThumbnailMaker:
    """Thumbnails ``samples``' images in a background thread while the run goes on.

    ``start()`` returns at once; ``finish()`` waits for the rest and returns how many were made
    (a store error in the thread is raised there); ``cancel()`` stops it (a failed or interrupted
    run): thumbnails already committed stay. The store is shared (its connection is locked).
    """

    def __init__(self, samples: Iterable[Sample], store: Store, *, without_source: bool = False) -> None:
        self._todo = images_without_thumbnails(samples, store, without_source=without_source)
        self._store = store
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="mmlens-thumbnails", daemon=True)
        self._made = 0
        self._error: BaseException | None = None

    def start(self) -> ThumbnailMaker:
        """Start the thread (once: a second call does nothing)."""
        if self._todo and self._thread.ident is None:
            self._thread.start()
        return self

    def _work(self) -> None:
        try:
            if len(self._todo) >= PROCESS_FROM:
                self._made = save_thumbnails_in_process(self._todo, self._store, self._stop)
            else:
                self._made = save_thumbnails_of(self._todo, self._store, self._stop)
        except BaseException as error:  # noqa: BLE001 - raised by finish(), in the run's thread
            self._error = error
        finally:
            self._todo = []  # the references go as soon as they are done with

    def finish(self) -> int:
        if self._thread.ident is not None:
            self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self._made

    def cancel(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()
