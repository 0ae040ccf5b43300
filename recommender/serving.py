"""The active recommender model, loaded once per process, and batched inference over product ids.

The registry's ACTIVE pointer is re-read at most every RELOAD_CHECK_SECONDS (one small file read), so an
activation or rollback reaches every web and Celery process without a restart. Loading failures are logged
and answered with None: callers fall back to the other strategies, and a page never errors.
"""
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from django.conf import settings
from safetensors.torch import load_file

from llm_core.registry import NoActiveVersion, Registry
from recommender.artifacts import ITEMS_FILE, model_from_state
from recommender.cooccurrence import CooccurrenceIndex
from recommender.model import SequenceRecommender

TASK = "recommender"
COOCCURRENCE_FILE = "cooccurrence.safetensors"
RELOAD_CHECK_SECONDS = 30.0

logger = logging.getLogger(__name__)


def registry() -> Registry:
    return Registry(settings.MODEL_DIR)


@dataclass
class ServingModel:
    """A trained model with its product-id vocabulary and co-occurrence prior, ready for inference."""

    version: str
    model: SequenceRecommender
    product_ids: np.ndarray  # (n_items + 1,) product id of each item index; index 0 (padding) holds -1
    index_of: dict[int, int]
    cooccurrence: CooccurrenceIndex | None
    blend_weight: float

    @classmethod
    def from_directory(cls, version: str, path: Path) -> "ServingModel":
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        model = model_from_state(config, load_file(str(path / "model.safetensors")))
        product_ids = np.asarray([-1] + [int(pk) for pk in json.loads((path / ITEMS_FILE).read_text())], dtype=np.int64)
        cooccurrence = None
        if (path / COOCCURRENCE_FILE).is_file():
            cooccurrence = CooccurrenceIndex.from_tensors(load_file(str(path / COOCCURRENCE_FILE)))
        return cls(
            version=version,
            model=model,
            product_ids=product_ids,
            index_of={int(pk): i for i, pk in enumerate(product_ids) if i},
            cooccurrence=cooccurrence,
            blend_weight=float(config.get("blend_weight", 0.0)),
        )

    def histories_matrix(self, histories: list[list[int]]) -> np.ndarray:
        """Product-id histories (oldest first) -> (B, max_len) right-aligned item indices; unknown ids dropped."""
        width = self.model.config.max_len
        matrix = np.zeros((len(histories), width), dtype=np.int64)
        for row, history in enumerate(histories):
            indices = [self.index_of[pk] for pk in history if pk in self.index_of][-width:]
            if indices:
                matrix[row, width - len(indices) :] = indices
        return matrix

    def scores(self, matrix: np.ndarray) -> np.ndarray:
        """(B, n_items + 1) next-item scores for right-aligned histories; padding scores -inf."""
        with torch.inference_mode():
            scores = self.model.score_all(torch.from_numpy(matrix))
            if self.cooccurrence is not None and self.blend_weight:
                scores = scores + self.blend_weight * torch.log1p(self.cooccurrence.all_scores(matrix))
        scores = scores.numpy()
        scores[:, 0] = -np.inf
        return scores

    def explain(self, matrix: np.ndarray, picks: np.ndarray) -> np.ndarray:
        """(B, K) product ids: for each picked item index, the history item whose vector is closest to it
        (the "Because you viewed ..." product); -1 where the history is empty."""
        with torch.inference_mode():
            vectors = self.model.item_vectors()
            history = vectors[torch.from_numpy(matrix)]  # (B, T, dim)
            picked = vectors[torch.from_numpy(picks)]  # (B, K, dim)
            affinity = picked @ history.transpose(1, 2)  # (B, K, T)
            affinity = affinity.masked_fill(torch.from_numpy(matrix == 0)[:, None, :], -torch.inf)
            best = affinity.argmax(-1).numpy()  # (B, K)
        because = np.take_along_axis(matrix, best, axis=1)
        return np.where(because > 0, self.product_ids[because], -1)


class _ActiveModelHolder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: ServingModel | None = None
        self._checked_at = -float("inf")
        self._version: str | None = None

    def get(self) -> ServingModel | None:
        now = time.monotonic()
        if now - self._checked_at < RELOAD_CHECK_SECONDS:
            return self._model
        with self._lock:
            if now - self._checked_at < RELOAD_CHECK_SECONDS:
                return self._model
            self._checked_at = now
            try:
                version = registry().active_version(TASK)
                if version != self._version:
                    self._model = ServingModel.from_directory(version, registry().active_path(TASK)) if version else None
                    self._version = version
            except NoActiveVersion:
                self._model, self._version = None, None
            except Exception:  # a broken artifact must not take pages down: log it and serve the fallbacks
                logger.exception("could not load the active recommender model")
                self._model, self._version = None, None
            return self._model

    def reset(self) -> None:
        """Forget the loaded model, so the next get() reads the registry again (tests, after activation)."""
        with self._lock:
            self._model, self._version, self._checked_at = None, None, -float("inf")


_holder = _ActiveModelHolder()


def active_model() -> ServingModel | None:
    """The active version's serving model (loaded once per process), or None when there is none or it is broken."""
    return _holder.get()


def reset_active_model() -> None:
    _holder.reset()
