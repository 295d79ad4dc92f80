"""ROME rank-one editing (Meng et al., NeurIPS 2022), turned from inserting a fact to erasing one.

For every name of every subject (aliases get their own key), at one FFN layer:

* ``k*`` -- the down-projection's input at the name's last token, averaged over the bare name and
  model-written prefixes ('{prefix}. {name}'), so the edit fires whatever precedes the name.
* ``delta`` -- a vector added to the down-projection's output at that position, optimised so that in
  every context that leads to the subject's PII the model's distribution over the value tokens becomes
  that of a *stranger* (the same contexts with unknown names: a person the model never met), with an
  unlikelihood term on the true value's tokens, plus ``kl_weight * KL`` on '{name} is a' so the rest of
  what the model knows about the subject is kept, a weight decay on ||delta|| and a norm clamp. An
  explicit refusal target can replace the stranger objective (``rome_target`` with objective "target").
* The update makes ``W k_i = W k_i + delta_i`` hold exactly for all keys while moving W as little as
  possible under the key statistics C = E[k k^T]:
      dW = R (K^T C^-1 K)^-1 (C^-1 K)^T,
  which for one key is ROME's  (v* - W k*)(C^-1 k*)^T / ((C^-1 k*)^T k*).
  All subjects of a request are edited in this one solve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from rtbf.joins import join_value
from rtbf.prompts import subject_prompt
from rtbf.settings import EngineSettings
from workers.engine.editors.value_keys import capture_keys
from workers.engine.ffn import FfnSite
from workers.engine.instances import (
    PiiInstance,
    encode_instance,
    encode_with_offsets,
    last_token_of,
    pad_batch,
)
from workers.engine.locate import frozen_parameters

PLATEAU_STEPS = 8  # v* steps without PLATEAU_NATS of progress on the most leaking row before giving up
PLATEAU_NATS = 0.05
STRANGER_NAMES = ["Nadia Okonkwo-Berg", "Tomasz Villanueva", "Ingrid Sato", "Omar Delacroix"]


@dataclass
class _Row:
    ids: list[int]
    subject_pos: int
    value_start: int  # first value token; 0 for the essence row (no value)
    target: torch.Tensor | None = None  # stranger distribution over the value-predicting positions


@dataclass
class KeyEdit:
    subject: int
    name_hash: str
    key: torch.Tensor  # (d_ff,)
    delta: torch.Tensor  # (d_model,)
    rows: int
    final_max_logprob: float
    delta_norm_ratio: float


def compute_key(
    model, tokenizer, site: FfnSite, name: str, prefixes: list[str], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """k* (mean key over the bare name and prefixed names) and the mean original output there."""
    seqs, positions = [], []
    for text in [name] + [f"{p} {name}" for p in prefixes]:
        found = last_token_of(tokenizer, text, name)
        if found is not None:
            seqs.append(found[0])
            positions.append(found[1])
    spans = [range(p, p + 1) for p in positions]
    keys, outs = capture_keys(model, site, seqs, spans, tokenizer.pad_token_id or 0, device)
    return keys.mean(0), outs.mean(0)


def name_token(offsets: list[tuple[int, int]], text: str, name: str, before: int) -> int | None:
    """Index of the token holding the last character of the last mention of ``name`` that ends before
    character ``before``, among tokens with these character ``offsets``; None when the name is not among
    them (not mentioned, or cut off with the start of a long context)."""
    at = text.rfind(name, 0, before)
    if at < 0:
        return None
    last_char = at + len(name) - 1
    return next((i for i, (start, end) in enumerate(offsets) if start <= last_char < end), None)


def _value_rows(
    tokenizer: PreTrainedTokenizerBase, name: str, instances: list[PiiInstance], prefixes: list[str]
) -> list[tuple[_Row, str, PiiInstance]]:
    """Rows (ids, subject position, value start), with the context and the instance they come from, for every
    instance context that names the subject."""
    rows = []
    for inst in instances:
        if name not in inst.context:
            continue
        for prefix in [""] + prefixes:
            context = f"{prefix} {inst.context}" if prefix else inst.context
            encoded = encode_with_offsets(tokenizer, context, inst.item.value, inst.tail)
            if encoded is None:
                continue
            ids, offsets, value_start, _ = encoded
            _, value_char = join_value(context, inst.item.value)
            subject_at = name_token(offsets[:value_start], context, name, value_char)
            if subject_at is None:
                continue
            rows.append((_Row(ids, subject_at, value_start), context, inst))
    return rows


@torch.no_grad()
def _stranger_targets(
    model, tokenizer, rows: list[tuple[_Row, str, PiiInstance]], name: str, pad_id: int, device: torch.device
) -> None:
    """Fill each row's target: mean next-token distribution of the same context with stranger names."""
    strangers = [s for s in STRANGER_NAMES if s != name]
    for row, context, inst in rows:
        n_value = len(row.ids) - row.value_start
        seqs = []
        for stranger in strangers:
            encoded = encode_instance(tokenizer, context.replace(name, stranger), inst.item.value, inst.tail)
            if encoded and encoded[0][encoded[1] :] == row.ids[row.value_start :]:
                seqs.append(encoded[0])
        if not seqs:
            continue
        ids, mask = pad_batch(seqs, pad_id, device)
        probs = torch.softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        dists = torch.stack([probs[i, len(s) - 1 - n_value : len(s) - 1] for i, s in enumerate(seqs)])
        row.target = dists.mean(0)


