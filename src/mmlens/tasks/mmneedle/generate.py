"""``python -m mmlens.tasks.mmneedle.generate``: build MMNeedle haystacks from a local image folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmlens.core.errors import MmlensError
from mmlens.tasks.mmneedle.generator import HaystackSettings, generate_haystacks, haystack_digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmlens.tasks.mmneedle.generate", description=__doc__)
    parser.add_argument("--images", type=Path, required=True, help="folder of source images")
    parser.add_argument("--captions", type=Path, required=True, help="JSON {image file name: caption}")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--sequence-length", "-M", type=int, default=10)
    parser.add_argument("--grid", "-N", type=int, default=2)
    parser.add_argument("--stitched", type=int, default=10000, help="number of stitched images")
    parser.add_argument("--sequences", type=int, default=10000, help="number of haystacks")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = HaystackSettings(
        args.sequence_length, args.grid, args.stitched, args.sequences, args.resolution, args.seed
    )
    try:
        path = generate_haystacks(args.images, args.captions, args.out, settings)
    except MmlensError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"annotations: {path}\ndigest: sha256:{haystack_digest(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
