"""Questions through ONNX Runtime: the same vectors as torch, exported once, never stuck.

The gateway embeds questions with the export of the course's model (``onnx_model.py``);
retrieval is only right if those vectors are the ones passages were embedded with
(torch), so every test compares against the sentence-transformers model itself.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from course_fixtures import real_embedder

from jupyter_tutor_hub.course import onnx_model
from jupyter_tutor_hub.course.embedder import SentenceTransformerEmbedder

TEXTS = [
    "why does my for loop print None at the end?",
    "  KeyError: 'year'  ",  # sentence-transformers strips; so must the export
    "def mean(xs):\n    return sum(xs) / len(xs)\n",
    "explain " * 400,  # longer than the model's 256 tokens: truncated the same way
    "ü ß 例 🙂",
]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "jupyter-tutor" / "onnx"


def test_questions_through_onnx_match_the_torch_vectors(cache: Path) -> None:
    embedder = SentenceTransformerEmbedder(query_threads=1)
    vectors = embedder.embed_queries(TEXTS)
    assert embedder.query_backend == "onnx"
    expected = real_embedder().embed_documents(TEXTS)
    np.testing.assert_allclose(np.array(vectors), np.array(expected), atol=1e-5)
    np.testing.assert_allclose(embedder.embed_query(TEXTS[0]), expected[0], atol=1e-5)
    assert len(list(cache.iterdir())) == 1  # one export, no staging folder left behind


def test_a_second_start_loads_the_export_without_the_torch_model(cache: Path) -> None:
    SentenceTransformerEmbedder().embed_query("export it")

    def no_torch_model() -> None:
        raise AssertionError("the export should have been loaded from the cache")

    loaded = onnx_model.load(real_embedder().model_path, no_torch_model, 1, True)
    np.testing.assert_allclose(
        loaded.embed(TEXTS[:1])[0], real_embedder().embed_documents(TEXTS[:1])[0], atol=1e-5
    )


def test_an_export_replaces_the_older_exports_of_its_model(cache: Path) -> None:
    """The model's files changed (a reinstall): the new export is made, the old one goes;
    another model's export stays."""
    embedder = SentenceTransformerEmbedder()
    embedder.embed_query("export it")
    (current,) = cache.iterdir()
    settings = json.loads((current / "settings.json").read_text())
    for name, source in (("older", settings["model_path"]), ("other", "another/model")):
        shutil.copytree(current, cache / name)
        (cache / name / "settings.json").write_text(json.dumps(settings | {"model_path": source}))
    shutil.rmtree(current)  # as if the model's files had changed since that export
    SentenceTransformerEmbedder().embed_query("export it again")
    assert sorted(p.name for p in cache.iterdir()) == sorted([current.name, "other"])


def test_a_damaged_export_is_made_again(cache: Path) -> None:
    SentenceTransformerEmbedder().embed_query("export it")
    (export,) = cache.iterdir()
    (export / "model.onnx").write_bytes(b"not a model")
    embedder = SentenceTransformerEmbedder()
    vector = embedder.embed_query(TEXTS[0])
    assert embedder.query_backend == "onnx"
    np.testing.assert_allclose(vector, real_embedder().embed_documents(TEXTS[:1])[0], atol=1e-5)


def test_a_model_the_export_cannot_run_stays_on_torch(
    cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class ClsPooling:
        pooling_mode = "cls"

    model = real_embedder().model
    with pytest.raises(onnx_model.OnnxUnsupported, match="mean pooling"):
        onnx_model.export([model[0], ClsPooling()], cache / "cls", "cls-model")
    assert not cache.exists() or not any(cache.iterdir())

    def unsupported(*args: object) -> None:
        raise onnx_model.OnnxUnsupported("only Transformer + mean pooling models")

    embedder = SentenceTransformerEmbedder()
    embedder.log.propagate = True
    original = onnx_model.load
    onnx_model.load = unsupported  # type: ignore[assignment]
    try:
        vector = embedder.embed_query(TEXTS[0])
    finally:
        onnx_model.load = original
    assert embedder.query_backend == "torch"
    assert "embedded with torch" in caplog.text
    np.testing.assert_allclose(vector, real_embedder().embed_documents(TEXTS[:1])[0], atol=1e-6)


def test_a_home_it_cannot_write_gets_a_private_temporary_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container's read-only root filesystem: the export goes to a temporary folder.
    (The cache's parent is a file, which even root cannot make a folder in.)"""
    not_a_folder = tmp_path / "home-file"
    not_a_folder.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(not_a_folder / "cache"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    embedder = SentenceTransformerEmbedder()
    vector = embedder.embed_query(TEXTS[0])
    assert embedder.query_backend == "onnx"
    assert list((tmp_path / "tmp").glob("jupyter-tutor-onnx-*/*/model.onnx"))
    np.testing.assert_allclose(vector, real_embedder().embed_documents(TEXTS[:1])[0], atol=1e-5)
