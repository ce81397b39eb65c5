"""What every CLI of certlife shares: exit codes and turning errors into one line."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A user-facing error: printed as one line, exit code attached."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def certificate_number(text: str) -> str:
    """An argparse ``type``: a certificate number of the admitted profile (contracts/LOG.md §3.2).

    A number that could never have been admitted (a control character, another
    script, bytes that are not UTF-8) is a usage error, not a lookup.
    """
    import argparse

    from certlife.contracts.admission import AdmissionError, check_number

    try:
        check_number(text, "NUMBER")
    except AdmissionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def fail(prog: str, message: str, exit_code: int = EXIT_USAGE) -> NoReturn:
    """Print ``prog: error: message`` on stderr and exit."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(exit_code)


def run_guarded(prog: str, func: Callable[[], int]) -> int:
    """Run a command; user mistakes and known failures become one line, never a traceback."""
    from certlife.services.infra.stack.errors import StackError
    from certlife.services.relay.keystore import KeyStoreError

    try:
        return func()
    except CliError as exc:
        fail(prog, str(exc), exc.exit_code)
    except (StackError, KeyStoreError) as exc:
        fail(prog, str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away: the result was not delivered, which is an I/O error.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_USAGE
