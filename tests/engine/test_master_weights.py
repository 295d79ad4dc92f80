"""Half-precision models are trained through float32 master copies (``workers/engine/master_weights.py``)."""

from __future__ import annotations

import torch

from workers.engine.master_weights import MasterWeights

LR, STEPS = 5e-4, 20  # FPGA's learning rate, a few dozen steps


def _train(weight: torch.nn.Parameter, masters: MasterWeights | None) -> None:
    optimiser = torch.optim.Adam(masters.tensors if masters else [weight], lr=LR)
    for _ in range(STEPS):
        (masters.zero_grad() if masters else optimiser.zero_grad())
        (weight.float() * torch.linspace(0.5, 1.5, weight.numel()).view_as(weight)).sum().backward()
        if masters:
            masters.take_grads()
        optimiser.step()
        if masters:
            masters.write_back()


def test_small_steps_reach_a_bfloat16_weight_only_through_a_float32_copy() -> None:
    start = torch.full((4, 4), 1.0)
    reference = torch.nn.Parameter(start.clone())
    _train(reference, None)
    moved = float((start - reference.detach()).mean())
    assert abs(moved - LR * STEPS) < 1e-4  # Adam moves each weight by about its learning rate per step

    direct = torch.nn.Parameter(start.clone().bfloat16())
    _train(direct, None)
    assert torch.equal(direct.detach().float(), start)  # every step rounded away: bfloat16 near 1.0 moves by 2^-7

    through = torch.nn.Parameter(start.clone().bfloat16())
    _train(through, MasterWeights([through]))
    assert through.dtype == torch.bfloat16
    assert torch.allclose(through.detach().float(), reference.detach(), atol=2**-7)
    assert float((start - through.detach().float()).mean()) > 0.5 * moved


def test_a_float32_parameter_is_its_own_master() -> None:
    weight = torch.nn.Parameter(torch.ones(3))
    masters = MasterWeights([weight])
    assert masters.tensors[0] is weight
