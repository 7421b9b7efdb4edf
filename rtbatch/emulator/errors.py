"""The service's error shapes that more than one part of the emulator sends.

A :class:`ClientError` raised while handling a client event becomes one ``error``
event and the connection stays open; a :class:`FatalClientError` is followed by a
close (the session is lost). Which shapes are captured and which inferred is listed
in ``docs/emulator.md``.
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


class FatalClientError(ClientError):
    """A client event the service answers by ending the session: error, then close 4000."""


#: Close codes of fatal errors (protocol notes §2.4).
CLOSE_BAD_KEY = 3000
CLOSE_INVALID_REQUEST = 4000


def model_not_found(model: str) -> str:
    """The message of ``model_not_found`` (captured for a model the account cannot use)."""
    return f"The model `{model}` does not exist or you do not have access to it."


def unsupported_parameter(param: str) -> str:
    """The message of ``unsupported_parameter`` for a field the model does not take."""
    return f"Unsupported parameter: '{param}' is not supported with this model."
