"""The gateway stays light: importing the app, its Celery tasks and its CLI loads no torch, transformers or
``workers`` module (the API image does not ship them; work reaches the GPU workers by task name only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "workers")
PROBE = (
    "import json, sys; import service.app, service.tasks, service.cli; service.app.create_app(); "
    f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0].startswith({HEAVY!r}))))"
)


def test_gateway_imports_no_torch_transformers_or_workers():
    # a fresh interpreter: this test process may already hold torch (other suites import it)
    r = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=os.environ.copy(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == []
