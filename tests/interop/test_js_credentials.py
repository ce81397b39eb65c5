"""certlife credentials against a JavaScript implementation nobody here wrote (issue 14).

Digital Bazaar's ``@digitalbazaar/vc`` 7.3.0 with ``data-integrity`` 2.5.0, the
``eddsa-jcs-2022`` cryptosuite 1.0.0, ``ed25519-multikey`` and ``vc-bitstring-status-list``
2.0.1 (versions pinned in tests/interop/js/package-lock.json), run by Node with a local
document loader (tests/interop/js/interop.mjs: contexts from npm packages, the controller
document and the status lists from files; no network at verification time).

Both directions: JS verifies certlife's credentials and status list credentials (and reads
revoked / suspended bits), and a credential JS signs verifies with certlife's
``verify_document`` (and equals certlife's own signature byte for byte: Ed25519 is
deterministic). The packages are installed with ``npm ci`` once per package-lock into
``$CERTLIFE_HOME/interop-js/<hash>/``, outside the repository; without Node, npm or the
npm registry on a cold cache the tests fail (they never skip).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from certlife.contracts.canonical import canonical_bytes
from certlife.contracts.credentials.check import check_credential_against_record, parse_credential
from certlife.contracts.credentials.controller import controller_document
from certlife.contracts.credentials.dcc import credential_document
from certlife.contracts.credentials.errors import CredentialError
from certlife.contracts.credentials.ids import issuer_id, status_list_id, verification_method
from certlife.contracts.credentials.multikey import multikey, secret_multikey
from certlife.contracts.credentials.proof import verify_document
from certlife.contracts.records import RecordSigner, parse_record
from certlife.contracts.trust import TrustedKey
from tests.unit.credential_helpers import CREATED, bits_of, credential_of, small_log, status_list_of
from tests.unit.logbuilder import LogBuilder, private_key

pytestmark = pytest.mark.integration

JS_DIR = Path(__file__).parent / "js"
JS_FILES = ("package.json", "package-lock.json", "interop.mjs")
#: The instant the JS side checks validity at: inside every credential's validity period.
NOW = "2026-06-01T00:00:00Z"
KEY_LABEL = "js-interop-credential-key"
Job = Callable[[dict[str, Any]], dict[str, Any]]


class NodeUnavailable(RuntimeError):
    """Node, npm or the npm packages the JS side needs are not available."""


def _cache_root() -> Path:
    home = Path(os.environ.get("CERTLIFE_HOME") or Path.home() / ".cache" / "certlife").expanduser()
    return home / "interop-js"


def install() -> Path:
    """Return a directory holding interop.mjs and its node_modules, installing once per source state."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise NodeUnavailable("Node.js and npm must be on PATH to run tests/interop/test_js_credentials.py")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    digest = hashlib.sha256(version.encode())
    for name in JS_FILES:
        digest.update(name.encode() + b"\0" + (JS_DIR / name).read_bytes() + b"\0")
    target = _cache_root() / digest.hexdigest()[:16]
    if (target / ".complete").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".install-", dir=target.parent))
    for name in JS_FILES:
        shutil.copyfile(JS_DIR / name, staging / name)
    try:
        run = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=staging,
            capture_output=True,
            text=True,
            timeout=600,
        )
        returncode, output = run.returncode, run.stderr + run.stdout
    except subprocess.TimeoutExpired:
        returncode, output = -1, "npm ci did not finish within 600 s"
    if returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = " | ".join(output.strip().splitlines()[-6:])
        raise NodeUnavailable(
            f"npm ci for tests/interop/js failed (a cold cache needs the npm registry): {tail}"
        )
    (staging / ".complete").write_text("ok\n")
    try:
        staging.rename(target)
    except OSError:  # another session installed it meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    for old in target.parent.iterdir():  # only the newest install is kept
        if old != target and re.fullmatch(r"[0-9a-f]{16}", old.name):
            shutil.rmtree(old, ignore_errors=True)
    return target


@pytest.fixture(scope="module")
def js(tmp_path_factory: pytest.TempPathFactory) -> Job:
    """Run one job of interop.mjs (see its header) and return its JSON answer."""
    try:
        directory = install()
    except NodeUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    work = tmp_path_factory.mktemp("js-jobs")

    def run(job: dict[str, Any]) -> dict[str, Any]:
        path = work / "job.json"
        path.write_text(json.dumps({"now": NOW, **job}))
        done = subprocess.run(
            ["node", str(directory / "interop.mjs"), str(path)], capture_output=True, text=True, timeout=120
        )
        assert done.stdout.strip(), f"interop.mjs printed nothing: {done.stderr[-2000:]}"
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer

    return run


def _signer() -> RecordSigner:
    return RecordSigner(private_key(KEY_LABEL))


