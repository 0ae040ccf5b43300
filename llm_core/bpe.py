"""Train a byte-level BPE tokenizer (GPT-2 / SmolLM2 style) for from-scratch models, with HF `tokenizers`.

Byte-level means every string round-trips: the 256 byte symbols are always in the vocabulary, so nothing is
ever unknown. The result is our `Tokenizer` (llm_core.tokenizer) with a ChatML chat template; its
`save(directory)` writes a tokenizer.json that transformers' PreTrainedTokenizerFast also loads.
"""
from collections.abc import Iterable

from tokenizers import AddedToken, decoders, models, pre_tokenizers, processors, trainers
from tokenizers import Tokenizer as HFTokenizer

from llm_core.tokenizer import Tokenizer

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
# ChatML markers, the ones SmolLM2 uses, so chat data renders the same way for our models and for SmolLM2.
SPECIAL_TOKENS = (EOS_TOKEN, "<|im_start|>", "<|im_end|>", PAD_TOKEN)
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def train_bpe(
    texts: Iterable[str],
    vocab_size: int,
    *,
    min_frequency: int = 2,
    special_tokens: tuple[str, ...] = SPECIAL_TOKENS,
) -> Tokenizer:
    """Learn byte-level BPE merges from `texts` up to `vocab_size` entries.

    The special tokens take the first ids (0..n-1) and always encode as single ids, also inside text.
    """
    if vocab_size < 256 + len(special_tokens):
        raise ValueError(f"vocab_size must cover the 256 bytes and {len(special_tokens)} special tokens")
    backend = HFTokenizer(models.BPE())
    # add_prefix_space=False keeps decode(encode(text)) == text exactly.
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in special_tokens],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    return Tokenizer(backend, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN, chat_template=CHATML_TEMPLATE)
