import json
import shutil

import pytest
import torch

from llm_core import registry as registry_module
from llm_core.model import ModelConfig, Transformer
from llm_core.registry import (
    CorruptArtifactFile,
    MissingArtifactFile,
    NoActiveVersion,
    Registry,
    RegistryError,
    VersionNotFound,
    load_weights,
    write_model_files,
)

TINY = ModelConfig(vocab_size=64, n_layer=1, n_embd=16, n_head=2, n_kv_head=1, intermediate_size=32, max_seq_len=16)


@pytest.fixture
def registry(tmp_path):
    return Registry(tmp_path / "models")


@pytest.fixture
def model_files(tmp_path):
    """A directory ready to register: config.json + model.safetensors of a tiny model."""
    torch.manual_seed(0)
    model = Transformer(TINY)
    directory = write_model_files(tmp_path / "staged", model, TINY.to_dict())
    return directory, model


def test_register_writes_a_complete_version_with_metrics_and_card(registry, model_files):
    source, _ = model_files

    version = registry.register("chat", source, version="v1", metrics={"eval_loss": 1.5})

    path = registry.task_dir("chat") / "v1"
    assert version == "v1"
    assert sorted(p.name for p in path.iterdir()) == ["README.md", "config.json", "metrics.json", "model.safetensors"]
    assert json.loads((path / "metrics.json").read_text()) == {"eval_loss": 1.5}
    assert "chat v1" in (path / "README.md").read_text()
    assert registry.list_versions("chat") == ["v1"]
    assert registry.active_version("chat") is None


def test_register_without_a_version_names_it_by_timestamp(registry, model_files):
    source, _ = model_files

    first = registry.register("chat", source, metrics={})
    second = registry.register("chat", source, metrics={})

    assert first != second
    assert registry.list_versions("chat") == sorted([first, second])


def test_loaded_artifact_rebuilds_the_same_model(registry, model_files):
    source, model = model_files
    registry.register("chat", source, version="v1", metrics={"eval_loss": 1.5}, activate=True)

    artifact = registry.load_artifact("chat")
    rebuilt = load_weights(Transformer(ModelConfig(**artifact.config)), artifact)

    ids = torch.randint(0, TINY.vocab_size, (1, 8))
    assert artifact.version == "v1" and artifact.metrics == {"eval_loss": 1.5}
    assert torch.equal(rebuilt(ids)[0], model(ids)[0])
    assert rebuilt.lm_head.weight is rebuilt.embed_tokens.weight


def test_a_crash_while_copying_leaves_no_version_visible(registry, model_files, monkeypatch):
    source, _ = model_files

    def copy_one_file_then_crash(src, dst):
        dst.mkdir()
        shutil.copyfile(src / "config.json", dst / "config.json")
        raise OSError("disk full")

    monkeypatch.setattr(registry_module.shutil, "copytree", copy_one_file_then_crash)
    with pytest.raises(OSError, match="disk full"):
        registry.register("chat", source, version="v1", metrics={})

    assert registry.list_versions("chat") == []
    assert not (registry.task_dir("chat") / "v1").exists()
    assert list(registry.task_dir("chat").iterdir()) == []  # the half-filled staging directory is gone too


def test_a_crash_just_before_publishing_leaves_no_version_visible(registry, model_files, monkeypatch):
    source, _ = model_files

    def crash(*args):
        raise OSError("killed")

    monkeypatch.setattr(registry_module.os, "rename", crash)
    with pytest.raises(OSError, match="killed"):
        registry.register("chat", source, version="v1", metrics={})

    assert registry.list_versions("chat") == []
    assert list(registry.task_dir("chat").iterdir()) == []


def test_a_crash_while_writing_the_pointer_keeps_the_old_pointer(registry, model_files, monkeypatch):
    source, _ = model_files
    registry.register("chat", source, version="v1", metrics={}, activate=True)
    registry.register("chat", source, version="v2", metrics={})

    def crash(*args):
        raise OSError("power cut")

    monkeypatch.setattr(registry_module.os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        registry.activate("chat", "v2")

    assert registry.active_version("chat") == "v1"
    assert not [p for p in registry.task_dir("chat").iterdir() if p.name.endswith(".tmp")]


def test_a_version_missing_a_required_file_is_refused(registry, model_files):
    source, _ = model_files
    (source / "config.json").unlink()

    with pytest.raises(MissingArtifactFile, match=r"config\.json: missing"):
        registry.register("chat", source, version="v1", metrics={})

    assert registry.list_versions("chat") == []


def test_activate_and_rollback_walk_the_history(registry, model_files):
    source, _ = model_files
    for version in ("v1", "v2", "v3"):
        registry.register("chat", source, version=version, metrics={})

    registry.activate("chat", "v1")
    registry.activate("chat", "v2")
    registry.activate("chat", "v3")

    assert registry.active_path("chat") == registry.task_dir("chat") / "v3"
    assert registry.rollback("chat") == "v2"
    assert registry.active_version("chat") == "v2"
    assert registry.rollback("chat") == "v1"
    with pytest.raises(RegistryError, match="no earlier version"):
        registry.rollback("chat")
    assert registry.active_version("chat") == "v1"


def test_rollback_after_a_crash_between_pointer_and_history_still_finds_the_previous_version(registry, model_files):
    source, _ = model_files
    registry.register("chat", source, version="v1", metrics={}, activate=True)
    registry.register("chat", source, version="v2", metrics={})
    # As if activate("v2") died after writing ACTIVE and before appending to HISTORY.
    (registry.task_dir("chat") / "ACTIVE").write_text("v2\n")

    assert registry.rollback("chat") == "v1"


def test_unknown_versions_and_tasks_give_clear_errors(registry, model_files):
    source, _ = model_files
    registry.register("chat", source, version="v1", metrics={})

    with pytest.raises(VersionNotFound, match="chat/v9"):
        registry.activate("chat", "v9")
    with pytest.raises(NoActiveVersion, match="'chat' has no active version"):
        registry.active_path("chat")
    with pytest.raises(NoActiveVersion):
        registry.load_artifact("chat")
    with pytest.raises(RegistryError, match="invalid version name"):
        registry.activate("chat", "../v1")


def test_corrupt_weights_are_reported_with_the_file_name(registry, model_files):
    source, _ = model_files
    registry.register("chat", source, version="v1", metrics={}, activate=True)
    weights = registry.task_dir("chat") / "v1" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])

    with pytest.raises(CorruptArtifactFile) as error:
        registry.load_artifact("chat")

    assert error.value.path == weights
    assert str(weights) in str(error.value)


def test_corrupt_json_is_reported_with_the_file_name(registry, model_files):
    source, _ = model_files
    registry.register("chat", source, version="v1", metrics={}, activate=True)
    metrics = registry.task_dir("chat") / "v1" / "metrics.json"
    metrics.write_text("{not json")

    with pytest.raises(CorruptArtifactFile, match=r"metrics\.json: is not valid JSON"):
        registry.load_artifact("chat")


def test_a_deleted_file_of_the_active_version_is_named(registry, model_files):
    source, _ = model_files
    registry.register("chat", source, version="v1", metrics={}, activate=True)
    (registry.task_dir("chat") / "v1" / "model.safetensors").unlink()

    with pytest.raises(MissingArtifactFile, match=r"v1/model\.safetensors: missing"):
        registry.load_artifact("chat")