def compute_delta(
    model,
    tokenizer,
    site: FfnSite,
    name: str,
    instances: list[PiiInstance],
    prefixes: list[str],
    settings: EngineSettings,
    device: torch.device,
    original_output: torch.Tensor,
) -> tuple[torch.Tensor, int, float]:
    """Optimise delta for one name; returns (delta, rows used, final max log P(value | context))."""
    pad_id = tokenizer.pad_token_id or 0
    rows = _value_rows(tokenizer, name, instances, prefixes[:2])
    if not rows:
        return torch.zeros(site.d_model, device=device), 0, float("-inf")
    objective_target = settings.rome_objective == "target" and settings.rome_target
    if not objective_target:
        _stranger_targets(model, tokenizer, rows, name, pad_id, device)
    else:
        # Explicit refusal: replace the value with the configured text as the continuation to learn.
        refusal_rows = []
        for row, context, _inst in rows:
            encoded = encode_instance(tokenizer, context, settings.rome_target)
            if encoded and encoded[1] == row.value_start:
                refusal_rows.append(_Row(encoded[0], row.subject_pos, encoded[1]))
        targets_rows = refusal_rows
    essence = last_token_of(tokenizer, subject_prompt(name), name)
    value_rows = [r for r, _, _ in rows]
    all_rows = value_rows + (targets_rows if objective_target else [])
    seqs = [r.ids for r in all_rows]
    positions = [r.subject_pos for r in all_rows]
    essence_index = None
    if essence is not None:
        essence_index = len(seqs)
        seqs.append(essence[0])
        positions.append(essence[1])
    ids, mask = pad_batch(seqs, pad_id, device)
    row_idx = torch.arange(len(seqs), device=device)
    pos_idx = torch.tensor(positions, device=device)

    with torch.no_grad():
        base_logits = model(input_ids=ids, attention_mask=mask).logits.float()
    essence_ref = (
        torch.log_softmax(base_logits[essence_index, len(essence[0]) - 1], -1) if essence_index is not None else None
    )

    ref_norm = original_output.norm().clamp(min=1e-6)
    delta = torch.zeros(site.d_model, device=device, requires_grad=True)
    lr = settings.rome_v_lr * float(ref_norm) / math.sqrt(site.d_model)
    optimiser = torch.optim.Adam([delta], lr=lr)
    max_norm = settings.rome_clamp_norm_factor * ref_norm

    def add_delta(output):
        out = output.clone()
        out[row_idx, pos_idx] = out[row_idx, pos_idx] + delta.to(out.dtype)
        return out

    handle = site.hook_output(add_delta)
    final_max = float("inf")
    best, stale = float("inf"), 0
    try:
        with frozen_parameters(model):  # gradients only w.r.t. the residuals: no weight grads
            for _step in range(settings.rome_v_steps):
                optimiser.zero_grad()
                logits = model(input_ids=ids, attention_mask=mask).logits.float()
                logp = torch.log_softmax(logits, dim=-1)
                forget_terms, ul_terms, seq_lps, greedy = [], [], [], []
                for i, row in enumerate(value_rows):
                    span = slice(row.value_start - 1, len(row.ids) - 1)
                    lp = logp[i, span]
                    y = torch.tensor(row.ids[row.value_start :], device=device)
                    token_lp = lp.gather(-1, y[:, None]).squeeze(-1)
                    seq_lps.append(token_lp.sum().detach())
                    greedy.append(bool((lp.argmax(-1) == y).all()))
                    ul_terms.append(-torch.log1p(-token_lp.exp().clamp(max=1 - 1e-6)).mean())
                    if row.target is not None:
                        forget_terms.append((row.target * (row.target.clamp_min(1e-12).log() - lp)).sum(-1).mean())
                loss = torch.stack(ul_terms).mean()
                if forget_terms:
                    loss = loss + torch.stack(forget_terms).mean()
                if objective_target:
                    refusal = []
                    for j, row in enumerate(targets_rows):
                        i = len(value_rows) + j
                        y = torch.tensor(row.ids[row.value_start :], device=device)
                        refusal.append(-logp[i, row.value_start - 1 : len(row.ids) - 1].gather(-1, y[:, None]).mean())
                    if refusal:
                        loss = loss + torch.stack(refusal).mean()
                if essence_ref is not None:
                    now = logp[essence_index, len(essence[0]) - 1]
                    loss = loss + settings.rome_kl_weight * torch.sum(essence_ref.exp() * (essence_ref - now))
                loss = loss + settings.rome_weight_decay * (delta.norm() / ref_norm) ** 2
                final_max = float(torch.stack(seq_lps).max())
                if not any(greedy) and final_max < math.log(settings.rome_value_prob_ceiling) and _step > 0:
                    break
                # A site that cannot carry the edit (the value is read from elsewhere, e.g. from the name's
                # token embeddings by an earlier attention layer) shows no progress: stop instead of spending
                # the whole budget, so ``auto`` moves on quickly.
                if final_max < best - PLATEAU_NATS:
                    best, stale = final_max, 0
                else:
                    stale += 1
                    if stale >= PLATEAU_STEPS:
                        break
                loss.backward()
                optimiser.step()
                with torch.no_grad():
                    if delta.norm() > max_norm:
                        delta.mul_(max_norm / delta.norm())
    finally:
        handle.remove()
    return delta.detach(), len(value_rows), final_max


