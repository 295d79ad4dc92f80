"""Session-wide fixtures: the demo models, built once per machine through the demo-model cache.

Every suite (engine, gate, pipeline) edits or attacks the same demo models; ``cached_demo_model`` keys
them on the demo code and library versions and serialises concurrent builders with a file lock, so under
pytest-xdist the first worker trains and the others wait and load. Tests must treat the cached directory
as read-only: load the model and edit it in memory, or copy the directory first.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_gpt2():
    from workers.engine.demo.cache import cached_demo_model

    return cached_demo_model("gpt2")


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread_per_worker():
    """Two xdist workers on two cores: each torch process gets one intra-op thread, or they oversubscribe
    the machine and every model step runs several times slower."""
    import os

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
