"""The discovery API (FastAPI): search and detail of data products, the mesh graph and page, REST outputs.

Every /api/v1 route needs a Kubernetes bearer token (Authorization header, or the `datamesh_token` cookie the mesh
page sets); access decisions come from the catalog's copies of Domains and GovernancePolicies."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from datamesh import __version__
from datamesh.catalog.api import sharing
from datamesh.catalog.api.auth import TokenReviewer, kubernetes_api_client
from datamesh.catalog.api.deps import TOKEN_COOKIE, CatalogReader, Db, request_token, review
from datamesh.catalog.api.routes import router
from datamesh.catalog.db import create_catalog_engine, default_catalog_url
from datamesh.catalog.errors import CatalogUnavailable

SIGN_IN_HINT = """<!doctype html><meta charset="utf-8"><title>datamesh: sign in</title>
<p>Open this page as <code>/mesh?token=&lt;token&gt;</code> with a Kubernetes bearer token, e.g. the output of
<code>kubectl create token &lt;serviceaccount&gt;</code>.</p>"""


@dataclass
class ApiSettings:
    catalog_url: str | None = None
    """Catalog database URL (default: $DATAMESH_CATALOG_URL, else the operator's SQLite file)."""
    kubeconfig: str | None = None
    """Credentials for TokenReviews (default: the in-cluster service account, else the current kubeconfig)."""
    token_ttl: float = 60.0
    """Seconds an accepted token's review is cached."""
    secure_cookie: bool = False
    """Mark the mesh page's token cookie Secure (when the API is served over HTTPS)."""
    sharing_key: bytes | None = None
    """Key signing Delta Sharing file URLs (default: $DATAMESH_SHARING_KEY, else random per process)."""
    sharing_url_seconds: float | None = None
    """Lifetime of a Delta Sharing file URL (default: $DATAMESH_SHARING_URL_SECONDS)."""


def _catalog_down(_request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=503)


def mesh_page_html() -> str:
    return resources.files("datamesh.catalog.api").joinpath("static/mesh.html").read_text(encoding="utf-8")


def create_app(settings: ApiSettings | None = None, *, reviewer: TokenReviewer | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    app = FastAPI(
        title="datamesh discovery API",
        version=__version__,
        description="Discover the data products of the mesh: search, contracts, SLAs, quality history, freshness, "
        "lineage, and rows of REST outputs. Authenticate with a Kubernetes bearer token "
        "(`Authorization: Bearer <token>`).",
    )
    app.state.catalog = CatalogReader(create_catalog_engine(settings.catalog_url or default_catalog_url()))
    app.state.reviewer = reviewer or TokenReviewer(kubernetes_api_client(settings.kubeconfig), ttl=settings.token_ttl)
    app.add_exception_handler(CatalogUnavailable, _catalog_down)
    app.include_router(router)
    sharing.install(app, sharing.sharing_config(settings.sharing_key, settings.sharing_url_seconds))

    @app.get("/healthz", tags=["health"], summary="Liveness")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Readiness: the catalog database answers")
    def readyz(db: Db) -> dict[str, str]:
        db.execute(select(1))
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/mesh")

    @app.get("/mesh", response_class=HTMLResponse, tags=["page"], summary="The mesh page")
    def mesh_page(request: Request, token: str | None = None) -> Response:
        """Needs a token: `?token=` (checked, kept in an HttpOnly cookie, then redirected away so the token leaves
        the address bar and history) or that cookie."""
        if token:
            review(request, token)
            response: Response = RedirectResponse("/mesh", status_code=303)
            response.set_cookie(
                TOKEN_COOKIE, token, httponly=True, samesite="strict", secure=settings.secure_cookie, max_age=3600
            )
            return response
        existing = request_token(request)
        if existing is None:
            return HTMLResponse(SIGN_IN_HINT, status_code=401)
        review(request, existing)
        return HTMLResponse(mesh_page_html())

    return app
