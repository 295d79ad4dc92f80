"""Float32 master copies of the weights an editor trains, for models held in float16 or bfloat16.

On CUDA the workers load models in half precision (``workers.engine.device.default_dtype``). A bfloat16
weight of 0.05 can only move in steps of about 2e-4, and FPGA's Adam steps are of the order of its
learning rate (5e-4) times a normalised gradient, often much less: applied to the half-precision weight
itself, most of them round away and the edit stalls, or moves only the weights whose steps happen to be
large. The optimiser therefore works on float32 copies, and each step is written back rounded once. For a
float32 model the copies are the parameters themselves, so nothing changes there.
"""

from __future__ import annotations

import torch

LOW_PRECISION = (torch.float16, torch.bfloat16)


class MasterWeights:
    """Pairs each trained parameter with the tensor the optimiser updates: itself in float32, a float32
    copy otherwise. Call ``take_grads`` after the backward pass and ``write_back`` after the step."""

    def __init__(self, params: list[torch.nn.Parameter]) -> None:
        self.pairs = [
            (p, p.detach().float().clone() if p.dtype in LOW_PRECISION else p) for p in params
        ]

    @property
    def tensors(self) -> list[torch.Tensor]:
        """What the optimiser should update."""
        return [master for _, master in self.pairs]

    def take_grads(self) -> None:
        """Hand each low-precision parameter's gradient to its float32 copy."""
        for param, master in self.pairs:
            if master is not param:
                master.grad = None if param.grad is None else param.grad.float()

    @torch.no_grad()
    def write_back(self) -> None:
        """Copy the updated float32 values into the model's parameters."""
        for param, master in self.pairs:
            if master is not param:
                param.copy_(master)

    def zero_grad(self) -> None:
        for param, master in self.pairs:
            param.grad = None
            master.grad = None
