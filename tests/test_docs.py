"""The code in README.md and docs/ runs (doctest), so the documentation cannot rot."""

import doctest
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["README.md", "docs/user_guide.md"])
def test_documentation_examples_run(name):
    result = doctest.testfile(
        str(ROOT / name),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert result.attempted > 0
    assert result.failed == 0


def _public_estimators():
    import importlib
    import inspect
    import pkgutil

    from sklearn.base import BaseEstimator

    import posetok

    found = {}
    for info in pkgutil.iter_modules(posetok.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"posetok.{info.name}")
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, BaseEstimator) and not name.startswith("_")
                    and obj.__module__ == module.__name__):
                found[name] = obj
    return sorted(found.items())


@pytest.mark.parametrize("name, estimator", _public_estimators())
def test_every_constructor_parameter_is_documented(name, estimator):
    """numpydoc: each ``__init__`` parameter has an entry (``name : type`` or ``a, b : type``) in the
    class docstring's Parameters section."""
    import inspect
    import re

    doc = inspect.getdoc(estimator) or ""
    section = doc.split("Parameters\n----------\n", 1)[-1]
    section = re.split(r"\n(?:Attributes|Returns|See Also|Notes|Examples)\n-+\n", section)[0]
    documented = {p.strip() for line in section.splitlines() if not line.startswith(" ") and " : " in line
                  for p in line.split(" : ")[0].split(",")}
    params = [p for p in inspect.signature(estimator.__init__).parameters if p != "self"]
    assert params, name
    assert not set(params) - documented, f"{name}: undocumented parameters {sorted(set(params) - documented)}"
