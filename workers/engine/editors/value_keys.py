"""ROME keyed where the value is predicted: the rank-limited edit for models that recall past the subject.

ROME's classic key is the FFN input at the subject's last token (``rome.py``). That works when the model
recalls a fact by building it up at the subject's position and reading it from there later. A model may
instead read the name's token embeddings from the positions that predict the value, through attention,
before any FFN at the subject's position has acted: on the 4-layer demo models, no rank-one edit keyed at
the subject changed what they produce. DEPN already attributes at the value-predicting positions, so the
same positions are keyed here:

* keys ``k_j``: the down-projection's input at every position that predicts a value token, in every
  context of the request (and the same contexts after model-written prefixes);
* residuals ``d_j``: vectors added to the down-projection's output at those positions, optimised so that
  the model's next-token distributions there become a *stranger's* (the same context with the subject's
  names swapped for other names, ``workers.verify.strangers``: what the model says about a person it never
  met), with an unlikelihood term on the value's own tokens, a weight decay and a norm clamp per position;
* one least-squares solve for all keys (MEMIT's form, Meng et al., ICLR 2023): a soft constraint, since
  the keys of one request are many and nearly collinear,

      dW = D^T K (lambda * C + K^T K + K_s^T K_s)^-1

  where C = E[k k^T] over the statistics corpus (what keeps the rest of the model's inputs mapped as
  before) and K_s are keys at the same phrasings about strangers, continued by the unedited model's own
  completion (``workers.engine.anchors``), held at zero change: "X's phone number is" must keep opening
  other people's phone numbers.

Every subject and item of the request is in the one solve; nothing here loops over neurons or people.
When the value keys far outnumber the layer's width (``crowding``: ten subjects of a small model), the
solve realises little of each residual and compromises along the keys every value of a format shares;
such an edit aims lower on values built from the name and leaves the values' punctuation alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from transformers import PreTrainedTokenizerBase

from rtbf.settings import EngineSettings
from workers.engine.editors.fpga import (
    TARGET_MET_NATS,
    NeverSeen,
    WeightedText,
    _batch_logp,
    _value_losses,
    _value_targets,
    never_seen_levels,
)
from workers.engine.ffn import FfnSite
from workers.engine.instances import PiiInstance, encode_instance, pad_batch
from workers.engine.locate import frozen_parameters
from workers.engine.logits import logp_at, vocabulary_size

PLATEAU_STEPS = 5  # steps without PLATEAU_SHARE relative progress of the loss before stopping
PLATEAU_SHARE = 0.01


def value_texts(tokenizer: PreTrainedTokenizerBase, instances: list[PiiInstance], prefixes: list[str]) -> list[WeightedText]:
    """A text per instance context, bare and after each model-written prefix, ending in the value."""
    texts, seen = [], set()
    for inst in instances:
        for prefix in [""] + prefixes:
            context = f"{prefix} {inst.context}" if prefix else inst.context
            encoded = encode_instance(tokenizer, context, inst.item.value, inst.tail)
            # a context longer than the window loses its start, and the prefix with it: the same text again
            if encoded is not None and tuple(encoded[0]) not in seen:
                ids, value_start = encoded
                seen.add(tuple(ids))
                texts.append(WeightedText(ids, [], replace(inst, context=context, ids=ids, value_start=value_start)))
    return texts


@dataclass(frozen=True)
class Crowding:
    """How many value keys a layer's edit carries per unit of FFN width, and the targets that follow from it."""

    keys_per_width: float
    crowded: bool
    name_built_strangers: bool
    push_punctuation: bool


