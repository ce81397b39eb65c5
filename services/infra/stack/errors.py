"""The launcher's one error type: a cause and its fix, printed as one line."""


class StackError(Exception):
    """The local stack could not be brought up; the message names cause and fix."""
