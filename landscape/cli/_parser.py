"""The parser class of every ``landscape`` command line: no abbreviations, one-line errors.

argparse's defaults do not suit a research tool: an abbreviation is taken silently
(``--level 2`` runs as ``--levels 2``), and a mistyped flag prints the top-level usage
without naming the verb or the flag meant. :class:`LandscapeParser` (the class of the
top-level parser and, through ``add_subparsers``, of every verb's and plot kind's)
refuses abbreviations and reports a bad command line as one line, exit status 2::

    landscape prune: error: unknown flag --levles (did you mean --levels?)
    landscape prune: error: --preset 'mlp-mnist' is not a choice (did you mean mlp-mnist1d?); choose from ...
    landscape: error: unknown verb 'prun' (did you mean prune?)

as the registries do for methods and models (:class:`landscape.registry.Registry`).
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

__all__ = ["LandscapeParser"]

_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+(e[-+]?\d+)?$", re.IGNORECASE)


class LandscapeParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` without abbreviations whose errors are one line
    naming the command (``landscape VERB``), the flag, and the near match when there is one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """Parse, reporting the first unknown flag (by the verb that was given) before
        anything else: a typo, not the required argument it hid, is what the user needs."""
        argv = list(sys.argv[1:] if args is None else args)
        found = _first_unknown(self, argv)
        if found is not None:
            parser, flag = found
            parser.unknown_flag(flag)
        ns, extras = self.parse_known_args(argv, namespace)
        if extras:
            parser = _chosen(self, ns)
            flags = [e for e in extras if e.startswith("-") and not _NUMBER.match(e)]
            if flags:
                parser.unknown_flag(flags[0].split("=", 1)[0])
            parser.error(f"unexpected argument {extras[0]!r}; `{parser.prog} --help` says what "
                         "it takes")  # fmt: skip
        return ns

    def unknown_flag(self, flag: str) -> NoReturn:
        """Exit with ``PROG: error: unknown flag --x (did you mean --y?)``."""
        near = difflib.get_close_matches(flag, self.flags(), n=1, cutoff=0.6)
        hint = f" (did you mean {near[0]}?)" if near else f"; `{self.prog} --help` lists the flags"
        self.error(f"unknown flag {flag}{hint}")

    def flags(self) -> list[str]:
        """The option strings this parser shows in ``--help``."""
        return [s for a in self._actions if a.help is not argparse.SUPPRESS
                for s in a.option_strings]  # fmt: skip

    def error(self, message: str) -> NoReturn:
        """One line on stderr, ``PROG: error: MESSAGE``, and exit status 2 (no usage block)."""
        self.exit(2, f"{self.prog}: error: {_tidy(message)}\n")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        """An invalid choice names the flag, the value and the near match."""
        choices = action.choices
        if choices is None or value in choices:
            return
        names = [str(c) for c in choices]
        near = difflib.get_close_matches(str(value), names, n=1, cutoff=0.6)
        hint = f" (did you mean {near[0]}?)" if near else ""
        if isinstance(action, argparse._SubParsersAction):  # the verb, or a plot kind
            what = (action.metavar or "command").lower()
            raise argparse.ArgumentError(
                None, f"unknown {what} {value!r}{hint}; choose from {', '.join(names)}"
            )
        flag = max(action.option_strings, key=len) if action.option_strings else action.metavar
        raise argparse.ArgumentError(
            None, f"{flag} {value!r} is not a choice{hint}; choose from {', '.join(names)}"
        )


def _tidy(message: str) -> str:
    """argparse's ``argument --x: ...`` as ``--x: ...``; one line."""
    message = re.sub(r"\bargument (?=-|[A-Z])", "", message)
    return " ".join(message.split())


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def _chosen(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> Any:
    """The innermost parser that parsed ``ns``: the verb's (or the plot kind's)."""
    sub = _subparsers(parser)
    name = getattr(ns, sub.dest, None) if sub is not None else None
    if sub is None or name not in sub.choices:
        return parser
    return _chosen(sub.choices[name], ns)


def _first_unknown(parser: LandscapeParser, argv: Iterable[str]) -> tuple[Any, str] | None:
    """The first flag in ``argv`` that the parser it is given to does not know, with that
    parser; the verb (and plot kind) tokens lead from the top-level parser to theirs."""
    current: Any = parser
    for token in argv:
        if token == "--":
            return None
        if token.startswith("-") and len(token) > 1 and not _NUMBER.match(token):
            name = token.split("=", 1)[0]
            if name not in current._option_string_actions:
                return current, name
            continue
        sub = _subparsers(current)
        if sub is not None:
            if token not in sub.choices:
                return None  # argparse reports the unknown verb or kind
            current = sub.choices[token]
    return None
