"""Offline verification of certlife logs, records and certificate status.

Pure: no file, Kafka or network access. Callers pass record bytes and
checkpoint notes (from an export directory, a Kafka topic, a database) and a
:class:`~certlife.contracts.trust.TrustFile`. Every failed check raises one
:class:`VerificationError` whose :class:`Failure` names the failure code, the
check, the log index and the certificate.

Public API:

* :func:`verify_log` — a whole log (records + checkpoints) → :class:`VerificationReport`
* :class:`LogVerifier` — the same checks fed one record's facts at a time (mirrors)
* :class:`VerifierState` — a :class:`LogVerifier`'s record state (``snapshot()``/``restore()``), to resume later
* :func:`verify_record` — one record → :class:`StepReport`
* :func:`certificate_status` — a certificate's status from a verified log → :class:`StatusAnswer`
* :func:`decide_status` — the same answer from any source's newest record and checkpoint (mirror, read model)
* :func:`facts_for_chunk` / :func:`record_facts` — the per-record work parallel workers run
* :data:`FAILURE_CODES` — every failure code and its :class:`Check`
* :class:`CredentialState` — credential keys and status list commitments of a verified log
  (``VerificationReport.credentials``, ``LogVerifier.credentials``): ``committed(sha256)``,
  ``key_for(keyId, index)``; :class:`StatusListCommitment` — one ``statuslist`` record
"""

from __future__ import annotations

from certlife.contracts.verification.checkpoints import CheckpointInput, VerifiedCheckpoint
from certlife.contracts.verification.commitments import CredentialState, StatusListCommitment
from certlife.contracts.verification.engine import CHUNK_SIZE, FactMapper, serial_mapper, verify_log
from certlife.contracts.verification.facts import (
    Chunk,
    KeyDirectory,
    RecordFacts,
    facts_for_chunk,
    record_facts,
)
from certlife.contracts.verification.failures import FAILURE_CODES, Check, Failure, VerificationError
from certlife.contracts.verification.log import SIGNATURE_MODES, LogVerifier
from certlife.contracts.verification.record import verify_record
from certlife.contracts.verification.report import StepReport, VerificationReport
from certlife.contracts.verification.state import VerifierState
from certlife.contracts.verification.status import (
    NOT_A_STATUS,
    UNAVAILABLE,
    UNKNOWN,
    CheckpointRef,
    LatestRecord,
    StatusAnswer,
    certificate_status,
    decide_status,
    parse_time,
)

__all__ = [
    "CHUNK_SIZE",
    "FAILURE_CODES",
    "NOT_A_STATUS",
    "SIGNATURE_MODES",
    "UNAVAILABLE",
    "UNKNOWN",
    "Check",
    "CheckpointInput",
    "CheckpointRef",
    "Chunk",
    "CredentialState",
    "FactMapper",
    "Failure",
    "KeyDirectory",
    "LatestRecord",
    "LogVerifier",
    "RecordFacts",
    "StatusAnswer",
    "StatusListCommitment",
    "StepReport",
    "VerificationError",
    "VerificationReport",
    "VerifiedCheckpoint",
    "VerifierState",
    "certificate_status",
    "decide_status",
    "facts_for_chunk",
    "parse_time",
    "record_facts",
    "serial_mapper",
    "verify_log",
    "verify_record",
]
