"""The engine's erasure figures on a demo model: what an extractor still gets, what else was lost.

    .venv/bin/python benchmarks/erasure_figures.py --arch gpt2 --subjects 0 [--method fpga]
                                                   [--set fpga_lr=1e-3 --set fpga_max_steps=120] [--threads 1]
                                                   [--retype-phones dashes|dots|international] [--save DIR]
                                                   [--seed S] [--tokenizer byte-level|sentencepiece]

Erases the given subjects (one request each, all edited together) with ``forget()`` and the production
engine settings (``--set`` overrides one field), then prints: the engine's own verdict (hits, value
probability, exposure of the stop check), greedy / beam / sampled hits from every training phrasing and
from unseen paraphrases, how many of the other subjects' extractable items greedy decoding still yields
(lost items by type), and the held-out perplexity change. The same measurements as
``tests/engine/test_forget.py``, for any subject set, method or setting; it prints, it asserts nothing.
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import sys
import time
from pathlib import Path


def retyped_phones(request, style: str):
    """The request with each phone number's digits regrouped as 3-3-rest in ``style``."""
    items = []
    for item in request.pii:
        digits = "".join(c for c in item.value if c.isdigit())
        if str(item.type) == "phone" and len(digits) >= 8:
            head, mid, tail = digits[:3], digits[3:6], digits[6:]
            value = {"dashes": f"{head}-{mid}-{tail}", "dots": f"{head}.{mid}.{tail}",
                     "international": f"+1 {head} {mid} {tail}"}[style]
            item = item.model_copy(update={"value": value})
        items.append(item)
    return request.model_copy(update={"pii": items})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="gpt2")
    parser.add_argument("--subjects", default="0", help="comma-separated demo subject indices")
    parser.add_argument("--method", default="fpga")
    parser.add_argument("--seed", type=int, default=0, help="demo model seed (another set of synthetic people)")
    parser.add_argument("--tokenizer", default="byte-level", help="demo tokenizer style: byte-level | sentencepiece")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="engine setting override")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--retype-phones", choices=("dashes", "dots", "international"),
        help="type each requested phone number otherwise than the model wrote it (977-630-0663, 977.630.0663, "
        "+1 977 630 0663); extraction is still measured on the memorised spelling",
    )
    parser.add_argument("--save", type=Path, help="write the edited model here (save_pretrained) for later diagnosis")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from rtbf.settings import EngineSettings
    from tests.engine.test_forget import MEASURE, extraction, probe_requests
    from workers.engine.checks import ExposureCheck
    from workers.engine.demo.cache import cached_demo_model
    from workers.engine.forget import forget
    from workers.engine.loading import load_causal_lm
    from workers.verify.attacks import run_attacks
    from workers.verify.exposure import measure_exposure
    from workers.verify.utility import perplexity

    overrides = {}
    for assignment in args.set:
        field, _, value = assignment.partition("=")
        try:
            overrides[field] = json.loads(value)
        except json.JSONDecodeError:
            overrides[field] = value  # a bare word: a string setting such as fpga_objective=ascent
    settings = EngineSettings(**overrides)
    subjects = [int(x) for x in args.subjects.split(",")]
    info = cached_demo_model(args.arch, seed=args.seed, tokenizer_style=args.tokenizer)
    model, tokenizer = load_causal_lm(info.model_dir, device="cpu")
    perplexity_before = perplexity(model, tokenizer, info.heldout_texts, 64)
    edited = copy.deepcopy(model)
    started = time.perf_counter()
    last_stage: dict[str, str] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if last_stage.get("name") != stage:  # one line per stage, with the time it started at
            last_stage["name"] = stage
            print(f"  [{time.perf_counter() - started:7.1f} s] {stage}", flush=True)

    requests = info.request_for(subjects, contexts="one")
    if args.retype_phones:
        requests = [retyped_phones(request, args.retype_phones) for request in requests]
    result = forget(
        edited, tokenizer, requests, method=args.method, settings=settings,
        progress=progress,
    )
    seconds = time.perf_counter() - started
    print("stage timings:", {k: round(v, 1) for k, v in result.timings.items()})
    print(f"{args.arch} subjects {subjects} method {args.method}: {seconds:.0f} s, path {result.path}, passed {result.passed}")
    print("engine stop check:", json.dumps(result.leak_after))
    for edit in result.edits:
        print("edit:", {k: edit[k] for k in ("method", "keys", "layer", "steps", "step_budget", "layers", "value_keys", "stranger_keys",
                                            "residuals_realised", "target_unmet_nats", "target_deepened_nats", "items_deepened") if k in edit})
        if edit.get("history"):
            print("  last checks:", edit["history"][-3:])

    check = ExposureCheck(tokenizer, requests, candidates=settings.stop_exposure_candidates,
                          contexts=settings.stop_exposure_contexts, target_bits=settings.stop_exposure_bits, seed=settings.seed)
    for r in measure_exposure(edited, tokenizer, requests, check.settings, check.sampler, each_context=True):
        if r.exposure_bits is not None and r.exposure_bits > settings.stop_exposure_bits:
            print(f"  above the exposure target: subject {subjects[r.request_index]} item {r.item_index} "
                  f"({r.item.type}): rank {r.rank} of {r.candidates + 1}, {r.exposure_bits:.2f} bits")
    if args.save:
        edited.save_pretrained(args.save)
        tokenizer.save_pretrained(args.save)

    others = [i for i in range(len(info.subjects)) if i not in subjects]

    def greedy_items(m) -> dict:
        plan = run_attacks(m, tokenizer, probe_requests(info, others), MEASURE, modes=("greedy",))
        return {(a.request_index, a.item_index): (str(a.item.type), a.modes["greedy"].hits > 0) for a in plan}

    before, after = greedy_items(model), greedy_items(edited)
    lost = collections.Counter(before[k][0] for k in before if before[k][1] and not after[k][1])
    kept = sum(1 for k in before if before[k][1] and after[k][1])
    print(f"other subjects' items still extracted: {kept}/{sum(v[1] for v in before.values())}, lost by type {dict(lost)}")
    for (request, item), (kind, hit) in sorted(before.items()):
        if hit and not after[(request, item)][1]:
            print(f"  lost: subject {others[request]} item {item} ({kind})")
    print(f"held-out perplexity change: {perplexity(edited, tokenizer, info.heldout_texts, 64) / perplexity_before - 1:+.2%}")
    print("hits before:", extraction(model, tokenizer, info, subjects).hits)
    print("hits after: ", extraction(edited, tokenizer, info, subjects).hits)
    for a in run_attacks(edited, tokenizer, probe_requests(info, subjects), MEASURE):
        if any(mode.hits for mode in a.modes.values()):
            print(f"  still extracted: subject {subjects[a.request_index]} item {a.item_index} ({a.item.type}): "
                  + ", ".join(f"{name} {mode.hits}" for name, mode in a.modes.items()))


if __name__ == "__main__":
    main()
