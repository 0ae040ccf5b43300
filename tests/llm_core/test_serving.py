import threading

import pytest

from llm_core import quantize, serving


@pytest.fixture(autouse=True)
def _fresh_registry():
    serving.forget()
    yield
    serving.forget()


def test_concurrent_first_requests_load_once_and_share_the_instance():
    calls = []
    start = threading.Barrier(8)

    def loader():
        calls.append(1)
        return object()

    results = []

    def request():
        start.wait()
        results.append(serving.get_or_load("task/v1", loader))

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(calls) == 1
    assert all(r is results[0] for r in results) and len(results) == 8


def test_forget_makes_the_next_request_load_again():
    first = serving.get_or_load("task/v1", object)

    serving.forget("task/v1")

    assert serving.get_or_load("task/v1", object) is not first


def test_unknown_quantization_setting_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("LLM_DEVICE", "cpu")
    monkeypatch.setenv("LLM_QUANTIZE", "int3")

    with pytest.raises(ValueError, match="unknown LLM_QUANTIZE 'int3'"):
        serving.get_base_model()


@pytest.mark.slow
@pytest.mark.parametrize("drafts_help", [True, False])
def test_base_model_is_loaded_once_and_drafts_for_itself_where_drafts_help(monkeypatch, drafts_help):
    monkeypatch.setenv("LLM_DEVICE", "cpu")
    monkeypatch.delenv("LLM_QUANTIZE", raising=False)
    monkeypatch.setattr(quantize, "int4_drafts_help", lambda: drafts_help)

    model, tokenizer = serving.get_base_model()

    assert serving.get_base_model()[0] is model
    if drafts_help:
        assert serving.get_base_draft() is serving.get_base_draft() is not None
    else:
        assert serving.get_base_draft() is None  # an int4 draft would slow this CPU down
    assert tokenizer.eos_token == "<|im_end|>"
