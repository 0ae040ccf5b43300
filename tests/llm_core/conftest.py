"""Fixtures shared by the llm_core tests: tiny random models, a byte-level tokenizer, and the real SmolLM2.

Fast tests use the tiny ones; only tests marked slow load the real 135M weights (converted once, then cached
under MODEL_DIR, default var/models, like the app does).
"""
import os

import pytest
import torch
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers

from llm_core.device import configure_cpu_threads
from llm_core.model import ModelConfig, Transformer
from llm_core.tokenizer import Tokenizer

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the suite may reach a model hub
# On a shared or busy machine torch's default (every core) makes OpenMP threads spin-wait on each other:
# the generation tests took 31 s with two threads and 2.4 s with one on the 2-core dev box.
configure_cpu_threads()

BYTE_EOS = "<|endoftext|>"
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def make_byte_tokenizer() -> Tokenizer:
    """One token per UTF-8 byte (ids 0-255, GPT-2's byte alphabet) plus EOS and ChatML markers (256-258).

    Every string round-trips, and any character outside ASCII spans several tokens: the hard case for
    incremental decoding.
    """
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())  # 256 printable stand-ins for the bytes
    backend = HFTokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([BYTE_EOS, "<|im_start|>", "<|im_end|>"])
    return Tokenizer(backend, eos_token=BYTE_EOS, chat_template=CHATML)


def tiny_config(**overrides) -> ModelConfig:
    """A 2-layer GQA model over the byte tokenizer's 259 ids; 128 positions keep context tests cheap."""
    values = dict(
        vocab_size=259, n_layer=2, n_embd=64, n_head=4, n_kv_head=2, intermediate_size=128, max_seq_len=128,
        rope_theta=10000.0,
    )
    return ModelConfig(**{**values, **overrides})


def make_tiny_model(seed: int = 0, **overrides) -> Transformer:
    """A random tiny model with confident logits.

    The default init (std 0.02) gives nearly uniform logits, so greedy choices would hinge on 1e-6 differences
    between equally correct computations; std 0.3 spreads them so token-level comparisons are meaningful.
    """
    torch.manual_seed(seed)
    model = Transformer(tiny_config(**overrides))
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 2:
                param.normal_(0.0, 0.3)
    return model.eval()


@pytest.fixture
def byte_tokenizer() -> Tokenizer:
    return make_byte_tokenizer()


@pytest.fixture
def tiny_model() -> Transformer:
    return make_tiny_model()


@pytest.fixture(scope="session")
def smollm2():
    """(model, tokenizer): the real SmolLM2-135M-Instruct in float32 on CPU, shared by the whole session."""
    from llm_core.smollm2 import load_smollm2

    return load_smollm2()
