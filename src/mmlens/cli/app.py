"""``main``: parse, dispatch to the registered command, and turn user errors into one line.

Interruptions: SIGTERM takes the path Ctrl-C (SIGINT) takes, so a run stopped either way records
its status and says how to resume; the exit code is 128 + the signal's number: 130 for Ctrl-C, 143
for SIGTERM."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

from mmlens.cli.parser import build_parser
from mmlens.cli.registry import COMMANDS
from mmlens.core.errors import MmlensError, ModelUnavailable
from mmlens.runner.execute import RunInterrupted

# Exit status: 0 done (every run complete); 1 a run finished incomplete (some requests failed; the
# same command retries them); 2 a user error (option, file, data); 3 the model cannot answer (its
# endpoint is unreachable or refuses the key, or every request failed: the run stopped early, is
# marked failed, keeps what was answered); 128 + signal when interrupted (130 for Ctrl-C).
EXIT_INCOMPLETE = 1
EXIT_USER_ERROR = 2
EXIT_MODEL_UNAVAILABLE = 3


@contextmanager
def sigterm_as_ctrl_c(received: list[int]) -> Iterator[None]:
    """While the command runs, SIGTERM calls whatever answers Ctrl-C at that moment (Python's
    KeyboardInterrupt, or asyncio's handler that cancels the running requests first), and is noted
    in ``received``. Only in the main thread, and only where SIGTERM has its default meaning."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous != signal.SIG_DFL:
        yield
        return

    def on_term(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        ctrl_c = signal.getsignal(signal.SIGINT)
        if callable(ctrl_c):
            ctrl_c(signal.SIGINT, frame)
        else:  # Ctrl-C ignored (a background job): SIGTERM must still stop the command
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    received: list[int] = []
    interrupted = 128 + signal.SIGINT
    resume = ""
    try:
        with sigterm_as_ctrl_c(received):
            argv = list(sys.argv[1:] if argv is None else argv)
            args = parser.parse_args(argv)
            args.argv = argv
            if args.command == "run":  # a run interrupted before it began is also simply rerun
                resume = f"; rerun `mmlens {shlex.join(argv)}` to resume"
            if args.command is None:
                parser.print_help()
                return 0
            if getattr(args, "limit", None) is not None and args.limit < 1:
                raise MmlensError("--limit must be at least 1")
            return COMMANDS[args.command].run(args)
    except RunInterrupted as error:
        print(f"\n{error}", file=sys.stderr)
        return 128 + received[0] if received else interrupted
    except KeyboardInterrupt:
        print(f"\ninterrupted{resume}", file=sys.stderr)
        return 128 + received[0] if received else interrupted
    except ModelUnavailable as error:  # the run stopped early; what was answered is saved
        print(f"error: {error}", file=sys.stderr)
        return EXIT_MODEL_UNAVAILABLE
    except MmlensError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:  # e.g. `mmlens run ... | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
