"""The hub side's database: PostgreSQL with pgvector, embedded or external."""

from .database import DATABASE_URL_ENV, Database, redact
from .embedded import EmbeddedPostgres
from .errors import DatabaseError, PgVectorUnavailable
from .migrations import Migration, bundled_migrations, migrate
from .rows import one_row

__all__ = [
    "DATABASE_URL_ENV",
    "Database",
    "DatabaseError",
    "EmbeddedPostgres",
    "Migration",
    "PgVectorUnavailable",
    "bundled_migrations",
    "migrate",
    "one_row",
    "redact",
]
