"""Fixtures for the deployment tests: the repository's Terraform, evaluated offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.terraform import Terraform

REPO = Path(__file__).resolve().parents[2]
TF_VARS = {"project": "p", "image": "europe-west1-docker.pkg.dev/p/convergence/convergence:abc"}


@pytest.fixture(scope="session")
def tf() -> Terraform:
    return Terraform(REPO / "terraform", TF_VARS)
