"""GET /: the try-it web page (plain HTML/JS/CSS from gateway/static/, no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse

from gateway.errors import shown

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
# Served by name from this fixed set, so no request path can reach another file.
STATIC_FILES: dict[str, str] = {"app.js": "text/javascript", "style.css": "text/css"}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")


@router.get("/static/{name}")
async def static_file(name: str) -> FileResponse:
    if name not in STATIC_FILES:
        raise HTTPException(404, f"no static file '{shown(name)}'")
    return FileResponse(STATIC_DIR / name, media_type=STATIC_FILES[name])
