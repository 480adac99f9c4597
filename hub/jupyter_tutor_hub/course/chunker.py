"""One course file in, its chunks out: the entry point of chunking for every file kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from traitlets import Integer
from traitlets.config import Configurable

from .chunks import Chunk, clean_text, clean_value, pack
from .errors import UnreadableFile
from .markdown import markdown_blocks
from .notebooks import notebook_blocks, notebook_metadata, read_notebook
from .python_files import python_blocks

#: Bump when the chunking changes, so that the next ingest re-chunks every file (the
#: embeddings of chunks whose text did not change are still reused).
CHUNKER_VERSION = 1

#: File suffixes indexed, and the document kind stored for each.
KINDS = {".ipynb": "notebook", ".md": "markdown", ".py": "python"}


@dataclass
class Document:
    """A chunked course file."""

    path: str
    kind: str
    title: str
    chunks: list[Chunk]
    metadata: dict[str, Any] = field(default_factory=dict)


class Chunker(Configurable):
    """How course files are cut into passages."""

    max_chars = Integer(
        1000,
        help="""Longest chunk, in characters. The default embedding model reads about 256
        tokens (roughly 1000 characters of prose), so longer chunks would be embedded only
        in part.""",
    ).tag(config=True)

    output_chars = Integer(
        400, help="Most characters of a code cell's outputs kept (head and tail)."
    ).tag(config=True)

    @property
    def fingerprint(self) -> str:
        """Changes whenever the same file would be chunked differently."""
        return f"chunker-{CHUNKER_VERSION}-{self.max_chars}-{self.output_chars}"

    def chunk(self, path: str, data: bytes, protect: frozenset[int] = frozenset()) -> Document:
        """Chunk one file; ``path`` is relative to the course folder, with ``/``.

        ``protect``: indexes of notebook cells to store as protected besides those whose
        metadata protects them.

        Raises :class:`UnreadableFile` when the file is not UTF-8 or not what its suffix
        says (a truncated notebook, say).
        """
        suffix = PurePosixPath(path).suffix
        kind = KINDS.get(suffix)
        if kind is None:
            raise UnreadableFile(f"unsupported file type {suffix!r}")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise UnreadableFile(
                f"not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start}); "
                "save it as UTF-8"
            ) from err
        name = PurePosixPath(path).name
        metadata: dict[str, Any] = {}
        if kind == "notebook":
            notebook = read_notebook(text)
            title, blocks = notebook_blocks(
                notebook, PurePosixPath(path).stem, self.output_chars, protect
            )
            metadata = notebook_metadata(notebook)
        elif kind == "markdown":
            title, blocks = markdown_blocks(text, PurePosixPath(path).stem)
        else:
            title, blocks = name, python_blocks(text, name)
        chunks = pack(blocks, self.max_chars)
        return Document(path, kind, clean_text(title), chunks, clean_value(metadata))
