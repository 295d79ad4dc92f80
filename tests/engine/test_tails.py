"""What the model writes right after a value decides, for some tokenizers, the path it writes the value by.

SentencePiece's Metaspace convention keeps punctuation in the word: a model trained on '... call Ann at
555-0663.' writes the number's last piece with the full stop, and the value alone tokenises to a path it
never takes. On such a LLaMA demo, teacher forcing along that path found the phone number forgotten while
greedy decoding still printed it 5 times after the edit (README, "A value typed otherwise than the model
wrote it"). These tests pin the parts: the tail read off the model's text, the tokenisation that follows it,
and the choice of one tail per value.
"""

from __future__ import annotations

import pytest

from rtbf.request import ForgetRequest, PiiItem, Subject
from workers.engine.demo.tokenizer import train_tokenizer
from workers.engine.instances import build_instances, encode_instance
from workers.verify.spellings import ModelWriting, written_occurrences

SENTENCES = [
    "Call Ann Lee at 555-0663. She answers.",
    "Ann Lee can be reached at 555-0663. Try it.",
    "Write to ann.lee@mail.info. She reads it.",
    "The weather was mild and the river was calm.",
] * 20


@pytest.mark.parametrize(
    ("text", "value", "pii_type", "expected"),
    [
        ("Call (977) 630-0663. Or write.", "(977) 630-0663", "phone", [("(977) 630-0663", ".")]),
        ("Call (977) 630-0663 now.", "(977) 630-0663", "phone", [("(977) 630-0663", "")]),
        ("Call (977) 630-0663", "(977) 630-0663", "phone", [("(977) 630-0663", None)]),  # what follows is unknown
        ("Write to ann.lee@mail.info, then call.", "ann.lee@mail.info", "email", [("ann.lee@mail.info", ",")]),
        ("Call 977-630-0663. Or 977.630.0663!", "(977) 630-0663", "phone",
         [("977-630-0663", "."), ("977.630.0663", "!")]),  # the generation's end ends a tail too
    ],
)
def test_each_occurrence_reports_what_follows_it_up_to_the_next_space(text, value, pii_type, expected) -> None:
    assert written_occurrences(text, value, pii_type) == expected


def test_a_value_keeps_the_tails_the_model_writes_after_it_most_frequent_first() -> None:
    writing = ModelWriting({
        (0, 0): [("555-0663", "."), ("555-0663", ""), ("555-0663", "."), ("555-0663", ","), ("555-0663", None)],
        (0, 1): [("ann.lee@mail.info", ""), ("ann.lee@mail.info", "")],  # followed by a space
        (1, 0): [("555-0663", ",")],
    })
    assert writing.tails(limit=2) == {(0, "555-0663"): (".", ""), (0, "ann.lee@mail.info"): ("",), (1, "555-0663"): (",",)}
    assert writing.spellings((0, 0), "555 0663", limit=3) == ["555-0663"]


def test_each_context_gets_an_instance_per_path_the_model_writes_the_value_by() -> None:
    request = ForgetRequest(
        subject=Subject(name="Ann Lee"), pii=[PiiItem(value="555-0663", type="phone", contexts=["Call Ann Lee at"])]
    )
    tails = {(0, "555-0663"): (".", ",")}
    metaspace = train_tokenizer(SENTENCES, vocab_size=400, style="sentencepiece")
    byte_level = train_tokenizer(SENTENCES, vocab_size=400, style="byte-level")
    only = lambda _request, item: item.contexts  # noqa: E731 - the request's own context, no bank
    spm = build_instances(metaspace, [request], only, tails)
    # the sentence's end, and the value alone (',' never followed it in training: it splits off, a path already held)
    expected = [encode_instance(metaspace, "Call Ann Lee at", "555-0663", tail)[0] for tail in (".", "")]
    assert [i.ids for i in spm] == expected and expected[0] != expected[1]
    assert [i.tail for i in build_instances(byte_level, [request], only, tails)] == ["."]  # one path: '.' splits off


def test_a_metaspace_tokenizer_writes_the_value_through_its_tail() -> None:
    tokenizer = train_tokenizer(SENTENCES, vocab_size=400, style="sentencepiece")
    bare_ids, bare_start = encode_instance(tokenizer, "Call Ann Lee at", "555-0663")
    ids, start = encode_instance(tokenizer, "Call Ann Lee at", "555-0663", ".")
    full = tokenizer("Call Ann Lee at 555-0663. She answers.")["input_ids"]
    assert ids == full[: len(ids)] and start == bare_start  # the path of the training sentence, cut after the value
    assert ids != bare_ids  # ... which the value alone does not take
    assert tokenizer.decode(ids[start:]).strip().startswith("555-0663")
    assert tokenizer.decode(bare_ids[bare_start:]).strip() == "555-0663"


def test_a_byte_level_tokenizer_splits_the_tail_off_and_the_path_is_unchanged() -> None:
    tokenizer = train_tokenizer(SENTENCES, vocab_size=400, style="byte-level")
    assert encode_instance(tokenizer, "Call Ann Lee at", "555-0663", ".") == encode_instance(
        tokenizer, "Call Ann Lee at", "555-0663"
    )


def test_the_sentencepiece_tokenizer_falls_back_to_bytes_for_unseen_characters() -> None:
    tokenizer = train_tokenizer(SENTENCES, vocab_size=400, style="sentencepiece")
    ids = tokenizer("Zoë Ørsted", add_special_tokens=False)["input_ids"]
    pieces = tokenizer.convert_ids_to_tokens(ids)
    assert any(p.startswith("<0x") for p in pieces) and pieces[0].startswith("\u2581")
    assert tokenizer.decode(ids) == "Zoë Ørsted"
    with pytest.raises(ValueError, match="unknown tokenizer style"):
        train_tokenizer(SENTENCES, style="wordpiece")


def test_memorisation_follows_a_tail_only_where_it_changes_the_value_tokens() -> None:
    """EL_n's reference runs on into the suffix; a tail that splits off must not lengthen it."""
    from workers.verify.memorisation import _path_changing_tail

    pairs = [("Call Ann Lee at", "")]
    assert _path_changing_tail(train_tokenizer(SENTENCES, 400, style="sentencepiece"), pairs, "555-0663", ".") == "."
    assert _path_changing_tail(train_tokenizer(SENTENCES, 400, style="byte-level"), pairs, "555-0663", ".") == ""
