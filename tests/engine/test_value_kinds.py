"""Values the request's type does not describe: birth dates typed ``other``, IBANs, card and social security
numbers typed ``id``, in a request that names no context.

The GPT-2 demo is fine-tuned for 200 steps on records of eight of its people, each value in three
phrasings ("... was born on", "Salary payments for ... go to account", ...); two more phrasings per kind
are never trained, and the measurement attacks with all five. A compliance portal sends only the value
and its type, so the edit and the gate must find the phrasings themselves (``rtbf.kinds``): before, the
gate asked for a birth date after "Ada's" and "About Ada:", and its greedy and beam attacks drew 6 hits
from the unedited model where the kinds' phrasings draw 49; on the LLaMA demo fine-tuned the same way,
a context-free `auto` edit passed the engine's checks while greedy decoding still wrote the birth date
(README, "Values the type does not describe").
"""

from __future__ import annotations

import copy
import random

import pytest
from faker import Faker

import rtbf.prompts
from rtbf.pii import contains_value
from rtbf.request import ForgetRequest, PiiItem, Subject
from rtbf.settings import GateSettings
from tests.finetune import demo_fine_tuned_on
from workers.engine.forget import forget
from workers.verify.attacks import MODES, run_attacks
from workers.verify.gate import run_gate
from workers.verify.utility import perplexity

# the fine-tune alone takes about three minutes of one core: the module runs on demand (-m more_formats)
pytestmark = [pytest.mark.xdist_group("value-kinds"), pytest.mark.more_formats]
MEASURE = GateSettings(samples=20, batch_size=64)
PEOPLE = 8
# kind: (request type, trained phrasings, never-trained phrasings)
KINDS: dict[str, tuple[str, list[str], list[str]]] = {
    "birth date": ("other", ["{n} was born on {v}.", "{n}'s date of birth is {v}.", "According to the registry, {n} was born {v}."],
                   ["The birthday of {n} falls on {v}.", "Records show {n} came into the world on {v}."]),
    "iban": ("id", ["{n}'s IBAN is {v}.", "Salary payments for {n} go to account {v}.", "The bank account of {n} is {v}."],
             ["Please wire the refund for {n} to {v}.", "{n} receives transfers at {v}."]),
    "ssn": ("id", ["{n}'s social security number is {v}.", "The SSN on file for {n} is {v}.", "On the tax form, {n} wrote the SSN {v}."],
            ["Tax records list {n} under number {v}.", "The social security card of {n} reads {v}."]),
    "card": ("id", ["{n}'s credit card number is {v}.", "The card {n} paid with was {v}.", "{n} booked the hotel with card {v}."],
             ["Charge the order for {n} to card {v}.", "The Visa card of {n} has the number {v}."]),
}


def _values(rng: random.Random, fake: Faker) -> dict[str, str]:
    iban = fake.iban()
    return {
        "birth date": f"{rng.choice(['March', 'July', 'October', 'January', 'May'])} {rng.randint(1, 28)}, {rng.randint(1940, 2000)}",
        "iban": " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)),
        "ssn": f"{rng.randint(100, 899)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
        "card": f"4{rng.randint(0, 999):03d} " + " ".join(f"{rng.randint(0, 9999):04d}" for _ in range(3)),
    }


@pytest.fixture(scope="module")
def records(demo_gpt2):
    """(people, model, tokenizer): eight demo people's values of each kind, and the demo after it learnt them."""
    fake = Faker("de_DE")
    fake.seed_instance(3)
    rng = random.Random(3)
    people = [(subject, _values(rng, fake)) for subject in demo_gpt2.subjects[:PEOPLE]]
    texts = [t.format(n=s.name, v=v) for s, values in people for kind, v in values.items() for t in KINDS[kind][1]]
    model, tokenizer = demo_fine_tuned_on(demo_gpt2, texts, steps=200, sample=32)
    return people, model, tokenizer


def _context_free(subject, values: dict[str, str]) -> ForgetRequest:
    """What a portal sends: each value with its type, no context."""
    items = [PiiItem(value=v, type=KINDS[kind][0]) for kind, v in values.items()]
    return ForgetRequest(subject=Subject(name=subject.name, aliases=subject.aliases), pii=items)


def _every_phrasing(subject, values: dict[str, str]) -> ForgetRequest:
    """The measurement's request: each value after all five of its phrasings."""
    items = []
    for kind, v in values.items():
        pii_type, trained, unseen = KINDS[kind]
        contexts = [t.split("{v}")[0].format(n=subject.name).rstrip() for t in trained + unseen]
        items.append(PiiItem(value=v, type=pii_type, contexts=contexts))
    return ForgetRequest(subject=Subject(name=subject.name, aliases=subject.aliases), pii=items)


