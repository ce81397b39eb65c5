"""C2SP tlog-policy: which logs and witnesses a verifier trusts, and the quorum of cosignatures.

A policy is line based (contracts/LOG.md §9.6)::

    log <vkey> [<url>]                      # an Ed25519 note key (type 0x01)
    witness <name> <vkey> [<url>]           # a cosignature/v1 key (type 0x04)
    group <name> all|any|<k> <name>...      # k of the n members witnessed
    quorum <name>|none                      # exactly one

Items are separated by spaces and tabs; blank and ``#`` comment lines are
ignored; names (witnesses and groups share one namespace; ``none`` is
reserved) are defined once, and a group or the quorum names only what
preceding lines defined. A malformed policy raises :class:`PolicyError`
(``malformed-policy``) naming the line. :meth:`WitnessPolicy.evaluate` checks
the cosignature lines of a signed checkpoint note: lines of unknown keys are
ignored; an invalid cosignature by a known witness does not count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from certlife.contracts.cosignature import CosignatureVerifier
from certlife.contracts.errors import ContractError
from certlife.contracts.notes import NoteVerifier, SignatureLine, note_signatures

#: More than the 32 logs, witnesses and groups the spec recommends supporting.
MAX_ENTRIES = 256
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_WS = re.compile(r"[ \t]+")


class PolicyError(ContractError):
    """A witness policy (tlog-policy text) that does not parse."""

    code = "malformed-policy"


@dataclass(frozen=True)
class PolicyWitness:
    """A witness of the policy: its policy name, cosigner key and optional URL."""

    name: str
    verifier: CosignatureVerifier
    url: str | None = None


@dataclass(frozen=True)
class PolicyResult:
    """The outcome of evaluating a note against a policy.

    ``cosigned_by`` names (policy names) the witnesses with a valid cosignature,
    ``invalid`` those whose cosignature line did not verify, and ``timestamps``
    each valid cosignature's time (POSIX seconds), in ``cosigned_by`` order.
    """

    satisfied: bool
    cosigned_by: tuple[str, ...]
    invalid: tuple[str, ...] = ()
    timestamps: tuple[int, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class _Group:
    name: str
    threshold: int
    members: tuple[str, ...]
    keyword: str  # "all", "any" or the decimal threshold, as written


def _error(number: int, why: str) -> PolicyError:
    return PolicyError(f"malformed witness policy: line {number}: {why}")


class WitnessPolicy:
    """A parsed tlog-policy: log keys, named witnesses, groups and the quorum."""

    def __init__(self) -> None:
        self.witnesses: dict[str, PolicyWitness] = {}
        self.log_keys: tuple[str, ...] = ()
        self.log_urls: dict[str, str] = {}
        self.groups: dict[str, _Group] = {}
        self.quorum: str = "none"
        self._order: list[str] = []  # witness and group names in definition order

    @classmethod
    def parse(cls, text: str) -> WitnessPolicy:
        """Parse tlog-policy text; raise :class:`PolicyError` on the first bad line."""
        policy, quorum_line = cls(), 0
        bad = _BAD_CHARS.search(text)
        if bad is not None:
            number = text.count("\n", 0, bad.start()) + 1
            raise _error(number, f"control character {bad[0]!r} (only tab and newline are allowed)")
        log_publics: set[bytes] = set()
        for number, raw in enumerate(text.split("\n"), start=1):
            words = _WS.split(raw.strip(" \t"))
            if words == [""] or words[0].startswith("#"):
                continue
            if len(policy.log_keys) + len(policy._order) >= MAX_ENTRIES:
                raise _error(number, f"more than {MAX_ENTRIES} logs, witnesses and groups")
            keyword, args = words[0], words[1:]
            if keyword == "log":
                policy._add_log(number, args, log_publics)
            elif keyword == "witness":
                policy._add_witness(number, args)
            elif keyword == "group":
                policy._add_group(number, args)
            elif keyword == "quorum":
                if quorum_line:
                    raise _error(number, f"a second quorum line (the first is line {quorum_line})")
                if len(args) != 1:
                    raise _error(number, "quorum takes exactly one name: quorum <name>|none")
                if args[0] != "none" and args[0] not in policy._order:
                    raise _error(number, f"quorum names {args[0]!r}, not a witness or group defined above")
                policy.quorum, quorum_line = args[0], number
            else:
                raise _error(number, f"unknown keyword {keyword!r} (log, witness, group or quorum)")
        if not quorum_line:
            raise PolicyError("malformed witness policy: no quorum line (quorum <name>|none)")
        return policy

    def _add_log(self, number: int, args: list[str], publics: set[bytes]) -> None:
        if len(args) not in (1, 2):
            raise _error(number, "expected: log <vkey> [<url>]")
        try:
            verifier = NoteVerifier.from_string(args[0])
        except ContractError as exc:
            raise _error(number, f"log key: {exc}") from None
        if verifier.public_raw in publics:
            raise _error(number, "duplicate log key")
        publics.add(verifier.public_raw)
        self.log_keys = (*self.log_keys, args[0])
        if len(args) == 2:
            self.log_urls[args[0]] = args[1]

    def _define(self, number: int, name: str) -> None:
        if name == "none":
            raise _error(number, "the name 'none' is reserved")
        if name in self._order:
            raise _error(number, f"name {name!r} is already defined")
        self._order.append(name)

    def _add_witness(self, number: int, args: list[str]) -> None:
        if len(args) not in (2, 3):
            raise _error(number, "expected: witness <name> <vkey> [<url>]")
        try:
            verifier = CosignatureVerifier.from_string(args[1])
        except ContractError as exc:
            raise _error(number, f"witness {args[0]}: {exc}") from None
        for other in self.witnesses.values():
            if other.verifier.public_raw == verifier.public_raw:
                raise _error(number, f"witness {args[0]} has the same public key as witness {other.name}")
        self._define(number, args[0])
        self.witnesses[args[0]] = PolicyWitness(args[0], verifier, args[2] if len(args) == 3 else None)

    def _add_group(self, number: int, args: list[str]) -> None:
        if len(args) < 3:
            raise _error(number, "expected: group <name> all|any|<k> <name>...")
        name, keyword, members = args[0], args[1], tuple(args[2:])
        for member in members:
            if member == "none":
                raise _error(number, "'none' cannot be a group member")
            if member not in self._order:
                raise _error(number, f"group {name} names {member!r}, not a witness or group defined above")
        if len(set(members)) != len(members):
            raise _error(number, f"group {name} lists a member twice")
        if keyword == "all":
            threshold = len(members)
        elif keyword == "any":
            threshold = 1
        elif re.fullmatch(r"[0-9]{1,9}", keyword):
            threshold = int(keyword)
            if not 1 <= threshold <= len(members):
                raise _error(number, f"group {name}: threshold {keyword} is not between 1 and {len(members)}")
        else:
            raise _error(number, f"group {name}: threshold {keyword!r} is not all, any or a decimal number")
        self._define(number, name)
        self.groups[name] = _Group(name, threshold, members, keyword)

    def evaluate(self, note: str) -> PolicyResult:
        """Evaluate the cosignature lines of the signed checkpoint ``note`` (parsed, not log-verified)."""
        text, lines = note_signatures(note)
        return self.evaluate_lines(text, lines)

    def evaluate_lines(self, body: str, lines: Iterable[SignatureLine]) -> PolicyResult:
        """Evaluate signature ``lines`` over checkpoint ``body``: which witnesses cosigned, quorum met?"""
        by_key: dict[tuple[str, bytes], list[PolicyWitness]] = {}
        for w in self.witnesses.values():  # two keys may share a name and a 4-byte ID: try each
            by_key.setdefault((w.verifier.name, w.verifier.key_id), []).append(w)
        valid: dict[str, int] = {}
        invalid: list[str] = []
        for line in lines:
            candidates = by_key.get((line.name, line.key_id), [])
            if not candidates:
                continue  # not a witness of the policy (or the log's own signature): ignored
            counted = False
            for witness in candidates:
                try:
                    if not line.canonical:
                        raise ContractError("non-canonical base64")
                    valid.setdefault(witness.name, witness.verifier.verify(body, line.payload))
                    counted = True
                except ContractError:
                    continue
            if not counted:
                invalid += [w.name for w in candidates if w.name not in invalid]
        cosigned = tuple(name for name in self._order if name in valid)
        return PolicyResult(
            satisfied=self.witnessed(self.quorum, set(valid)),
            cosigned_by=cosigned,
            invalid=tuple(name for name in invalid if name not in valid),
            timestamps=tuple(valid[name] for name in cosigned),
        )

    def witnessed(self, name: str, cosigners: set[str]) -> bool:
        """True if ``name`` (a witness, a group, or ``none``) is witnessed by ``cosigners``."""
        if name == "none":
            return True
        done: dict[str, bool] = {w: w in cosigners for w in self.witnesses}
        for group in self.groups.values():  # definition order: members come first
            done[group.name] = sum(done[m] for m in group.members) >= group.threshold
        return done[name]

    def describe_quorum(self) -> str:
        """The quorum in words, e.g. ``2 of (w1, w2, w3)`` or ``none``."""
        return self._describe(self.quorum)

    def _describe(self, name: str) -> str:
        group = self.groups.get(name)
        if group is None:
            return name
        inner = ", ".join(self._describe(m) for m in group.members)
        if len(group.members) == 1:
            return inner
        if group.threshold == len(group.members):
            return f"all of ({inner})"
        return f"{group.threshold} of ({inner})"

    def to_text(self) -> str:
        """The policy as tlog-policy text (one definition per line, quorum last)."""
        lines = [
            f"log {key} {self.log_urls[key]}" if key in self.log_urls else f"log {key}"
            for key in self.log_keys
        ]
        for name in self._order:
            witness = self.witnesses.get(name)
            if witness is not None:
                url = f" {witness.url}" if witness.url else ""
                lines.append(f"witness {name} {witness.verifier.vkey()}{url}")
            else:
                group = self.groups[name]
                lines.append(f"group {name} {group.keyword} {' '.join(group.members)}")
        lines.append(f"quorum {self.quorum}")
        return "".join(line + "\n" for line in lines)
