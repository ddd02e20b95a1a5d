"""The versioned prefix of the data endpoints: `/v1` is the stable contract (its shapes only ever grow), and the
same endpoints answer identically without it. Operations (/health, /ready, /metrics, /admin) are never under it."""

from fastapi.routing import APIRoute

V1 = "/v1"


def operation_id(route: APIRoute) -> str:
    """An operation's OpenAPI `operationId`: its route function's name (`rates_latest`, `on_date`), part of the /v1
    contract, so that a generated client's function names stay put when a path or a parameter changes."""
    return route.name


def versioned(path: str, template: str) -> str:
    """The route template a request to `path` matched, its version prefix included: a router included under `/v1`
    keeps its own templates (`/rates/latest`), so the prefix is read back from the path asked for."""
    if path.startswith(V1 + "/") and not template.startswith(V1 + "/"):
        return V1 + template
    return template


def twins(path: str) -> tuple[str, str]:
    """A data endpoint's path in both forms: unversioned and under `/v1`."""
    bare = path.removeprefix(V1) if path.startswith(V1 + "/") else path
    return bare, V1 + bare
