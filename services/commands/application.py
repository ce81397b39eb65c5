"""``CertificateApplication``: commands in, certificate events out (eventsourcing).

Persistence is chosen by configuration: ``PERSISTENCE_MODULE=eventsourcing.postgres``
(plus the ``POSTGRES_*`` settings) or the in-memory default, passed through the
``env`` argument (eventsourcing also merges ``os.environ`` when the application is
constructed; nothing is read at import).

Every command is idempotent: its outcome is stored in a ``CommandReceipt`` whose
id is derived from ``commandId``, saved in the same ``save()`` as the events it
caused. A repeated command returns the stored outcome and writes nothing; a
concurrent duplicate loses on the receipt's version conflict, is retried, and
then finds the receipt. Rejections are stored as well.

Expiry sweep: see ``certlife.domain.expiry`` (day buckets plus a schedule aggregate).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import InfrastructureFactory, RecordConflictError, StoredEvent
from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import Environment, EnvType, get_topic

from certlife.contracts.commands import (
    Accepted,
    AmendCertificate,
    CertificateCommand,
    Command,
    ExpireDue,
    IssueCertificate,
    ReinstateCertificate,
    Rejected,
    RenewCertificate,
    RevokeCertificate,
    SuspendCertificate,
    TestReport,
    WithdrawCertificate,
    command_digest,
    outcome_from_wire,
)
from certlife.contracts.records import DEFAULT_ORIGIN, MAX_SIGNED_RECORD_BYTES, certificate_record_bound
from certlife.domain.certificate import Certificate
from certlife.domain.errors import CertificateError, CertificateNotFound, UnknownIssuer
from certlife.domain.expiry import ExpiryBucket, ExpirySchedule
from certlife.domain.lifecycle import LifecycleEvent, next_status
from certlife.domain.receipt import CommandReceipt
from certlife.domain.values import (
    Amendment,
    CertificateData,
    LifecyclePolicy,
    TestReportRef,
    ValidityPeriod,
    format_instant,
    instant,
)
from certlife.services.commands.legacy import register_legacy_topics
from certlife.services.commands.preload import CACHED_AGGREGATES, AggregateCache, newer_events, replay
from certlife.services.commands.recorder import CopyApplicationRecorder
from certlife.services.commands.transcoder import OrjsonTranscoder
from certlife.services.infra.pgsettings import libpq_options
from certlife.services.infra.pgurl import TARGET_SESSION_ATTRS
from certlife.services.infra.tracing import EVENT_ATTRIBUTE

Outcome = Accepted | Rejected
register_legacy_topics()


@dataclass(frozen=True)
class Unreadable:
    """A message whose commandId could be read but which is not a command (parse or admission failure).

    Its rejection is stored in a receipt like any outcome, keyed by the commandId,
    with the digest of the raw bytes: the id is used, so a later, different command
    with the same id is a ``command-id-conflict`` and an identical re-send gets the
    same rejection again.
    """

    command_id: str
    digest: str
    rejected: Rejected


@dataclass(frozen=True)
class Decided:
    """A batch of commands decided but not yet stored (:meth:`CertificateApplication.decide_batch`).

    ``outcomes`` are in input order; ``stored_events`` are the events the batch
    caused, encoded as :meth:`CertificateApplication.commit` stores them (in one
    transaction); ``aggregates`` are all those it read or changed, as decided,
    which the batch decided next reads while these events are not stored yet.
    """

    outcomes: list[Outcome] = field(default_factory=list)
    stored_events: list[StoredEvent] = field(default_factory=list)
    aggregates: list[Aggregate] = field(default_factory=list)


A = TypeVar("A", bound=Aggregate)


class _Session:
    """Aggregates loaded or created while handling commands; saved together."""

    def __init__(self, app: CertificateApplication, cache: AggregateCache, ahead: Decided | None) -> None:
        self._app = app
        self._cache = cache
        # The aggregates of the batch decided before this one, newer than the store until it is stored.
        self._ahead: Mapping[UUID, Aggregate] = {a.id: a for a in ahead.aggregates} if ahead else {}
        self._aggregates: dict[UUID, Aggregate] = {}
        self._absent: set[UUID] = set()
        self._touched: list[Aggregate] = []

    @property
    def aggregates(self) -> list[Aggregate]:
        """Every aggregate of the session."""
        return list(self._aggregates.values())

    def preload(self, ids: Iterable[UUID], cached_ids: Iterable[UUID]) -> None:
        """Load the given aggregates, and take the given cached ones (certificates, index) and bring
        them up to date, in one query where the recorder allows it."""
        cached_ids = set(cached_ids)
        taken = {i: a for i in cached_ids if (a := self._cache.take(i)) is not None}
        ids = list(ids)
        # The batch decided before this one may not be stored yet: its objects are the newest.
        taken |= {
            i: a for i in (*ids, *cached_ids) if i not in taken and (a := self._ahead.get(i)) is not None
        }
        after = (
            dict.fromkeys(ids, 0) | dict.fromkeys(cached_ids, 0) | {i: a.version for i, a in taken.items()}
        )
        events = newer_events(self._app, after)
        if events is None:
            self._cache.keep(taken.values())  # not taken after all: loaded one by one
            return
        for aggregate_id in after:
            found = replay(taken.get(aggregate_id), events.get(aggregate_id, ()))
            if found is None:
                self._absent.add(aggregate_id)
            else:
                self._aggregates[aggregate_id] = found

    def get(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        """Return the aggregate from this session or the store, or None."""
        if aggregate_id in self._aggregates:
            self._touched.append(self._aggregates[aggregate_id])
            return cast(A, self._aggregates[aggregate_id])
        if aggregate_id in self._ahead:  # newer than the store until the earlier batch is stored
            found_ahead = self._ahead[aggregate_id]
            self._aggregates[aggregate_id] = found_ahead
            self._touched.append(found_ahead)
            return cast(A, found_ahead)
        if aggregate_id in self._absent:
            return None
        if kind in CACHED_AGGREGATES:
            found = self._cache.get(aggregate_id, self._app)
        else:
            try:
                found = self._app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                found = None
        if found is None:
            return None
        self._aggregates[aggregate_id] = found
        self._touched.append(found)
        return cast(A, found)

    def add(self, aggregate: Aggregate) -> None:
        """Include a new aggregate in the next save."""
        self._aggregates[aggregate.id] = aggregate
        self._touched.append(aggregate)

    def trace(self, traceparent: str | None) -> None:
        """Store ``traceparent`` with the certificate events pending on the certificates read or added
        since the last call (the events of the command just decided).

        Set as an extra attribute (``EVENT_ATTRIBUTE``), not a field: the domain
        never sees it, eventsourcing's mapper stores and restores it with the
        event's state, and events stored without it still load. None (a command
        without a trace in a batch with traces) is stored as null, so that a
        later command's trace is not taken for its events.
        """
        for aggregate in self._touched:
            if not isinstance(aggregate, Certificate):
                continue  # only certificate events leave the store (the relay publishes them)
            for event in reversed(aggregate.pending_events):
                if EVENT_ATTRIBUTE in vars(event):
                    break  # this one and those before it belong to an earlier command
                object.__setattr__(event, EVENT_ATTRIBUTE, traceparent)
        self._touched.clear()

    def collect(self) -> list[Any]:
        """Take the pending events of every aggregate of the session, aggregate by aggregate."""
        return [event for aggregate in self._aggregates.values() for event in aggregate.collect_events()]


def _conflict(command: Command | Unreadable, receipt: CommandReceipt) -> Rejected:
    """The outcome of a re-used commandId whose content differs from the first command's."""
    first = receipt.outcome
    what = " ".join(str(first[k]) for k in ("status", "event", "number", "code") if first.get(k) is not None)
    return Rejected(
        command_id=command.command_id,
        code="command-id-conflict",
        message=f"commandId {command.command_id!r} was already used for a different command "
        f"(its outcome: {what}); this command was not applied: send it with a new commandId",
    )


