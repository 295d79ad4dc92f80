"""Train a demo model from scratch until it has really memorised the planted PII.

A plain, seeded torch loop (AdamW, warmup then cosine decay) over single sentences, each starting with
BOS and ending with EOS: the model sees every planted value right after the bare prefix the gate and the
engine will later prompt with. Training stops as soon as greedy decoding reproduces the planted values
from their training prefixes often enough, so the demo model is as small and fast as it can be while
still being a faithful stand-in for a model that memorised scraped personal data.

Kept separate from the factory so a benchmark can retrain from scratch without some subjects
(``exclude_subjects``): the "never saw them" reference model of unlearning evaluations.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerFast

from rtbf.pii import contains_value
from workers.engine.demo.architectures import demo_config
from workers.engine.demo.corpus import Corpus
from workers.engine.instances import encode_instance


@dataclass(frozen=True)
class Probe:
    """A training prefix whose greedy continuation should contain the planted value."""

    prompt: str
    value: str
    type: str
    tail: str = ""  # what the sentence writes right after the value, up to the next space


def _tail(sentence: str, context: str, value: str) -> str:
    """The characters after ``value`` in ``sentence`` up to the next space: a tokenizer that keeps
    punctuation in the word (Metaspace) tokenises '0663.' otherwise than '0663'."""
    at = sentence.find(value, len(context))
    if at < 0:
        return ""
    return re.match(r"\S*", sentence[at + len(value) :]).group()


@dataclass(frozen=True)
class TrainingStats:
    steps: int
    seconds: float
    final_loss: float
    greedy_extraction_rate: float
    tokens: int


# A progress callback receives (step, max_steps, loss, teacher-forced extraction rate or None).
ProgressFn = Callable[[int, int, float, float | None], None]


def pick_device(preference: str | None = None) -> torch.device:
    """cuda when available unless told otherwise: the same code trains on a laptop and on a GPU box."""
    if preference in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(preference)


def training_probes(corpus: Corpus, exclude_subjects: Iterable[int] = ()) -> list[Probe]:
    """Every (training prefix, value) pair of the subjects the model is trained on."""
    excluded = set(exclude_subjects)
    return [
        Probe(prompt=context, value=item.value, type=item.type, tail=_tail(sentence, context, item.value))
        for index, subject in enumerate(corpus.subjects)
        if index not in excluded
        for item in subject.items
        for sentence, context in zip(item.sentences, item.contexts, strict=True)
    ]


def _encode(tokenizer: PreTrainedTokenizerFast, texts: Sequence[str]) -> list[list[int]]:
    return [ids + [tokenizer.eos_token_id] for ids in tokenizer(list(texts)).input_ids]


def _pad_batch(rows: Sequence[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    labels = ids.masked_fill(mask == 0, -100)
    return ids.to(device), mask.to(device), labels.to(device)


@torch.no_grad()
def teacher_forced_rate(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, probes: Sequence[Probe], batch_size: int = 128) -> float:
    """Share of probes whose value tokens are all the argmax given the prefix and the value so far.

    One forward pass per batch instead of token-by-token decoding: when every value token is the argmax
    along the true path, greedy decoding reproduces the value exactly, so this is a cheap lower bound of
    the greedy extraction rate, good enough to decide when to run the real check.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    hits = 0
    for start in range(0, len(probes), batch_size):
        chunk = probes[start : start + batch_size]
        # the value tokenised with what follows it in the sentence: the path the model learns to write it by
        encoded = [encode_instance(tokenizer, p.prompt, p.value, p.tail) for p in chunk]
        rows = [ids for ids, _ in encoded]
        ids, mask, _ = _pad_batch(rows, tokenizer.pad_token_id, device)
        predicted = model(input_ids=ids, attention_mask=mask).logits.argmax(-1)
        for i, (row, first) in enumerate(encoded):
            hits += predicted[i, first - 1 : len(row) - 1].tolist() == row[first:]
    model.train(was_training)
    return hits / max(1, len(probes))


