"""What the front door checks in a request body before TorchServe sees it (TorchServe's own decoders answer some
malformed bodies with a 500, and parse others without bound).

- multipart: parsed once with python-multipart (streaming, no copies kept): a missing or bad boundary, a part
  that is itself multipart (TorchServe: 500 ErrorDataDecoderException), a part without a form-data name, more
  than MAX_MULTIPART_PARTS parts, a body that ends before its closing boundary: 400 naming the problem;
- JSON (what the handlers read as JSON, whatever the Content-Type): keys, objects/lists and depth within the
  limits (fashion.request.json_bounds), else 413.
"""
from __future__ import annotations

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from fashion.errors import InvalidInput
from fashion.request.json_bounds import check_json_bounds, looks_like_json
from fashion.request.limits import Limits, limits


class _Parts:
    """The structure python-multipart reports: each part's headers, and whether the closing boundary came."""

    def __init__(self, max_parts: int) -> None:
        self.max_parts, self.parts, self.ended = max_parts, 0, False
        self.field, self.value, self.headers = b"", b"", {}  # type: ignore[var-annotated]

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.max_parts:
            raise InvalidInput(f"the multipart body has more than {self.max_parts} parts (MAX_MULTIPART_PARTS)")
        self.headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.field.strip().lower()] = self.value.strip()
        self.field, self.value = b"", b""

    def on_headers_finished(self) -> None:
        kind, _ = parse_options_header(self.headers.get(b"content-type", b""))
        if kind.lower().startswith(b"multipart/"):
            raise InvalidInput("a part of the multipart body is itself multipart; send each image as its own part")
        disposition, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        if disposition.lower() != b"form-data" or not params.get(b"name"):
            raise InvalidInput("each part of the multipart body needs Content-Disposition: form-data; name=\"...\" "
                               "(curl -F data=@photo.jpg sends it)")

    def on_end(self) -> None:
        self.ended = True


def check_multipart(body: bytes, content_type: str, bounds: Limits) -> None:
    kind, params = parse_options_header(content_type)
    if kind.lower() != b"multipart/form-data":
        raise InvalidInput(f"multipart bodies must be multipart/form-data, not {kind.decode('latin-1')!r}")
    boundary = params.get(b"boundary", b"")
    if not 1 <= len(boundary) <= 70:
        raise InvalidInput("the multipart Content-Type needs a boundary of 1 to 70 characters")
    parts = _Parts(bounds.max_multipart_parts)
    callbacks = {name: getattr(parts, name) for name in ("on_part_begin", "on_header_field", "on_header_value",
                                                          "on_header_end", "on_headers_finished", "on_end")}
    parser = MultipartParser(boundary, callbacks, max_header_count=16, max_header_size=4096)  # type: ignore[arg-type]
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise InvalidInput(f"the multipart body does not parse ({exc})") from None
    if not parts.ended or not parts.parts:
        raise InvalidInput("the multipart body has no parts or ends before its closing boundary")


def check_body(body: bytes, content_type: str | None, bounds: Limits | None = None) -> None:
    """Raise a RequestError when `body` is a multipart or JSON body past what the model server can take."""
    bounds = bounds or limits()
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind.startswith("multipart/"):
        check_multipart(body, content_type or "", bounds)
    elif looks_like_json(body):
        check_json_bounds(body, bounds)
