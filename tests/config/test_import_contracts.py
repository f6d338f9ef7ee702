"""The import-linter contracts in pyproject.toml cover all the code (a module left out is never checked)."""

from __future__ import annotations

import tomllib

from config import BASE_DIR, PLATFORM_DIR

# The top-level code folders DESIGN.md names, besides the domain apps in platform/.
CODE_PACKAGES = {"config", "tasks", "webhooks", "schedules"}


def importlinter() -> dict:
    return tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["tool"]["importlinter"]


def layer_modules(layer: str) -> set[str]:
    """The modules of one layer entry ("a | b", "a : b", "(optional)")."""
    parts = layer.replace(":", "|").split("|")
    return {part.strip().strip("()") for part in parts}


def test_every_code_package_and_domain_app_is_a_root_package():
    # given the packages on disk: the code folders and every app in platform/
    apps = {path.parent.name for path in PLATFORM_DIR.glob("*/__init__.py")}
    # then import-linter analyses each of them
    assert apps, "found no apps in platform/"
    assert set(importlinter()["root_packages"]) == CODE_PACKAGES | apps


def test_every_root_package_has_a_layer_and_every_missing_layer_is_optional():
    # given the layers contract
    (layers,) = [c for c in importlinter()["contracts"] if c["type"] == "layers"]
    placed = set().union(*(layer_modules(layer) for layer in layers["layers"]))
    roots = set(importlinter()["root_packages"])
    # then every analysed package sits on a floor
    assert roots <= placed, f"no layer for {sorted(roots - placed)}"
    # and a layer that names no package yet (metrics) is marked optional, so adding it is one edit
    for layer in layers["layers"]:
        for module in layer_modules(layer) - roots:
            assert f"({module})" in layer, f"layer {module!r} is neither a root package nor optional"
