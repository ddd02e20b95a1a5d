"""Limits on a request's head (its request line and header fields), kept while it is read.

uvicorn's httptools protocol takes a head of any size and any number of fields: a 1 MB header value or 10,000
fields were read into memory and handed to the app. This protocol answers `431 Request Header Fields Too Large`
(`414 URI Too Long` for the request line alone) and closes the connection once a head grows past a limit, as
nginx or Node do, before the app sees it. What an incomplete field holds is bounded too: the bytes received
since the last complete field count while the head is still open, so a slow endless field is cut off as well.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.api import problems
from app.api.security import HEADERS as SECURITY

MAX_HEAD_BYTES = 32 * 1024  # the request line and every field: a browser's are about 1 KB
MAX_FIELDS = 100  # header fields (Apache's default); a client of this API sends about ten
# After a refusal, what the client still sends is read and dropped for this long before the connection closes:
# closed at once with unread bytes, the kernel would reset it, and the client could lose the answer unread.
LINGER_SECONDS = 2.0


class HeadTooLarge(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _too_many_bytes() -> HeadTooLarge:
    return HeadTooLarge(431, f"the request's header fields are larger than {MAX_HEAD_BYTES // 1024} KiB in all")


class LimitedHttpTools(HttpToolsProtocol):
    """HttpToolsProtocol with MAX_HEAD_BYTES and MAX_FIELDS (`fx-ticker serve` runs uvicorn with it)."""

    _refusal: HeadTooLarge | None = None
    _head_open = False
    _head_bytes = 0  # the request line and the complete fields so far
    _partial = 0  # bytes received since the last complete field, while the head is still open
    _fields = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_open, self._head_bytes, self._partial, self._fields = True, 0, 0, 0

    def on_url(self, url: bytes) -> None:
        self._head_bytes += len(url)
        if self._head_bytes > MAX_HEAD_BYTES:
            raise self._refuse(HeadTooLarge(414, f"the request's URL is longer than {MAX_HEAD_BYTES // 1024} KiB"))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4  # `name: value\r\n`
        self._fields += 1
        self._partial = 0
        if self._fields > MAX_FIELDS:
            raise self._refuse(HeadTooLarge(431, f"the request has more than {MAX_FIELDS} header fields"))
        if self._head_bytes > MAX_HEAD_BYTES:
            raise self._refuse(_too_many_bytes())
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_open = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return  # lingering after a refusal: dropped unread
        continuing = self._head_open
        super().data_received(data)  # a refusal raised by a callback comes back through send_400_response
        if self._refusal is None and continuing and self._head_open:
            self._partial += len(data)
            if self._partial > MAX_HEAD_BYTES:
                self._send_refusal(self._refuse(_too_many_bytes()))

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request it cannot parse; a refusal of ours (raised inside the parser) is sent
        instead with its own status."""
        if self._refusal is not None:
            self._send_refusal(self._refusal)
        else:
            super().send_400_response(msg)

    def _refuse(self, refusal: HeadTooLarge) -> HeadTooLarge:
        self._refusal = refusal
        return refusal

    def _send_refusal(self, refusal: HeadTooLarge) -> None:
        if self.transport.is_closing():
            return
        kind = problems.URI_TOO_LONG if refusal.status == 414 else problems.HEADERS_TOO_LARGE
        body = problems.body(kind, f"{refusal.detail}; send a smaller request")
        reason = b"URI Too Long" if refusal.status == 414 else b"Request Header Fields Too Large"
        head = [b"HTTP/1.1 %d %s\r\n" % (refusal.status, reason)]
        fields = [(b"content-type", problems.PROBLEM_JSON.encode()), (b"content-length", b"%d" % len(body)),
                  (b"connection", b"close"), *SECURITY]  # fmt: skip
        head += [name + b": " + value + b"\r\n" for name, value in fields]
        self.transport.write(b"".join([*head, b"\r\n", body]))
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the answer is all: the client reads it, then sees the end
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()
