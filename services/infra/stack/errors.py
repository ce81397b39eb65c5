"""The launcher's one error type: a cause and its fix, printed as one line."""

from certlife.domain.errors import CertlifeError


class StackError(CertlifeError):
    """The local stack could not be brought up; the message names cause and fix."""

    code = "stack"
