"""One exception base with stable codes; each CLI turns any of them into one line and its exit status.

Every exception class defined in certlife's four packages derives from
``CertlifeError`` and names its own, unique ``code``; the codes already
released are pinned. ``certctl`` and ``certverify`` catch the base once, at
their entry point, and map it through ``certlife.services.cli.exits``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import logging
import pkgutil
import re
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest

from certlife.contracts.admission import AdmissionError
from certlife.contracts.commands import CommandError
from certlife.contracts.errors import ContractError, TrustError
from certlife.contracts.verification.failures import VerificationError, fail
from certlife.domain.errors import CertificateError, CertificateNotFound, CertlifeError, InvalidTransition
from certlife.projections.errors import ProjectionError, RebuildBusy
from certlife.services.cli import certctl, exits, serve_cmd
from certlife.services.cli.base import CliError, run_guarded
from certlife.services.demo.fixturegen.signing import SigningError
from certlife.services.demo.fixtures import FixtureError
from certlife.services.infra.stack.errors import StackError
from certlife.services.partner import certverify
from certlife.services.partner import commands as certverify_commands
from certlife.services.partner.bundles import BundleError
from certlife.services.partner.export import ExportError
from certlife.services.partner.inputs import SourceError
from certlife.services.relay.keystore import KeyStoreError
from certlife.services.relay.records import ChainBroken, RelayRefused

pytestmark = pytest.mark.unit

LAYERS = ("domain", "contracts", "projections", "services")
CODE = re.compile(r"[a-z]+(-[a-z]+)*")

#: Codes already released, by class: they never change (new classes add a line).
RELEASED_CODES = {
    "certlife.services.infra.connections.EndpointUnreachable": "endpoint-unreachable",
    "certlife.domain.errors.CertlifeError": "certlife-error",
    "certlife.domain.errors.CertificateError": "certificate-error",
    "certlife.domain.errors.InvalidTransition": "invalid-transition",
    "certlife.domain.errors.CertificateNotFound": "certificate-not-found",
    "certlife.domain.errors.UnknownIssuer": "unknown-issuer",
    "certlife.domain.errors.InvalidCertificateData": "invalid-certificate-data",
    "certlife.domain.errors.RenewalGraceExpired": "renewal-grace-expired",
    "certlife.domain.errors.NotYetDue": "not-yet-due",
    "certlife.domain.errors.BackdatingTooFar": "backdating-too-far",
    "certlife.domain.errors.EffectiveInFuture": "effective-in-future",
    "certlife.contracts.errors.ContractError": "contract-error",
    "certlife.contracts.errors.CanonicalError": "not-canonical",
    "certlife.contracts.errors.RecordFormatError": "record-format",
    "certlife.contracts.errors.SignatureError": "bad-signature",
    "certlife.contracts.errors.ProofError": "proof",
    "certlife.contracts.errors.NoteError": "note",
    "certlife.contracts.errors.TrustError": "trust",
    "certlife.contracts.admission.AdmissionError": "inadmissible-text",
    "certlife.contracts.commands.CommandError": "command-invalid",
    "certlife.contracts.verification.failures.VerificationError": "verification-failed",
    "certlife.projections.errors.ProjectionError": "projection-error",
    "certlife.projections.errors.UnknownProjection": "unknown-projection",
    "certlife.projections.errors.RebuildBusy": "rebuild-busy",
    "certlife.projections.errors.LogGap": "log-gap",
    "certlife.services.cli.base.CliError": "cli-error",
    "certlife.services.infra.stack.errors.StackError": "stack",
    "certlife.services.relay.keystore.KeyStoreError": "keystore",
    "certlife.services.relay.records.RelayRefused": "relay-refused",
    "certlife.services.relay.records.ChainBroken": "chain-broken",
    "certlife.services.relay.records.InadmissibleEvent": "inadmissible-event",
    "certlife.services.partner.inputs.SourceError": "input",
    "certlife.services.partner.export.ExportError": "export",
    "certlife.services.partner.bundles.BundleError": "bundle",
    "certlife.services.demo.fixtures.FixtureError": "fixture",
    "certlife.services.demo.fixturegen.signing.SigningError": "fixture-signing",
}


def _modules() -> Iterator[str]:
    for layer in LAYERS:
        package = importlib.import_module(f"certlife.{layer}")
        yield package.__name__
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            yield info.name


def _exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined at module level in certlife's packages, by qualified name."""
    found: dict[str, type[BaseException]] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == name:
                found[f"{name}.{value.__qualname__}"] = value
    return found


EXCEPTIONS = _exception_classes()


def _bare(cls: type[BaseException], message: str) -> CertlifeError:
    """An instance of ``cls`` carrying only ``message`` (whatever its constructor wants)."""
    error = cls.__new__(cls, message)
    assert isinstance(error, CertlifeError)
    return error


def test_discovery_sees_every_layer() -> None:
    layers = {name.split(".")[1] for name in EXCEPTIONS}
    assert layers == set(LAYERS) and len(EXCEPTIONS) >= len(RELEASED_CODES)


