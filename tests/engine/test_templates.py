"""Templates mined from a model's samples: the sentences it writes other people's PII in, name taken out."""

from __future__ import annotations

from rtbf.request import ForgetRequest, PiiItem, PiiType, Subject
from workers.engine.templates import NAME_SLOT, mine_templates, with_templates

SAMPLES = [
    "Ann Smith can be phoned on 555-123-4567. The weather was mild.",
    "Bob Jones can be phoned on 555-987-6543.",
    "The museum opened late. To get in touch with Carl Lee quickly, ring 555-111-2222 after noon.",
    "To get in touch with Dora Kim quickly, ring 555-222-3333.",
    "Ms. Eve Park can be phoned on 555-333-4444.",
    "Dora Kim lives at 12 Oak Street, Springfield.",  # once only: not a template
    "Ann Smith (ann.smith@example.org) lives at 40 Elm Road, Lakeside.",
    "Bob Jones (bob.jones@example.org) lives at 41 Elm Road, Lakeside.",
    "The train from Paris leaves at noon.",
]


def test_the_sentences_before_recognised_values_become_templates_without_the_name() -> None:
    templates = mine_templates(SAMPLES, min_count=2)
    assert templates[PiiType.phone] == [f"{NAME_SLOT} can be phoned on", f"To get in touch with {NAME_SLOT} quickly, ring"]
    # the repeated address opening holds an e-mail of its own, the clean one is seen once, and the e-mail's
    # opening 'Ann Smith (' has no word besides the name
    assert set(templates) == {PiiType.phone}


def test_templates_fill_with_the_subject_name_per_item_of_their_type() -> None:
    request = ForgetRequest(
        subject=Subject(name="Zoe Quinn", aliases=["Zoe"]),
        pii=[
            PiiItem(value="555-000-1111", type="phone", contexts=["Zoe Quinn can be phoned on"]),
            PiiItem(value="zq@example.org", type="email"),
        ],
    )
    templates = {PiiType.phone: [f"{NAME_SLOT} can be phoned on", f"To get in touch with {NAME_SLOT} quickly, ring", f"{NAME_SLOT} picks up at"]}
    [out] = with_templates([request], templates, per_item=1)
    phone, email = out.all_items()
    assert phone.value == "555-000-1111" and email.value == "zq@example.org"  # same items, same order
    assert phone.contexts == ["Zoe Quinn can be phoned on", "To get in touch with Zoe Quinn quickly, ring"]
    assert email.contexts == []
    assert with_templates([request], templates, per_item=0) == [request]
    assert request.pii[0].contexts == ["Zoe Quinn can be phoned on"]  # the caller's request is not changed