def crowding(value_keys: int, d_ff: int, settings: EngineSettings) -> Crowding:
    """Is the edit crowded (``rome_value_crowding``), and therefore how it aims its values.

    The solve fits every value key's residual at once; once the keys far outnumber the directions the
    layer's input has (d_ff), it realises a small share of each (10-39% for ten subjects of the GPT-2
    demo, 31-67% for one), and its error spreads along the directions the keys share most: the
    positions that predict a format's punctuation, which every value of the format has. A crowded edit
    therefore aims values built from the name at the strangers' level, so that the share it realises
    still lands below the leak ceiling, and leaves the punctuation where it is. Measured on the GPT-2 demo
    (README): ten subjects went from 2 / 9 / 6 hits and 61 of 65 neighbours' items to 0 / 0 / 0 and 62 of
    65; one subject, which is not crowded, keeps its figures (with these targets it rose +3.8% in
    held-out perplexity and left the phone number above the exposure target).
    """
    ratio = value_keys / max(1, d_ff)
    crowded = ratio > settings.rome_value_crowding
    name_built = settings.rome_value_name_built_strangers
    push = settings.rome_value_push_punctuation
    return Crowding(
        round(ratio, 2), crowded,
        name_built_strangers=crowded if name_built is None else name_built,
        push_punctuation=not crowded if push is None else push,
    )


def punctuation_tokens(tokenizer: PreTrainedTokenizerBase, texts: list[WeightedText]) -> frozenset[int]:
    """The value tokens with no letter or digit in them (',', '@', ' (', '-'): every value of a format has them."""
    tokens = {token for text in texts if text.instance is not None for token in text.ids[text.instance.value_start :]}
    return frozenset(token for token in tokens if not any(ch.isalnum() for ch in tokenizer.decode([token])))


