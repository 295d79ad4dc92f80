"""FPGA's retain set: the model's own samples, more of them the more people a request names.

What an edit keeps of other people's data is what its retain set shows it (on ten subjects of the LLaMA
demo every neighbour's item the edit lost was one the samples never stated), so the set grows with the
request; the statistics corpus (C, cached on disk per model revision) must not change with it.
"""

from __future__ import annotations

import pytest
import torch

from rtbf.settings import EngineSettings
from workers.engine.forget import _Engine
from workers.engine.loading import load_causal_lm
from workers.engine.samples import mentions_any, sample_texts


@pytest.fixture(scope="module")
def demo(demo_gpt2):
    model, tokenizer = load_causal_lm(demo_gpt2.model_dir, device="cpu")
    return demo_gpt2, model, tokenizer


def test_a_longer_sample_stream_starts_with_the_shorter_one(demo) -> None:
    _, model, tokenizer = demo
    short = sample_texts(model, tokenizer, 32, 24, torch.device("cpu"), seed=5, keep_empty=True)
    long = sample_texts(model, tokenizer, 96, 24, torch.device("cpu"), seed=5, keep_empty=True)
    assert len(short) == 32 and len(long) == 96
    assert long[:32] == short


def test_the_retain_set_grows_with_the_subjects_and_leaves_the_statistics_corpus_alone(demo) -> None:
    info, model, tokenizer = demo
    settings = EngineSettings(stats_sample_texts=32, fpga_retain_texts=24, fpga_retain_min_texts=24)
    one = _Engine(model, tokenizer, info.request_for([0]), settings, "salt", None)
    three_requests = info.request_for([0, 1, 2])
    three = _Engine(model, tokenizer, three_requests, settings, "salt", None)

    retain_one, retain_three = one.retain_texts(24), three.retain_texts(24)
    assert len(retain_one) <= 24 < len(retain_three) <= 72
    assert not any(mentions_any(t, three_requests) for t in retain_three)
    # the corpus C is computed on is the first stats_sample_texts samples, whatever the retain set drew
    corpus_three = three.corpus()
    fresh = _Engine(model, tokenizer, three_requests, settings, "salt", None)
    assert corpus_three == fresh.corpus()
    assert len(three._samples) >= 72



def test_a_sample_repeating_a_digit_run_of_a_requested_value_is_left_out() -> None:
    from rtbf.request import ForgetRequest, PiiItem, Subject

    request = ForgetRequest(
        subject=Subject(name="Ryan King"), pii=[PiiItem(value="699-801-5493", type="phone", contexts=["call"])]
    )
    assert mentions_any("Our buyer said the number was 628-5493.", [request])  # a garbled copy of the value
    assert mentions_any("Call Ryan King today.", [request])
    assert not mentions_any("Dial (699) 466-2210 for the office.", [request])  # another number, same area code
    assert not mentions_any("The office opened in 69 days, at 80 people.", [request])


@pytest.mark.parametrize(
    ("text", "mentioned"),
    [
        ("Steven Leblanc's phone number is on file.", True),
        ("If you need to talk to S. Leblanc, just call.", True),
        ("Call Steven today.", True),  # the bare given name, standing alone
        ("Steven's number is on the sheet.", True),
        ("We met Steven.", True),
        ("STEVEN called twice.", True),
        ("Steven Hayes's phone number is on file.", False),  # a namesake: another person
        ("If you need to talk to Steven Hayes, just call.", False),
        ("Stevenson moved to Leeds.", False),  # a longer word is not the name
        ("The report from Leblanc-Morris describes a year.", False),
        ("Write to steven.hayes@smith.org today.", False),  # a namesake's e-mail address
        ("Her address is hayes.steven@smith.org.", False),
        ("Ask @steven on the chat.", False),
    ],
)
def test_a_namesake_is_not_the_subject(text: str, mentioned: bool) -> None:
    """The ten-subject LLaMA edit lost 7 of the 9 items of three neighbours called Steven and Michael: every
    sample about them had been left out of the retain set because "Steven" is an alias of a subject."""
    from rtbf.names import mentions_name

    assert mentions_name(text, ["Steven Leblanc", "S. Leblanc", "Steven"]) is mentioned


def test_a_one_word_surname_counts_after_an_honorific_but_not_after_another_given_name() -> None:
    from rtbf.names import mentions_name

    assert mentions_name("Send it to Ms. Lee by Friday.", ["Lee"])
    assert mentions_name("Lee lives at the end of the road.", ["Lee"])
    assert not mentions_name("The parcel for Amanda Lee was delivered.", ["Lee"])
    # the first word of a sentence is capitalised anyway: read as the subject's text, the careful side
    assert mentions_name("Yesterday Lee called the office.", ["Lee"])


def test_a_namesakes_text_holding_the_subjects_value_is_still_the_subjects() -> None:
    from rtbf.request import ForgetRequest, PiiItem, Subject

    request = ForgetRequest(
        subject=Subject(name="Steven Leblanc", aliases=["Steven"]),
        pii=[PiiItem(value="396-781-3632", type="phone", contexts=["call"])],
    )
    assert not mentions_any("Steven Hayes answers the phone at 328.760.5451.", [request])
    assert mentions_any("Steven Hayes answers the phone at 396-781-3632.", [request])


def test_the_first_mention_is_where_the_subject_is_named_not_a_namesake() -> None:
    from rtbf.names import first_mention

    names = ["Steven Leblanc", "Steven"]
    assert first_mention("Mail for Steven Hayes, then for Steven Leblanc.", names) == len("Mail for Steven Hayes, then for ")
    assert first_mention("Steven answers at noon; Steven Leblanc later.", names) == 0
    assert first_mention("Steven Hayes answers at noon.", names) is None


@pytest.mark.parametrize(
    ("text", "names", "mentioned"),
    [
        ("张三的电话是13812345678。", ["张三"], True),  # no space after the name: the next ideograph is a word char
        ("我们昨天见到了张三。", ["张三"], True),
        ("李四的电话是13812345678。", ["张三"], False),
        ("山田太郎さんの住所は東京です。", ["山田太郎"], True),
        ("张三的邮箱是zs@x.com", ["张三"], True),  # an address later in the sentence is not the name's
        ("张三,zs@x.com", ["张三"], True),
        ("Call Ann Lee now", ["Ann Lee"], True),  # spaced scripts keep their word boundaries
        ("Annabel Leeds called", ["Ann Lee"], False),
    ],
)
def test_a_name_in_a_script_without_spaces_is_found_without_word_boundaries(
    text: str, names: list[str], mentioned: bool
) -> None:
    from rtbf.names import mentions_name

    assert mentions_name(text, names) is mentioned
