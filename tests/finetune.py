"""A demo model briefly fine-tuned on a few planted texts: how the tests get a model that memorised a format
or a script the demo corpus does not have (glued labels, Russian cards)."""

from __future__ import annotations

import random

import torch

from workers.engine.loading import load_causal_lm


def demo_fine_tuned_on(demo, texts: list[str], steps: int = 60, lr: float = 5e-4, sample: int | None = None):
    """(model, tokenizer): the demo after ``steps`` AdamW steps on ``texts`` (or on ``sample`` of them drawn
    afresh for each step), each batch mixed with as many of the demo's own training sentences (seeded, so the
    model is the same on every run on a machine)."""
    model, tokenizer = load_causal_lm(demo.model_dir, device="cpu")
    torch.manual_seed(0)
    rng = random.Random(0)
    ordinary = demo.training_texts()
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        batch = texts if sample is None else rng.sample(texts, sample)
        enc = tokenizer(batch + rng.sample(ordinary, len(batch)), return_tensors="pt", padding=True)
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        loss = model(**enc, labels=labels).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    return model, tokenizer
