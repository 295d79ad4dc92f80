"""Candidates for values written in other scripts: drawn from that script, as the tokenizer knows it.

Before, every letter run was drawn from English words and every digit run in ASCII digits, so 'ул. Ленина 5,
Москва' ranked among 'to. Amanda 9, Hooper', and a phone number in Arabic-Indic digits had no part that
varied at all: any model that reads the script would rank the true value first, seen the person or not.
"""

from __future__ import annotations

import collections
import unicodedata

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from workers.verify.alphabets import Alphabets, _faker_names, script_of
from workers.verify.formats import CandidateSampler, WordPool, value_parts

RUSSIAN = "Иван Петров живёт в Москве на улице Ленина, дом пять. Мария Смирнова пишет письмо из Новосибирска."
JAPANESE = "東京都港区六本木に山田太郎さんが住んでいます。大阪市北区の田中花子さんも東京に来ました。"
CHINESE = "张三的电话是北京市朝阳区的号码。李四住在上海市浦东新区，王五在广州。"


@pytest.fixture(scope="module")
def multilingual_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained here on a few sentences of Russian, Japanese, Chinese and English."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    texts = [RUSSIAN, JAPANESE, CHINESE, "The quick brown fox jumps over the lazy dog."] * 40
    tokenizer.train_from_iterator(
        texts, trainers.BpeTrainer(vocab_size=900, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    )
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer)


def _scripts(text: str) -> set[str]:
    return {script_of(c) for c in text if c.isalpha()}


@pytest.mark.parametrize(
    ("value", "pii_type"),
    [("ул. Ленина 5, Москва", "address"), ("東京都港区六本木6-10-1", "address"), ("张三", "name"),
     ("Αθηνά Παπαδοπούλου", "name"), ("山田たろう", "name")],
)
@pytest.mark.parametrize("with_vocabulary", [True, False])
def test_letter_runs_of_another_script_are_drawn_from_that_script(
    value: str, pii_type: str, with_vocabulary: bool, multilingual_tokenizer
) -> None:
    """With the script in the vocabulary or not (then from Unicode near the value's letters), each run keeps
    its length and its scripts: kanji stay kanji and kana stay kana."""
    tokenizer = multilingual_tokenizer if with_vocabulary else None
    sampler = CandidateSampler(WordPool.for_tokenizer(tokenizer), tokenizer)
    candidates = sampler.sample(value, pii_type, 50, seed=0)
    assert len(candidates) == 50
    for candidate in candidates:
        assert len(candidate) == len(value)
        for mine, theirs in zip(value_parts(value, pii_type), value_parts(candidate, pii_type)):
            assert _scripts(mine.text) == _scripts(theirs.text), (value, candidate)
        assert "LATIN" not in _scripts(candidate)


def test_a_vocabulary_that_knows_the_script_gives_its_own_characters_common_ones_most(multilingual_tokenizer) -> None:
    sampler = CandidateSampler(WordPool.for_tokenizer(multilingual_tokenizer), multilingual_tokenizer)
    known = set(multilingual_tokenizer.decode(multilingual_tokenizer(CHINESE + JAPANESE)["input_ids"]))
    drawn = collections.Counter(c for candidate in sampler.sample("北京市朝阳区", "address", 300, seed=1) for c in candidate)
    assert set(drawn) <= known
    ranked = sampler.alphabets._characters["CJK"].items  # in vocabulary id order: merged first, most common
    head, tail = ranked[: len(ranked) // 4], ranked[-len(ranked) // 4 :]
    assert sum(drawn[c] for c in head) > 2 * sum(drawn[c] for c in tail)


def test_digits_of_another_script_vary_in_that_script() -> None:
    sampler = CandidateSampler(WordPool.for_tokenizer(None))
    value = "هاتف ٠٥٥٥١٢٣٤"
    assert [p.kind for p in value_parts(value, "phone")] == ["letters", "fixed", "digits"]
    candidates = sampler.sample(value, "phone", 100, seed=0)
    assert len(candidates) == 100
    digits = "".join(c for candidate in candidates for c in candidate if c.isdecimal())
    assert {unicodedata.name(d).split(" ")[0] for d in digits} == {"ARABIC-INDIC"}
    assert len(set(digits)) == 10


def test_marks_that_are_letters_by_category_stay_and_nothing_fails() -> None:
    """'ー' (katakana long vowel), '々' (iteration mark) and 'ʻ' (okina) are letters by category but have no
    alphabet to draw from: they stay, the letters around them vary."""
    sampler = CandidateSampler(WordPool.for_tokenizer(None))
    for value, mark in (("ヨーコ", "ー"), ("佐々木", "々"), ("センター街 5", "ー")):
        candidates = sampler.sample(value, "name", 30, seed=0)
        assert len(candidates) == 30 and all(c.index(mark) == value.index(mark) for c in candidates), candidates
    assert len(sampler.sample("Hawaiʻi Kai Dr 12", "address", 30, seed=0)) == 30


def test_candidates_do_not_depend_on_what_was_sampled_before() -> None:
    """The sampler is shared by every gate run of a worker: a value's candidates are a function of the value
    and the seed alone."""
    first = CandidateSampler(WordPool.for_tokenizer(None))
    alone = first.sample("Ирина", "name", 30, seed=7)
    second = CandidateSampler(WordPool.for_tokenizer(None))
    second.sample("Щёлково", "address", 30, seed=1)
    assert second.sample("Ирина", "name", 30, seed=7) == alone
    # without a vocabulary, a lower-case run letter by letter from the basic alphabet: no 'ѣ' or 'ѕ'
    lower = first.sample("ирина", "other", 30, seed=7)
    assert {c for candidate in lower for c in candidate} <= set("абвгдеёжзийклмнопрстуфхцчшщъыьэюя")


def test_capitalised_runs_of_a_cased_script_are_drawn_from_names_of_that_script() -> None:
    """'Петров' ranks among 'Рогова' and 'Исаева', as 'Miller' among census names, not among random letters."""
    names = set(_faker_names()[("CYRILLIC", 6)])
    sampler = CandidateSampler(WordPool.for_tokenizer(None))
    for candidate in sampler.sample("Иван Петров", "name", 50, seed=0):
        assert candidate.split(" ")[1].lower() in names, candidate


def test_a_date_in_arabic_indic_digits_is_drawn_in_them() -> None:
    sampler = CandidateSampler(WordPool.for_tokenizer(None))
    for candidate in sampler.sample("١٢/٠٣/١٩٨٥", "other", 30, seed=0):
        assert all(unicodedata.name(c).startswith("ARABIC-INDIC") for c in candidate if c.isdecimal()), candidate


def test_latin_runs_keep_the_word_pool() -> None:
    """'Müller' and 'Straße' are Latin: still drawn from the English and name pools, not letter by letter."""
    alphabets = Alphabets(None)
    assert script_of("ü") == script_of("ß") == "LATIN"
    sampler = CandidateSampler(WordPool.for_tokenizer(None))
    assert all(c.isascii() for c in sampler.sample("José Müller", "name", 20, seed=0))
    assert alphabets.space("ленина") > 1
