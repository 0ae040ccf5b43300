import pytest
import torch

from llm_core.generate import IncrementalDecoder, apply_repetition_penalty, generate, sample, stream
from tests.llm_core.conftest import make_tiny_model


def greedy_without_cache(model, ids: list[int], n: int) -> list[int]:
    """The definition of greedy decoding: argmax of a full forward over everything so far."""
    out = list(ids)
    for _ in range(n):
        logits, _ = model(torch.tensor([out]))
        out.append(int(logits[0, -1].argmax()))
    return out[len(ids) :]


def test_greedy_generation_matches_argmax_over_full_forwards(tiny_model, byte_tokenizer):
    prompt = byte_tokenizer.encode("Hello there")

    (result,) = generate(tiny_model, byte_tokenizer, [prompt], max_new_tokens=20, eos_token_ids=())

    assert result.token_ids == greedy_without_cache(tiny_model, prompt, 20)
    assert result.finish_reason == "length" and result.prompt_tokens == len(prompt)
    assert result.text == byte_tokenizer.decode(result.token_ids)


def test_left_padded_batch_generates_what_each_prompt_generates_alone(tiny_model, byte_tokenizer):
    prompts = ["Hi", "A much longer prompt here", "Mid-size one"]

    batch = generate(tiny_model, byte_tokenizer, prompts, max_new_tokens=16, eos_token_ids=())
    singles = [generate(tiny_model, byte_tokenizer, [p], max_new_tokens=16, eos_token_ids=())[0] for p in prompts]

    assert [r.token_ids for r in batch] == [r.token_ids for r in singles]


def test_rows_stop_at_eos_independently(tiny_model, byte_tokenizer):
    free = generate(tiny_model, byte_tokenizer, ["abc", "xyz"], max_new_tokens=8, eos_token_ids=())
    eos = free[0].token_ids[3]  # make row 0's fourth token the end of its sequence

    results = generate(tiny_model, byte_tokenizer, ["abc", "xyz"], max_new_tokens=8, eos_token_ids=[eos])

    assert results[0].finish_reason == "eos"
    assert results[0].token_ids == free[0].token_ids[: free[0].token_ids.index(eos)]
    if eos not in free[1].token_ids:
        assert results[1].token_ids == free[1].token_ids and results[1].finish_reason == "length"


def test_stop_string_cuts_the_text_before_it(tiny_model, byte_tokenizer):
    byte_model = make_tiny_model(seed=3)
    free = generate(byte_model, byte_tokenizer, ["The"], max_new_tokens=24, eos_token_ids=())[0]
    stop = free.text[5:7]

    (result,) = generate(byte_model, byte_tokenizer, ["The"], max_new_tokens=24, stop=[stop], eos_token_ids=())

    assert result.finish_reason == "stop"
    assert result.text == free.text[: free.text.index(stop)]
    assert len(result.token_ids) < 24


def test_stream_pieces_join_to_the_generated_text(tiny_model, byte_tokenizer):
    for stop in ([], ["zz", "Q"]):
        expected = generate(tiny_model, byte_tokenizer, ["Once"], max_new_tokens=30, stop=stop, eos_token_ids=())[0]

        pieces = list(stream(tiny_model, byte_tokenizer, "Once", max_new_tokens=30, stop=stop, eos_token_ids=()))

        assert "".join(pieces) == expected.text
        assert len(pieces) > 1 or len(expected.text) <= 1


def test_stream_holds_back_a_possible_stop_string_prefix(tiny_model, byte_tokenizer):
    text = generate(tiny_model, byte_tokenizer, ["Once"], max_new_tokens=30, eos_token_ids=())[0].text
    stop = text[10:12] + "\x00"  # starts like the generated text, but never completes

    pieces = list(stream(tiny_model, byte_tokenizer, "Once", max_new_tokens=30, stop=[stop], eos_token_ids=()))

    assert "".join(pieces) == text  # held back at the time, released at the end


def test_incremental_decoder_never_emits_half_a_character(byte_tokenizer):
    text = "naïve café 🎉 नमस्ते 中文!"
    decoder = IncrementalDecoder(byte_tokenizer)

    pieces = [decoder.push(t) for t in byte_tokenizer.encode(text)] + [decoder.flush()]

    assert "".join(pieces) == text
    assert not any("\ufffd" in piece for piece in pieces)
    assert len(byte_tokenizer.encode("🎉")) == 4  # the emoji really did arrive in four pieces


