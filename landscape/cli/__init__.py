"""``landscape <verb>``: the command line.

Each verb is one module in this package (not starting with ``_``) defining
``VERB`` (its name), ``HELP`` (one line), ``ORDER`` (position in ``--help``),
``add_arguments(parser)`` and ``run(args) -> int``. Modules are discovered, so a
new verb is a new file. Errors derived from :class:`LandscapeError` (and
``ValueError`` from settings) are printed as one clear line, exit status 2; so are
command-line errors (:class:`~landscape.cli._parser.LandscapeParser`: no abbreviations,
``landscape VERB: error: unknown flag --x (did you mean --y?)``).

A verb that trains or evaluates takes the engine group ``--threads/--device``
(:func:`landscape.cli._common.add_engine_arguments`; a spec holding ``threads`` or
``device`` brings it by itself). A verb that only reads files says so with
``COMPUTES = False``; tests/test_cli_flags.py checks every other verb has the group.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import inspect
import os
import pkgutil
import shlex
import sys
from collections.abc import Sequence
from types import ModuleType

from landscape import __version__
from landscape.cli._parser import LandscapeParser
from landscape.errors import LandscapeError

__all__ = ["COMMAND_VARIABLE", "build_parser", "main", "verbs"]

#: The environment variable through which a verb's results record its command line.
COMMAND_VARIABLE = "LANDSCAPE_COMMAND"


def verbs() -> list[ModuleType]:
    """The verb modules, in ``ORDER``."""
    mods = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "VERB") and hasattr(mod, "run"):
            mods.append(mod)
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.VERB))


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``landscape`` parser; a verb whose ``add_arguments`` takes ``argv`` may shape its
    flags by the command line (``prune --method X`` shows and accepts X's flags only)."""
    parser = LandscapeParser(
        prog="landscape",
        description="Loss-landscape analysis for neural-network pruning research.",
        epilog="Run `landscape VERB --help` for a verb's options. Start with `landscape demo`.",
    )
    parser.add_argument("--version", action="version", version=f"landscape {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", title="verbs")
    for mod in verbs():
        p = sub.add_parser(
            mod.VERB, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
            formatter_class=argparse.ArgumentDefaultsHelpFormatter if getattr(mod, "SHOW_DEFAULTS", False)
            else argparse.HelpFormatter,
        )  # fmt: skip
        if "argv" in inspect.signature(mod.add_arguments).parameters:
            mod.add_arguments(p, argv=list(argv or ()))
        else:
            mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``landscape`` command; its exit status (0 done, 2 a one-line error)."""
    try:
        status = _command(argv)
    except SystemExit as exc:
        _end_rank(exc.code if isinstance(exc.code, int) else 1)
        raise
    _end_rank(status)
    return status


def _end_rank(status: int) -> None:
    """Under torchrun, a rank that joined the process group ends here (distributed.end_rank)."""
    if "landscape.distributed" in sys.modules:  # imported by every verb that can join one
        from landscape.distributed import end_rank

        end_rank(status)


def _command(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    from landscape.cli._common import consent

    if "TORCHELASTIC_RUN_ID" in os.environ:  # a rank of torchrun: it ends with its agent
        from landscape.lifetime import die_with_parent

        die_with_parent()
    consent(args)
    # Results record the command line that made them (landscape.jobs.store.stamp), for the
    # report's "command that reproduces it"; restored after, for callers of main() in-process.
    before = os.environ.get(COMMAND_VARIABLE)
    os.environ[COMMAND_VARIABLE] = shlex.join(["landscape", *argv])
    try:
        if getattr(args, "log", ""):  # an unknown kind or a missing package fails before any work
            from landscape.experiment_log import parse_kinds

            parse_kinds(args.log)
        status = int(args._run(args) or 0)
        if status == 0 and getattr(args, "_log_results", False) and args.log:
            from landscape.cli._common import log_analyses

            log_analyses(args)
        return status
    except (LandscapeError, ValueError) as exc:
        print(f"landscape {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        if not _peer_lost(exc):
            raise
        # gloo/NCCL report a rank that died as pages of C++ frames; its own message says why
        print(f"landscape {args.verb}: error: {_peer_message(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a read-only folder, a path too long, ...
        print(f"landscape {args.verb}: error: {_os_error(exc, args)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `landscape show RUN | head`: the reader has gone
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(
            f"landscape {args.verb}: interrupted; finished artefacts are kept, re-run to resume",
            file=sys.stderr,
        )
        return 130
    finally:
        if before is None:
            os.environ.pop(COMMAND_VARIABLE, None)
        else:
            os.environ[COMMAND_VARIABLE] = before


_OS_ADVICE = {
    errno.ENOSPC: "the disk is full: free space (finished work is kept) and re-run",
    errno.EDQUOT: "the disk quota is used up: free space (finished work is kept) and re-run",
    errno.EACCES: "no permission to write there: choose another --out/--root, or fix the permissions",
    errno.EROFS: "the file system is read-only: choose another --out/--root",
    errno.ENAMETOOLONG: "a name in the path is too long: choose a shorter --out/--root",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another --out",
    errno.EEXIST: "a file stands where a folder should be: choose another --out",
}


def _peer_lost(exc: RuntimeError) -> bool:
    """Whether ``exc`` is torch.distributed's error for a peer rank that went away."""
    kind = type(exc)
    return kind.__module__.startswith("torch.distributed") or kind.__name__ in (
        "DistBackendError", "DistNetworkError", "DistError", "DistStoreError"
    ) or any(w in str(exc) for w in ("gloo", "Connection closed by peer", "NCCL"))  # fmt: skip


def _peer_message(exc: RuntimeError) -> str:
    """One line for a lost peer rank: which rank saw it, the backend's first line, what to do."""
    first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
    if first.startswith("[") and "] " in first:  # "[../third_party/gloo/...cc:534] Read error"
        first = first.split("] ", 1)[1]
    first = first.split(". ", 1)[0].rstrip(".")  # gloo's first sentence; the rest is advice
    rank = os.environ.get("RANK", "?")
    return (
        f"rank {rank}: another rank of this torchrun job stopped ({first[:160]}); its own "
        "message says why. Finished work is kept: fix that and re-run to resume"
    )


def _os_error(exc: OSError, args: argparse.Namespace | None = None) -> str:
    """One line for an operating-system error: the path, what happened, what to do."""
    folder = next((getattr(args, k) for k in ("out", "root") if getattr(args, k, None)), None)
    where = exc.filename or (f"a file under {folder}" if folder else "a file")
    advice = _OS_ADVICE.get(exc.errno or 0, "check the path and re-run (finished work is kept)")
    return f"{where}: {exc.strerror or exc}; {advice}"


if __name__ == "__main__":
    sys.exit(main())
