"""A tiny random llm_core model with a small BPE tokenizer: exercises the real generation and streaming
path in milliseconds (its words are noise, which is what the grounding check must catch)."""
from functools import lru_cache

import torch

from llm_core.bpe import train_bpe
from llm_core.model import ModelConfig, Transformer
from llm_core.tokenizer import Tokenizer

_CORPUS = [
    "Your order is on its way. Thanks for shopping with Aisle!",
    "You can return most items within 30 days of delivery.",
    "Standard delivery takes 3 to 5 working days.",
] * 20


@lru_cache(maxsize=1)
def tiny_base_model() -> tuple[Transformer, Tokenizer]:
    torch.manual_seed(0)
    tokenizer = train_bpe(_CORPUS, vocab_size=320, min_frequency=1)
    config = ModelConfig(vocab_size=tokenizer.vocab_size, n_layer=1, n_embd=32, n_head=2, n_kv_head=1,
                         intermediate_size=64, max_seq_len=1024)
    return Transformer(config).eval(), tokenizer
