"""The examples in the docstrings of the layers' modules run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["snnas._lazy", "snnas.config", "snnas.models._batchnorm", "snnas.models._mixers", "snnas.train",
           "snnas.train._engine", "snnas.train._data", "snnas.search._record", "snnas.search._options",
           "snnas.search._trial", "snnas.search._space_file", "snnas.search.space", "snnas.search._pruner",
           "snnas.search._front", "snnas.export", "snnas._text", "snnas.data._where"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
