"""Reading the row a statement always returns, typed.

``INSERT … RETURNING``, ``SELECT EXISTS`` and aggregates return exactly one row; psycopg
types ``fetchone()`` as optional, so this says (and checks) that the row is there.
"""

from __future__ import annotations

from typing import TypeVar

Row = TypeVar("Row")


def one_row(row: Row | None) -> Row:
    """``row``, which a statement that always returns one row gave."""
    if row is None:
        raise LookupError("A statement that always returns a row returned none.")
    return row
