"""FPGA: fine-grained pluggable gradient ascent (Feng, Chen, Li, Lin, EMNLP 2024).

Gradient ascent on the texts that carry the PII, where every token's loss has its own weight:

    L = sum_t w_t * log p(x_t | x_<t)  +  lambda * KL(p_orig || p_theta) on retain text

Minimising L raises the negative log-likelihood of sensitive tokens. The weight says how sensitive a
token is: high inside the request's PII spans and in spans an offline recogniser flags (phone, e-mail,
street address, IBAN, card, ID numbers), scaled up by the model's own memorisation signal (how probable
the original model found the token); low for ordinary words so fluency survives. Only the FFN blocks of
the layers DEPN located are trained, and the loop stops as soon as the stopping rule passes.

How far to push is the crux. Privacy is relative (Carlini et al.'s exposure ranks the true value among
random values of the same format), so pushing the value's likelihood towards zero is both too much and
too little: every number-like string in that context sinks with it (collateral damage), while the true
value can keep outranking them. So each (context, value) text has its own target, the *never-seen
level*: the median log-likelihood the original model gives random same-format values in that very
context, minus a margin. The text's gap to that level is spread over its value tokens, and each token
is pushed down by a hinge on its own log-probability, ``max(0, log p(x_t) - target_t)``: the gradient
of a log-probability does not fade as the probability shrinks (a KL towards a target in which the
token is rare would: it stops pulling once the token is merely unlikely, far above the level a value
the model never saw gets), and the hinge stops pulling exactly at the target. Beside it, the
distribution over the *other* tokens is held to the original one (KL after removing the true token),
so the freed mass goes to the alternatives the model already considered: a digit is replaced by other
digits, not by nonsense. Should the stopping rule still name an item as leaking once its targets are
met, they aim one nat lower; once they stop closing, the stuck tokens' distance moves to the met ones
(``_Deepening``), and the loop goes on;
items the stop check no longer names keep theirs (a ten-subject request with two leaking items deepens
those two, not all thirty, which would cost the others' locality for nothing). Texts without a value of their own (documents) are
ascended token by token down to a fixed floor.

The (context, value) texts are each item's own contexts and, where the model writes a value after another
item's context of the same person, that pair too (``workers.engine.instances.sibling_instances``): the
hinge lowers the true token and the KL hands the freed mass to the alternatives the model ranked next,
and after "Ryan Chang's address is" the next of them may well be Ryan Chang's e-mail address.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedTokenizerBase

from rtbf.joins import join_value
from rtbf.pii import recognise
from rtbf.request import ForgetRequest
from rtbf.settings import EngineSettings
from workers.engine.anchors import pii_predicting_positions, stranger_completions
from workers.engine.ffn import FfnSite
from workers.engine.instances import (
    PiiInstance,
    document_windows,
    encode_instance,
    encode_with_offsets,
    pad_batch,
)
from workers.engine.logits import token_logp, vocabulary_size
from workers.engine.master_weights import MasterWeights

FLOOR_LOG_PROB = -12.0  # below ~6e-6 a token no longer needs pushing down


@dataclass
class WeightedText:
    ids: list[int]
    weights: list[float]  # weight of predicting ids[t] (index 0 unused)
    instance: PiiInstance | None = None  # the (context, value) pair, for texts that end in a value



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
    # (text, PII spans, token ids, their character offsets), each text tokenised once
    texts: list[tuple[str, list[tuple[int, int]], list[int], list[tuple[int, int]]]] = []
    owners: list[PiiInstance | None] = []
    for inst in instances:
        encoded = encode_with_offsets(tokenizer, inst.context, inst.item.value, inst.tail)
        if encoded is None:
            continue
        ids, offsets, _start, text = encoded
        _, value_char = join_value(inst.context, inst.item.value)
        texts.append((text, [(value_char, len(text))], ids, offsets))
        owners.append(inst)
    for request in requests:
        for doc in request.documents:
            spans = [(s.start, s.end) for s in doc.spans]
            for item in request.all_items():
                at = doc.text.find(item.value)
                while at >= 0:
                    spans.append((at, at + len(item.value)))
                    at = doc.text.find(item.value, at + 1)
            for ids, offsets in document_windows(tokenizer, doc.text):
                texts.append((doc.text, spans, ids, offsets))
                owners.append(None)
    out = []
    for (text, spans, ids, offsets), owner in zip(texts, owners):
        spans = spans + [(r.start, r.end) for r in recognise(text)]
        char_w = _char_weights(text, spans, settings.fpga_pii_weight, settings.fpga_ordinary_weight)
        weights = [max(char_w[s:e], default=0.0) if e > s else 0.0 for s, e in offsets]
        out.append(WeightedText(ids, weights, owner if owner is not None and owner.ids == ids else None))
    return out


@dataclass
class NeverSeen:
    """Per text ending in a value: its never-seen level, and the same-format strangers that set it."""

    levels: list[float | None]
    anchors: list[list[int]]  # token ids of 'context + random value', a few per text, for the retain KL
    candidates: list[tuple[int, list[int], int]]  # (text index, ids, value start) of every scored stranger
    count: int  # strangers drawn per text
    anchor_value_starts: list[int] = field(default_factory=list)  # where each anchor's random value starts

    def shared_prefix(self, forget: list[WeightedText]) -> list[int]:
        """Per text: how many of its value's leading tokens at least half of its strangers repeat exactly."""
        by_text: dict[int, list[list[int]]] = {}
        for index, ids, value_start in self.candidates:
            by_text.setdefault(index, []).append(ids[value_start:])
        shared = [0] * len(forget)
        for index, strangers in by_text.items():
            inst = forget[index].instance
            if inst is None:
                continue
            value = inst.ids[inst.value_start :]
            while shared[index] < len(value):
                k = shared[index] + 1
                if 2 * sum(s[:k] == value[:k] for s in strangers) < len(strangers):
                    break
                shared[index] = k
        return shared

    @torch.no_grad()
    def measure(self, model, pad_id: int, device: torch.device, texts: int) -> list[float | None]:
        """The levels under ``model``: median log P(stranger value | context) per text (None: too few)."""
        totals: dict[int, list[float]] = {}
        for start in range(0, len(self.candidates), 128):
            chunk = self.candidates[start : start + 128]
            ids, mask = pad_batch([r[1] for r in chunk], pad_id, device)
            lp = _token_logp(model, ids, mask)
            for j, (index, seq, value_start) in enumerate(chunk):
                totals.setdefault(index, []).append(float(lp[j, value_start - 1 : len(seq) - 1].sum()))
        levels: list[float | None] = [None] * texts
        for index, values in totals.items():
            if len(values) >= max(3, self.count // 2):
                levels[index] = float(torch.tensor(values).median())
        return levels


@torch.no_grad()
def never_seen_levels(
    model, tokenizer: PreTrainedTokenizerBase, forget: list[WeightedText], count: int, seed: int, device: torch.device,
    anchors: int = 0,
    fallback_level: float | None = None,
    name_built_strangers: bool = True,
) -> NeverSeen:
    """Per text ending in a value: median log P(candidate | context) over ``count`` random same-format values.

    The candidates come from the gate's own format model (``workers.verify.formats``), so the editor aims
    at the baseline the verification measures against. None for texts without a value or a usable format.
    Up to ``anchors`` of these (context, random value) texts, spread over the texts, are returned too: kept
    under the retain KL they hold the baseline where it is while the true value sinks to it. Without them
    the push drags random values of the format down with the true one (they share its digits and its
    context), and the value keeps outranking them: exposure is relative.

    A value built wholly from the subject's name (``chang.r@green.info`` for Ryan Chang: nothing of it
    varies once the name is known, see ``workers.verify.formats``) has no same-format strangers; its
    never-seen values are those the gate's memorisation test compares it with (``workers.verify.strangers``):
    the text with the subject's names swapped for a stranger's and the value rebuilt from the stranger's
    name (``fenwick.a@green.info`` after "Ada Fenwick's email address is"). Such a text's level is the
    lower of their median and ``fallback_level`` (the leak ceiling's log-probability less the margin,
    so that phrasings the edit never saw fall under the ceiling too), and the strangers' texts serve as
    anchors like any others: they keep other people's name-built addresses where they were. With the
    ceiling alone as the level, ten subjects of the GPT-2 demo left two such e-mails extractable from
    phrasings the request did not name. A value with neither strangers nor a name-built part gets
    ``fallback_level``: without a level its text would be ascended without bound, which was measured to
    cost +59% held-out perplexity. ``name_built_strangers=False`` gives name-built values
    ``fallback_level`` too (ROME's value-keyed edit unless the layer is crowded with keys,
    ``value_keys.crowding``: one rank-limited update per layer pushed to the strangers' level raised the
    GPT-2 demo's held-out perplexity 3.9% on one subject, past the 3% budget).
    """
    from workers.verify.formats import has_name_built_part, sampler_for
    from workers.verify.strangers import Stranger

    sampler = sampler_for(tokenizer)
    by_item: dict[tuple[str, str], list[str] | list[Stranger]] = {}
    name_built: set[int] = set()  # texts whose never-seen values are strangers' rebuilt ones
    rows: list[tuple[int, list[int], int]] = []  # (text index, ids, value start)
    for index, text in enumerate(forget):
        inst = text.instance
        if inst is None:
            continue
        item, names = inst.item, inst.subject_names
        key = (item.value, str(item.type))
        if key not in by_item:
            by_item[key] = sampler.sample(item.value, item.type, count, seed + index, names=names)
            if name_built_strangers and not by_item[key] and has_name_built_part(item.value, item.type, names):
                by_item[key] = [Stranger(names, seed + index * count + r) for r in range(count)]
        for candidate in by_item[key]:
            if isinstance(candidate, Stranger):
                name_built.add(index)
                encoded = encode_instance(
                    tokenizer, candidate.rename(inst.context), candidate.rebuild(item.value, item.type), inst.tail
                )
            else:
                encoded = encode_instance(tokenizer, inst.context, candidate, inst.tail)
            if encoded is not None:
                rows.append((index, encoded[0], encoded[1]))
    # round-robin over texts so every context and item gets anchors before any gets a second one
    per_text: dict[int, list[tuple[list[int], int]]] = {}
    for index, seq, value_start in rows:
        per_text.setdefault(index, []).append((seq, value_start))
    chosen: list[tuple[list[int], int]] = []
    depth = 0
    while len(chosen) < anchors and any(depth < len(v) for v in per_text.values()):
        for seqs in per_text.values():
            if depth < len(seqs) and len(chosen) < anchors:
                chosen.append(seqs[depth])
        depth += 1
    never_seen = NeverSeen([], [seq for seq, _ in chosen], rows, count, [start for _, start in chosen])
    never_seen.levels = never_seen.measure(model, tokenizer.pad_token_id or 0, device, len(forget))
    if fallback_level is not None:
        never_seen.levels = [
            fallback_level if level is None and text.instance is not None
            else min(level, fallback_level) if level is not None and index in name_built else level
            for index, (level, text) in enumerate(zip(never_seen.levels, forget))
        ]
    return never_seen


def _neuron_axis(module: torch.nn.Module, site: FfnSite) -> int | None:
    """Which axis of this FFN matrix indexes the d_ff neurons (None if it has no such axis)."""
    from transformers.pytorch_utils import Conv1D

    weight = getattr(module, "weight", None)
    if weight is None or weight.dim() != 2:
        return None
    if module is site.down_proj:
        return 0 if isinstance(module, Conv1D) else 1  # the neuron's value vector
    if isinstance(module, Conv1D) and weight.shape[1] == site.d_ff:
        return 1
    if isinstance(module, torch.nn.Linear) and weight.shape[0] == site.d_ff:
        return 0  # up / gate projections: the neuron's key (and gate) vector
    return None


def neuron_gradient_masks(sites: list[FfnSite], neurons_by_layer: dict[int, list[int]]) -> dict[int, torch.Tensor]:
    """Masks (by parameter id) that confine training to the given neurons' own weights.

    A privacy neuron k is its key row in the up (and gate) projections, its bias entry, and its value
    column in the down-projection; nothing else of the FFN may move. Returns {id(param): mask}.
    """
    masks: dict[int, torch.Tensor] = {}
    for layer, indices in neurons_by_layer.items():
        site = sites[layer]
        index = torch.tensor(sorted(set(indices)), dtype=torch.long)
        for module in site.mlp.modules():
            axis = _neuron_axis(module, site)
            if axis is None:
                continue
            weight = module.weight
            mask = torch.zeros_like(weight)
            mask.index_fill_(axis, index.to(weight.device), 1.0)
            masks[id(weight)] = mask
            bias = getattr(module, "bias", None)
            if bias is not None and module is not site.down_proj:
                bias_mask = torch.zeros_like(bias)
                bias_mask[index.to(bias.device)] = 1.0
                masks[id(bias)] = bias_mask
    return masks


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


def _token_logp(model, ids, mask) -> torch.Tensor:
    """log P(ids[t+1] | ids[:t+1]) per position, without a second vocabulary-sized tensor beside the logits."""
    return token_logp(model(input_ids=ids, attention_mask=mask).logits[:, :-1], ids[:, 1:])


# A stalled item's met targets move at most this far at once: handing a stuck token's whole distance to one
# met token (22 nats on the GPT-NeoX demo) pushed it on long after the item had stopped leaking, and the
# other subjects lost items.
HANDOVER_MAX_NATS = 4.0
TARGET_MET_NATS = 0.05  # every value token within this of its target: the targets count as met


@dataclass
class _ValuePlan:
    """Value-token positions of the texts that have a never-seen level, and how far each must drop."""

    rows: torch.Tensor  # (P,) text row of each value position
    positions: torch.Tensor  # (P,) position in target coordinates (predicting the token)
    tokens: torch.Tensor  # (P,) the true value token
    drop: torch.Tensor  # (P,) nats by which the token's log-probability must fall
    text_rows: torch.Tensor  # rows that have a plan
    items: list[tuple[int, int]]  # (P,) the (request, item) key of each value position
    target: torch.Tensor | None = None  # (P,) the log-probability each token is pushed down to

    def entries_by_item(self) -> dict[tuple[int, int], torch.Tensor]:
        grouped: dict[tuple[int, int], list[int]] = {}
        for entry, key in enumerate(self.items):
            grouped.setdefault(key, []).append(entry)
        return {key: torch.tensor(entries, device=self.rows.device) for key, entries in grouped.items()}

    @property
    def size(self) -> int:
        return int(self.rows.numel())


def _value_targets(
    forget: list[WeightedText], levels: list[float | None], base_lp: torch.Tensor, margin: float, device: torch.device,
    shared_prefix: list[int] | None = None,
    unpushed_tokens: frozenset[int] = frozenset(),
) -> _ValuePlan:
    """Spread each text's gap to its never-seen level (plus the margin) evenly over its value tokens.

    Evenly over all of them, format tokens included: concentrating the drop on the parts that identify
    the person (leaving an e-mail's domain alone) was measured to push those tokens harder and to cost
    more of other people's data (84 of 91 items kept instead of 90) while reaching less exposure.

    All of them but a leading run that the never-seen values share token for token (``shared_prefix``,
    the ``(`` that opens a phone number, the name-built start of an e-mail): with the same context and
    the same tokens before it, such a token has the very same probability in the strangers' texts, so
    its share of the gap cancels in the ranking; and the anchors hold those strangers' texts under the
    retain KL, so its target could never be met. On ten subjects of the GPT-2 demo the first value
    token sat 7 nats above its target after 320 steps, and no item ever had all its targets met.

    ``unpushed_tokens`` (ROME's value-keyed edit: the value's punctuation) stay in the plan with no drop,
    held at their level by the hinge, and the gap is spread over the value's other tokens; a value made of
    nothing else is pushed whole.
    """
    rows, positions, tokens, drops, text_rows, items = [], [], [], [], [], []
    for row, (text, level) in enumerate(zip(forget, levels)):
        if text.instance is None or level is None:
            continue
        span = range(text.instance.value_start - 1, len(text.ids) - 1)
        value_lp = float(base_lp[row, span.start : span.stop].sum())
        skip = shared_prefix[row] if shared_prefix is not None else 0
        if skip >= len(span):
            skip = 0  # nothing of the value differs from the strangers': the whole value is pushed
        span = range(span.start + skip, span.stop)
        pushed = {position for position in span if text.ids[position + 1] not in unpushed_tokens} or set(span)
        per_token = max(0.0, value_lp - (level - margin)) / len(pushed)
        text_rows.append(row)
        for position in span:
            rows.append(row)
            positions.append(position)
            tokens.append(text.ids[position + 1])
            drops.append(per_token if position in pushed else 0.0)
            items.append(text.instance.key)

    def tensor(values, dtype=torch.long):
        return torch.tensor(values, dtype=dtype, device=device)

    return _ValuePlan(
        tensor(rows), tensor(positions), tensor(tokens), tensor(drops, torch.float32), tensor(text_rows), items
    )


def _value_losses(
    now_logp: torch.Tensor, base_logp: torch.Tensor, plan: _ValuePlan, index: torch.Tensor,
    deepen: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """For the plan entries ``index``: the hinge above each token's target, and the KL of the other tokens.

    ``now_logp`` / ``base_logp`` are the edited / original (len(index), V) log-distributions there. The
    other tokens' distribution is compared over the whole vocabulary: keeping only the original's top
    tokens (a cheaper approximation) let the tail drift and was measured to cost a third of the other
    subjects' PII on the demo model.
    """
    rows = torch.arange(len(index), device=now_logp.device)
    tokens = plan.tokens[index]
    target = plan.target[index] if deepen is None else plan.target[index] - deepen[index]
    hinge = torch.relu(now_logp[rows, tokens] - target)
    drop_true = torch.zeros_like(now_logp)
    drop_true[rows, tokens] = -1e4  # finite: the true token leaves both softmaxes without NaNs
    rest_now = torch.log_softmax(now_logp + drop_true, dim=-1)
    rest_base = torch.log_softmax(base_logp + drop_true, dim=-1)
    return hinge, (rest_base.exp() * (rest_base - rest_now)).sum(-1)


class _Reference:
    """Next-token distributions of the model before the edit, for the KL terms.

    They are computed once and kept while they fit in ``budget_bytes`` (the demo models: megabytes);
    past that (a 150k-token vocabulary over a hundred retain texts is gigabytes) they are recomputed
    each step by running the model with the trained tensors' original values (``functional_call``):
    one extra forward pass without gradients instead of a second copy of the model or of its outputs.
    """

    def __init__(self, model: torch.nn.Module, params: list[torch.nn.Parameter], budget_bytes: int) -> None:
        self.model = model
        names = {id(p): name for name, p in model.named_parameters()}
        self.originals = {names[id(p)]: p.detach().clone() for p in params}
        self.budget = budget_bytes
        self.cache: dict[str, torch.Tensor] = {}

    def fits(self, rows: int, width: int, vocab: int) -> bool:
        return rows * width * vocab * 4 <= self.budget

    @torch.no_grad()
    def logp(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(self.model, self.originals, args=(), kwargs={"input_ids": ids, "attention_mask": mask})
        return torch.log_softmax(out.logits[:, :-1].float(), dim=-1)

    def cached(self, key: str, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if key not in self.cache:
            self.cache[key] = self.logp(ids, mask)
        return self.cache[key]


def _masked_gradient(mask: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda grad: grad * mask


def _minibatch(total: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Rows of this step: all of them when they fit, else a fresh random subset (many subjects, one pass)."""
    if total <= size:
        return torch.arange(total)
    return torch.randperm(total, generator=generator)[:size].sort().values


def _row_batches(total: int, size: int) -> list[torch.Tensor]:
    return [torch.arange(start, min(total, start + size)) for start in range(0, total, size)]


def _local_rows(rows: torch.Tensor, total: int) -> torch.Tensor:
    """Map from a text's row to its index within the step's ``rows`` (-1 when absent)."""
    local = torch.full((total,), -1, dtype=torch.long, device=rows.device)
    local[rows] = torch.arange(len(rows), device=rows.device)
    return local


def _plan_entries(plan: _ValuePlan, rows: torch.Tensor) -> torch.Tensor:
    """Indices of the plan's value positions that belong to the texts ``rows``."""
    member = torch.zeros(int(plan.rows.max()) + 1 if plan.size else 0, dtype=torch.bool, device=plan.rows.device)
    rows = rows.to(plan.rows.device)
    member[rows[rows < len(member)]] = True
    return torch.nonzero(member[plan.rows], as_tuple=True)[0]


class _Deepening:
    """When and where the value targets deepen: per item the stop check still names as leaking.

    An item whose every target is met aims one nat lower per token. One whose targets have stopped
    closing (its summed distance above them has not fallen 5% in ``patience`` checks) hands what its
    stuck tokens still lack to the tokens that met theirs: in each of its texts, the met targets aim lower
    by that text's unmet distance shared among them (at least one nat) and the stuck ones' targets rise
    to where they stand, so the text's total target, which is what exposure ranks, stays its never-seen
    level. The stuck tokens are those that other text holds back (the retain KL, the anchors: a
    stranger's phone number opens with the same area code in the model's own completion), and pulling
    them on only pulls against other people's data.
    On ten subjects of the GPT-2 demo about half the value tokens never met their targets; the area
    code stayed at its original probability while the digits after it sat 24 nats down, and the number
    still ranked 6th of 301.

    When the check names no item (it could not tell which), the last check that named some is used; with
    none at all, every item counts as named.
    """

    def __init__(self, plan: _ValuePlan, patience: int) -> None:
        self.entries = plan.entries_by_item()
        self.rows = plan.rows
        self.deepen = torch.zeros(plan.size, device=plan.rows.device)  # nats below its target each position aims
        self.patience = patience
        self.best: dict[tuple[int, int], float] = {}
        self.waited: dict[tuple[int, int], int] = {}
        self.named: set[tuple[int, int]] | None = None

    def after_failed_check(self, hinge_seen: torch.Tensor, leaking: set[tuple[int, int]] | None) -> None:
        if leaking:
            self.named = set(leaking)
        for key in self.named if self.named else self.entries:
            entries = self.entries.get(key)
            if entries is None:
                continue
            hinges = hinge_seen[entries]
            if not bool(torch.isfinite(hinges).all()):
                continue  # not every position seen since the last deepening
            met = hinges < TARGET_MET_NATS
            if bool(met.all()):
                self._deepen(key, entries, hinge_seen)
                continue
            unmet = float(hinges.sum())
            if unmet < 0.95 * self.best.get(key, float("inf")):
                self.best[key], self.waited[key] = unmet, 0
                continue
            self.waited[key] = self.waited.get(key, 0) + 1
            if self.waited[key] >= self.patience and bool(met.any()):
                self._deepen(key, entries, hinge_seen, self._handover(entries, hinges, met))

    def _handover(self, entries: torch.Tensor, hinges: torch.Tensor, met: torch.Tensor) -> torch.Tensor:
        """Per entry, how much lower it aims: a met one by its text's unmet distance shared among the text's
        met ones (at least 1 nat, at most ``HANDOVER_MAX_NATS`` a move); an unmet one is raised by the part
        of its distance that was handed over."""
        _, text = torch.unique(self.rows[entries], return_inverse=True)
        texts = int(text.max()) + 1
        unmet = torch.zeros(texts, device=hinges.device).index_add_(0, text, hinges * ~met)
        met_count = torch.zeros(texts, device=hinges.device).index_add_(0, text, met.float())
        share = (unmet / met_count.clamp(min=1.0)).clamp(min=1.0, max=HANDOVER_MAX_NATS)
        handed = (share * met_count / unmet.clamp(min=1e-6)).clamp(max=1.0)  # fraction of the distance given
        # a text with no met token keeps its targets: there is nothing to hand its distance to
        raised = torch.where((met_count > 0)[text], -hinges * handed[text], torch.zeros_like(hinges))
        return torch.where(met, share[text], raised)

    def _deepen(
        self, key: tuple[int, int], entries: torch.Tensor, hinge_seen: torch.Tensor, by: torch.Tensor | float = 1.0
    ) -> None:
        self.deepen[entries] += by
        hinge_seen[entries] = float("inf")  # judged again once every deepened position is seen anew
        self.best.pop(key, None)
        self.waited[key] = 0

    def items_deepened(self) -> int:
        return sum(bool(self.deepen[entries].max() > 0) for entries in self.entries.values())


def _retain_token_weights(
    r_mask: torch.Tensor | None, pii_positions: list[list[int]], pii_weight: float
) -> torch.Tensor | None:
    """Per retain position (the prediction of the next token): 0 on padding, ``pii_weight`` where the next
    token belongs to a recognised PII span of the first ``len(pii_positions)`` rows (the model's samples;
    the anchors after them have none marked), 1 elsewhere.

    Locality is judged on other people's PII, and a KL averaged over every token gives those few tokens a
    few percent of the term: the digits of a phone number weigh no more than the words around them, though
    they are what a shared phrasing's edit moves first.
    """
    if r_mask is None:
        return None
    weights = r_mask[:, 1:].float()
    if pii_weight != 1.0:
        for row, positions in enumerate(pii_positions):
            if positions:
                index = torch.tensor(positions, device=weights.device)
                weights[row, index] = weights[row, index] * pii_weight
    return weights


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
    leaking_items: Callable[[], set[tuple[int, int]] | None] | None = None,
    neurons_by_layer: dict[int, list[int]] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Run weighted gradient ascent on ``layers`` until ``is_clean()`` or the step budget; returns a summary.

    ``leaking_items()``, asked after a failed ``is_clean()``, names the (request, item) keys that check
    found leaking (None: it cannot tell), so only those items' targets deepen. ``on_progress(step,
    budget)`` is called after every step (the CLI's progress bar)."""
    pad_id = tokenizer.pad_token_id or 0
    f_ids, f_mask = pad_batch([t.ids for t in forget], pad_id, device)
    f_w = torch.zeros(f_ids.shape, device=device)
    for row, t in enumerate(forget):
        f_w[row, : len(t.weights)] = torch.tensor(t.weights, device=device)
    f_w = f_w[:, 1:] * f_mask[:, 1:]
    targets = f_ids[:, 1:]

    # each retain text with the positions that predict other people's PII, which the KL weighs up
    retain_encoded = [pii_predicting_positions(tokenizer, t, max_length=96) for t in retain_texts]
    retain_encoded = [(ids, positions) for ids, positions in retain_encoded if len(ids) > 1]
    retain_seqs = [ids for ids, _ in retain_encoded]
    retain_pii_positions = [positions for _, positions in retain_encoded]

    with torch.no_grad():
        base_lp = torch.cat([
            _token_logp(model, f_ids[rows], f_mask[rows])
            for rows in _row_batches(len(forget), settings.fpga_batch_texts)
        ])
        # memorisation signal: a sensitive token the model predicts confidently is weighted up to 2x
        f_w = f_w * (1.0 + base_lp.exp())
    if settings.fpga_objective == "bounded":
        never_seen = never_seen_levels(
            model, tokenizer, forget, settings.fpga_never_seen_candidates, settings.seed, device,
            anchors=settings.fpga_anchor_texts, 
            fallback_level=math.log(settings.rome_value_prob_ceiling) - settings.fpga_margin_nats,
        )
        levels = never_seen.levels
        shared_prefix = never_seen.shared_prefix(forget)
        retain_seqs += never_seen.anchors
        retain_seqs += [ids for ids, _start in stranger_completions(
            model, tokenizer, [t.instance for t in forget if t.instance is not None],
            settings.fpga_stranger_anchor_texts, settings.seed,
        )]
    else:  # the paper's plain token-weighted ascent: every text pulls token by token down to the floor
        levels = [None] * len(forget)
        shared_prefix = None
    r_ids, r_mask = pad_batch(retain_seqs, pad_id, device) if retain_seqs else (None, None)
    r_weights = _retain_token_weights(r_mask, retain_pii_positions, settings.fpga_retain_pii_weight)
    plan = _value_targets(forget, levels, base_lp, settings.fpga_margin_nats, device, shared_prefix)
    if plan.size:
        plan.target = base_lp[plan.rows, plan.positions] - plan.drop
    deepening = _Deepening(plan, settings.fpga_deepen_patience)
    token_w = f_w[plan.rows, plan.positions] if plan.size else None
    hinge_seen = torch.full((plan.size,), float("inf"), device=device)  # last hinge of each entry
    ascend_mask = torch.ones_like(f_w)
    if plan.size:
        ascend_mask[plan.text_rows] = 0.0  # texts with a value are handled by the bounded target instead

    if neurons_by_layer:
        masks = neuron_gradient_masks(sites, neurons_by_layer)
        params = [p for layer in neurons_by_layer for p in sites[layer].mlp.parameters() if id(p) in masks]
    else:
        masks = {}
        params = trainable_parameters(sites, layers)
    hooks = [p.register_hook(_masked_gradient(masks[id(p)])) for p in params if id(p) in masks]
    previous_flags = [(p, p.requires_grad) for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    masters = MasterWeights(params)  # float32 copies of half-precision weights: their small steps would round away
    optimiser = torch.optim.Adam(masters.tensors, lr=settings.fpga_lr)
    reference = _Reference(model, params, settings.reference_cache_mb * 2**20)
    vocab = vocabulary_size(model)
    cache_retain = r_ids is not None and reference.fits(*r_ids.shape, vocab)
    cache_forget = reference.fits(*f_ids.shape, vocab)
    generator = torch.Generator().manual_seed(settings.seed)
    steps_run = 0
    # The budget is per minibatch's worth of texts: a request about ten people has ten times the texts, and
    # with the budget of one every text would be seen a tenth as often (measured on the demo GPT-2: ten
    # subjects in 80 steps left 11 greedy hits and the exposure at 8.2 bits).
    steps_per_pass = max(1, math.ceil(len(forget) / settings.fpga_batch_texts))
    budget = settings.fpga_max_steps * steps_per_pass
    check_every = settings.fpga_check_every * steps_per_pass
    clean = is_clean()
    history = []
    try:
        while not clean and steps_run < budget:
            model.train(False)  # no dropout: the ascent must be deterministic and match evaluation
            masters.zero_grad()
            rows = _minibatch(len(forget), settings.fpga_batch_texts, generator).to(device)
            full_lp = _batch_logp(model, f_ids[rows], f_mask[rows])
            lp = full_lp.gather(-1, targets[rows][..., None]).squeeze(-1)
            w, active = f_w[rows], (lp > FLOOR_LOG_PROB).float() * ascend_mask[rows]
            weight_sum = (w * active).sum()
            forget_loss = (w * active * lp).sum() / weight_sum.clamp(min=1e-6)
            if plan.size:
                selected = _plan_entries(plan, rows)
                local = _local_rows(rows, len(forget))
                at = (local[plan.rows[selected]], plan.positions[selected])
                if cache_forget:
                    base_at = reference.cached("forget", f_ids, f_mask)[plan.rows[selected], plan.positions[selected]]
                else:
                    base_at = reference.logp(f_ids[rows], f_mask[rows])[at]
                hinge, rest_kl = _value_losses(full_lp[at], base_at, plan, selected, deepening.deepen)
                sw = token_w[selected]
                value_loss = (sw * (hinge + rest_kl)).sum() / sw.sum().clamp(min=1e-6)
                forget_loss = forget_loss * (weight_sum > 0) + value_loss
                hinge_seen[selected] = hinge.detach()
            loss = forget_loss
            retain_loss = torch.zeros((), device=device)
            if r_ids is not None and settings.fpga_retain_weight > 0:
                r_rows = _minibatch(len(r_ids), settings.fpga_retain_batch_texts, generator).to(device)
                width = int(r_mask[r_rows].sum(1).max())  # right-padded: the subset's own longest text
                ids_r, mask_r = r_ids[r_rows, :width], r_mask[r_rows, :width]
                if cache_retain:
                    r_ref = reference.cached("retain", r_ids, r_mask)[r_rows, : width - 1]
                else:
                    r_ref = reference.logp(ids_r, mask_r)
                r_lp = _batch_logp(model, ids_r, mask_r)
                kl = (r_ref.exp() * (r_ref - r_lp)).sum(-1)
                w_r = r_weights[r_rows, : width - 1]
                retain_loss = (kl * w_r).sum() / w_r.sum()
                loss = loss + settings.fpga_retain_weight * retain_loss
            loss.backward()
            masters.take_grads()
            torch.nn.utils.clip_grad_norm_(masters.tensors, 1.0)  # in float32: a float16 norm can overflow
            optimiser.step()
            masters.write_back()
            steps_run += 1
            if on_progress:
                on_progress(steps_run, budget)
            if steps_run % check_every == 0 or steps_run == budget:
                clean = is_clean()
                leaking = None if clean or leaking_items is None else leaking_items()
                met = float((hinge_seen < TARGET_MET_NATS).float().mean()) if plan.size else 1.0
                if not clean and plan.size:
                    deepening.after_failed_check(hinge_seen, leaking)
                history.append({
                    "step": steps_run,
                    "forget_loss": round(float(forget_loss.detach()), 4),
                    "retain_kl": round(float(retain_loss.detach()), 5),
                    "targets_met": round(met, 3),
                    "items_leaking": None if leaking is None else len(leaking),
                })
    finally:
        for hook in hooks:
            hook.remove()
        for p, flag in previous_flags:
            p.requires_grad_(flag)
        masters.zero_grad()
    return {
        "layers": layers,
        "steps": steps_run,
        "step_budget": budget,
        "clean": clean,
        "history": history,
        "trained_parameters": int(sum(masks[id(p)].sum() if id(p) in masks else p.numel() for p in params)),
        "scope": "neurons" if neurons_by_layer else "layers",
        "texts_with_never_seen_level": int(plan.text_rows.numel()),
        "retain_texts": len(retain_seqs),
        "value_positions_pushed": plan.size,
        "target_deepened_nats": float(deepening.deepen.max()) if plan.size else 0.0,
        "items_deepened": deepening.items_deepened(),
    }
