"""Saving and loading a trained recommender as a registry-shaped directory (llm_core.registry layout).

config.json holds {"model": RecommenderConfig, "training": ..., ...}; model.safetensors the weights (the
text vectors too, so a version is self-contained); items.json the external id of every item index, in order
(index 0 is padding and has no entry).
"""
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from llm_core.registry import write_model_files
from recommender.model import RecommenderConfig, SequenceRecommender

ITEMS_FILE = "items.json"


@dataclass
class LoadedModel:
    model: SequenceRecommender
    item_ids: list[str]
    config: dict


def save_model(model: SequenceRecommender, directory: str | Path, item_ids: list[str], extra: dict | None = None) -> Path:
    """Write config.json, model.safetensors and items.json into `directory` (created if needed)."""
    if len(item_ids) != model.config.n_items:
        raise ValueError(f"{len(item_ids)} item ids for a model of {model.config.n_items} items")
    directory = Path(directory)
    write_model_files(directory, model, {"model": model.config.to_dict(), **(extra or {})})
    (directory / ITEMS_FILE).write_text(json.dumps([str(item) for item in item_ids]), encoding="utf-8")
    return directory


def model_from_state(config: dict, state_dict: dict[str, torch.Tensor]) -> SequenceRecommender:
    """Rebuild a model from a config.json dict and its weights."""
    model = SequenceRecommender(RecommenderConfig(**config["model"]))
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def load_model(directory: str | Path) -> LoadedModel:
    """Load a saved model directory; a missing file raises FileNotFoundError naming it."""
    directory = Path(directory)
    for name in ("config.json", "model.safetensors", ITEMS_FILE):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory / name}: missing")
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    model = model_from_state(config, load_file(str(directory / "model.safetensors")))
    item_ids = json.loads((directory / ITEMS_FILE).read_text(encoding="utf-8"))
    return LoadedModel(model, item_ids, config)
