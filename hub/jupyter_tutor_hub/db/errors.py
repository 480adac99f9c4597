"""Errors of the database layer, worded for the admin who has to fix them."""


class DatabaseError(RuntimeError):
    """The tutor's database cannot be used; the message says why and what to do."""


class PgVectorUnavailable(DatabaseError):
    """The server lacks pgvector, or this user may not enable it."""
