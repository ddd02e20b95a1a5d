"""Service endpoints that are not about rates."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.schemas import Health

router = APIRouter(tags=["service"])


# Load balancers probe with HEAD. The HEAD route is undocumented (one route for both would give the OpenAPI
# schema two operations with one id) and registered after GET (the lower decorator registers first), so that a
# 405 to another method names the documented GET in its `Allow`.
@router.head("/health", include_in_schema=False)
@router.get("/health", response_model=Health, summary="Liveness: 200 while the process runs")
async def health() -> dict[str, str]:
    return {"status": "ok"}
