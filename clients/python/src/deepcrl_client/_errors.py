"""The one exception type of the client."""

from typing import Optional


class DeepcrlError(Exception):
    """A request that did not succeed.

    ``status`` is the HTTP status the server answered (``None`` when no answer came), ``code`` the
    server's error code (``wrong_dimension``, ``not_found``, ``unauthorized``, ...) or one of the
    client's own: ``connection_error`` (nothing listens, or the connection broke), ``timeout`` (no
    answer within the call's timeout), ``bad_response`` (an answer that is not the API's),
    ``non_finite`` (NaN or infinity in the input, refused before sending). ``message`` says what was
    wrong.
    """

    def __init__(self, status: Optional[int], code: str, message: str) -> None:
        super().__init__(f"{status or 'no answer'} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
