"""LoRA adapters (Hu et al., 2021) on chosen nn.Linear modules, matched by module name.

`apply_lora` swaps each targeted nn.Linear for a LoRALinear that keeps the very same weight Parameter (so the
state-dict key `...q_proj.weight` is unchanged and base checkpoints still load) and adds two small matrices,
lora_A (rank, in) and lora_B (out, rank): y = x W^T + scaling * dropout(x) A^T B^T. Everything that is not
an adapter is frozen. `merge_lora` folds the adapters back into plain nn.Linear weights for serving;
`save_lora` / `load_lora` move only the adapter weights, as safetensors with the LoRA settings in the header.
"""
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LoRAConfig:
    rank: int = 8
    alpha: float = 16.0  # scaling = alpha / rank, so changing the rank does not change the update's size
    dropout: float = 0.0
    targets: tuple[str, ...] = DEFAULT_TARGETS

    @property
    def scaling(self) -> float:
        return self.alpha / self.rank


class LoRALinear(nn.Linear):
    """An nn.Linear plus a trainable low-rank update; `weight` (and `bias`) are the frozen base's own tensors."""

    def __init__(self, base: nn.Linear, config: LoRAConfig):
        nn.Module.__init__(self)  # skip nn.Linear.__init__: it would allocate a fresh weight we do not want
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self.scaling = config.scaling
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.Parameter(torch.empty(config.rank, self.in_features, **factory))
        # B starts at zero so the adapted model is exactly the base model at step 0.
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, config.rank, **factory))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # nn.Linear's own init, as PEFT does
        self.lora_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = F.linear(F.linear(self.lora_dropout(x), self.lora_A), self.lora_B)  # (..., in) -> (..., out)
        return F.linear(x, self.weight, self.bias) + update * self.scaling

    def merged(self) -> nn.Linear:
        """A plain nn.Linear whose weight is W + scaling * B A."""
        linear = nn.Linear(
            self.in_features, self.out_features, bias=self.bias is not None,
            device=self.weight.device, dtype=self.weight.dtype,
        )
        with torch.no_grad():
            delta = (self.lora_B.float() @ self.lora_A.float()) * self.scaling  # (out, in)
            linear.weight.copy_((self.weight.float() + delta).to(self.weight.dtype))
            if self.bias is not None:
                linear.bias.copy_(self.bias)
        return linear


def _replace_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def apply_lora(model: nn.Module, config: LoRAConfig = LoRAConfig()) -> list[str]:
    """Wrap every nn.Linear (llm_core.model.Linear included) whose last name part is in config.targets; freeze the
    rest. Returns wrapped names."""
    if config.rank < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {config.rank}")
    names = [
        name for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and not isinstance(module, LoRALinear)
        and name.rpartition(".")[2] in config.targets
    ]
    if not names:
        raise ValueError(f"no nn.Linear module is named one of {config.targets}")
    for param in model.parameters():
        param.requires_grad_(False)
    for name in names:
        _replace_module(model, name, LoRALinear(model.get_submodule(name), config))
    model.lora_config = config  # remembered so save_lora can write the settings next to the weights
    return names


def lora_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The adapter parameters by their state-dict names."""
    return {name: p for name, p in model.named_parameters() if name.endswith((".lora_A", ".lora_B"))}


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every adapter into its base weight, in place, leaving plain nn.Linear modules; returns the model."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            _replace_module(model, name, module.merged())
    if hasattr(model, "lora_config"):
        del model.lora_config
    return model


def save_lora(model: nn.Module, path: str | Path) -> None:
    """Write the adapter weights only (safetensors), with the LoRAConfig as JSON in the file's metadata."""
    config = getattr(model, "lora_config", None)
    if config is None:
        raise ValueError("the model has no LoRA adapters (call apply_lora first)")
    tensors = {name: p.detach().contiguous().cpu() for name, p in lora_parameters(model).items()}
    save_file(tensors, str(path), metadata={"lora_config": json.dumps(asdict(config))})


def load_lora(model: nn.Module, path: str | Path) -> LoRAConfig:
    """Add adapters as saved in `path` (with its settings) to a base model and load their weights."""
    with safe_open(str(path), framework="pt") as f:
        raw = json.loads(f.metadata()["lora_config"])
        config = LoRAConfig(**{**raw, "targets": tuple(raw["targets"])})
        tensors = {key: f.get_tensor(key) for key in f.keys()}
    apply_lora(model, config)
    params = lora_parameters(model)
    if set(params) != set(tensors):
        missing, extra = sorted(set(params) - set(tensors)), sorted(set(tensors) - set(params))
        raise ValueError(f"{path}: adapters do not match the model (missing {missing[:3]}, unexpected {extra[:3]})")
    with torch.no_grad():
        for name, tensor in tensors.items():
            params[name].copy_(tensor)
    return config