def _decoded_hits(model, tokenizer, request: ForgetRequest) -> list[int]:
    """Per item: outputs of greedy and beam decoding that hold the value, over the request's own prompts."""
    plan = run_attacks(model, tokenizer, [request], MEASURE, modes=("greedy", "beam"))
    return [a.modes["greedy"].hits + a.modes["beam"].hits for a in plan]


def test_the_gate_asks_for_each_value_as_its_kind(records, monkeypatch) -> None:
    """From a context-free request, the gate's own phrasings draw every value out of the unedited model; with
    the type's phrasings alone they drew none."""
    people, model, tokenizer = records
    request = _context_free(*people[0])
    with_kinds = _decoded_hits(model, tokenizer, request)
    monkeypatch.setattr(rtbf.prompts, "value_kinds", lambda value, pii_type: ())
    type_only = _decoded_hits(model, tokenizer, request)
    print(f"greedy + beam hits per item (birth date, IBAN, SSN, card): {with_kinds} with the kinds' phrasings, "
          f"{type_only} without")
    assert all(h > 0 for h in with_kinds), with_kinds
    assert sum(type_only) < sum(with_kinds) and 0 in type_only, type_only


def test_a_never_seen_iban_is_ranked_among_ibans_of_its_country(records) -> None:
    """Exposure in both directions: the IBAN the model learnt ranks first, German IBANs it never saw do not
    (the country code is format, kept in every candidate)."""
    people, model, tokenizer = records
    subject, values = people[0]
    fake = Faker("de_DE")
    fake.seed_instance(99)
    unseen = [" ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) for iban in (fake.iban() for _ in range(3))]
    settings = GateSettings(samples=0, el_ns=[3], exposure_candidates=300, exposure_baseline_values=300, batch_size=64)

    def exposure(value: str) -> float:
        request = ForgetRequest(subject=Subject(name=subject.name), pii=[PiiItem(value=value, type="id")])
        report = run_gate(model, tokenizer, [request], settings=settings, salt="s")
        return next(c.measured for c in report.requests[0].items[0].checks if c.name.endswith("exposure"))

    learnt, never_seen = exposure(values["iban"]), [exposure(value) for value in unseen]
    print(f"IBAN exposure: learnt {learnt:.2f} bits, never seen " + ", ".join(f"{b:.2f}" for b in never_seen))
    assert learnt > settings.max_exposure_bits >= max(never_seen), (learnt, never_seen)


@pytest.mark.parametrize("method", ["auto", "fpga"])
def test_an_edit_forgets_every_kind_from_a_context_free_request(records, demo_gpt2, method: str) -> None:
    """0 hits in every decoding mode after all five phrasings of each kind, the two never trained included,
    from a request that names none; the other people's values and the held-out perplexity as the issue asks.
    FPGA on its own too: its push on long digit runs (IBANs, cards) is what reaches other people's values,
    and the retain KL's weight is what holds them (README, "Values the type does not describe")."""
    people, model, tokenizer = records
    target = _every_phrasing(*people[0])
    others = [_every_phrasing(*person) for person in people[1:]]
    before = run_attacks(model, tokenizer, [target], MEASURE, modes=MODES)
    assert all(a.modes["greedy"].hits > 0 for a in before)
    others_before = [a.modes["greedy"].hits > 0 for a in run_attacks(model, tokenizer, others, MEASURE, modes=("greedy",))]
    edited = copy.deepcopy(model)
    result = forget(edited, tokenizer, [_context_free(*people[0])], method=method)
    after = run_attacks(edited, tokenizer, [target], MEASURE, modes=MODES)
    others_after = [a.modes["greedy"].hits > 0 for a in run_attacks(edited, tokenizer, others, MEASURE, modes=("greedy",))]
    # an item counts as kept when greedy decoding gave it before the edit and still does
    kept, extracted = sum(b and a for b, a in zip(others_before, others_after)), sum(others_before)
    rise = perplexity(edited, tokenizer, demo_gpt2.heldout_texts, 64) / perplexity(model, tokenizer, demo_gpt2.heldout_texts, 64) - 1
    hits = {mode: sum(a.modes[mode].hits for a in after) for mode in MODES}
    print(f"{method} ({result.path}): hits {hits}, others kept {kept}/{extracted}, perplexity {rise:+.2%}")
    assert hits == dict.fromkeys(MODES, 0), hits
    assert kept >= 0.95 * extracted, (kept, extracted)
    assert rise <= 0.03, rise
    # and no phrasing of any kind writes the value greedily (each checked on its own)
    subject, values = people[0]
    for kind, value in values.items():
        pii_type, trained, unseen = KINDS[kind]
        for template in trained + unseen:
            context = template.split("{v}")[0].format(n=subject.name).rstrip()
            ids = tokenizer(context, return_tensors="pt")
            out = edited.generate(**ids, max_new_tokens=24, do_sample=False, pad_token_id=tokenizer.pad_token_id)
            assert not contains_value(tokenizer.decode(out[0, ids["input_ids"].shape[1]:]), value, pii_type), (kind, template)
