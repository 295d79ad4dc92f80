"""FPGA: fine-grained pluggable gradient ascent (Feng, Chen, Li, Lin, EMNLP 2024).

Gradient ascent on the texts that carry the PII, where every token's loss has its own weight:

    L = sum_t w_t * log p(x_t | x_<t)  +  lambda * KL(p_orig || p_theta) on retain text

Minimising L raises the negative log-likelihood of sensitive tokens. The weight says how sensitive a
token is: high inside the request's PII spans and in spans an offline recogniser flags (phone, e-mail,
street address, IBAN, card, ID numbers), scaled up by the model's own memorisation signal (how probable
the original model found the token); low for ordinary words so fluency survives. A token whose
probability has already dropped below a floor stops pulling (its weight becomes zero), which keeps the
ascent from running away. Only the FFN blocks of the layers DEPN located are trained, and the loop stops
as soon as the leak check passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from rtbf.pii import recognise
from rtbf.request import ForgetRequest
from rtbf.settings import EngineSettings
from workers.engine.ffn import FfnSite
from workers.engine.instances import PiiInstance, join_context, pad_batch

FLOOR_LOG_PROB = -12.0  # below ~6e-6 a token no longer needs pushing down


@dataclass
class WeightedText:
    ids: list[int]
    weights: list[float]  # weight of predicting ids[t] (index 0 unused)


def _char_weights(text: str, sensitive: list[tuple[int, int]], pii_weight: float, ordinary_weight: float) -> list[float]:
    weights = [ordinary_weight] * len(text)
    for start, end in sensitive:
        for c in range(max(0, start), min(len(text), end)):
            weights[c] = pii_weight
    return weights


def weighted_texts(
    tokenizer: PreTrainedTokenizerBase,
    requests: list[ForgetRequest],
    instances: list[PiiInstance],
    settings: EngineSettings,
) -> list[WeightedText]:
    """Token-weighted forget texts: each (context, value) instance and each document of the requests."""
    texts: list[tuple[str, list[tuple[int, int]]]] = []
    for inst in instances:
        text, value_char = join_context(inst.context, inst.item.value)
        texts.append((text, [(value_char, len(text))]))
    for request in requests:
        for doc in request.documents:
            spans = [(s.start, s.end) for s in doc.spans]
            for item in request.all_items():
                at = doc.text.find(item.value)
                while at >= 0:
                    spans.append((at, at + len(item.value)))
                    at = doc.text.find(item.value, at + 1)
            texts.append((doc.text, spans))
    out = []
    for text, spans in texts:
        spans = spans + [(r.start, r.end) for r in recognise(text)]
        char_w = _char_weights(text, spans, settings.fpga_pii_weight, settings.fpga_ordinary_weight)
        enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
        weights = [max(char_w[s:e], default=0.0) if e > s else 0.0 for s, e in enc["offset_mapping"]]
        out.append(WeightedText(enc["input_ids"], weights))
    return out


def trainable_parameters(sites: list[FfnSite], layers: list[int]) -> list[torch.nn.Parameter]:
    params: list[torch.nn.Parameter] = []
    seen: set[int] = set()
    for layer in layers:
        for p in sites[layer].mlp.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    return params


def _batch_logp(model, ids, mask) -> torch.Tensor:
    return torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits[:, :-1].float(), dim=-1)


def fpga_edit(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    sites: list[FfnSite],
    layers: list[int],
    forget: list[WeightedText],
    retain_texts: list[str],
    settings: EngineSettings,
    device: torch.device,
    is_clean: Callable[[], bool],
) -> dict:
    """Run weighted gradient ascent on ``layers`` until ``is_clean()`` or the step budget; returns a summary."""
    pad_id = tokenizer.pad_token_id or 0
    f_ids, f_mask = pad_batch([t.ids for t in forget], pad_id, device)
    f_w = torch.zeros(f_ids.shape, device=device)
    for row, t in enumerate(forget):
        f_w[row, : len(t.weights)] = torch.tensor(t.weights, device=device)
    f_w = f_w[:, 1:] * f_mask[:, 1:]
    targets = f_ids[:, 1:]

    retain_seqs = [tokenizer(t, truncation=True, max_length=96)["input_ids"] for t in retain_texts]
    retain_seqs = [s for s in retain_seqs if len(s) > 1]
    r_ids, r_mask = pad_batch(retain_seqs, pad_id, device) if retain_seqs else (None, None)

    with torch.no_grad():
        base_lp = _batch_logp(model, f_ids, f_mask).gather(-1, targets[..., None]).squeeze(-1)
        # memorisation signal: a sensitive token the model predicts confidently is weighted up to 2x
        f_w = f_w * (1.0 + base_lp.exp())
        r_ref = _batch_logp(model, r_ids, r_mask) if r_ids is not None else None

    params = trainable_parameters(sites, layers)
    previous_flags = [(p, p.requires_grad) for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    optimiser = torch.optim.Adam(params, lr=settings.fpga_lr)
    steps_run = 0
    clean = is_clean()
    history = []
    try:
        while not clean and steps_run < settings.fpga_max_steps:
            model.train(False)  # no dropout: the ascent must be deterministic and match evaluation
            optimiser.zero_grad()
            lp = _batch_logp(model, f_ids, f_mask).gather(-1, targets[..., None]).squeeze(-1)
            active = (lp > FLOOR_LOG_PROB).float()
            weight_sum = (f_w * active).sum().clamp(min=1e-6)
            forget_loss = (f_w * active * lp).sum() / weight_sum
            loss = forget_loss
            retain_loss = torch.zeros((), device=device)
            if r_ref is not None and settings.fpga_retain_weight > 0:
                r_lp = _batch_logp(model, r_ids, r_mask)
                kl = (r_ref.exp() * (r_ref - r_lp)).sum(-1)
                retain_loss = (kl * r_mask[:, 1:]).sum() / r_mask[:, 1:].sum()
                loss = loss + settings.fpga_retain_weight * retain_loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimiser.step()
            steps_run += 1
            if steps_run % settings.fpga_check_every == 0 or steps_run == settings.fpga_max_steps:
                clean = is_clean()
                history.append(
                    {"step": steps_run, "forget_logp": round(float(forget_loss), 4), "retain_kl": round(float(retain_loss), 5)}
                )
    finally:
        for p, flag in previous_flags:
            p.requires_grad_(flag)
        optimiser.zero_grad(set_to_none=True)
    return {"layers": layers, "steps": steps_run, "clean": clean, "history": history, "trained_parameters": sum(p.numel() for p in params)}
