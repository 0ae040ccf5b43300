"""The SASRec-style network: shapes, causality, padding, text vectors, and saving/loading."""
import pytest
import torch

from recommender.artifacts import load_model, save_model
from recommender.model import RecommenderConfig, SequenceRecommender

TINY = dict(n_items=30, max_len=8, dim=16, n_layers=2, n_heads=2, dropout=0.0)


@pytest.fixture(params=["rope", "learned"])
def model(request) -> SequenceRecommender:
    torch.manual_seed(0)
    return SequenceRecommender(RecommenderConfig(**TINY, positions=request.param)).eval()


def test_scores_cover_every_item_for_each_history(model):
    histories = torch.tensor([[0, 0, 3, 4], [1, 2, 3, 4]])
    assert model.encode(histories).shape == (2, 4, 16)
    assert model.score_all(histories).shape == (2, 31)
    candidates = torch.tensor([[5, 6], [7, 8]])
    assert torch.allclose(model.score_candidates(histories, candidates),
                          model.score_all(histories).gather(1, candidates), atol=1e-5)


def test_a_position_never_sees_later_items(model):
    a = model.encode(torch.tensor([[1, 2, 3, 4]]))
    b = model.encode(torch.tensor([[1, 2, 3, 9]]))
    assert torch.allclose(a[:, :3], b[:, :3], atol=1e-6)
    assert not torch.allclose(a[:, 3], b[:, 3])


def test_more_left_padding_does_not_change_the_prediction(model):
    # Rotary angles are relative and learned positions count back from the latest item: both ignore padding.
    short = model.score_all(torch.tensor([[5, 6, 7]]))
    padded = model.score_all(torch.tensor([[0, 0, 0, 5, 6, 7]]))
    assert torch.allclose(short, padded, atol=1e-5)


def test_histories_longer_than_max_len_keep_the_latest_items(model):
    long = torch.arange(1, 13).unsqueeze(0)
    assert torch.allclose(model.score_all(long), model.score_all(long[:, -8:]))


def test_text_vectors_give_an_unclicked_item_a_vector():
    config = RecommenderConfig(**TINY, text_dim=4)
    text = torch.zeros(31, 4)
    text[7] = torch.tensor([1.0, 0.0, 0.0, 0.0])
    model = SequenceRecommender(config, text)
    with torch.no_grad():
        model.item_embedding.weight.zero_()
    vectors = model.item_vectors()
    assert vectors[7].abs().sum() > 0 and vectors[8].abs().sum() == 0


def test_wrongly_shaped_text_vectors_are_refused():
    with pytest.raises(ValueError, match="text vectors"):
        SequenceRecommender(RecommenderConfig(**TINY, text_dim=4), torch.zeros(5, 4))


def test_a_saved_model_loads_with_identical_scores(tmp_path, model):
    item_ids = [f"sku{i}" for i in range(30)]
    save_model(model, tmp_path / "v1", item_ids, extra={"blend_weight": 0.5})
    loaded = load_model(tmp_path / "v1")
    histories = torch.tensor([[0, 1, 2, 3]])
    assert loaded.item_ids == item_ids and loaded.config["blend_weight"] == 0.5
    assert torch.allclose(loaded.model.score_all(histories), model.score_all(histories))


def test_loading_a_directory_with_a_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_model(tmp_path)
