"""The shared next-token log-probability helper agrees with a full log-softmax on every demo architecture,
and the stop check names exactly the items that still leak (what FPGA deepens its targets for)."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from rtbf.settings import EngineSettings, Settings
from workers.engine.checks import leak_status
from workers.engine.demo.architectures import ARCHITECTURES
from workers.engine.editors.depn import zero_neurons
from workers.engine.ffn import discover_ffn
from workers.engine.instances import build_instances, pad_batch
from workers.engine.locate import PrivacyNeuron
from workers.engine.logits import token_logp, vocabulary_size


def _demo(arch: str):
    from workers.engine.demo.cache import cached_demo_model
    from workers.engine.loading import load_causal_lm

    info = cached_demo_model(arch)
    model, tokenizer = load_causal_lm(info.model_dir, device="cpu")
    return info, model, tokenizer


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_token_logp_matches_the_full_log_softmax(arch: str) -> None:
    info, model, tokenizer = _demo(arch)
    instances = build_instances(tokenizer, info.request_for([0, 1], contexts="one"))
    ids, mask = pad_batch([i.ids for i in instances], tokenizer.pad_token_id, torch.device("cpu"))
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    full = torch.log_softmax(logits.float(), dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    assert torch.allclose(token_logp(logits, ids[:, 1:]), full, atol=1e-4)
    assert vocabulary_size(model) == logits.shape[-1]


def test_leak_status_names_exactly_the_items_that_still_leak() -> None:
    """The named (request, item) keys are those with an instance that greedy decoding reproduces or whose value
    is above the probability ceiling, computed here independently, before and after a partial edit (the
    first layer's FFN zeroed) that stops some items from leaking and not others."""
    info, model, tokenizer = _demo("gpt2")
    instances = build_instances(tokenizer, info.request_for([0, 1, 2], contexts="one"))
    ceiling = EngineSettings().rome_value_prob_ceiling
    damaged = copy.deepcopy(model)
    site = discover_ffn(damaged)[0]
    zero_neurons([site], [PrivacyNeuron(0, k, 1.0, 1) for k in range(site.d_ff)])
    named = []
    for m in (model, damaged):
        status = leak_status(m, instances, pad_id=tokenizer.pad_token_id, device=torch.device("cpu"), prob_ceiling=ceiling)
        expected = {i.key for i in instances if _leaks(m, i, math.log(ceiling))}
        assert status.leaking == expected
        assert (status.greedy_hits > 0 or status.max_log_prob >= math.log(ceiling)) == bool(expected)
        named.append(status.leaking)
    assert named[0] and named[1] < named[0]  # some items stopped leaking, some did not


def _leaks(model, instance, log_ceiling: float) -> bool:
    ids = torch.tensor([instance.ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0, instance.value_start - 1 : -1].float(), dim=-1)
    value = ids[0, instance.value_start :]
    decoded = bool((logp.argmax(-1) == value).all())
    return decoded or float(logp.gather(-1, value[:, None]).sum()) >= log_ceiling


def test_the_reference_cache_setting_is_read_under_its_former_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTBF_ENGINE__FPGA_REFERENCE_CACHE_MB", "7")
    assert Settings().engine.reference_cache_mb == 7
    monkeypatch.setenv("RTBF_ENGINE__REFERENCE_CACHE_MB", "9")
    monkeypatch.delenv("RTBF_ENGINE__FPGA_REFERENCE_CACHE_MB")
    assert Settings().engine.reference_cache_mb == 9


@pytest.mark.parametrize("arch", ["gpt2", "llama", "neox"])
def test_logp_at_equals_the_full_distributions_at_those_positions(arch: str) -> None:
    """The head run at a few positions only (transformers' boolean ``logits_to_keep``) gives what the full
    logits give there, in the order asked for, repeats and left padding included."""
    from workers.engine.demo.cache import cached_demo_model
    from workers.engine.loading import load_causal_lm
    from workers.engine.logits import logp_at

    model, _ = load_causal_lm(cached_demo_model(arch).model_dir, device="cpu")
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 2000, (4, 12), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    rows, positions = torch.tensor([2, 0, 0, 3, 1, 2]), torch.tensor([5, 7, 1, 10, 4, 5])
    with torch.no_grad():
        picked = logp_at(model, ids, mask, rows, positions)
        full = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)[rows, positions]
    assert picked.shape == (6, full.shape[-1])
    torch.testing.assert_close(picked, full, atol=1e-4, rtol=0)


def test_logp_at_falls_back_to_full_logits_where_a_head_slices_otherwise() -> None:
    """A forward that takes ``logits_to_keep`` but slices in the older way (an int, or one index for the
    whole batch) cannot take the mask: the full logits are indexed instead, with the same result."""
    import transformers as tf
    from transformers.modeling_outputs import CausalLMOutput

    from workers.engine.logits import _SLICES_OTHERWISE, logp_at

    class OlderHead(tf.GPT2LMHeadModel):
        def forward(self, input_ids=None, attention_mask=None, logits_to_keep=0, **kwargs):
            hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            kept = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
            return CausalLMOutput(logits=self.lm_head(hidden[:, kept, :]))

    torch.manual_seed(0)
    model = OlderHead(tf.GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=64)).eval()
    ids = torch.randint(0, 64, (3, 9))
    mask = torch.ones_like(ids)
    rows, positions = torch.tensor([0, 2, 1]), torch.tensor([8, 0, 4])
    with torch.no_grad():
        picked = logp_at(model, ids, mask, rows, positions)
        full = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)[rows, positions]
    torch.testing.assert_close(picked, full)
    assert OlderHead in _SLICES_OTHERWISE
