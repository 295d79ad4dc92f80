"""Benchmark of the forgetting engine against the alternative it replaces: retraining without the person.

    .venv/bin/python benchmarks/bench_forget.py [--arch gpt2] [--methods fpga,depn,rome] [--runs 3]
                                                [--subject 0] [--threads N] [--with-gate]

For each method it runs ``forget()`` on a fresh copy of the demo model ``--runs`` times and prints the
median seconds of each stage (prepare, locate, edit, verify), then retrains the demo model from scratch
on the same corpus minus that subject (the same recipe and stopping rule that built it) once, and prints
the ratios locate+edit / retraining and whole-forget / retraining. The target for locate+edit is at most
2% of retraining. ``--with-gate`` also times the full verification gate (the production settings) and
adds it to the whole-forget figure, as ``rtbf forget`` runs it.

It is a benchmark, not a test: it asserts nothing and prints its figures. All numbers of one run come from
the same process on the same machine, so the ratios are meaningful even on a shared, noisy host.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time


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
    for method in args.methods.split(","):
        stages: dict[str, list[float]] = {}
        outcome = ""
        for _ in range(args.runs):
            model = copy.deepcopy(base)
            result = forget(model, tokenizer, requests, method=method, settings=EngineSettings())
            for stage, seconds in result.timings.items():
                stages.setdefault(stage, []).append(seconds)
            outcome = f"path={result.path} clean={result.leak_after['clean']}"
        medians = {stage: statistics.median(values) for stage, values in stages.items()}
        per_method[method] = medians
        print(f"{method:5s} " + "  ".join(f"{k}={v:.2f}s" for k, v in medians.items()) + f"  ({outcome})")

    corpus = generate_corpus(len(info.subjects), info.seed)
    retrain_tokenizer = load_tokenizer(info.model_dir)
    t = time.perf_counter()
    _, stats = train_model(corpus, retrain_tokenizer, arch=args.arch, seed=info.seed, exclude_subjects={args.subject})
    retrain = time.perf_counter() - t
    print(f"retraining without subject {args.subject}: {retrain:.1f} s ({stats.steps} steps, "
          f"memorised {stats.greedy_extraction_rate:.1%})")
    print()
    print(f"{'method':6s} {'locate+edit':>12s} {'ratio':>8s} {'whole forget':>13s} {'ratio':>8s}")
    for method, medians in per_method.items():
        locate_edit = medians.get("locate", 0.0) + medians.get("edit", 0.0)
        whole = medians.get("total", locate_edit) + (gate_seconds or 0.0)
        print(f"{method:6s} {locate_edit:11.2f}s {locate_edit / retrain:8.2%} {whole:12.2f}s {whole / retrain:8.2%}")


if __name__ == "__main__":
    main()