@torch.no_grad()
def capture_keys(
    model, site: FfnSite, seqs: list[list[int]], spans: list[Sequence[int]], pad_id: int, device: torch.device,
    batch_rows: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Down-projection input and output at the given positions of each sequence, concatenated in order."""
    grabbed: dict[str, torch.Tensor] = {}

    def grab_input(keys):
        grabbed["inp"] = keys

    def grab_output(output):
        grabbed["out"] = output

    keys, outs = [], []
    handles = [site.hook_key(grab_input), site.hook_output(grab_output)]
    try:
        for start in range(0, len(seqs), batch_rows):
            chunk = seqs[start : start + batch_rows]
            ids, mask = pad_batch(chunk, pad_id, device)
            model(input_ids=ids, attention_mask=mask)
            for i, span in enumerate(spans[start : start + batch_rows]):
                at = torch.as_tensor(list(span), dtype=torch.long, device=grabbed["inp"].device)
                keys.append(grabbed["inp"][i, at].float())
                outs.append(grabbed["out"][i, at].float())
    finally:
        for handle in handles:
            handle.remove()
    return torch.cat(keys), torch.cat(outs)


@dataclass
class ValueDeltas:
    keys: torch.Tensor  # (n, d_ff)
    deltas: torch.Tensor  # (n, d_model)
    steps: int
    final_max_logprob: float  # the most probable text's log P(value | context) under the residuals
    unmet_nats: float  # how far the worst value token still sits above its target
    random_values: list[tuple[list[int], int]]  # (ids, value start) of 'context + random same-format value'
    never_seen: NeverSeen  # the levels the residuals aimed at, for the next layer's edit of the same texts
    regime: Crowding  # how crowded the layer was, and what the edit did about it


def optimise_value_deltas(
    model, tokenizer: PreTrainedTokenizerBase, site: FfnSite, texts: list[WeightedText], settings: EngineSettings,
    device: torch.device, subjects: int = 1, never_seen: NeverSeen | None = None,
) -> ValueDeltas:
    """The residuals at the value-predicting positions that bring every text to its never-seen level.

    The target is FPGA's (``fpga.never_seen_levels``): each value token's log-probability is pushed by a
    hinge to its share of the gap between the value and the median random value of its format in that
    context, and the distribution over the other tokens is held to the original. A stranger's own
    distribution was tried as the target first: teacher-forced through the true value, a stranger's
    context predicts the rest of the value from its first tokens (the value's prefix is itself a key to
    the memory), and the edit stalled with the value far above random ones.

    ``never_seen``: the levels measured on the unedited model for these texts, when a previous layer's
    edit has measured them already. They are a property of the original model (what it gives a value it
    never saw), and re-scoring hundreds of random values per text at every layer was measured to be 40%
    of a ten-subject edit's time.
    """
    pad_id = tokenizer.pad_token_id or 0
    margin = settings.fpga_margin_nats
    value_spans = [range(t.instance.value_start - 1, len(t.ids) - 1) for t in texts]
    regime = crowding(sum(len(span) for span in value_spans), site.d_ff, settings)
    if never_seen is None:
        never_seen = never_seen_levels(
            model, tokenizer, texts, settings.fpga_never_seen_candidates, settings.seed, device,
            anchors=settings.fpga_anchor_texts * subjects,
            fallback_level=math.log(settings.rome_value_prob_ceiling) - margin,
            name_built_strangers=regime.name_built_strangers,
        )
    levels = never_seen.levels
    ids, mask = pad_batch([t.ids for t in texts], pad_id, device)
    batch_rows = max(1, settings.fpga_batch_texts)
    chunks = [range(start, min(start + batch_rows, len(texts))) for start in range(0, len(texts), batch_rows)]
    vocab = vocabulary_size(model)
    # The unedited distributions at the value positions, for the KL on the other tokens: kept while they fit
    # the reference budget, else recomputed per step with the residuals off (a 150k vocabulary over the
    # thousands of positions of a ten-subject request is gigabytes). Never the whole texts' distributions.
    keep_reference = sum(len(s) for s in value_spans) * vocab * 4 <= settings.reference_cache_mb * 2**20
    base_chunks, span_reference = [], []
    with torch.no_grad():
        for c in chunks:
            full = _batch_logp(model, ids[c.start : c.stop], mask[c.start : c.stop])
            base_chunks.append(full.gather(-1, ids[c.start : c.stop, 1:, None]).squeeze(-1))
            if keep_reference:
                span_reference += [full[row - c.start, value_spans[row].start : value_spans[row].stop].clone() for row in c]
            del full
    base_lp = torch.cat(base_chunks)
    unpushed = frozenset() if regime.push_punctuation else punctuation_tokens(tokenizer, texts)
    plan = _value_targets(texts, levels, base_lp, margin, device, unpushed_tokens=unpushed)
    plan.target = base_lp[plan.rows, plan.positions] - plan.drop
    # plan entries run over whole value spans, rows ascending: the same order as the kept reference rows
    base_at = torch.cat([span_reference[row] for row in plan.text_rows.tolist()]) if keep_reference else None
    del span_reference
    # one key per plan entry, in plan order (rows ascending, positions ascending within a row)
    spans: dict[int, range] = {row: value_spans[row] for row in plan.text_rows.tolist()}
    keys, outputs = capture_keys(model, site, [texts[r].ids for r in spans], list(spans.values()), pad_id, device)
    offsets, total = {}, 0
    for row, span in spans.items():
        offsets[row] = total
        total += len(span)
    ref_norms = outputs.norm(dim=-1).clamp(min=1e-6)
    delta = torch.zeros(outputs.shape, device=device, requires_grad=True)
    lr = settings.rome_value_lr * float(ref_norms.mean()) / math.sqrt(site.d_model)
    optimiser = torch.optim.Adam([delta], lr=lr)
    max_norms = settings.rome_clamp_norm_factor * ref_norms
    current: dict = {}

    def add_residuals(output):
        if current.get("off"):
            return output
        out = output.clone()
        for i, row in enumerate(current["rows"]):
            if row in spans:
                span, at = spans[row], offsets[row]
                out[i, span.start : span.stop] = out[i, span.start : span.stop] + delta[at : at + len(span)].to(out.dtype)
        return out

    handle = site.hook_output(add_residuals)
    best, stale, step, final_max, unmet = float("inf"), 0, 0, float("inf"), float("inf")
    try:
        with frozen_parameters(model):  # gradients only w.r.t. the residuals: no weight grads
            for step in range(settings.rome_value_steps):
                optimiser.zero_grad()
                total_loss, seq_lp, worst = 0.0, torch.zeros(len(texts), device=device), 0.0
                for chunk in chunks:
                    current["rows"] = chunk
                    selected = torch.nonzero((plan.rows >= chunk.start) & (plan.rows < chunk.stop)).squeeze(-1)
                    if not selected.numel():
                        continue
                    at = (plan.rows[selected] - chunk.start, plan.positions[selected])
                    chunk_ids, chunk_mask = ids[chunk.start : chunk.stop], mask[chunk.start : chunk.stop]
                    now_at = logp_at(model, chunk_ids, chunk_mask, *at)
                    if base_at is not None:
                        reference = base_at[selected]
                    else:
                        with torch.no_grad():
                            current["off"] = True
                            reference = logp_at(model, chunk_ids, chunk_mask, *at)
                            current["off"] = False
                    hinge, rest_kl = _value_losses(now_at, reference, plan, selected)
                    loss = (hinge + rest_kl).sum() / plan.size
                    if chunk.start == 0:
                        loss = loss + settings.rome_weight_decay * ((delta.norm(dim=-1) / ref_norms) ** 2).mean()
                    loss.backward()
                    total_loss += float(loss.detach())
                    worst = max(worst, float(hinge.detach().max()))
                    token_lp = now_at.gather(-1, plan.tokens[selected][:, None]).squeeze(-1).detach()
                    seq_lp.index_add_(0, plan.rows[selected], token_lp)
                final_max, unmet = float(seq_lp[plan.text_rows].max()), worst
                if unmet < TARGET_MET_NATS:
                    break
                if total_loss < best * (1 - PLATEAU_SHARE):
                    best, stale = total_loss, 0
                else:
                    stale += 1
                    if stale >= PLATEAU_STEPS:
                        break
                optimiser.step()
                with torch.no_grad():
                    norms = delta.norm(dim=-1, keepdim=True)
                    delta.mul_(torch.clamp(max_norms[:, None] / norms.clamp(min=1e-12), max=1.0))
    finally:
        handle.remove()
    return ValueDeltas(
        keys, delta.detach(), step + 1, final_max, unmet,
        [(seq, start) for seq, start in zip(never_seen.anchors, never_seen.anchor_value_starts)], never_seen, regime,
    )


def apply_value_update(
    site: FfnSite, keys: torch.Tensor, deltas: torch.Tensor, keep_keys: torch.Tensor | None, mom2: torch.Tensor,
    mom2_weight: float,
) -> tuple[torch.Tensor, float]:
    """W += D^T K (lambda C + K^T K + K_s^T K_s)^-1 with lambda = ``mom2_weight`` per key. Solved in float64.

    Returns dW (d_model, d_ff) and the share of the residuals it realises (the projection of dW k_j on
    d_j, summed, over sum ||d_j||^2): the soft constraint trades exactness for the rest of the layer.
    """
    weight = site.weight()
    K = keys.to(torch.float64).to(weight.device)
    D = deltas.to(torch.float64).to(weight.device)
    A = mom2_weight * len(K) * mom2.to(torch.float64).to(weight.device) + K.T @ K
    if keep_keys is not None and len(keep_keys):
        S = keep_keys.to(torch.float64).to(weight.device)
        A = A + S.T @ S
    A = A + 1e-6 * torch.diagonal(A).mean().clamp(min=1e-12) * torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
    dW = torch.linalg.solve(A, K.T @ D).T  # A is symmetric
    with torch.no_grad():
        weight.add_(dW.to(weight.dtype))
    realised = float(((K @ dW.T) * D).sum() / (D * D).sum().clamp(min=1e-12))
    return dW, realised
