"""A sentence-transformers model run through ONNX Runtime, for embedding questions.

One short question through sentence-transformers costs torch's fixed per-call overhead
(about 14 ms on this CPU for all-MiniLM-L6-v2, of which the arithmetic is a small part);
the same graph in ONNX Runtime takes about 4 ms and gives the same vectors (differences
around 1e-7).  So the gateway embeds questions here, and passages stay with torch, which is
faster on long batches (``bench/gateway_overhead.py``, docs/performance.md).

The model is exported once, from the loaded sentence-transformers model, into a cache
folder keyed by the model's files; later starts load the export and the tokenizer only,
without importing torch.  An export is kept only when it reproduces the torch vectors of a
few probe texts; a model this cannot run (another pooling, no fast tokenizer) stays on
torch, which the caller decides from :class:`OnnxUnsupported`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Largest difference from the torch vectors an export may have to be kept.
TOLERANCE = 1e-4
#: Texts both backends embed before an export is trusted.
PROBES = (
    "Why does my for loop print None at the end?",
    "TypeError: unsupported operand type(s) for +: 'int' and 'str'",
    "df.groupby('year')['sales'].sum()",
)
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class OnnxUnsupported(Exception):
    """This model cannot run through ONNX Runtime here (the reason is the message)."""


def cache_dir() -> Path:
    """Where exports are kept: ``$XDG_CACHE_HOME/jupyter-tutor/onnx``."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "jupyter-tutor" / "onnx"


def fingerprint(model_path: str) -> str:
    """A key that changes when the model's files do (their names, sizes and times)."""
    digest = hashlib.sha256(model_path.encode())
    folder = Path(model_path)
    if folder.is_dir():
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            stat = file.stat()
            digest.update(f"{file.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


class OnnxTextModel:
    """Tokenizer, ONNX graph and pooling of one exported model."""

    def __init__(self, folder: Path, threads: int = 0, normalize: bool = False) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        settings = json.loads((folder / "settings.json").read_text())
        #: The model's own Normalize module, or the caller asking for unit length.
        self.normalize = bool(settings["normalize"]) or normalize
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(settings["max_length"]))
        self.tokenizer.enable_padding(pad_id=int(settings["pad_id"]))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = [i.name for i in self.session.get_inputs()]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Mean-pooled (and, if the model says so, unit-length) vectors, one row a text."""
        # sentence-transformers strips each text before tokenizing it
        encodings = self.tokenizer.encode_batch([text.strip() for text in texts])
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        (hidden,) = self.session.run(None, {name: feed[name] for name in self.inputs})
        mask = feed["attention_mask"][..., None].astype(np.float32)
        vectors = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        if self.normalize:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors.astype(np.float32)


def load(
    model_path: str, sentence_model: Callable[[], Any], threads: int, normalize: bool
) -> OnnxTextModel:
    """The export of ``model_path`` from the cache, exporting it first if needed.

    ``sentence_model`` returns the loaded sentence-transformers model; it is called only
    when there is no export yet.  Raises :class:`OnnxUnsupported`.
    """
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError as err:
        raise OnnxUnsupported(f"onnxruntime is not installed ({err.name})") from err
    key = fingerprint(model_path)
    folder = cache_dir() / key
    if (folder / "model.onnx").exists():
        try:
            return OnnxTextModel(folder, threads, normalize)
        except Exception:  # a damaged export (a full disk, an edited file): made again
            shutil.rmtree(folder, ignore_errors=True)
    try:
        export(sentence_model(), folder, model_path)
        _prune(folder, model_path)
    except OSError:
        # A home the process cannot write (a container's read-only root filesystem): an
        # export of its own in a new private temporary folder, made again at each start.
        folder = Path(tempfile.mkdtemp(prefix="jupyter-tutor-onnx-")) / key
        export(sentence_model(), folder, model_path)
    return OnnxTextModel(folder, threads, normalize)


def _prune(folder: Path, model_path: str) -> None:
    """Remove the cache's older exports of the same model (its files changed since)."""
    for other in folder.parent.iterdir():
        if other == folder or other.name.startswith("."):
            continue
        try:
            source = json.loads((other / "settings.json").read_text()).get("model_path")
        except (OSError, ValueError):
            continue
        if source == model_path:
            shutil.rmtree(other, ignore_errors=True)


def export(model: Any, folder: Path, model_path: str) -> None:
    """Export a Transformer + mean Pooling (+ Normalize) sentence-transformers model into
    ``folder`` (written beside it, then renamed: concurrent exports cannot mix)."""
    import torch

    modules: list[Any] = [*model, None]
    transformer, pooling, *rest = modules
    mode = getattr(pooling, "pooling_mode", None)  # sentence-transformers 6; before, flags
    if mode is None and getattr(pooling, "pooling_mode_mean_tokens", False):
        flags = ("cls_token", "max_tokens", "mean_sqrt_len_tokens", "lasttoken", "weightedmean")
        mode = "mean" if not any(getattr(pooling, f"pooling_mode_{f}", 0) for f in flags) else ""
    tokenizer = getattr(getattr(transformer, "tokenizer", None), "backend_tokenizer", None)
    extra = [type(m).__name__ for m in rest if m is not None]
    if mode != "mean" or tokenizer is None or extra not in ([], ["Normalize"]):
        raise OnnxUnsupported("only Transformer + mean pooling (+ Normalize) models are exported")

    class Hidden(torch.nn.Module):
        """The transformer's token vectors, from positional inputs (what the export takes)."""

        def __init__(self) -> None:
            super().__init__()
            self.net = transformer.auto_model.eval()

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.net(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    try:
        normalize = extra == ["Normalize"]
        _export_into(staging, Hidden(), model, transformer, tokenizer, normalize, model_path)
        try:
            staging.rename(folder)
        except OSError:
            if not (folder / "model.onnx").exists():  # not another process's export
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _export_into(
    staging: Path,
    net: Any,
    model: Any,
    transformer: Any,
    tokenizer: Any,
    normalize: bool,
    model_path: str,
) -> None:
    """Write the graph, the tokenizer and the settings; check them against ``model``."""
    import torch

    sample = transformer.tokenizer(list(PROBES), return_tensors="pt", padding=True)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "hidden")}
    try:
        with warnings.catch_warnings():
            # the tracer's notes on shapes it keeps as constants (the probes check the graph)
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net,
                tuple(sample[name] for name in _INPUTS),
                str(staging / "model.onnx"),
                input_names=list(_INPUTS),
                output_names=["hidden"],
                dynamic_axes=axes,
                dynamo=False,
            )
    except Exception as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise OnnxUnsupported(f"torch.onnx.export failed: {reason}") from err
    tokenizer.save(str(staging / "tokenizer.json"))
    settings = {
        "max_length": transformer.max_seq_length,
        "pad_id": transformer.tokenizer.pad_token_id or 0,
        "normalize": normalize,
        "model_path": model_path,  # older exports of the same model are pruned by it
    }
    (staging / "settings.json").write_text(json.dumps(settings))
    exported = OnnxTextModel(staging).embed(PROBES)
    expected = model.encode(list(PROBES), convert_to_numpy=True, show_progress_bar=False)
    difference = float(np.abs(exported - expected).max())
    if difference > TOLERANCE:
        raise OnnxUnsupported(f"the export differs from the model by {difference:.1e}")
