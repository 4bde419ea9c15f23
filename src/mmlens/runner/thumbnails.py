"""Small JPEG thumbnails of every image a run used, saved in the store for the HTML report.

They are made off the critical path: ``ThumbnailMaker`` thumbnails the run's images in a
background thread from the moment its samples are loaded, while the run plans, checks images and
waits on the model (decoding and resizing release the GIL, so it runs beside the event loop); the
run waits only for what is left when the last response is in, and a cached rerun, whose images
have thumbnails already, starts none. Each image is decoded at reduced scale (``Image.draft``: a
JPEG decodes at 1/2 to 1/8 of its size) and shrunk with ``reduce`` by whole factors before the
final resample. The maker holds image references, never their bytes: each image is read,
thumbnailed and dropped, and thumbnails are committed every ``BATCH``.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable

from mmlens.core.errors import MmlensError
from mmlens.core.media import BytesImage, FileImage, ImageRef, StoredImage
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


def images_without_thumbnails(samples: Iterable[Sample], store: Store) -> list[ImageRef]:
    images = distinct_images(samples)
    missing = store.missing_thumbnails(images)
    return [image for digest, image in images.items() if digest in missing]


def save_thumbnails(samples: list[Sample], store: Store) -> int:
    """Thumbnail the images the store does not have yet, here and now; returns how many were made."""
    return save_thumbnails_of(images_without_thumbnails(samples, store), store)


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

    def __init__(self, samples: Iterable[Sample], store: Store) -> None:
        self._todo = images_without_thumbnails(samples, store)
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
