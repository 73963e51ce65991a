from __future__ import annotations

import logging

import pytest
import torch

logging.getLogger("torch._library.triton").setLevel(logging.ERROR)


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    yield
