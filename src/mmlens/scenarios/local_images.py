"""Finding the image files of a local copy of a benchmark published as questions plus image files."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from mmlens.core.errors import SampleError
from mmlens.core.media import AbsentImage, FileImage, ImageRef, file_problem


class ImageNotFound(LookupError):
    """An image file a copy that holds images does not have (its sample is a bad sample)."""


class LocalImages:
    """Looks an image name up in candidate folders, once per name.

    Whether the copy holds images at all is known when an image folder was found (``has_images``);
    otherwise the first lookup decides it. In a questions-only copy every image is an AbsentImage
    placeholder (scoring needs no pixels; running a model is refused with ``hint``); in a copy with
    images a missing file raises ImageNotFound.
    """

    def __init__(
        self, roots: list[Path], has_images: bool, label_prefix: str, hint: str, searched: str | None = None
    ) -> None:
        self.roots = roots
        self.searched = searched or ", ".join(str(root) for root in roots)
        self.label_prefix = label_prefix
        self.hint = hint
        self._has_images: bool | None = True if has_images else None
        self._found: dict[str, Path | None] = {}

    def find(self, name: str) -> ImageRef:
        if name not in self._found:
            self._found[name] = next((root / name for root in self.roots if (root / name).is_file()), None)
        found = self._found[name]
        if self._has_images is None:
            self._has_images = found is not None
        if found is not None:
            return FileImage(found)
        if self._has_images:
            raise ImageNotFound(f"image file {name} not found (looked in {self.searched})")
        return AbsentImage(self.label_prefix + name, self.hint)


def confined_image(sample_id: str, path: Any, root: Path, where: str, absent_note: str) -> ImageRef:
    """The image a data file names by a path relative to ``root``, which must stay inside it (no
    absolute path, no ``..``; symlinks are followed). A missing file is an AbsentImage (the question
    still loads for scoring; a run is refused) whose hint is the problem followed by ``absent_note``."""
    if not isinstance(path, str) or not path:
        raise SampleError(sample_id, f"{where}: image path {path!r} is not a path")
    if not stays_inside(root, path):
        raise SampleError(sample_id, f"{where}: image path {path!r} must be relative to {root}")
    image = FileImage(root / PurePosixPath(path))
    problem = file_problem(image.path)
    return image if problem is None else AbsentImage(path, problem + absent_note)


def stays_inside(root: Path, path: str) -> bool:
    """Whether ``path`` names a file under ``root``: relative, no ``..``, and inside it with its
    symlinks followed."""
    relative = PurePosixPath(path)
    return not relative.is_absolute() and ".." not in relative.parts and inside_folder(root, path)


def inside_folder(folder: Path, relative: str) -> bool:
    """Whether ``folder / relative``, symlinks followed, stays inside ``folder``."""
    try:
        return (folder / relative).resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL in the name
        return False
