"""The service's error shapes that more than one part of the emulator sends.

A :class:`ClientError` raised while handling a client event becomes one ``error``
event; the connection stays open.
"""

from __future__ import annotations

from rtbatch.emulator.validation import Issue

SERVER_ERROR_MESSAGE = (
    "The server had an error while processing your request. Sorry about that! You can retry "
    "your request, or contact us through our help center at help.openai.com if the error "
    "persists."
)


class ClientError(Exception):
    """A client event cannot be honoured; becomes one ``error`` event.

    Args:
        code: the service's ``error.code``.
        message: the service's wording.
        param: dotted path of the offending field, if any.
    """

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.param = code, message, param

    @classmethod
    def of(cls, issue: Issue) -> ClientError:
        """From a validation issue."""
        return cls(issue.code, issue.message, issue.param)