def apply_rank_update(site: FfnSite, keys: torch.Tensor, deltas: torch.Tensor, mom2: torch.Tensor) -> torch.Tensor:
    """W += R (K^T C^-1 K)^-1 (C^-1 K)^T, so that W' k_i = W k_i + delta_i exactly. Returns dW.

    keys: (n, d_ff), deltas: (n, d_model), mom2: (d_ff, d_ff). Solved in float64 for stability; a small
    ridge keeps C invertible when the corpus did not excite every direction.
    """
    weight = site.weight()
    C = mom2.to(torch.float64).to(weight.device)
    ridge = 1e-4 * torch.diagonal(C).mean().clamp(min=1e-8)
    C = C + ridge * torch.eye(C.shape[0], dtype=C.dtype, device=C.device)
    K = keys.T.to(torch.float64).to(weight.device)  # (d_ff, n)
    R = deltas.T.to(torch.float64).to(weight.device)  # (d_model, n)
    U = torch.linalg.solve(C, K)  # C^-1 K
    G = K.T @ U  # (n, n)
    # Two names can share a key (an alias that tokenises to the same last token and context): the pseudo-
    # inverse realises their (averaged) residual instead of failing on a singular system.
    dW = R @ torch.linalg.pinv(G, hermitian=True) @ U.T  # (d_model, d_ff)
    with torch.no_grad():
        weight.add_(dW.to(weight.dtype))
    return dW
