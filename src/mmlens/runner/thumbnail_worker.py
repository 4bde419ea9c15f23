"""The thumbnail work done in a worker process (``ThumbnailMaker`` on a large run): encoded images
in, JPEG thumbnails out. It imports only PIL, so the process starts quickly, and decoding there never
contends with the run's own thread for the GIL (in a thread of the run's process, a CPU-bound run
loop and the thumbnailer slowed each other down several times over)."""

from __future__ import annotations

import io
import math
from typing import IO


def jpeg_thumbnail(data: bytes, side: int) -> bytes | None:
    """A JPEG at most ``side`` pixels wide and high of the encoded image ``data``; None when it
    cannot be decoded. Decoded at reduced scale (``draft``: a JPEG at 1/2 to 1/8 of its size), then
    reduced by whole factors before the final resample."""
    from PIL import Image

    try:
        picture: Image.Image = Image.open(io.BytesIO(data))
        width, height = picture.size
        scale = min(side / width, side / height, 1.0)
        picture.draft("RGB", (max(1, math.floor(width * scale)), max(1, math.floor(height * scale))))
        if picture.mode not in ("RGB", "L"):  # palette, alpha, CMYK, 16-bit: JPEG takes RGB or L
            picture = picture.convert("RGB")
        picture.thumbnail((side, side), reducing_gap=2.0)
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=80)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return buffer.getvalue()


def jpeg_thumbnails(datas: list[bytes], side: int) -> list[bytes | None]:
    return [jpeg_thumbnail(data, side) for data in datas]


# The protocol on stdin/stdout: a request is a 4-byte count and that many (4-byte length, bytes)
# images; the answer is one (4-byte length, bytes) per image, length 0 for an image without one.


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def serve(incoming: IO[bytes], outgoing: IO[bytes], side: int) -> None:
    while (head := _read_exactly(incoming, 4)) is not None:
        datas = []
        for _ in range(int.from_bytes(head, "big")):
            size = _read_exactly(incoming, 4)
            data = _read_exactly(incoming, int.from_bytes(size, "big")) if size is not None else None
            if data is None:
                return
            datas.append(data)
        for thumbnail in jpeg_thumbnails(datas, side):
            outgoing.write(len(thumbnail or b"").to_bytes(4, "big") + (thumbnail or b""))
        outgoing.flush()


class WorkerProcess:
    """This file run as a child process (started by its path, so it never imports the caller's
    ``__main__`` or mmlens): ``thumbnails(datas)`` sends one chunk and waits for its thumbnails."""

    def __init__(self, side: int) -> None:
        import subprocess
        import sys

        self._process = subprocess.Popen(
            [sys.executable, __file__, str(side)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def thumbnails(self, datas: list[bytes]) -> list[bytes | None]:
        assert self._process.stdin is not None and self._process.stdout is not None
        message = [len(datas).to_bytes(4, "big")]
        for data in datas:
            message += [len(data).to_bytes(4, "big"), data]
        self._process.stdin.write(b"".join(message))
        self._process.stdin.flush()
        found: list[bytes | None] = []
        for _ in datas:
            size = _read_exactly(self._process.stdout, 4)
            thumbnail = _read_exactly(self._process.stdout, int.from_bytes(size, "big")) if size else None
            if size is None or thumbnail is None:
                raise OSError("the thumbnail process ended unexpectedly")
            found.append(thumbnail or None)
        return found

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=5)
        except Exception:  # noqa: BLE001 - a stuck worker is ended
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


if __name__ == "__main__":
    import sys

    serve(sys.stdin.buffer, sys.stdout.buffer, int(sys.argv[1]))
