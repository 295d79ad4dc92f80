"""Second moment C = E[k k^T] of a layer's FFN keys, cached on disk per (key revision, layer, corpus).

ROME's update spreads the change along C^-1 k*, so that keys the model sees often move least. C needs
tens of thousands of token positions; computing it is the slowest part of an edit, so it is cached and
never recomputed for an unchanged revision. The revision is a hash of exactly the parameters that
determine the keys of that layer (embeddings, earlier blocks, this block's parameters except the
down-projection itself). An edit of layer l's down-projection therefore keeps layer l's statistics
valid, and a lineage of ROME edits at one layer reuses one file.

Statistics accumulate in float64 on CPU-sized layers and float32 on large ones, never in half precision.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import PreTrainedTokenizerBase

from workers.engine.ffn import FfnSite
from workers.engine.instances import pad_batch


@dataclass
class LayerStats:
    layer: int
    mom2: torch.Tensor  # (d_ff, d_ff), float32
    count: int
    revision: str
    from_cache: bool


def key_revision(model: torch.nn.Module, site: FfnSite, blocks: list[torch.nn.Module]) -> str:
    """sha256 over the parameters that can influence layer ``site.layer``'s keys.

    That is every parameter outside the blocks (embeddings; the final norm and head are included too,
    which costs nothing since editors never touch them) plus blocks 0..l, except layer l's
    down-projection: its own edits leave its keys, and so its statistics, unchanged.
    """
    later = {id(p) for block in blocks[site.layer + 1 :] for p in block.parameters()}
    later |= {id(p) for p in site.down_proj.parameters()}
    digest = hashlib.sha256()
    for name, param in model.named_parameters():
        if id(param) in later:
            continue
        digest.update(name.encode())
        digest.update(param.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:24]


def _corpus_id(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


@torch.no_grad()
def compute_mom2(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    site: FfnSite,
    texts: list[str],
    *,
    device: torch.device,
    max_positions: int,
    batch_size: int = 16,
    max_length: int = 128,
) -> tuple[torch.Tensor, int]:
    """Accumulate sum k k^T over the corpus' non-padding positions at the site's down-projection input."""
    acc_dtype = torch.float64 if site.d_ff <= 4096 else torch.float32
    mom2 = torch.zeros((site.d_ff, site.d_ff), dtype=acc_dtype, device=device)
    count = 0
    captured: dict[str, torch.Tensor] = {}

    def grab(keys):
        captured["keys"] = keys

    handle = site.hook_key(grab)
    try:
        for start in range(0, len(texts), batch_size):
            if count >= max_positions:
                break
            chunk = texts[start : start + batch_size]
            sequences = [tokenizer(t, truncation=True, max_length=max_length)["input_ids"] for t in chunk]
            sequences = [s for s in sequences if s]
            if not sequences:
                continue
            ids, mask = pad_batch(sequences, tokenizer.pad_token_id or 0, device)
            model(input_ids=ids, attention_mask=mask)
            keys = captured["keys"][mask.bool()].to(acc_dtype)
            mom2 += keys.T @ keys
            count += keys.shape[0]
    finally:
        handle.remove()
    if count == 0:
        raise ValueError("the statistics corpus produced no tokens")
    return (mom2 / count).float().cpu(), count


def layer_stats(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    site: FfnSite,
    texts: list[str],
    *,
    device: torch.device,
    cache_dir: Path,
    max_positions: int,
    blocks: list[torch.nn.Module],
) -> LayerStats:
    """C for the site: read from the cache when this revision, layer and corpus were seen before."""
    revision = key_revision(model, site, blocks)
    path = Path(cache_dir) / "mom2" / revision / f"layer{site.layer}-{_corpus_id(texts)}-{max_positions}.safetensors"
    if path.is_file():
        data = load_file(str(path))
        meta = json.loads(path.with_suffix(".json").read_text())
        return LayerStats(site.layer, data["mom2"], int(meta["count"]), revision, from_cache=True)
    mom2, count = compute_mom2(model, tokenizer, site, texts, device=device, max_positions=max_positions)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({"mom2": mom2.contiguous()}, str(tmp))
    path.with_suffix(".json").write_text(json.dumps({"count": count, "layer": site.layer, "revision": revision}))
    tmp.replace(path)  # atomic: a crashed computation never leaves a half-written cache entry
    return LayerStats(site.layer, mom2, count, revision, from_cache=False)
