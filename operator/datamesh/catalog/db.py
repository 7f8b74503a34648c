"""Engine, sessions and schema migrations of the catalog database (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from datamesh import settings
from datamesh.catalog.errors import CatalogUnavailable

URL_ENV = settings.CATALOG_URL.name
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Errors that mean "the database is not there right now", as opposed to a bug in a query.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (exc.OperationalError, exc.InterfaceError, exc.TimeoutError)


def default_catalog_url() -> str:
    """$DATAMESH_CATALOG_URL, else an SQLite file at ${DATAMESH_STATE_DIR:-.datamesh}/catalog.db."""
    explicit = settings.CATALOG_URL.get()
    if explicit:
        return explicit
    state_dir = Path(settings.STATE_DIR.get())
    return f"sqlite:///{(state_dir / 'catalog.db').resolve()}"


def _normalise(url: str) -> str:
    """postgresql:// means psycopg 3 here (SQLAlchemy's default driver for it would be psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_catalog_engine(url: str) -> Engine:
    """An engine that notices a restarted server (pre-ping) and fails fast when the server is down."""
    normalised = _normalise(url)
    parsed = make_url(normalised)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(normalised, pool_pre_ping=True)
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
        return engine
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = 5
    return create_engine(normalised, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=connect_args)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine) -> None:
    """Upgrade the schema to head; a no-op when it is there already. Raises CatalogUnavailable when the
    database cannot be reached."""
    try:
        if current_revision(engine) == head_revision():
            return
        config = _alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except UNAVAILABLE_ERRORS as error:
        raise CatalogUnavailable("migrate", str(error.orig if isinstance(error, exc.DBAPIError) else error)) from error


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unavailable_as(operation: str) -> Iterator[None]:
    """Turn driver errors that mean "database unreachable" into CatalogUnavailable."""
    try:
        yield
    except UNAVAILABLE_ERRORS as error:
        detail = error.orig if isinstance(error, exc.DBAPIError) else error
        raise CatalogUnavailable(operation, str(detail).strip().splitlines()[0] if str(detail) else "") from error
    except exc.DBAPIError as error:
        if error.connection_invalidated:
            raise CatalogUnavailable(operation, str(error.orig)) from error
        raise
