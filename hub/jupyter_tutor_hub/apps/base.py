"""What the hub side's commands that use the database share."""

from __future__ import annotations

from traitlets.config import Application

from jupyter_tutor import __version__

from ..db import Database, DatabaseError


class DatabaseCommand(Application):
    """A command run against the tutor's configured :class:`Database`.

    Errors listed in ``expected_errors`` are written for the person at the shell: they are
    logged as one line and the command exits 1, instead of a traceback.
    """

    version = __version__
    classes = [Database]
    expected_errors: tuple[type[Exception], ...] = (DatabaseError,)

    def start(self) -> None:
        database = Database(parent=self)
        try:
            self.run(database)
        except self.expected_errors as err:
            self.log.error(str(err))
            self.exit(1)
        finally:
            database.close()

    def run(self, database: Database) -> None:
        raise NotImplementedError