def test_every_exception_class_derives_from_the_one_base() -> None:
    outside = [name for name, cls in EXCEPTIONS.items() if not issubclass(cls, CertlifeError)]
    assert outside == [], "exceptions not derived from CertlifeError: " + ", ".join(outside)


def test_every_exception_class_names_its_own_code() -> None:
    missing = [name for name, cls in EXCEPTIONS.items() if not CODE.fullmatch(str(vars(cls).get("code", "")))]
    assert missing == [], "classes without a code of their own (kebab-case): " + ", ".join(missing)


def test_codes_are_unique_per_class() -> None:
    by_code: dict[str, list[str]] = {}
    for name, cls in EXCEPTIONS.items():
        by_code.setdefault(str(vars(cls).get("code")), []).append(name)
    shared = {code: names for code, names in by_code.items() if len(names) > 1}
    assert shared == {}


def test_released_codes_never_change() -> None:
    now = {
        name: vars(EXCEPTIONS[name]).get("code") if name in EXCEPTIONS else None for name in RELEASED_CODES
    }
    assert now == RELEASED_CODES


def test_an_instance_may_carry_a_more_specific_code() -> None:
    error = CertlifeError("boom", code="specific")
    assert (error.code, CertlifeError.code, str(error)) == ("specific", "certlife-error", "boom")
    assert ContractError("bad", code="malformed-trust").code == "malformed-trust"
    assert TrustError("bad").code == "trust"

    class Keyword(CertlifeError, code="by-keyword"):
        """A code given as a class keyword."""

    assert Keyword.code == "by-keyword" and Keyword("x").code == "by-keyword"


def test_exit_status_table_names_only_existing_families() -> None:
    codes = {vars(cls).get("code") for cls in EXCEPTIONS.values()}
    assert set(exits.EXIT_STATUS) <= codes


def test_exit_statuses_are_distinct_names() -> None:
    statuses = {name: value for name, value in vars(exits).items() if name.startswith("EXIT_")}
    statuses.pop("EXIT_STATUS")
    assert statuses == {
        "EXIT_OK": 0,
        "EXIT_FAILED": 1,
        "EXIT_USAGE": 2,
        "EXIT_BATCH_FAILED": 3,
        "EXIT_LOCK_LOST": 4,
        "EXIT_ENDPOINT_LOST": 5,
        "EXIT_INTERRUPTED": 130,
    }


def test_exit_status_follows_the_family_not_the_instance_code() -> None:
    class Unreadable(SourceError):
        """A subclass with a code of its own that the table does not list."""

        code = "unreadable"

    assert exits.exit_status(Unreadable("x")) == exits.EXIT_USAGE
    # A verification failure's own code ("bad-signature") does not change its family.
    assert exits.exit_status(fail("bad-signature", "x")) == exits.EXIT_FAILED
    assert exits.exit_status(CliError("x", exits.EXIT_FAILED)) == exits.EXIT_FAILED


# A representative error of each family and the status each CLI exits with.
FAMILIES: list[tuple[Callable[[], CertlifeError], int]] = [
    (lambda: CliError("--from-index must be between 0 and the log size (3)"), 2),
    (lambda: CliError("cannot reach PostgreSQL", exits.EXIT_FAILED), 1),
    (lambda: StackError("port 9092 is already in use: set CERTLIFE_KAFKA_PORT"), 1),
    (lambda: KeyStoreError("wrong passphrase for the record key"), 1),
    (lambda: SourceError("x.json: trust file not found"), 2),
    (lambda: ExportError("export: log.jsonl missing"), 2),
    (lambda: FixtureError("--certificates must be positive"), 2),
    (lambda: BundleError("certificate C-1 is not in this export"), 1),
    (lambda: SigningError("a signing worker died"), 1),
    (lambda: CertificateNotFound("cqc.example", "C-1"), 1),
    (lambda: InvalidTransition("revoked", "renewed"), 1),
    (lambda: CertificateError("lifecycle rule"), 1),
    (lambda: ContractError("wire format"), 1),
    (lambda: TrustError("key 0011 unknown"), 1),
    (lambda: CommandError("not JSON", code="not-json"), 2),
    (lambda: AdmissionError("NUMBER holds U+0007"), 2),
    (lambda: ProjectionError("read model"), 1),
    (lambda: RebuildBusy("a rebuild of status is already running"), 1),
    (lambda: RelayRefused("publishing would fork"), 1),
    (lambda: ChainBroken("chain heads disagree"), 1),
    (lambda: fail("bad-signature", "signature does not verify"), 1),
]


def _raiser(error: BaseException) -> Callable[[argparse.Namespace], NoReturn]:
    def handler(args: argparse.Namespace) -> NoReturn:
        raise error

    return handler


