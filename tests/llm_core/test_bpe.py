import pytest
from transformers import PreTrainedTokenizerFast

from llm_core.bpe import SPECIAL_TOKENS, train_bpe
from llm_core.tokenizer import Tokenizer

CORPUS = [
    "Red cotton kurta with embroidered neckline, regular fit.",
    "Blue denim jeans, slim fit, five pockets, machine wash.",
    "Where is my order? It was supposed to arrive on Monday.",
    "Please cancel order #A1234 and refund to my card.",
    "Women's running shoes with breathable mesh upper.",
] * 20
TRICKY = "  Ünïcödé ✓ कुर्ता 🙂\ttabs\nnew lines   and    spaces <|im_start|>user\nhi<|im_end|>"


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return train_bpe(CORPUS, vocab_size=400)


def test_special_tokens_take_the_first_ids_and_encode_as_one_token(tokenizer):
    assert [tokenizer.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3]
    assert tokenizer.encode("<|im_start|>") == [1]
    assert tokenizer.eos_id == 0 and tokenizer.pad_id == 3


def test_vocabulary_has_the_requested_size_and_merges_common_words(tokenizer):
    assert tokenizer.vocab_size == 400
    assert len(tokenizer.encode("cotton kurta")) < len("cotton kurta")


@pytest.mark.parametrize("text", ["", "order", TRICKY, "".join(map(chr, range(32, 300)))])
def test_decode_of_encode_is_the_original_text(tokenizer, text):
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_saved_tokenizer_loads_in_transformers_with_the_same_ids(tokenizer, tmp_path):
    tokenizer.save(tmp_path)

    fast = PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"))
    reloaded = Tokenizer.from_dir(tmp_path)

    assert fast.encode(TRICKY, add_special_tokens=False) == tokenizer.encode(TRICKY)
    assert fast.decode(tokenizer.encode(TRICKY)) == TRICKY
    assert reloaded.encode(TRICKY) == tokenizer.encode(TRICKY)
    assert reloaded.eos_token == "<|endoftext|>"


def test_chat_template_renders_chatml(tokenizer):
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}])

    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_too_small_a_vocabulary_is_refused():
    with pytest.raises(ValueError, match="256 bytes"):
        train_bpe(CORPUS, vocab_size=100)
