"""Benchmark of the forgetting engine against the alternative it replaces: retraining without the person.

    .venv/bin/python benchmarks/bench_forget.py [--arch gpt2] [--methods fpga,depn,rome] [--runs 3]
                                                [--subject 0] [--threads N] [--with-gate]

For each method it runs ``forget()`` on a fresh copy of the demo model ``--runs`` times and prints the
median seconds of each stage (prepare, locate, edit, verify), then retrains the demo model from scratch
on the same corpus minus that subject (the same recipe and stopping rule that built it) once, and prints
the ratios locate+edit / retraining and whole-forget / retraining. The target for locate+edit is at most
2% of retraining. ``--with-gate`` also times the full verification gate (the production settings) and
adds it to the whole-forget figure, as ``rtbf forget`` runs it.

It also counts the tokens each run passes through the model (with gradients, as training does, and
without) and prints the same ratios in forward-pass equivalents (a pass with a backward counted as three),
a figure no host's noise moves. The demo model is trained on about 120 thousand tokens in seconds, by
design, so there the edit costs more than retraining; the edit's cost grows with the request, retraining's
with the training corpus, and the last column scales the same count to a corpus of one billion tokens.

It is a benchmark, not a test: it asserts nothing and prints its figures. All numbers of one run come from
the same process on the same machine, so the ratios are meaningful even on a shared, noisy host.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass

BACKWARD_FACTOR = 3  # a forward pass with its backward costs about three forward passes
BILLION = 1_000_000_000


@dataclass
class TokenPasses:
    """Tokens run through a model, with gradients enabled and without."""

    with_grad: int = 0
    without_grad: int = 0

    @property
    def forward_equivalents(self) -> int:
        return BACKWARD_FACTOR * self.with_grad + self.without_grad


@contextlib.contextmanager
def counting_tokens(model) -> Iterator[TokenPasses]:
    """Count every token of every forward call of ``model`` (padding excluded) while the block runs."""
    import torch

    counts = TokenPasses()

    def hook(_module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        mask = kwargs.get("attention_mask")
        if ids is None:
            return
        tokens = int(mask[:, -ids.shape[1]:].sum()) if mask is not None else ids.numel()
        if torch.is_grad_enabled():
            counts.with_grad += tokens
        else:
            counts.without_grad += tokens

    handle = model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield counts
    finally:
        handle.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="gpt2")
    parser.add_argument("--methods", default="fpga,depn,rome")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--subject", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--with-gate", action="store_true")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from rtbf.settings import EngineSettings, get_settings
    from workers.engine.demo.cache import cached_demo_model
    from workers.engine.demo.corpus import generate_corpus
    from workers.engine.demo.train import train_model
    from workers.engine.forget import forget
    from workers.engine.loading import load_causal_lm, load_tokenizer

    info = cached_demo_model(args.arch)
    base, tokenizer = load_causal_lm(info.model_dir, device="cpu")
    requests = info.request_for([args.subject])
    print(f"demo {args.arch}: {len(info.subjects)} subjects, torch threads {torch.get_num_threads()}")

    gate_seconds: float | None = None
    if args.with_gate:
        from workers.verify.gate import run_gate

        settings = get_settings()
        t = time.perf_counter()
        run_gate(base, tokenizer, requests, settings=settings.gate, salt=settings.hash_salt, reference=(base, tokenizer),
                 heldout_texts=info.heldout_texts)
        gate_seconds = time.perf_counter() - t
        print(f"full gate (production settings): {gate_seconds:.1f} s")

    per_method: dict[str, dict[str, float]] = {}
    passes: dict[str, TokenPasses] = {}
    for method in args.methods.split(","):
        stages: dict[str, list[float]] = {}
        outcome = ""
        for _ in range(args.runs):
            model = copy.deepcopy(base)
            with counting_tokens(model) as counted:
                result = forget(model, tokenizer, requests, method=method, settings=EngineSettings())
            passes[method] = counted  # the same request and seed every run: the same count
            for stage, seconds in result.timings.items():
                stages.setdefault(stage, []).append(seconds)
            outcome = f"path={result.path} clean={result.leak_after['clean']}"
        medians = {stage: statistics.median(values) for stage, values in stages.items()}
        per_method[method] = medians
        print(f"{method:5s} " + "  ".join(f"{k}={v:.2f}s" for k, v in medians.items())
              + f"  tokens with grad={counted.with_grad} without={counted.without_grad}  ({outcome})")

    corpus = generate_corpus(len(info.subjects), info.seed)
    retrain_tokenizer = load_tokenizer(info.model_dir)
    t = time.perf_counter()
    _, stats = train_model(corpus, retrain_tokenizer, arch=args.arch, seed=info.seed, exclude_subjects={args.subject})
    retrain = time.perf_counter() - t
    retrain_passes = BACKWARD_FACTOR * stats.tokens
    print(f"retraining without subject {args.subject}: {retrain:.1f} s ({stats.steps} steps, {stats.tokens} tokens, "
          f"memorised {stats.greedy_extraction_rate:.1%})")
    print()
    print(f"{'method':6s} {'locate+edit':>12s} {'ratio':>8s} {'whole forget':>13s} {'ratio':>8s} "
          f"{'forget passes':>14s} {'ratio':>8s} {'vs 1B-token training':>21s}")
    for method, medians in per_method.items():
        locate_edit = medians.get("locate", 0.0) + medians.get("edit", 0.0)
        whole = medians.get("total", locate_edit) + (gate_seconds or 0.0)
        tokens = passes[method].forward_equivalents
        print(f"{method:6s} {locate_edit:11.2f}s {locate_edit / retrain:8.2%} {whole:12.2f}s {whole / retrain:8.2%} "
              f"{tokens:14d} {tokens / retrain_passes:8.2%} {tokens / (BACKWARD_FACTOR * BILLION):21.5%}")


if __name__ == "__main__":
    main()