def _certctl(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> int:
    """``certctl serve relay`` with a handler that raises ``error``; the status it exits with."""
    monkeypatch.setattr(serve_cmd, "run", _raiser(error))
    with pytest.raises(SystemExit) as exited:
        certctl.main(["serve", "relay"])
    return int(exited.value.code or 0)


def _certverify(monkeypatch: pytest.MonkeyPatch, error: BaseException, *extra: str) -> int:
    """``certverify record`` with a handler that raises ``error``; the status it returns."""
    monkeypatch.setitem(certverify_commands.HANDLERS, "record", _raiser(error))
    return certverify.main(["record", "r.json", "--trust", "trust.json", *extra])


@pytest.mark.parametrize(("make", "status"), FAMILIES)
def test_certctl_prints_one_line_and_the_family_status(
    make: Callable[[], CertlifeError],
    status: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = make()
    assert _certctl(monkeypatch, error) == status
    out, err = capsys.readouterr()
    assert out == "" and err == f"certctl: error: {error}\n"


@pytest.mark.parametrize(
    ("make", "status"), [f for f in FAMILIES if not isinstance(f[0](), VerificationError)]
)
def test_certverify_prints_one_line_and_the_family_status(
    make: Callable[[], CertlifeError],
    status: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = make()
    assert _certverify(monkeypatch, error) == status
    out, err = capsys.readouterr()
    assert out == "" and err == f"certverify: error: {error}\n"
    assert _certverify(monkeypatch, error, "--json") == status
    out, err = capsys.readouterr()
    assert json.loads(out) == {"ok": False, "error": {"code": error.code, "message": str(error)}}
    assert err == f"certverify: error: {error}\n"


def test_certverify_prints_the_report_of_a_failed_verification(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _certverify(monkeypatch, fail("bad-signature", "signature does not verify"), "--json") == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert err == "" and report["ok"] is False and report["failure"]["code"] == "bad-signature"


@pytest.mark.parametrize("name", sorted(EXCEPTIONS))
def test_every_error_class_is_one_line_in_both_clis(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    error = _bare(EXCEPTIONS[name], "it went wrong")
    assert _certctl(monkeypatch, error) in (exits.EXIT_FAILED, exits.EXIT_USAGE)
    assert capsys.readouterr() == ("", "certctl: error: it went wrong\n")
    if not isinstance(error, VerificationError):  # a verification failure prints its report
        assert _certverify(monkeypatch, error) in (exits.EXIT_FAILED, exits.EXIT_USAGE)
        assert capsys.readouterr() == ("", "certverify: error: it went wrong\n")


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ZeroDivisionError):
        _certverify(monkeypatch, ZeroDivisionError("bug"))
    monkeypatch.setattr(serve_cmd, "run", _raiser(ZeroDivisionError("bug")))
    with pytest.raises(ZeroDivisionError):
        certctl.main(["serve", "relay"])


def test_ctrl_c_is_one_line_and_status_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _certverify(monkeypatch, KeyboardInterrupt()) == exits.EXIT_INTERRUPTED
    assert capsys.readouterr().err == "certverify: interrupted\n"
    monkeypatch.setattr(serve_cmd, "run", _raiser(KeyboardInterrupt()))
    assert certctl.main(["serve", "relay"]) == exits.EXIT_INTERRUPTED
    assert capsys.readouterr().err == "certctl: interrupted\n"


def test_run_guarded_returns_or_exits_as_asked(capsys: pytest.CaptureFixture[str]) -> None:
    def broken() -> int:
        raise SourceError("gone")

    assert run_guarded("tool", broken, exit_on_error=False) == exits.EXIT_USAGE
    with pytest.raises(SystemExit) as exited:
        run_guarded("tool", broken)
    assert exited.value.code == exits.EXIT_USAGE
    assert capsys.readouterr().err == "tool: error: gone\n" * 2


class _Exited(Exception):
    """Stands in for ``os._exit`` so that the test process survives it."""


def _record_exit(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[int]:
    codes: list[int] = []

    def fake_exit(code: int) -> NoReturn:
        codes.append(code)
        raise _Exited

    monkeypatch.setattr(module.os, "_exit", fake_exit)
    monkeypatch.setattr(logging, "shutdown", lambda: None)
    return codes


def test_the_command_service_exits_with_the_named_statuses(monkeypatch: pytest.MonkeyPatch) -> None:
    from certlife.services.commands import service

    codes = _record_exit(monkeypatch, serve_cmd)
    with pytest.raises(_Exited):
        serve_cmd._lock_lost("the session ended")
    with pytest.raises(_Exited):
        service._failed("storing", 3, service._RETRIES)
    assert codes == [exits.EXIT_LOCK_LOST, exits.EXIT_BATCH_FAILED]


@pytest.mark.parametrize(("module", "extra"), [("eventsourcing", "service"), ("asyncpg", "mirror")])
def test_a_missing_optional_dependency_names_the_extra(
    module: str, extra: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from certlife.services.cli.base import run_guarded

    def handler() -> int:
        raise ModuleNotFoundError(f"No module named '{module}'", name=module)

    assert run_guarded("certctl", handler, exit_on_error=False) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"certctl: error: this command needs {module}, which is not installed: pip install 'certlife[{extra}]'\n"
    )


def test_a_missing_module_that_is_not_optional_keeps_its_traceback() -> None:
    from certlife.services.cli.base import run_guarded

    def handler() -> int:
        raise ModuleNotFoundError("No module named 'nosuchthing'", name="nosuchthing")

    with pytest.raises(ModuleNotFoundError):
        run_guarded("certctl", handler, exit_on_error=False)