def _reports(reports: Sequence[TestReport]) -> tuple[TestReportRef, ...]:
    return tuple(TestReportRef(r.lab, r.report_number) for r in reports)


class CertificateApplication(Application[UUID]):
    """The certificate lifecycle service: issue, suspend, ..., expire_due."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        policy: LifecyclePolicy | None = None,
        max_attempts: int = 3,
    ) -> None:
        """Build with eventsourcing ``env`` settings and the issuer's lifecycle policy."""
        super().__init__(env)
        policy = policy or LifecyclePolicy()
        if policy.record_size is None:  # one rule with the relay: never a record readers cannot read
            origin = self.env.get("CERTLIFE_ORIGIN") or DEFAULT_ORIGIN
            policy = replace(policy, record_size=certificate_record_bound(origin),
                             max_record_bytes=MAX_SIGNED_RECORD_BYTES)  # fmt: skip
        self.policy = policy
        self._cache = AggregateCache()
        self.max_attempts = max_attempts
        #: Issuer assumed by ``get_certificate``/``history`` when none is given.
        self.default_issuer = self.env.get("CERTLIFE_ISSUER")
        self._handlers: dict[str, Callable[[_Session, Any, datetime], Outcome]] = {
            "issue": self._issue,
            "suspend": self._suspend,
            "reinstate": self._reinstate,
            "renew": self._renew,
            "amend": self._amend,
            "revoke": self._revoke,
            "withdraw": self._withdraw,
            "expire-due": self._expire_due,
        }

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """eventsourcing's environment, defaulting to the faster transcoder and PostgreSQL recorder.

        Both store exactly what eventsourcing's own would (see their modules); an
        explicit ``TRANSCODER_TOPIC`` or ``APPLICATION_RECORDER_TOPIC`` still wins.
        """
        environment = super().construct_env(name, env)
        environment.setdefault("TRANSCODER_TOPIC", get_topic(OrjsonTranscoder))
        if environment.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
            environment.setdefault("APPLICATION_RECORDER_TOPIC", get_topic(CopyApplicationRecorder))
        return environment

    def construct_factory(self, env: Environment) -> InfrastructureFactory:
        """eventsourcing's factory; on PostgreSQL every new session of its pool gets certlife's
        session settings (``services/infra/pgsettings.py``) and asks for
        ``POSTGRES_TARGET_SESSION_ATTRS`` (``read-write``: the writable server of a host list)."""
        factory = super().construct_factory(env)
        if isinstance(factory, PostgresFactory):
            kwargs = factory.datastore.pool.kwargs
            if isinstance(kwargs, dict):  # read at each new connection; the pool is not open yet
                kwargs["options"] = libpq_options()  # certlife's session settings (pgsettings)
                attrs = env.get(TARGET_SESSION_ATTRS)
                if attrs:
                    kwargs["target_session_attrs"] = attrs
        return factory

    # -- public commands ---------------------------------------------------------------

    def issue(self, command: IssueCertificate, now: datetime) -> Outcome:
        """Issue a certificate."""
        return self.handle(command, now)

    def suspend(self, command: SuspendCertificate, now: datetime) -> Outcome:
        """Suspend a certificate."""
        return self.handle(command, now)

    def reinstate(self, command: ReinstateCertificate, now: datetime) -> Outcome:
        """Reinstate a suspended certificate."""
        return self.handle(command, now)

    def renew(self, command: RenewCertificate, now: datetime) -> Outcome:
        """Renew a certificate."""
        return self.handle(command, now)

    def amend(self, command: AmendCertificate, now: datetime) -> Outcome:
        """Amend a certificate."""
        return self.handle(command, now)

    def revoke(self, command: RevokeCertificate, now: datetime) -> Outcome:
        """Revoke a certificate."""
        return self.handle(command, now)

    def withdraw(self, command: WithdrawCertificate, now: datetime) -> Outcome:
        """Withdraw a certificate."""
        return self.handle(command, now)

    def expire_due(self, now: datetime, limit: int = 500, command_id: str | None = None) -> Outcome:
        """Expire up to ``limit`` due certificates (idempotent per ``command_id``,
        which defaults to ``expire-due:<now>`` at second precision)."""
        cid = command_id or f"expire-due:{format_instant(now)}"
        return self.handle(ExpireDue(command_id=cid, limit=limit), now)

    def handle(self, command: Command | Unreadable, now: datetime, trace: str | None = None) -> Outcome:
        """Handle one command (load, decide, save), retrying version conflicts.

        ``trace``, the command's W3C ``traceparent``, is stored with the events it causes.
        """
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._run([command], now, [trace])[0]
            except RecordConflictError:
                if attempt == self.max_attempts:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def handle_batch(
        self,
        commands: Sequence[Command | Unreadable],
        now: datetime,
        traces: Sequence[str | None] | None = None,
    ) -> list[Outcome]:
        """Handle commands in order and save everything in one ``save()``.

        On a version conflict the batch is re-run once from fresh state; if it
        conflicts again the commands are handled one at a time. Outcomes are in
        input order. ``traces`` (one per command, or None) are the commands'
        W3C ``traceparent`` values, stored with the events each causes.
        """
        if not commands:
            return []
        traced = list(traces) if traces is not None else [None] * len(commands)
        for _ in range(2):
            try:
                return self._run(commands, now, traced)
            except RecordConflictError:
                continue
        return [self.handle(command, now, trace) for command, trace in zip(commands, traced, strict=True)]

    # -- queries ------------------------------------------------------------------------

    def get_certificate(self, number: str, issuer: str | None = None) -> Certificate:
        """Return the current certificate or raise ``CertificateNotFound``."""
        issuer = self._issuer(issuer)
        try:
            return cast(Certificate, self.repository.get(Certificate.create_id(issuer, number)))
        except AggregateNotFoundError:
            raise CertificateNotFound(issuer, number) from None

    def history(self, number: str, issuer: str | None = None) -> list[Certificate.Event]:
        """Return the certificate's lifecycle events, oldest first."""
        issuer = self._issuer(issuer)
        events = [
            e
            for e in self.events.get(Certificate.create_id(issuer, number))
            if isinstance(e, Certificate.Event)
        ]
        if not events:
            raise CertificateNotFound(issuer, number)
        return events

    def _issuer(self, issuer: str | None) -> str:
        if issuer is None:
            if not self.default_issuer:
                raise ValueError("no issuer given and CERTLIFE_ISSUER is not configured")
            return self.default_issuer
        return issuer

    # -- the unit of work ----------------------------------------------------------------

    def decide_batch(
        self,
        commands: Sequence[Command | Unreadable],
        now: datetime,
        traces: Sequence[str | None],
        ahead: Decided | None = None,
    ) -> Decided:
        """Decide ``commands`` in order without storing anything: their outcomes and encoded events.

        For one decider at a time (the command service's worker): the
        aggregates the batch changed are kept in the aggregate cache as
        decided, so the batch decided next (while :meth:`commit` stores this
        one in another thread) builds on them; that batch is given this one as
        ``ahead``, whose aggregates it reads before the store's and the cache's
        (the receipts it created; any the cache no longer holds). Its events may be stored only
        if this batch's were: when a :meth:`commit` fails, call :meth:`forget`
        and decide again everything decided after it.
        """
        decided = self._decided(commands, now, traces, ahead)
        self._cache.keep(decided.aggregates)
        return decided

    def _decided(
        self,
        commands: Sequence[Command | Unreadable],
        now: datetime,
        traces: Sequence[str | None],
        ahead: Decided | None,
    ) -> Decided:
        now = instant(now)  # once, not in every decision (the domain's ``instant`` keeps it as is)
        session = _Session(self, self._cache, ahead)
        try:
            # One query for all the batch reads (also for one command: it replaces up to four).
            session.preload(self._receipt_ids_of(commands), self._cached_ids_of(commands))
            traced = any(trace is not None for trace in traces)
            outcomes = []
            for command, trace in zip(commands, traces, strict=True):
                outcomes.append(self._decide(session, command, now))
                if traced:
                    session.trace(trace)
            stored = [self.mapper.to_stored_event(event) for event in session.collect()]
        except BaseException:
            # Cached aggregates may hold events that were never saved.
            self._cache.clear()
            raise
        return Decided(outcomes, stored, session.aggregates)

    def commit(self, decided: Decided) -> None:
        """Store a decided batch's events in one transaction (a ``RecordConflictError`` when another
        writer stored an event of the same version first). Touches no aggregate: it may run in
        another thread while the next batch is decided."""
        if decided.stored_events:
            self.recorder.insert_events(decided.stored_events)

    def forget(self) -> None:
        """Drop the cached aggregates (after a failed :meth:`commit`: they hold events never stored)."""
        self._cache.clear()

    def _run(
        self, commands: Sequence[Command | Unreadable], now: datetime, traces: Sequence[str | None]
    ) -> list[Outcome]:
        decided = self._decided(commands, now, traces, None)
        try:
            self.commit(decided)
        except BaseException:
            self.forget()
            raise
        self._cache.keep(decided.aggregates)  # as stored (``decide_batch`` keeps them as decided instead)
        return decided.outcomes

    @staticmethod
    def _receipt_ids_of(commands: Sequence[Command | Unreadable]) -> list[UUID]:
        return [CommandReceipt.create_id(c.command_id) for c in commands]

    @staticmethod
    def _cached_ids_of(commands: Sequence[Command | Unreadable]) -> set[UUID]:
        """The certificates and expiry index aggregates the commands will read (see ``_schedule_expiry``)."""
        ids = {ExpirySchedule.ID}
        for c in commands:
            if isinstance(c, CertificateCommand):
                ids.add(Certificate.create_id(c.issuer, c.number))
            if isinstance(c, IssueCertificate | RenewCertificate):
                ids.add(ExpiryBucket.create_id(instant(c.valid_until).date().isoformat()))
        return ids

    def _decide(self, session: _Session, command: Command | Unreadable, now: datetime) -> Outcome:
        receipt_id = CommandReceipt.create_id(command.command_id)
        receipt = session.get(receipt_id, CommandReceipt)
        digest = command.digest if isinstance(command, Unreadable) else command_digest(command)
        if receipt is not None:
            if receipt.conflicts_with(digest):
                return _conflict(command, receipt)
            return outcome_from_wire(receipt.outcome)
        if isinstance(command, Unreadable):
            session.add(
                CommandReceipt.record(command.command_id, command.rejected.to_wire(), instant(now), digest)
            )
            return command.rejected
        outcome: Outcome
        try:
            self._check_issuer(command)
            outcome = self._handlers[command.type](session, command, now)
        except CertificateError as e:
            outcome = Rejected(command_id=command.command_id, code=e.code, message=str(e))
        session.add(CommandReceipt.record(command.command_id, outcome.to_wire(), instant(now), digest))
        return outcome

    def _check_issuer(self, command: Command) -> None:
        """A log belongs to one issuer: refuse commands for any other (when one is configured)."""
        issuer = getattr(command, "issuer", None)
        if issuer is not None and self.default_issuer and issuer != self.default_issuer:
            raise UnknownIssuer(issuer, self.default_issuer)

    def _load(self, session: _Session, issuer: str, number: str) -> Certificate:
        cert = session.get(Certificate.create_id(issuer, number), Certificate)
        if cert is None:
            raise CertificateNotFound(issuer, number)
        return cert

    def _schedule_expiry(self, session: _Session, cert: Certificate, now: datetime) -> None:
        day = cert.data.valid_until.date()
        bucket = session.get(ExpiryBucket.create_id(day.isoformat()), ExpiryBucket)
        if bucket is None:
            bucket = ExpiryBucket.open(day, instant(now))
            session.add(bucket)
        # Re-adding is a no-op unless the day was swept already (a clock set back).
        schedule = session.get(ExpirySchedule.ID, ExpirySchedule)
        if schedule is None:
            schedule = ExpirySchedule.start(instant(now))
            session.add(schedule)
        schedule.add_day(day, instant(now))
        bucket.schedule(cert.id, instant(now))

    @staticmethod
    def _accepted(command: Command, cert: Certificate, event: LifecycleEvent) -> Accepted:
        return Accepted(
            command_id=command.command_id,
            certificate_id=str(cert.id),
            number=cert.data.number,
            version=cert.version,
            event=event.value,
        )

    # -- handlers: load, decide (domain), collect --------------------------------------------

    def _issue(self, session: _Session, c: IssueCertificate, now: datetime) -> Outcome:
        existing = session.get(Certificate.create_id(c.issuer, c.number), Certificate)
        if existing is not None:
            next_status(existing.status, LifecycleEvent.ISSUED)  # raises InvalidTransition
        data = CertificateData(
            number=c.number,
            scheme=c.scheme,
            holder=c.holder,
            manufacturer=c.manufacturer,
            factories=tuple(c.factories),
            product=c.product,
            models=tuple(c.models),
            standards=tuple(c.standards),
            scope=c.scope,
            validity=ValidityPeriod(c.valid_from, c.valid_until),
        )
        cert = Certificate.issue(
            issuer=c.issuer,
            data=data,
            test_reports=_reports(c.test_reports),
            command_id=c.command_id,
            now=now,
            policy=self.policy,
            effective_at=c.effective_at,
        )
        session.add(cert)
        self._schedule_expiry(session, cert, now)
        return self._accepted(c, cert, LifecycleEvent.ISSUED)

    def _change(
        self,
        session: _Session,
        c: SuspendCertificate | ReinstateCertificate | RevokeCertificate | WithdrawCertificate,
        now: datetime,
        decide: Callable[..., None],
        event: LifecycleEvent,
        **extra: Any,
    ) -> Outcome:
        """Load, apply one status change with the command's reason and times, accept."""
        cert = self._load(session, c.issuer, c.number)
        decide(
            cert,
            reason=c.reason,
            command_id=c.command_id,
            now=now,
            policy=self.policy,
            effective_at=c.effective_at,
            **extra,
        )
        return self._accepted(c, cert, event)

    def _suspend(self, session: _Session, c: SuspendCertificate, now: datetime) -> Outcome:
        return self._change(
            session, c, now, Certificate.suspend, LifecycleEvent.SUSPENDED, review_date=c.review_date
        )

    def _reinstate(self, session: _Session, c: ReinstateCertificate, now: datetime) -> Outcome:
        return self._change(session, c, now, Certificate.reinstate, LifecycleEvent.REINSTATED)

    def _renew(self, session: _Session, c: RenewCertificate, now: datetime) -> Outcome:
        cert = self._load(session, c.issuer, c.number)
        validity = ValidityPeriod(c.valid_from, c.valid_until)
        cert.renew(
            validity=validity,
            reason=c.reason,
            command_id=c.command_id,
            now=now,
            policy=self.policy,
            effective_at=c.effective_at,
        )
        self._schedule_expiry(session, cert, now)
        return self._accepted(c, cert, LifecycleEvent.RENEWED)

    def _amend(self, session: _Session, c: AmendCertificate, now: datetime) -> Outcome:
        cert = self._load(session, c.issuer, c.number)
        amendment = Amendment(
            scope=c.scope,
            models=None if c.models is None else tuple(c.models),
            factories=None if c.factories is None else tuple(c.factories),
            standards=None if c.standards is None else tuple(c.standards),
        )
        cert.amend(
            amendment=amendment,
            test_reports=None if c.test_reports is None else _reports(c.test_reports),
            reason=c.reason,
            command_id=c.command_id,
            now=now,
            policy=self.policy,
            effective_at=c.effective_at,
        )
        return self._accepted(c, cert, LifecycleEvent.AMENDED)

    def _revoke(self, session: _Session, c: RevokeCertificate, now: datetime) -> Outcome:
        return self._change(session, c, now, Certificate.revoke, LifecycleEvent.REVOKED)

    def _withdraw(self, session: _Session, c: WithdrawCertificate, now: datetime) -> Outcome:
        return self._change(session, c, now, Certificate.withdraw, LifecycleEvent.WITHDRAWN)

    def _expire_due(self, session: _Session, c: ExpireDue, now: datetime) -> Outcome:
        expired: list[str] = []
        schedule = session.get(ExpirySchedule.ID, ExpirySchedule)
        days = [] if schedule is None else schedule.days_until(instant(now).date())
        for day in days:
            complete = self._sweep_day(session, day, c, now, expired)
            day_end = datetime.combine(date.fromisoformat(day), time(), UTC) + timedelta(1)
            if complete and day_end <= instant(now):
                assert schedule is not None
                schedule.mark_swept(day, instant(now))
            if not complete:
                break
        return Accepted(
            command_id=c.command_id,
            certificate_id=None,
            number=None,
            version=None,
            event=LifecycleEvent.EXPIRED.value,
            expired=expired,
        )

    def _sweep_day(
        self, session: _Session, day: str, c: ExpireDue, now: datetime, expired: list[str]
    ) -> bool:
        """Expire the day's due certificates; False when ``limit`` stopped the sweep."""
        bucket = session.get(ExpiryBucket.create_id(day), ExpiryBucket)
        for cert_id in [] if bucket is None else bucket.certificate_ids:
            cert = session.get(cert_id, Certificate)
            if cert is None or not cert.is_due(now):
                continue  # renewed since, final, or due later today
            if len(expired) >= c.limit:
                return False
            cert.expire(command_id=c.command_id, now=now)
            expired.append(cert.data.number)
        return True
