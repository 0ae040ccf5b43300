"""chatbot.generation: the instruction's cached keys/values and the bf16 prefill change how fast the first
token comes, not what is generated. Runs on the tiny random model (real llm_core code, milliseconds)."""
import pytest
import torch

from chatbot import generation, replies
from llm_core import quantize
from llm_core.generate import stream
from tests.chatbot.tiny_model import tiny_base_model

INSTRUCTION = replies.SYSTEM_INSTRUCTION
FACTS = "Standard delivery takes 3 to 5 working days. Your order is on its way."


def test_cached_instruction_gives_the_same_text_as_a_whole_prompt_prefill():
    model, tokenizer = tiny_base_model()
    ids = generation.prompt_ids(tokenizer, INSTRUCTION, FACTS)

    expected = "".join(stream(model, tokenizer, ids, max_new_tokens=20, eos_token_ids=()))
    pieces = list(generation.stream_wording(model, tokenizer, instruction=INSTRUCTION, facts=FACTS, max_new_tokens=20,
                                            bf16_prefill=False))

    assert len(pieces) > 1 and "".join(pieces) == expected


def test_the_instruction_is_prefilled_once_per_model_and_covers_the_prompts_start():
    model, tokenizer = tiny_base_model()

    first = generation.prompt_prefix(model, tokenizer, INSTRUCTION)
    again = generation.prompt_prefix(model, tokenizer, INSTRUCTION)
    ids = generation.prompt_ids(tokenizer, INSTRUCTION, FACTS)

    assert again is first
    assert generation._cached_length(ids, first) == len(first.ids) > 0
    assert first.keys.shape[3] == len(first.ids)


def test_a_prompt_that_does_not_start_with_the_instruction_is_prefilled_whole():
    prefix = generation.PromptPrefix((1, 2, 3), torch.zeros(0), torch.zeros(0))

    assert generation._cached_length([1, 2, 3, 4], prefix) == 3
    assert generation._cached_length([1, 2, 9, 4], prefix) == 0
    assert generation._cached_length([1, 2, 3], prefix) == 0  # at least one id is left to prefill


@pytest.mark.skipif(not torch.ops.mkldnn._is_mkldnn_bf16_supported(), reason="no bf16 matmuls on this CPU")
def test_bf16_twin_shares_all_but_the_linear_weights_and_predicts_alike():
    model, tokenizer = tiny_base_model()

    twin = generation.prefill_twin(model)
    ids = torch.tensor([generation.prompt_ids(tokenizer, INSTRUCTION, FACTS)])
    with torch.inference_mode():
        expected, _ = model(ids)
        got, _ = twin(ids)

    assert twin is not model and generation.prefill_twin(model) is twin
    # Shared tensors, not copies: the embedding, the norms and the (float32) logits head.
    assert twin.embed_tokens.weight is model.embed_tokens.weight and twin.lm_head.weight is model.lm_head.weight
    assert twin.norm.weight is model.norm.weight
    q_proj = twin.layers[0].self_attn.q_proj
    assert isinstance(q_proj, quantize.PackedLinear) and q_proj.compute_dtype == torch.bfloat16
    assert isinstance(model.layers[0].self_attn.q_proj, torch.nn.Linear)  # the served model is untouched
    assert torch.allclose(got, expected, atol=0.05, rtol=0.05)


def test_streamed_wording_with_bf16_prefill_is_still_checked_and_stored(settings):
    settings.CHATBOT_GENERATION = True
    settings.CHATBOT_BASE_MODEL = "tests.chatbot.tiny_model.tiny_base_model"
    settings.CHATBOT_MAX_NEW_TOKENS = 12

    events = list(replies.stream_reply(FACTS, wordable=True))

    assert [e.kind for e in events].count("token") >= 1 and events[-1].kind == "final"
    generated = "".join(e.text for e in events if e.kind == "token").strip()
    assert events[-1].text == (generated if replies.is_grounded(generated, FACTS) else FACTS)


def test_warm_generation_prepares_the_model_and_is_a_no_op_when_generation_is_off(settings, monkeypatch):
    settings.CHATBOT_BASE_MODEL = "tests.chatbot.tiny_model.tiny_base_model"
    model, tokenizer = tiny_base_model()
    calls = []
    monkeypatch.setattr(generation, "warm", lambda *args, **kwargs: calls.append(args))

    settings.CHATBOT_GENERATION = False
    replies.warm_generation()
    settings.CHATBOT_GENERATION = True
    replies.warm_generation()

    assert calls == [(model, tokenizer, INSTRUCTION)]


def test_repeated_facts_skip_the_prefill_and_give_the_same_text(monkeypatch):
    model, tokenizer = tiny_base_model()
    prefills = []

    def spy(*args, **kwargs):
        prefills.append(kwargs["start_pos"])
        return model(*args, **kwargs)

    monkeypatch.setattr(quantize, "bf16_supported", lambda m: True)
    monkeypatch.setattr(generation, "prefill_twin", lambda m: spy)
    facts = "Returns are free within 30 days of delivery."

    def word() -> str:
        return "".join(generation.stream_wording(model, tokenizer, instruction=INSTRUCTION, facts=facts,
                                                 max_new_tokens=10, facts_cache_size=2))

    first, second = word(), word()

    assert len(prefills) == 1 and first == second
    for other in ("One.", "Two.", "Three."):  # the oldest entries make room
        "".join(generation.stream_wording(model, tokenizer, instruction=INSTRUCTION, facts=other, max_new_tokens=1,
                                          facts_cache_size=2))
    word()
    assert len(prefills) == 5
