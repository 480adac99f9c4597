"""Errors of course ingest and search, worded for the instructor or admin who meets them."""


class CourseError(RuntimeError):
    """A course cannot be ingested or searched; the message says why and what to do."""


class CourseNotFound(CourseError, LookupError):
    """The course was never ingested into this database."""


class UnreadableFile(CourseError):
    """One course file cannot be read; ingest skips it and goes on with the others."""
