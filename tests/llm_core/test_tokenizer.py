import pytest

from llm_core.tokenizer import Tokenizer

TEXTS = [
    "Red cotton kurta under 1500",
    "  leading spaces,\ttabs\nand new lines\n\n",
    "naïve café, 🎉 emoji, नमस्ते, 中文, Ünïcödé",
    "def price(x):\n    return round(x * 1.18, 2)  # GST",
    "Order #113542617735902 ships on 2024-03-05 at 10:30.",
    "<|im_start|>user\nWhere is my order?<|im_end|>",
]


def test_byte_tokenizer_round_trips_any_text(byte_tokenizer):
    for text in TEXTS:
        assert byte_tokenizer.decode(byte_tokenizer.encode(text)) == text


def test_saved_tokenizer_loads_back_with_its_special_tokens_and_template(tmp_path, byte_tokenizer):
    byte_tokenizer.save(tmp_path)

    loaded = Tokenizer.from_dir(tmp_path)

    assert loaded.encode(TEXTS[2]) == byte_tokenizer.encode(TEXTS[2])
    assert (loaded.eos_token, loaded.eos_id, loaded.pad_id) == ("<|endoftext|>", 256, 256)
    assert loaded.chat_template == byte_tokenizer.chat_template


def test_chat_template_renders_messages_and_the_generation_prompt(byte_tokenizer):
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]

    text = byte_tokenizer.apply_chat_template(messages)
    closed = byte_tokenizer.apply_chat_template(messages, add_generation_prompt=False)

    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>assistant\n"
    assert text == closed + "<|im_start|>assistant\n"
    assert byte_tokenizer.apply_chat_template(messages, tokenize=True) == byte_tokenizer.encode(text)


def test_chat_template_rejects_empty_or_malformed_messages(byte_tokenizer):
    with pytest.raises(ValueError, match="empty"):
        byte_tokenizer.apply_chat_template([])
    with pytest.raises(ValueError, match="role and a content"):
        byte_tokenizer.apply_chat_template([{"text": "hi"}])


def test_missing_tokenizer_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        Tokenizer.from_dir(tmp_path)


@pytest.mark.slow
def test_smollm2_tokenizer_round_trips_and_keeps_special_tokens_whole(smollm2):
    _, tokenizer = smollm2

    for text in TEXTS:
        assert tokenizer.decode(tokenizer.encode(text)) == text
    assert tokenizer.encode("<|im_start|>user") == [1, tokenizer.encode("user")[0]]
    assert (tokenizer.eos_token, tokenizer.eos_id, tokenizer.bos_id) == ("<|im_end|>", 2, 1)
    assert tokenizer.vocab_size == 49152
    assert tokenizer.encode("2024") == [tokenizer.token_to_id(d) for d in "2024"]  # digits split one by one


@pytest.mark.slow
def test_smollm2_tokenizer_and_template_match_transformers(smollm2):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    from llm_core.smollm2 import cache_dir, gguf_path

    _, tokenizer = smollm2
    reference = AutoTokenizer.from_pretrained(str(gguf_path().parent), gguf_file=gguf_path().name)
    saved = PreTrainedTokenizerFast.from_pretrained(str(cache_dir()))  # our files, read by transformers
    messages = [{"role": "user", "content": "Where is my order 1234?"}]

    for text in TEXTS:
        assert tokenizer.encode(text) == reference.encode(text, add_special_tokens=False)
        assert tokenizer.encode(text) == saved.encode(text, add_special_tokens=False)
    assert tokenizer.apply_chat_template(messages) == reference.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True
    )
    assert tokenizer.apply_chat_template(messages) == saved.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True
    )
