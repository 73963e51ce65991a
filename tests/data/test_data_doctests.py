"""The examples in the data package's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["snnas.data", "snnas.data._registry", "snnas.data._tensor", "snnas.data._events",
           "snnas.data._safe_pickle"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
