"""The layers of posetok import one way: the torch core knows nothing of the estimator layer."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "posetok"
# the torch core and the pure-numpy helpers below the estimator
CORE = {"nn", "training", "refinement", "features", "normalization", "codec"}
ESTIMATOR_LAYER = {"tokenizer", "impute", "io", "video", "plotting", "__main__", "__init__"}


def imported_posetok_modules(name):
    """posetok modules that module ``name`` imports anywhere (top level or inside functions)."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.add(node.module.split(".")[0] if node.module else "__init__")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("posetok"):
            found.add(node.module.split(".")[1] if "." in node.module else "__init__")
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("posetok.")}
    return found


@pytest.mark.parametrize("name", sorted(CORE))
def test_core_imports_nothing_from_the_estimator_layer(name):
    assert not imported_posetok_modules(name) & ESTIMATOR_LAYER


@pytest.mark.parametrize("name", sorted(CORE))
def test_core_does_not_import_sklearn_estimators(name):
    source = (PACKAGE / f"{name}.py").read_text()
    assert "sklearn.base" not in source and "BaseEstimator" not in source


def test_no_import_cycle_inside_posetok():
    # every import counts, also one inside a function: a lazy import is still a cycle of dependencies
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    graph = {m: imported_posetok_modules(m) & modules - {m} for m in modules}

    def visit(module, path):
        for nxt in graph[module]:
            assert nxt not in path, f"import cycle: {' -> '.join([*path, nxt])}"
            visit(nxt, [*path, nxt])

    for module in modules:
        visit(module, [module])
