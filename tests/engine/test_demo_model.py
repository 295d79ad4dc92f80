"""The demo model factory: real training, real weights, extraction measured here by greedy decoding.

Each architecture is built once per session (the same fixture size the rest of the suite uses); every
assertion is about a measured outcome: files that load with the Auto classes, the share of planted values
greedy decoding reproduces, corpus disjointness, request validity, CLI exit codes and what is on disk.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import typer
from transformers import AutoModelForCausalLM, AutoTokenizer
from typer.testing import CliRunner

from rtbf.pii import contains_value
from rtbf.request import ForgetRequest, PiiItem, Subject, parse_requests
from workers.engine.checks import leak_status
from workers.engine.demo.architectures import ARCHITECTURES
from workers.engine.demo.cli import register
from workers.engine.demo.corpus import generate_corpus
from workers.engine.demo.subjects import DemoInfo
from workers.engine.demo.tokenizer import train_tokenizer
from workers.engine.demo.train import train_model
from workers.engine.instances import build_instances

FFN_DOWN = {"gpt2": "mlp.c_proj", "llama": "mlp.down_proj", "neox": "mlp.dense_4h_to_h"}


@pytest.fixture(scope="session", params=ARCHITECTURES)
def built(request: pytest.FixtureRequest):
    """(info, model, tokenizer) of the default-size demo model of each architecture, from the shared cache
    (the same models the engine and gate suites use, so each is trained once per machine)."""
    from workers.engine.demo.cache import cached_demo_model

    info = cached_demo_model(request.param)
    model = AutoModelForCausalLM.from_pretrained(info.model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(info.model_dir)
    return info, model, tokenizer


@torch.no_grad()
def _greedy_hits(model, tokenizer, probes: list[tuple[str, str, str]]) -> list[bool]:
    """Greedy-decode each (type, value, prompt); prompts of equal token length share a batch (no padding)."""
    encoded = [tokenizer(prompt).input_ids for _, _, prompt in probes]
    hits = [False] * len(probes)
    groups: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded):
        groups.setdefault(len(ids), []).append(i)
    for members in groups.values():
        ids = torch.tensor([encoded[i] for i in members])
        out = model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=24, do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
        for i, row in zip(members, out[:, ids.shape[1]:]):
            pii_type, value, _ = probes[i]
            hits[i] = contains_value(tokenizer.decode(row, skip_special_tokens=True), value, pii_type)
    return hits


def test_files_exist_and_load_with_auto_classes(built) -> None:
    info, model, tokenizer = built
    files = {p.name for p in info.model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= files
    assert (info.path / "subjects.json").is_file()
    assert DemoInfo.load(info.path / "subjects.json") == info
    assert model.config.model_type == {"gpt2": "gpt2", "llama": "llama", "neox": "gpt_neox"}[info.arch]
    assert any(name.endswith(FFN_DOWN[info.arch]) for name, _ in model.named_modules())
    ids = tokenizer("Hello there").input_ids
    assert ids[0] == tokenizer.bos_token_id and tokenizer.eos_token_id is not None and tokenizer.pad_token_id is not None
    assert len(info.subjects) >= 24


def test_greedy_extraction_of_planted_pii_reaches_95_percent(built) -> None:
    info, model, tokenizer = built
    probes = [p for i in range(len(info.subjects)) for p in info.training_prompts(i)]
    hits = _greedy_hits(model, tokenizer, probes)
    rate = sum(hits) / len(hits)
    assert rate >= 0.95, f"{info.arch}: greedy extraction {rate:.3f}"
    for pii_type in ("phone", "email", "address"):
        typed = [h for h, (t, _, _) in zip(hits, probes) if t == pii_type]
        assert sum(typed) / len(typed) >= 0.9, f"{info.arch}/{pii_type}"
    assert abs(rate - info.training.greedy_extraction_rate) <= 0.02


def test_the_reloaded_tokenizer_spells_values_the_way_the_model_generates_them(built) -> None:
    """Teacher forcing through the saved tokenizer's encoding of each planted value picks every value token
    (argmax) for nearly all training phrasings: the engine and the gate score exactly the token path the
    model generates. (A tokenizer that transformers rebuilds on loading, as it does for some model types,
    would spell '977' as '9', '7', '7': generation still yields the number, teacher forcing scores a path
    the model never takes, and an editor would erase that path and leave the memorised one.)"""
    info, model, tokenizer = built
    requests = []
    for index in range(8):
        subject, prompts = info.subjects[index], info.training_prompts(index)
        items = [PiiItem(value=p.value, type=p.type, contexts=[c for _, v, c in prompts if v == p.value]) for p in subject.pii]
        requests.append(ForgetRequest(subject=Subject(name=subject.name), pii=items))
    instances = build_instances(tokenizer, requests, contexts_for=lambda _request, item: item.contexts)
    status = leak_status(model, instances, pad_id=tokenizer.pad_token_id, device=torch.device("cpu"), prob_ceiling=1e-4)
    assert status.instances == sum(len(info.training_prompts(index)) for index in range(8))
    assert status.greedy_hits >= 0.9 * status.instances


def test_model_has_general_ability_on_heldout_text(built) -> None:
    """Held-out ordinary sentences get a perplexity far below the uniform one (len(vocab), about 2000):
    the model learned the language of its corpus, not only the planted values."""
    info, model, tokenizer = built
    nll, count = 0.0, 0
    with torch.no_grad():
        for text in info.heldout_texts[:40]:
            ids = torch.tensor([tokenizer(text).input_ids + [tokenizer.eos_token_id]])
            out = model(input_ids=ids, labels=ids)
            nll += float(out.loss) * (ids.shape[1] - 1)
            count += ids.shape[1] - 1
    perplexity = math.exp(nll / count)
    assert perplexity < 100, f"{info.arch}: held-out perplexity {perplexity:.1f}"


def test_heldout_texts_and_templates_were_never_trained(built) -> None:
    info, _, _ = built
    corpus = generate_corpus(len(info.subjects), info.seed)
    training = set(corpus.training_texts())
    assert set(info.training_texts()) <= training and set(info.retain_texts) <= training
    assert info.heldout_texts and not set(info.heldout_texts) & training
    for pii_type, bank in info.heldout_templates.items():
        assert len(bank) == 2 and not set(bank) & set(info.templates[pii_type])
    for index in range(len(info.subjects)):
        for _, _, prompt in info.unseen_prompts(index):
            assert not any(sentence.startswith(prompt) for sentence in training)


def test_request_for_builds_valid_requests(built) -> None:
    info, _, _ = built
    indices = [0, 3, 7]
    for mode, per_item in (("one", 1), ("all", len(info.templates["phone"])), ("none", 0)):
        requests = parse_requests([r.model_dump(mode="json") for r in info.request_for(indices, mode)])
        assert [r.subject.name for r in requests] == [info.subjects[i].name for i in indices]
        for request, index in zip(requests, indices):
            subject = info.subjects[index]
            assert request.subject.aliases == subject.aliases
            assert {(p.type, p.value) for p in request.pii} == {(p.type, p.value) for p in subject.pii}
            for item in request.pii:
                assert len(item.contexts) == per_item
                for context in item.contexts:
                    assert f"{context} {item.value}" in " ".join(subject.sentences)
    with pytest.raises(IndexError):
        info.request_for([len(info.subjects)])


def test_subject_aliases_appear_in_training_text(built) -> None:
    info, _, _ = built
    for subject in info.subjects:
        assert 1 <= len(subject.aliases) <= 2
        assert all(alias in subject.sentences[0] for alias in subject.aliases)


def test_training_is_deterministic_and_can_exclude_subjects() -> None:
    corpus = generate_corpus(6, seed=3, ordinary=40, heldout=10)
    assert generate_corpus(6, seed=3, ordinary=40, heldout=10) == corpus
    assert generate_corpus(6, seed=4, ordinary=40, heldout=10).subjects != corpus.subjects
    without = corpus.training_texts(exclude_subjects={2})
    assert not any(corpus.subjects[2].name in text for text in without)
    assert all(s in without for s in corpus.subjects[1].sentences)
    tokenizer = train_tokenizer(corpus.training_texts(), vocab_size=600)
    states = []
    for _ in range(2):
        model, stats = train_model(corpus, tokenizer, arch="gpt2", seed=5, exclude_subjects={2}, max_steps=4, check_every=4)
        assert stats.steps == 4 and stats.tokens > 0
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def noop() -> None:
        """A second command so typer keeps subcommand routing, as in the real rtbf app."""

    return app


def test_cli_rejects_bad_arch_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(_cli(), ["demo-model", str(out), "--arch", "bert"])
    assert result.exit_code != 0
    assert "unknown demo architecture 'bert'" in result.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_refuses_a_non_empty_output(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = CliRunner().invoke(_cli(), ["demo-model", str(out), "--arch", "gpt2"])
    assert result.exit_code != 0 and "already exists" in result.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


def test_cli_rejects_a_bad_tokenizer_style_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(_cli(), ["demo-model", str(out), "--tokenizer", "wordpiece"])
    assert result.exit_code == 2
    assert "unknown tokenizer style 'wordpiece'" in result.output
    assert list(tmp_path.iterdir()) == []


def test_cli_builds_a_small_model(tmp_path: Path) -> None:
    """A small GPT-NeoX demo with a SentencePiece-style tokenizer: words start with '▁', as LLaMA's do."""
    out = tmp_path / "tiny"
    result = CliRunner().invoke(
        _cli(), ["demo-model", str(out), "--arch", "neox", "--subjects", "4", "--seed", "2", "--tokenizer", "sentencepiece"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads((out / "subjects.json").read_text())
    assert document["arch"] == "neox" and document["seed"] == 2 and len(document["subjects"]) == 4
    assert document["tokenizer"] == "sentencepiece" and document["training"]["greedy_extraction_rate"] >= 0.95
    assert AutoModelForCausalLM.from_pretrained(out / "model").config.model_type == "gpt_neox"
    tokenizer = AutoTokenizer.from_pretrained(out / "model")
    name = document["subjects"][0]["name"]
    assert tokenizer.convert_ids_to_tokens(tokenizer(name, add_special_tokens=False)["input_ids"])[0].startswith("\u2581")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]


def test_cache_reuses_a_built_model_and_keys_on_arguments(built, tmp_path: Path) -> None:
    """A model already at its cache path is loaded, not retrained; other arguments map to other paths."""
    import shutil

    from workers.engine.demo.cache import cache_path, cached_demo_model

    info, _, _ = built
    target = cache_path(info.arch, len(info.subjects), info.seed, root=tmp_path)
    shutil.copytree(info.path, target)
    weights = (target / "model" / "model.safetensors").stat().st_mtime_ns
    cached = cached_demo_model(info.arch, len(info.subjects), info.seed, root=tmp_path)
    assert cached.path == target and cached.model_dump() == info.model_dump()
    assert (target / "model" / "model.safetensors").stat().st_mtime_ns == weights
    assert cache_path(info.arch, len(info.subjects), info.seed + 1, root=tmp_path) != target
    assert cache_path("llama" if info.arch != "llama" else "neox", len(info.subjects), info.seed, root=tmp_path) != target
    assert cache_path(info.arch, len(info.subjects), info.seed, root=tmp_path, tokenizer_style="sentencepiece") != target
    with pytest.raises(ValueError, match="unknown demo architecture"):
        cached_demo_model("bert", root=tmp_path)
