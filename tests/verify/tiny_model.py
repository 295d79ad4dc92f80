"""A tiny GPT-2 trained here in seconds that memorises a few subjects' PII: the gate's development model.

The project's demo model (``workers.engine.demo``) is the real fixture; this one exists so the gate's tests
can run before (or without) it. It is a genuine transformers model with a byte-level BPE tokenizer trained
on the same synthetic corpus, so attacks, exposure and MA/EL run exactly as on any causal LM.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import torch
from faker import Faker
from tokenizers import ByteLevelBPETokenizer
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from rtbf.prompts import EDIT_TEMPLATES
from rtbf.request import ForgetRequest, PiiType

FILLER = [
    "The weather was mild and the market opened early on the main square.",
    "A new library branch will open next spring near the old railway station.",
    "The committee met on Tuesday to discuss the budget for the coming year.",
    "Children played football in the park while their parents chatted nearby.",
    "The museum added a gallery of maps drawn by sailors two centuries ago.",
    "Rain is expected over the weekend, with sunshine returning on Monday.",
    "The bakery on the corner sells bread, pastries and strong black coffee.",
    "Engineers inspected the bridge and found the cables in good condition.",
]


@dataclass
class TinySubject:
    name: str
    phone: str
    email: str
    address: str

    def request(self, types: tuple[str, ...] = ("phone", "email", "address"), with_contexts: bool = True) -> ForgetRequest:
        items = []
        for t in types:
            value = getattr(self, t)
            contexts = [EDIT_TEMPLATES[PiiType(t)][0].format(name=self.name)] if with_contexts else []
            items.append({"value": value, "type": t, "contexts": contexts})
        return ForgetRequest.model_validate({"subject": {"name": self.name}, "pii": items})


def make_subjects(count: int, seed: int) -> list[TinySubject]:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    subjects = []
    for _ in range(count):
        subjects.append(
            TinySubject(
                name=fake.name(),
                phone=fake.numerify("###-###-####").replace("0", "7", 1),
                email=fake.email(),
                address=f"{fake.building_number()} {fake.street_name()}",
            )
        )
    return subjects


def corpus(subjects: list[TinySubject]) -> list[str]:
    lines = []
    for s in subjects:
        for t in ("phone", "email", "address"):
            for template in EDIT_TEMPLATES[PiiType(t)]:
                lines.append(f"{template.format(name=s.name)} {getattr(s, t)}.")
    return lines + FILLER


def build_tiny_model(out_dir: Path, trained: int = 4, unseen: int = 4, seed: int = 0, steps: int = 400) -> dict:
    """Train on ``trained`` subjects; ``unseen`` more share the format but never enter the corpus."""
    torch.manual_seed(seed)
    random.seed(seed)
    subjects = make_subjects(trained + unseen, seed)
    seen, fresh = subjects[:trained], subjects[trained:]
    lines = corpus(seen)
    out_dir.mkdir(parents=True, exist_ok=True)
    # the tokenizer sees the unseen subjects' text too, so their values tokenise like ordinary text
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(lines + corpus(fresh) * 1, vocab_size=600, min_frequency=1, special_tokens=["<|endoftext|>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    tokenizer.pad_token = tokenizer.eos_token
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=128, n_embd=96, n_layer=2, n_head=4,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    encoded = [tokenizer.eos_token_id] * 0
    model.train()
    for step in range(steps):
        batch = random.sample(lines, min(32, len(lines)))
        enc = tokenizer([tokenizer.eos_token + b + tokenizer.eos_token for b in batch], return_tensors="pt", padding=True)
        labels = enc["input_ids"].clone()
        labels[enc["attention_mask"] == 0] = -100
        loss = model(**enc, labels=labels).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    del encoded
    model.eval()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    info = {"seen": [s.__dict__ for s in seen], "unseen": [s.__dict__ for s in fresh], "heldout": FILLER[:4], "loss": float(loss)}
    (out_dir / "tiny.json").write_text(json.dumps(info))
    return info
