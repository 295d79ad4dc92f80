"""Benchmark of the verification gate: a 3-item request on the demo GPT-2 with the default settings.

    .venv/bin/python benchmarks/bench_gate.py [--runs 3] [--threads N] [--samples N]

Prints each phase's median seconds over the runs and the total. The target is under 30 s on 2 CPU cores.
The demo model comes from the shared build cache (built on first use). The run includes a reference
model (the unedited model itself), two other subjects for locality and the demo's held-out texts, so
every check of the gate is exercised.
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--samples", type=int, default=None, help="override GateSettings.samples")
    parser.add_argument("--subject", type=int, default=0, help="demo subject whose 3 items are audited")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from rtbf.settings import GateSettings
    from workers.engine.demo.cache import cached_demo_model
    from workers.engine.loading import load_causal_lm
    from workers.verify.gate import run_gate

    info = cached_demo_model("gpt2")
    model, tokenizer = load_causal_lm(info.model_dir, device="cpu")
    settings = GateSettings() if args.samples is None else GateSettings(samples=args.samples)
    request = info.request_for([args.subject])
    others = info.request_for([(args.subject + 1) % len(info.subjects), (args.subject + 2) % len(info.subjects)])
    items = sum(len(r.all_items()) for r in request)
    print(f"demo gpt2, {items} items, samples={settings.samples}, candidates={settings.exposure_candidates}, "
          f"torch threads={torch.get_num_threads()}")
    phases: dict[str, list[float]] = {}
    for run in range(args.runs):
        started = time.perf_counter()
        report = run_gate(
            model, tokenizer, request, settings=settings, salt="bench", reference=(model, tokenizer),
            locality_requests=others, heldout_texts=info.heldout_texts[:20], model_dir=info.model_dir,
        )
        wall = time.perf_counter() - started
        for phase, seconds in report.timings_seconds.items():
            phases.setdefault(phase, []).append(seconds)
        print(f"run {run + 1}: {wall:.1f} s, passed={report.passed}, failed checks={len(report.failed_checks)}")
    for phase, values in phases.items():
        print(f"{phase:>14}: median {statistics.median(values):6.2f} s  (runs: {', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
