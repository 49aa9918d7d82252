"""The web page (/ and its two files, under a Content-Security-Policy) and the OpenAPI description."""
from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from fashion.errors import NotFound
from launcher.door import Door, error
from launcher.routes import WEB, WEB_FILES, openapi

PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; "
                "style-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                "frame-ancestors 'none'; form-action 'self'"}


class PageRoutes:
    def __init__(self, door: Door) -> None:
        self.description = json.dumps(openapi(door.settings))  # fixed once the settings are

    async def openapi(self, request: Request) -> Response:
        return Response(self.description, media_type="application/json")

    async def page(self, request: Request) -> Response:
        return FileResponse(WEB / "index.html", media_type="text/html", headers=PAGE_HEADERS)

    async def static(self, request: Request) -> Response:
        name = request.path_params["file"]
        if name not in WEB_FILES:
            return error(NotFound(f"no file {name[:64]!r}; the page's files are {list(WEB_FILES)}"))
        return FileResponse(WEB / name)
