"""Build MMNeedle haystacks from any local image folder with captions, as the official scripts do.

Official: Wang-ML-Lab/multimodal-needle-in-a-haystack@debcaae ``sample_stitched_images.py`` (N x N
images drawn with ``random.sample``, each resized to RES x RES, pasted row-major; metadata
``{filename: {"row_col": path}}``) and ``sample_single_needle.py`` (sequences of M stitched images:
M = 1 takes stitched image i, else ``random.sample(stitched, M)``; the first half of the ids are
positive: ``j = randint(0, M*N*N - 1)``, ``idx, loc = divmod(j, N*N)``, ``row, col = divmod(loc, N)``;
the rest negative: index = row = col = -1 and a target drawn with ``random.choice`` among the
images not in the sequence). Both scripts call ``random.seed(0)`` before they start.

Deviation: the official ``load_image_paths`` lists folders in ``os.listdir`` order (file-system
dependent); here folders are listed sorted by name, so a seed gives the same haystacks on any
machine. Python's ``random`` with the same seed and list order reproduces the official draws.

Command: ``python -m mmlens.tasks.mmneedle.generate --images DIR --captions captions.json --out DIR``.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from mmlens.core.errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass(frozen=True)
class HaystackSettings:
    sequence_length: int = 10  # M
    grid: int = 2  # N
    n_stitched: int = 10000
    n_sequences: int = 10000
    resolution: int = 256
    seed: int = 0


def list_images(folder: Path) -> list[Path]:
    """The folder's image files, sorted by name (the official code used os.listdir order)."""
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist or is not a folder")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise DataError(f"image folder {folder} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return paths


def stitch_images(images: list[Image.Image], grid: int, resolution: int) -> Image.Image:
    """``stitch_images`` of sample_stitched_images.py: N*N images pasted row-major."""
    stitched = Image.new("RGB", (grid * resolution, grid * resolution))
    for i in range(grid):
        for j in range(grid):
            stitched.paste(
                images[i * grid + j].resize((resolution, resolution)), (j * resolution, i * resolution)
            )
    return stitched


def stitched_dir_name(grid: int) -> str:
    return f"{grid}_{grid}"


def annotations_name(settings: HaystackSettings) -> str:
    return f"annotations_{settings.sequence_length}_{settings.grid}_{settings.grid}.json"


def build_stitched(
    images: list[Path], out: Path, settings: HaystackSettings, rng: random.Random
) -> dict[str, dict[str, str]]:
    """Stitched images under ``images_stitched/N_N/`` and their metadata ``{file: {"r_c": path}}``."""
    grid = settings.grid
    if len(images) < grid * grid:
        raise DataError(f"{len(images)} images cannot fill a {grid}x{grid} stitched image")
    folder = out / "images_stitched" / stitched_dir_name(grid)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [str(path) for path in images]
    metadata: dict[str, dict[str, str]] = {}
    for i in range(settings.n_stitched):
        sampled = rng.sample(paths, grid * grid)
        opened = [Image.open(path).convert("RGB") for path in sampled]
        filename = f"COCO_val2014_stitched_{i:04}.jpg"
        stitch_images(opened, grid, settings.resolution).save(folder / filename)
        metadata[filename] = {
            f"{r}_{c}": Path(p).name for idx, p in enumerate(sampled) for r, c in [divmod(idx, grid)]
        }
    (out / "metadata_stitched").mkdir(parents=True, exist_ok=True)
    meta_path = out / "metadata_stitched" / f"{stitched_dir_name(grid)}.json"
    meta_path.write_text(json.dumps(metadata, indent=4))
    return metadata


def build_sequences(
    metadata: dict[str, dict[str, str]],
    image_names: list[str],
    settings: HaystackSettings,
    rng: random.Random,
) -> list[dict[str, object]]:
    """``sample_single_needle.py``: positives for ids < n/2, negatives after."""
    m, grid = settings.sequence_length, settings.grid
    stitched = [f"images_stitched/{stitched_dir_name(grid)}/{name}" for name in metadata]
    if m > len(stitched):
        raise DataError(f"sequence length {m} is larger than the {len(stitched)} stitched images")
    if m == 1 and settings.n_sequences > len(stitched):
        raise DataError(
            f"M = 1 takes stitched image i for sequence i: {settings.n_sequences} > {len(stitched)}"
        )
    sequences: list[dict[str, object]] = []
    for i in range(settings.n_sequences):
        sequence = [stitched[i]] if m == 1 else rng.sample(stitched, m)
        if i < settings.n_sequences / 2:
            j = rng.randint(0, m * grid * grid - 1)
            idx, loc = divmod(j, grid * grid)
            row, col = divmod(loc, grid)
            target = metadata[sequence[idx].split("/")[-1]][f"{row}_{col}"]
        else:
            idx = row = col = -1
            exclude: list[str] = []
            for path in sequence:
                exclude += metadata[path.split("/")[-1]].values()
            candidates = [name for name in image_names if name not in exclude]
            if not candidates:
                raise DataError("every image is inside the haystack: no negative target can be drawn")
            target = rng.choice(candidates)
        sequences.append(
            {"id": i, "image_ids": sequence, "index": idx, "row": row, "col": col, "target": target}
        )
    return sequences


def generate_haystacks(image_dir: Path, captions_path: Path, out: Path, settings: HaystackSettings) -> Path:
    """Write stitched images, metadata, annotations and ``captions.json`` under ``out``; return the
    annotations file (the task's ``--data``)."""
    captions = load_captions(captions_path)
    images = list_images(image_dir)
    missing = [p.name for p in images if p.name not in captions]
    if missing:
        raise DataError(f"{captions_path}: no caption for {len(missing)} image(s), first {missing[0]}")
    # the official scripts are separate processes, each seeded with random.seed(0)
    metadata = build_stitched(images, out, settings, random.Random(settings.seed))
    sequences = build_sequences(metadata, [p.name for p in images], settings, random.Random(settings.seed))
    path = out / "metadata_stitched" / annotations_name(settings)
    path.write_text(json.dumps(sequences, indent=4))
    (out / "captions.json").write_text(json.dumps({p.name: captions[p.name] for p in images}, indent=1))
    return path


def load_captions(path: Path) -> dict[str, str]:
    """A JSON object {image file name: caption} (the official file_to_caption.pkl as JSON)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"captions file {path}: cannot read it as JSON ({error})") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise DataError(f"captions file {path}: expected a JSON object {{image file name: caption}}")
    return data


def haystack_digest(out: Path) -> str:
    """sha256 over every file the generator wrote (relative path + bytes), in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(out)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