class Published:
    """A log's credential files as a verifier would fetch them (controller document, both lists)."""

    def __init__(self, directory: Path, log: LogBuilder, signer: RecordSigner, listed: RecordSigner) -> None:
        self.directory, self.log, self.signer = directory, log, signer
        self.documents = {issuer_id(log.origin): self.write("issuer.json", self.controller(listed))}
        for purpose in ("revocation", "suspension"):
            raw = status_list_of(log, purpose, signer)
            self.documents[status_list_id(log.origin, purpose)] = self.write(f"{purpose}.json", raw)

    def controller(self, listed: RecordSigner) -> bytes:
        """The controller document of the log, listing only ``listed``."""
        return controller_document(self.log.origin, [TrustedKey(listed.key_id, listed.public_raw)])

    def write(self, name: str, raw: bytes) -> str:
        """Write ``raw`` as ``name`` and return its path."""
        path = self.directory / name
        path.write_bytes(raw)
        return str(path)

    def verify(self, js: Job, raw: bytes, check_status: bool = True) -> dict[str, Any]:
        """Ask JS to verify the credential ``raw`` (and read its status bits)."""
        job = {"action": "verify", "documents": self.documents, "checkStatus": check_status}
        return js({**job, "credential": self.write("credential.json", raw)})


@pytest.fixture
def published(tmp_path: Path) -> Published:
    return Published(tmp_path, small_log(), _signer(), _signer())


def test_js_verifies_certlife_credentials_and_reads_their_status(js: Job, published: Published) -> None:
    log, signer = published.log, published.signer
    valid = published.verify(js, credential_of(log, 5, signer))  # C-2 after its amendment
    assert valid == {"verified": True, "error": None, "statuses": {"revocation": False, "suspension": False}}
    revoked = published.verify(js, credential_of(log, 0, signer, log_size=1))  # C-0 as issued, since revoked
    assert revoked["verified"] is True and revoked["statuses"] == {"revocation": True, "suspension": False}
    suspended = published.verify(js, credential_of(log, 1, signer, log_size=2))
    assert suspended["verified"] is True and suspended["statuses"] == {
        "revocation": False,
        "suspension": True,
    }


def test_js_verifies_certlife_status_list_credentials(js: Job, published: Published) -> None:
    for purpose in ("revocation", "suspension"):
        answer = published.verify(
            js, status_list_of(published.log, purpose, published.signer), check_status=False
        )
        assert answer == {"verified": True, "error": None, "statuses": {}}, purpose


def test_js_refuses_a_tampered_credential_a_tampered_list_and_an_unlisted_key(
    js: Job, published: Published, tmp_path: Path
) -> None:
    log, signer = published.log, published.signer
    doc = json.loads(credential_of(log, 5, signer))
    doc["credentialSubject"]["scope"] = "everything"
    tampered = published.verify(js, canonical_bytes(doc))
    assert tampered["verified"] is False and "signature" in tampered["error"].lower()

    flipped = json.loads(status_list_of(log, "revocation", signer))
    flipped["credentialSubject"]["encodedList"] = json.loads(
        status_list_of(small_log(), "suspension", signer)
    )["credentialSubject"]["encodedList"]
    published.documents[status_list_id(log.origin, "revocation")] = published.write(
        "revocation.json", canonical_bytes(flipped)
    )
    answer = published.verify(js, credential_of(log, 5, signer))
    assert answer["verified"] is False and "not verified" in answer["error"], answer

    stranger = Published(tmp_path, log, signer, listed=RecordSigner(private_key("some-other-credential-key")))
    unlisted = stranger.verify(js, credential_of(log, 5, signer))
    assert unlisted["verified"] is False and "not available offline" in unlisted["error"], unlisted

    controller = json.loads(published.controller(signer))
    controller["assertionMethod"] = []  # the key is the issuer's, but not for issuing credentials
    published.documents[issuer_id(log.origin)] = published.write("issuer.json", canonical_bytes(controller))
    published.documents[status_list_id(log.origin, "revocation")] = published.write(
        "revocation.json", status_list_of(log, "revocation", signer)
    )
    unauthorized = published.verify(js, credential_of(log, 5, signer))
    assert unauthorized["verified"] is False and "not authorized" in unauthorized["error"], unauthorized


def test_a_credential_js_signs_verifies_with_certlife(js: Job, published: Published) -> None:
    log, signer = published.log, published.signer
    record = parse_record(log.records[5])
    list_index = bits_of(log).index_of("C-2")
    assert list_index == 2
    unsigned = credential_document(record, log.records[5], list_index, len(log.records))
    seed = hashlib.sha256(KEY_LABEL.encode()).digest()  # tests/unit/logbuilder.private_key
    answer = js(
        {
            "action": "sign",
            "documents": published.documents,
            "credential": published.write("unsigned.json", canonical_bytes(unsigned)),
            "publicKeyMultibase": multikey(signer.public_raw),
            "secretKeyMultibase": secret_multikey(seed),
            "verificationMethod": verification_method(log.origin, signer.key_id),
            "controller": issuer_id(log.origin),
            "created": CREATED,
        }
    )
    assert "signed" in answer, answer
    signed_raw = json.dumps(answer["signed"], indent=1).encode()  # any layout: the proof is over JCS
    credential = parse_credential(signed_raw)
    verify_document(credential.document, signer.public_raw)
    check_credential_against_record(credential, log.records[5], list_index)
    assert canonical_bytes(credential.document) == credential_of(log, 5, signer)  # same bytes as ours

    answer["signed"]["validUntil"] = "2099-01-01T00:00:00Z"
    with pytest.raises(CredentialError) as caught:
        verify_document(answer["signed"], signer.public_raw)
    assert caught.value.code == "credential-signature"


def test_without_node_the_install_fails_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NodeUnavailable, match=r"Node\.js and npm must be on PATH"):
        install()
