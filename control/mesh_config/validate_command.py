"""``meshlens config validate FILE``: every error, or a one-line summary."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from control.mesh_config.validate import MeshConfigError, load_mesh_config


def validate_command(path: str | Path, out: TextIO | None = None,
                     err: TextIO | None = None) -> int:
    """Print each error (exit 1) or a summary of the valid file (exit 0)."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        config = load_mesh_config(path)
    except MeshConfigError as exc:
        for line in exc.errors:
            print(line, file=err)
        print(f"{len(exc.errors)} error(s)", file=err)
        return 1
    print(f"{path}: valid: {config.summary()}", file=out)
    return 0
