"""A tiny random llm_core model with a small BPE tokenizer (ChatML template): runs the real batched
generation path in milliseconds. Its words are noise, which is exactly what the grounding check must handle."""
from functools import lru_cache

import torch

from llm_core.bpe import train_bpe
from llm_core.model import ModelConfig, Transformer
from llm_core.tokenizer import Tokenizer

_CORPUS = [
    "Blue checked casual shirt, has a spread collar, long sleeves, button placket, curved hem.",
    "Black solid regular shorts, has four pockets and a button closure.",
    "White printed kurta with palazzos, has a round neck and three-quarter sleeves.",
] * 20


@lru_cache(maxsize=1)
def tiny_tokenizer() -> Tokenizer:
    return train_bpe(_CORPUS, vocab_size=320, min_frequency=1)


def tiny_model(n_layer: int = 2) -> Transformer:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=tiny_tokenizer().vocab_size, n_layer=n_layer, n_embd=32, n_head=2, n_kv_head=1,
                         intermediate_size=64, max_seq_len=1024)
    return Transformer(config).eval()
