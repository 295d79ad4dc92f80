"""DEPN's own edit: deactivate the privacy neurons by zeroing their down-projection weights.

Zeroing neuron k of layer l removes its value vector (column k of a Linear W_down, row k of GPT-2's
transposed Conv1D) so its activation no longer writes anything to the residual stream. Cheap and
reversible from the parent version; on its own it lowers exposure rather than removing it.
"""

from __future__ import annotations

from collections import defaultdict

import torch

from workers.engine.ffn import FfnSite
from workers.engine.locate import PrivacyNeuron


@torch.no_grad()
def zero_neurons(sites: list[FfnSite], neurons: list[PrivacyNeuron]) -> dict[int, int]:
    """Zero each neuron's value vector; returns how many neurons were zeroed per layer."""
    by_layer: dict[int, list[int]] = defaultdict(list)
    for neuron in neurons:
        by_layer[neuron.layer].append(neuron.index)
    for layer, indices in by_layer.items():
        weight = sites[layer].weight()  # (d_model, d_ff) view
        weight[:, torch.tensor(indices, device=weight.device)] = 0
    return {layer: len(indices) for layer, indices in sorted(by_layer.items())}
