import numpy as np
import pytest
import torch

from llm_core import embeddings
from llm_core.embeddings import DIM, SentenceEmbedder

PARAPHRASES = [
    ("Where is my order?", "Can you tell me where my package is?"),
    ("A man is eating food.", "A man is eating a piece of bread."),
    ("red cotton kurta for women", "women's red kurta made of cotton"),
]
UNRELATED = ["The weather is sunny in Paris today.", "How do I reset my password?", "Quantum physics is hard."]


@pytest.fixture(scope="module")
def model_embedder():
    """One loaded model for the module (loading takes seconds); no disk cache."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # a small BERT on a busy machine: one thread beats several contending ones
    yield SentenceEmbedder(cache_dir=None)
    torch.set_num_threads(previous)


def test_vectors_have_384_dimensions_and_unit_norm(model_embedder):
    vectors = model_embedder.embed(["hello", "a much longer sentence about shoes, shirts and returns"])

    assert vectors.shape == (2, DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_sentences(model_embedder):
    for a, b in PARAPHRASES:
        va, vb, *others = model_embedder.embed([a, b, *UNRELATED])
        paraphrase_similarity = float(va @ vb)
        assert paraphrase_similarity > 0.6, (a, b)
        assert all(paraphrase_similarity > float(va @ other) + 0.3 for other in others), (a, b)


def test_matches_the_published_sentence_transformers_similarity(model_embedder):
    # sentence-transformers' own example for this model scores this pair 0.7553.
    va, vb = model_embedder.embed(["A man is eating food.", "A man is eating a piece of bread."])

    assert float(va @ vb) == pytest.approx(0.7553, abs=1e-3)


def test_batched_padded_vectors_equal_one_at_a_time(model_embedder):
    texts = ["short", "a somewhat longer text with more words in it", "mid length text", "x"]

    together = model_embedder.embed(texts)
    alone = np.stack([model_embedder.embed([t])[0] for t in texts])

    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_duplicates_in_one_call_are_computed_once(model_embedder):
    before = model_embedder.texts_computed

    vectors = model_embedder.embed(["same text, twice", "same text, twice"])

    assert model_embedder.texts_computed - before == 1
    assert np.array_equal(vectors[0], vectors[1])


def test_cached_texts_never_touch_the_model(model_embedder, tmp_path):
    texts = ["where is my order", "cancel my order please"]
    cached = SentenceEmbedder(tmp_path)
    cached._model, cached._tokenizer = model_embedder._model, model_embedder._tokenizer  # skip a second load
    first = cached.embed(texts)

    fresh_process = SentenceEmbedder(tmp_path)  # same cache file, no model loaded
    again = fresh_process.embed(list(reversed(texts)))

    assert cached.texts_computed == 2
    assert fresh_process.texts_computed == 0 and fresh_process._model is None
    assert np.array_equal(again, first[::-1])


def test_empty_input_and_a_bare_string(model_embedder):
    assert model_embedder.embed([]).shape == (0, DIM)
    with pytest.raises(TypeError, match="sequence of texts"):
        model_embedder.embed("not a list")


def test_module_embed_uses_one_lazily_created_embedder(monkeypatch, tmp_path):
    monkeypatch.setattr(embeddings, "_embedder", None)
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))

    first, second = embeddings.get_embedder(), embeddings.get_embedder()

    assert first is second and first._model is None
    assert first.cache.path == tmp_path / "embeddings-cache" / "all-MiniLM-L6-v2.sqlite3"
