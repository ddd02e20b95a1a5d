"""Service endpoints that are not about rates."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.schemas import Health

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health, summary="Liveness: 200 while the process runs")
async def health() -> dict[str, str]:
    return {"status": "ok"}
