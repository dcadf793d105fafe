"""What a Ray Train worker imports: each module is paid for in every worker's memory."""

from __future__ import annotations

import subprocess
import sys


def test_the_worker_loop_imports_neither_mlflow_nor_scipy():
    """MLflow (~80 MB with its SQL store, logged to from the Train controller instead) and
    scipy.signal (~60 MB, for one evaluation metric) stay out of the training workers."""
    code = (
        "import sys; import regional_lstm.distributed.train; "
        "print(' '.join(m for m in ('mlflow', 'scipy') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == ""