def test_same_seed_samples_the_same_tokens(tiny_model, byte_tokenizer):
    def run(seed):
        return generate(
            tiny_model, byte_tokenizer, ["x", "yz"], max_new_tokens=12, temperature=1.5, seed=seed, eos_token_ids=()
        )

    first, again, other = run(7), run(7), run(8)

    assert [r.token_ids for r in first] == [r.token_ids for r in again]
    assert [r.token_ids for r in first] != [r.token_ids for r in other]


def test_top_k_one_is_greedy_at_any_temperature(tiny_model, byte_tokenizer):
    greedy = generate(tiny_model, byte_tokenizer, ["abc"], max_new_tokens=10, eos_token_ids=())

    sampled = generate(
        tiny_model, byte_tokenizer, ["abc"], max_new_tokens=10, temperature=5.0, top_k=1, seed=1, eos_token_ids=()
    )

    assert sampled[0].token_ids == greedy[0].token_ids


def test_top_k_samples_only_among_the_k_best():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.5, -1.0]]).expand(2000, 5)

    tokens = sample(logits, temperature=1.0, top_k=2, generator=torch.Generator().manual_seed(0))

    assert set(tokens.tolist()) == {1, 3}


def test_top_p_keeps_the_smallest_head_reaching_p():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log().expand(2000, 4)

    tokens = sample(logits, temperature=1.0, top_p=0.7, generator=torch.Generator().manual_seed(0))

    assert set(tokens.tolist()) == {0, 1}  # 0.5 alone is short of 0.7; 0.5 + 0.3 reaches it


def test_greedy_sample_is_argmax_with_first_index_on_ties():
    assert sample(torch.tensor([[1.0, 3.0, 3.0, 0.0]])).tolist() == [1]


def test_repetition_penalty_divides_positive_and_multiplies_negative_seen_logits():
    logits = torch.tensor([[2.0, -2.0, 2.0, -2.0]])
    seen = torch.tensor([[True, True, False, False]])

    penalized = apply_repetition_penalty(logits, seen, 2.0)

    assert penalized.tolist() == [[1.0, -4.0, 2.0, -2.0]]


def test_repetition_penalty_changes_greedy_output(tiny_model, byte_tokenizer):
    plain = generate(tiny_model, byte_tokenizer, ["aaaa"], max_new_tokens=16, eos_token_ids=())[0]

    penalized = generate(
        tiny_model, byte_tokenizer, ["aaaa"], max_new_tokens=16, repetition_penalty=50.0, eos_token_ids=()
    )[0]

    assert len(set(penalized.token_ids)) >= len(set(plain.token_ids))
    assert len(set(penalized.token_ids)) == 16  # so strong that no token repeats


def test_generation_stops_at_the_end_of_the_context(tiny_model, byte_tokenizer):
    prompt = [5] * 120  # the tiny context is 128

    (result,) = generate(tiny_model, byte_tokenizer, [prompt], max_new_tokens=50, eos_token_ids=())

    assert len(result.token_ids) == 8 and result.finish_reason == "length"


@pytest.mark.parametrize(
    ("prompts", "kwargs", "message"),
    [
        ([], {}, "non-empty list"),
        ("just a string", {}, "non-empty list"),
        ([""], {}, "prompt 0 is empty"),
        (["ok", []], {}, "prompt 1 is empty"),
        ([[5] * 128], {}, "leaves no room in the model's context of 128"),
        ([[300]], {}, "outside the vocabulary"),
        (["ok"], {"max_new_tokens": 0}, "max_new_tokens"),
        (["ok"], {"temperature": -1.0}, "temperature"),
        (["ok"], {"top_k": 0}, "top_k"),
        (["ok"], {"top_p": 0.0}, "top_p"),
        (["ok"], {"top_p": 1.5}, "top_p"),
        (["ok"], {"repetition_penalty": 0.0}, "repetition_penalty"),
        (["ok"], {"stop": "x"}, "stop"),
        (["ok"], {"stop": [""]}, "stop"),
    ],
)
def test_bad_inputs_raise_a_clear_value_error(tiny_model, byte_tokenizer, prompts, kwargs, message):
    kwargs = {"max_new_tokens": 4, **kwargs}

    with pytest.raises(ValueError, match=message):
        generate(tiny_model, byte_tokenizer, prompts, **kwargs)