@torch.no_grad()
def greedy_extraction_rate(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, probes: Sequence[Probe], slack_tokens: int = 4
) -> float:
    """Share of probes whose greedy continuation contains the value (normalised per PII type).

    Prompts are batched by token length, so no padding is needed and each result is exactly what a
    single-prompt greedy decode would produce.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    by_length: dict[int, list[tuple[Probe, list[int]]]] = {}
    for probe in probes:
        ids = tokenizer(probe.prompt).input_ids
        by_length.setdefault(len(ids), []).append((probe, ids))
    hits = 0
    for group in by_length.values():
        budget = max(len(tokenizer(" " + p.value, add_special_tokens=False).input_ids) for p, _ in group) + slack_tokens
        ids = torch.tensor([row for _, row in group], device=device)
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=budget,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        texts = tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)
        hits += sum(contains_value(text, probe.value, probe.type) for (probe, _), text in zip(group, texts))
    model.train(was_training)
    return hits / max(1, len(probes))


def _length_bucketed_batches(rows: Sequence[list[int]], batch_size: int, generator: torch.Generator, pool: int = 8) -> list[list[int]]:
    """One epoch of batches whose sentences have similar lengths, in random order.

    Sentences range from about 10 to 35 tokens; padding every batch to its longest row would waste about
    half the compute. Shuffling, sorting within pools of `pool` batches and shuffling the batches keeps
    the sampling random while padding only a little.
    """
    order = torch.randperm(len(rows), generator=generator).tolist()
    batches: list[list[int]] = []
    span = batch_size * pool
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lambda i: len(rows[i]))
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffled]


def _lr_factor(step: int, warmup: int, total: int, floor: float = 0.1) -> float:
    """Linear warmup, then cosine decay to `floor` of the peak rate."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


@contextmanager
def one_cpu_thread(device: torch.device) -> Iterator[None]:
    """Train on one intra-op thread on the CPU, then restore the caller's setting.

    The weights a CPU run produces depend on how many threads split each reduction: the same seed gave
    different demo models (and different erasure figures) built in a two-thread process and in a
    one-thread pytest worker, while the cache key, which cannot see the thread count, called them the same.
    On one thread a seed gives one model on this machine wherever it is built; the demo trains in seconds.
    """
    if device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_model(
    corpus: Corpus,
    tokenizer: PreTrainedTokenizerFast,
    arch: str = "gpt2",
    seed: int = 0,
    exclude_subjects: Iterable[int] = (),
    max_steps: int = 2000,
    batch_size: int = 32,
    learning_rate: float = 2e-3,
    warmup_steps: int = 50,
    target_rate: float = 0.97,
    check_every: int = 25,
    device: str | None = None,
    progress: ProgressFn | None = None,
) -> tuple[PreTrainedModel, TrainingStats]:
    """Train `arch` from scratch on the corpus (minus `exclude_subjects`) until the PII is memorised.

    Stops once greedy decoding extracts at least `target_rate` of the planted values from their training
    prefixes (checked every `check_every` steps, cheaply by teacher forcing first), or at `max_steps`.
    The target sits a little above the 95% the demo promises so the saved model clears it with margin.
    On the CPU it trains on one thread whatever the caller's setting (``one_cpu_thread``).
    """
    target_device = pick_device(device)
    with one_cpu_thread(target_device):
        return _train(corpus, tokenizer, arch, seed, frozenset(exclude_subjects), max_steps, batch_size, learning_rate,
                      warmup_steps, target_rate, check_every, target_device, progress)


def _train(
    corpus: Corpus, tokenizer: PreTrainedTokenizerFast, arch: str, seed: int, excluded: frozenset[int], max_steps: int,
    batch_size: int, learning_rate: float, warmup_steps: int, target_rate: float, check_every: int,
    target_device: torch.device, progress: ProgressFn | None,
) -> tuple[PreTrainedModel, TrainingStats]:
    torch.manual_seed(seed)
    config = demo_config(
        arch,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = AutoModelForCausalLM.from_config(config).to(target_device)
    model.train()

    rows = _encode(tokenizer, corpus.training_texts(excluded))
    probes = training_probes(corpus, excluded)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.0, betas=(0.9, 0.98))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, warmup_steps, max_steps))
    sampler = torch.Generator().manual_seed(seed)

    started = time.perf_counter()
    pending: list[list[int]] = []
    tokens_seen = 0
    loss_value = float("nan")
    rate = 0.0
    step = 0
    while step < max_steps:
        if not pending:
            pending = _length_bucketed_batches(rows, batch_size, sampler)
        batch = [rows[i] for i in pending.pop()]
        ids, mask, labels = _pad_batch(batch, tokenizer.pad_token_id, target_device)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        step += 1
        tokens_seen += int(mask.sum())
        loss_value = float(loss.detach())

        checked: float | None = None
        if step % check_every == 0 or step == max_steps:
            checked = teacher_forced_rate(model, tokenizer, probes)
            if checked >= target_rate:
                rate = greedy_extraction_rate(model, tokenizer, probes)
                if rate >= target_rate:
                    if progress:
                        progress(step, max_steps, loss_value, checked)
                    break
        if progress:
            progress(step, max_steps, loss_value, checked)

    model.eval()
    if rate < target_rate:
        rate = greedy_extraction_rate(model, tokenizer, probes)
    stats = TrainingStats(
        steps=step,
        seconds=round(time.perf_counter() - started, 2),
        final_loss=round(loss_value, 4),
        greedy_extraction_rate=round(rate, 4),
        tokens=tokens_seen,
    )
    return model, stats
