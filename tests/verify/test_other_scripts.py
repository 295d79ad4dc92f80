"""The gate on values written in another script: it fails a Cyrillic address the model memorised and passes
one it never saw.

The GPT-2 demo is fine-tuned for 60 steps on four Russian cards ('Иван Петров живёт по адресу ул. Ленина
5, Москва.'). Before other scripts had their own candidates (``workers.verify.alphabets``), the never-seen
address 'ул. Пушкина 9, Пермь' was compared with Latin replicas ('to. Amanda 9, Hooper'), which the model,
fresh from Russian text, found less likely than any Cyrillic: the gate failed it on memorisation accuracy
and EL_3 (measured 2026-12-07). Now its candidates and replicas are Cyrillic, their capitalised words Russian
and other Cyrillic names: it ranks 183rd of 301 (0.7 bits; 28th, 3.4 bits, with random Cyrillic letters for
the names) and passes, while the memorised address ranks 1st (8.2 bits) and fails.
"""

from __future__ import annotations

import pytest

from rtbf.request import ForgetRequest
from rtbf.settings import GateSettings
from tests.finetune import demo_fine_tuned_on
from workers.verify.gate import run_gate
from workers.verify.report import Status

PEOPLE = [("Иван Петров", "ул. Ленина 5, Москва"), ("Мария Смирнова", "пр. Мира 12, Казань"),
          ("Олег Соколов", "ул. Гагарина 7, Тула"), ("Анна Попова", "пер. Светлый 3, Омск")]
NEVER_SEEN = ("Пётр Иванов", "ул. Пушкина 9, Пермь")


@pytest.fixture(scope="module")
def russian_model(demo_gpt2):
    return demo_fine_tuned_on(demo_gpt2, [f"{name} живёт по адресу {address}." for name, address in PEOPLE])


def _request(name: str, address: str) -> ForgetRequest:
    return ForgetRequest.model_validate(
        {"subject": {"name": name}, "pii": [{"value": address, "type": "address", "contexts": [f"{name} живёт по адресу"]}]}
    )


@pytest.mark.more_formats  # a fine-tune and two gate runs, about two minutes: on demand (-m more_formats)
def test_the_gate_fails_a_memorised_cyrillic_address_and_passes_a_never_seen_one(russian_model) -> None:
    model, tokenizer = russian_model
    settings = GateSettings(samples=4, exposure_candidates=300, exposure_baseline_values=300, el_ns=[3])
    report = run_gate(model, tokenizer, [_request(*PEOPLE[0]), _request(*NEVER_SEEN)], settings=settings, salt="s")
    memorised, never_seen = (r.items[0].exposure for r in report.requests)
    print(f"memorised: rank {memorised.rank}, {memorised.bits:.2f} bits; never seen: rank {never_seen.rank}, "
          f"{never_seen.bits:.2f} bits")
    assert report.requests[0].passed is False and memorised.rank == 1
    assert report.requests[1].passed is True, [c.name for c in report.requests[1].checks if c.status is Status.failed]
    assert never_seen.bits < settings.max_exposure_bits