def test_stream_rejects_bad_inputs_before_iteration(tiny_model, byte_tokenizer):
    with pytest.raises(ValueError, match="prompt 0 is empty"):
        stream(tiny_model, byte_tokenizer, "", max_new_tokens=4)
    with pytest.raises(ValueError, match="temperature"):
        stream(tiny_model, byte_tokenizer, "hi", max_new_tokens=4, temperature=-0.5)


@pytest.mark.slow
def test_smollm2_answers_a_chat_prompt_and_stops_at_end_of_turn(smollm2):
    model, tokenizer = smollm2
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}])

    (result,) = generate(model, tokenizer, [prompt], max_new_tokens=48)
    streamed = "".join(stream(model, tokenizer, prompt, max_new_tokens=48))

    assert "Paris" in result.text
    assert result.finish_reason == "eos"
    assert streamed == result.text


@pytest.mark.parametrize("draft_seed", [0, 1])  # 0: the model drafts for itself (all kept); 1: mostly rejected
def test_speculative_decoding_gives_the_greedy_tokens(tiny_model, byte_tokenizer, draft_seed):
    draft = make_tiny_model(seed=draft_seed)
    prompt = byte_tokenizer.encode("Speculate")
    greedy = generate(tiny_model, byte_tokenizer, [prompt], max_new_tokens=25, eos_token_ids=())[0]

    for num_draft in (1, 3, 7):
        result = generate(
            tiny_model, byte_tokenizer, [prompt], max_new_tokens=25, eos_token_ids=(), draft=draft,
            num_draft=num_draft,
        )[0]
        assert result.token_ids == greedy.token_ids and result.finish_reason == "length"


def test_speculative_decoding_with_an_int4_draft_streams_the_greedy_text(tiny_model, byte_tokenizer):
    from llm_core.quantize import int4_draft

    greedy = generate(tiny_model, byte_tokenizer, ["Once"], max_new_tokens=20, stop=["q"], eos_token_ids=())[0]

    pieces = stream(
        tiny_model, byte_tokenizer, "Once", max_new_tokens=20, stop=["q"], eos_token_ids=(),
        draft=int4_draft(tiny_model),
    )

    assert "".join(pieces) == greedy.text


def test_speculative_decoding_runs_up_to_the_end_of_the_context(tiny_model, byte_tokenizer):
    prompt = list(range(60, 180))  # 120 of the 128 positions

    plain = generate(tiny_model, byte_tokenizer, [prompt], max_new_tokens=20, eos_token_ids=())[0]
    fast = generate(
        tiny_model, byte_tokenizer, [prompt], max_new_tokens=20, eos_token_ids=(), draft=tiny_model, num_draft=5
    )[0]

    assert fast.token_ids == plain.token_ids and len(fast.token_ids) == 8


def test_speculative_decoding_stops_at_eos(tiny_model, byte_tokenizer):
    free = generate(tiny_model, byte_tokenizer, ["abc"], max_new_tokens=12, eos_token_ids=())[0]
    eos = free.token_ids[5]

    result = generate(
        tiny_model, byte_tokenizer, ["abc"], max_new_tokens=12, eos_token_ids=[eos], draft=tiny_model, num_draft=4
    )[0]

    assert result.finish_reason == "eos" and result.token_ids == free.token_ids[: free.token_ids.index(eos)]


@pytest.mark.parametrize(
    ("prompts", "kwargs", "message"),
    [
        (["a"], {"temperature": 0.7}, "greedy only"),
        (["a"], {"repetition_penalty": 1.2}, "greedy only"),
        (["a", "b"], {}, "one prompt at a time"),
        (["a"], {"num_draft": 0}, "num_draft"),
    ],
)
def test_speculative_decoding_rejects_what_it_cannot_do(tiny_model, byte_tokenizer, prompts, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate(tiny_model, byte_tokenizer, prompts, max_new_tokens=4, draft=tiny_model, **kwargs)


def test_speculative_decoding_rejects_a_draft_with_another_vocabulary(tiny_model, byte_tokenizer):
    with pytest.raises(ValueError, match="vocabulary"):
        generate(tiny_model, byte_tokenizer, ["a"], max_new_tokens=4, draft=make_tiny_model(vocab_size=300))
