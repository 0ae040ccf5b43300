"""LoRA adapters on the top layers of SmolLM2 only, as the copywriter trains and serves them.

llm_core.lora wraps every matching Linear of a model. Copywriter adapts only the last few blocks: training
then back-propagates through those blocks alone (the frozen ones below run without autograd), which is what
makes fine-tuning a 135M model affordable on a shared CPU, and copy style is decided near the top anyway.
The file is llm_core's adapter format (safetensors, LoRAConfig in the metadata) plus the adapted layers.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from llm_core.lora import LoRAConfig, apply_lora, lora_parameters
from llm_core.model import Transformer


def attach(model: Transformer, config: LoRAConfig, layers: Sequence[int]) -> None:
    """Freeze the whole model and add trainable adapters to the given blocks."""
    for param in model.parameters():
        param.requires_grad_(False)
    for index in layers:
        apply_lora(model.layers[index], config)
    model.lora_config = config
    model.lora_layers = tuple(layers)


def save(model: Transformer, path: str | Path) -> None:
    """Write the adapter weights with their settings and layer list."""
    tensors = {name: p.detach().contiguous().cpu() for name, p in lora_parameters(model).items()}
    metadata = {"lora_config": json.dumps(asdict(model.lora_config)), "layers": json.dumps(list(model.lora_layers))}
    save_file(tensors, str(path), metadata=metadata)


def load(model: Transformer, path: str | Path) -> None:
    """Add the adapters saved at `path` to a base model and load their weights (strict: names must match)."""
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
        if "lora_config" not in metadata or "layers" not in metadata:
            raise ValueError(f"{path} is not a copywriter adapter file (no lora_config/layers metadata)")
        raw = json.loads(metadata["lora_config"])
        tensors = {key: f.get_tensor(key) for key in f.keys()}
    attach(model, LoRAConfig(**{**raw, "targets": tuple(raw["targets"])}), json.loads(metadata["layers"]))
    params = lora_parameters(model)
    if set(params) != set(tensors):
        raise ValueError(f"{path}: adapters do not match the model ({sorted(set(params) ^ set(tensors))[:3]})")
    with torch.no_grad():
        for name, tensor in tensors.items():
            params[name].copy_(tensor.to(params[name].dtype))
