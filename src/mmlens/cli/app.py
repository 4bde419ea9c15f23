"""``main``: parse, dispatch to the registered command, and turn user errors into one line."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from mmlens.cli.parser import build_parser
from mmlens.cli.registry import COMMANDS
from mmlens.core.errors import MmlensError
from mmlens.runner.execute import RunInterrupted


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        args = parser.parse_args(argv)
        args.argv = argv
        if args.command is None:
            parser.print_help()
            return 0
        if getattr(args, "limit", None) is not None and args.limit < 1:
            raise MmlensError("--limit must be at least 1")
        return COMMANDS[args.command].run(args)
    except RunInterrupted as error:
        print(f"\n{error}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except MmlensError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `mmlens run ... | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
