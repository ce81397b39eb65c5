"""Exit statuses of certlife's command-line tools and processes, and the one error-to-status rule.

Every status a certlife process exits with is named here; nothing else spells
one as a number. ``certverify`` documents 0, 1 and 2 only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from certlife.domain.errors import CertlifeError

#: Done (``certverify``: everything asked was verified).
EXIT_OK = 0
#: The operation failed (``certverify``: verification failed; the report says where).
EXIT_FAILED = 1
#: A usage, input or output error (argparse exits 2 as well).
EXIT_USAGE = 2
#: ``certctl serve commands``: a batch failed on every retry; the restart consumes it again.
EXIT_BATCH_FAILED = 3
#: ``certctl serve commands``: the database session holding the leader lock was lost.
EXIT_LOCK_LOST = 4
#: ``certctl serve``: PostgreSQL or Kafka went away under a service that cannot carry on without it
#: (one line names it); a supervisor restarts the service.
EXIT_ENDPOINT_LOST = 5
#: Stopped with Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130

#: The exit status of each error family, by the family's stable ``code``. An
#: error maps like the nearest class in its MRO whose own ``code`` is listed;
#: ``certlife-error`` (the base) catches every other family.
EXIT_STATUS: dict[str, int] = {
    "certlife-error": EXIT_FAILED,
    "input": EXIT_USAGE,  # SourceError: a source, trust or input file that cannot be read
    "export": EXIT_USAGE,  # ExportError: an export directory that is missing or malformed
    "fixture": EXIT_USAGE,  # FixtureError: arguments the fixture generator cannot use
    "command-invalid": EXIT_USAGE,  # CommandError: a command that cannot be parsed
    "inadmissible-text": EXIT_USAGE,  # AdmissionError: text the admission rule refuses
}


def exit_status(error: CertlifeError) -> int:
    """The exit status for ``error``: its own ``exit_code`` if it carries one, else by family.

    An ``exit_code`` instance attribute (:class:`~certlife.services.cli.base.CliError`)
    is a choice made where the error was raised and wins. Otherwise the first
    class of the MRO whose own ``code`` is in :data:`EXIT_STATUS` decides; the
    per-instance ``code`` (a verification failure's, say) does not.
    """
    explicit = getattr(error, "exit_code", None)
    if isinstance(explicit, int) and not isinstance(explicit, bool):
        return explicit
    for cls in type(error).__mro__:
        code = vars(cls).get("code")
        if isinstance(code, str) and code in EXIT_STATUS:
            return EXIT_STATUS[code]
    return EXIT_FAILED
