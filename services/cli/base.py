"""What every CLI of certlife shares: the user-facing error and the one place errors become one line.

Each entry point (``certctl``, ``certverify``, ``./dev main``) runs its command
through :func:`run_guarded`, which catches certlife's one exception base,
:class:`~certlife.domain.errors.CertlifeError`, prints ``prog: error: message``
and ends with the status :func:`~certlife.services.cli.exits.exit_status` maps
it to. Exit statuses are named in :mod:`certlife.services.cli.exits`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from certlife.domain.errors import CertlifeError
from certlife.services.cli.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, exit_status

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliError",
    "certificate_number",
    "run_guarded",
]


class CliError(CertlifeError):
    """A user-facing error: printed as one line, exit status attached (a usage error unless told)."""

    code = "cli-error"

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        """``exit_code`` is one of :mod:`certlife.services.cli.exits`' statuses."""
        super().__init__(message)
        self.exit_code = exit_code


def admitted_text(text: str) -> str:
    """An argparse ``type``: free text that may reach a signed record (a reason), in NFC.

    Text the admission rule refuses (contracts/LOG.md §3.2) is a usage error here,
    before anything is queued for the relay.
    """
    import argparse

    from certlife.contracts.admission import AdmissionError, admit_text

    try:
        return admit_text("reason", text)
    except AdmissionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def certificate_number(text: str) -> str:
    """An argparse ``type``: a certificate number to look up.

    Only the character rules of the admission rule apply (no control, bidi,
    noncharacter or undecodable byte: contracts/LOG.md §3.2), not the ASCII number
    profile, so certificates issued before the profile existed can still be
    looked up. Anything else is a usage error, never a lookup.
    """
    import argparse

    from certlife.contracts.admission import MAX_NAME, AdmissionError, check_text

    try:
        check_text("NUMBER", text, max_length=MAX_NAME, normalised=False)
    except AdmissionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _report(prog: str, error: CertlifeError, json_errors: bool) -> int:
    """Print ``error`` as one line (and, for ``--json``, as a JSON error object); its exit status."""
    print(f"{prog}: error: {error}", file=sys.stderr)
    if json_errors:
        import json

        failure = {"ok": False, "error": {"code": error.code, "message": str(error)}}
        sys.stdout.write(json.dumps(failure, ensure_ascii=False) + "\n")
    return exit_status(error)


#: The extra (pyproject optional-dependencies) that installs each optional top-level module.
EXTRA_OF_MODULE = {
    "aiokafka": "verify",
    "asyncpg": "mirror",
    "eventsourcing": "service",
    "faststream": "service",
    "psycopg": "service",
    "pydantic": "service",
}


def run_guarded(
    prog: str, func: Callable[[], int], *, json_errors: bool = False, exit_on_error: bool = True
) -> int:
    """Run a command; certlife's errors become one line and their exit status, never a traceback.

    Anything that is not a :class:`CertlifeError` (a bug) keeps its traceback.
    With ``json_errors`` the error is also written on stdout as
    ``{"ok": false, "error": {"code", "message"}}``. With ``exit_on_error`` an
    error raises ``SystemExit`` (as argparse's usage errors do); without it the
    status is returned.
    """
    try:
        return func()
    except CertlifeError as exc:
        status = _report(prog, exc, json_errors)
        if exit_on_error:
            raise SystemExit(status) from None
        return status
    except ModuleNotFoundError as exc:
        extra = EXTRA_OF_MODULE.get((exc.name or "").partition(".")[0])
        if extra is None:
            raise  # not an optional dependency: a bug, keep its traceback
        print(
            f"{prog}: error: this command needs {exc.name}, which is not installed: "
            f"pip install 'certlife[{extra}]'",
            file=sys.stderr,
        )
        if exit_on_error:
            raise SystemExit(EXIT_USAGE) from None
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away: the result was not delivered, which is an I/O error.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_USAGE
