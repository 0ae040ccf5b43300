"""`manage.py models list|activate|rollback` over the registry in settings.MODEL_DIR."""
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from llm_core.model import ModelConfig, Transformer
from llm_core.registry import Registry, write_model_files

TINY = ModelConfig(vocab_size=32, n_layer=1, n_embd=16, n_head=2, n_kv_head=1, intermediate_size=32, max_seq_len=16)


@pytest.fixture
def registry(settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "models"
    source = write_model_files(tmp_path / "staged", Transformer(TINY), TINY.to_dict())
    registry = Registry(settings.MODEL_DIR)
    registry.register("copywriter", source, version="v1", metrics={"eval_loss": 2.5}, activate=True)
    registry.register("copywriter", source, version="v2", metrics={"eval_loss": 2.25})
    return registry


def run(*args: str) -> str:
    out = StringIO()
    call_command("models", *args, stdout=out)
    return out.getvalue()


def test_list_marks_the_active_version_and_shows_metrics(registry):
    output = run("list")

    assert output.splitlines() == [
        "copywriter (active: v1)",
        "  * v1  eval_loss=2.5",
        "    v2  eval_loss=2.25",
    ]


def test_activate_then_rollback(registry):
    assert "v2 is active" in run("activate", "copywriter", "v2")
    assert registry.active_version("copywriter") == "v2"

    assert "rolled back to v1" in run("rollback", "copywriter")
    assert registry.active_version("copywriter") == "v1"


def test_errors_are_command_errors_with_the_reason(registry):
    with pytest.raises(CommandError, match="copywriter/v7 does not exist"):
        run("activate", "copywriter", "v7")
    with pytest.raises(CommandError, match="no earlier version"):
        run("rollback", "copywriter")


def test_list_skips_folders_that_are_not_tasks(registry, settings):
    (settings.MODEL_DIR / "base" / "smollm2-135m-instruct").mkdir(parents=True)  # a converted-weights cache
    (settings.MODEL_DIR / "base" / "smollm2-135m-instruct" / "config.json").write_text("{}")
    (settings.MODEL_DIR / "embeddings-cache").mkdir()

    assert run("list").splitlines()[0] == "copywriter (active: v1)"
    assert "base" not in run("list")


def test_list_on_an_empty_model_dir(settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "empty"

    assert run("list") == f"no models under {tmp_path / 'empty'}\n"
