"""The lock (requirements/*.txt) agrees with pyproject.toml's ranges, and the venv runs what it pins.

`make lock` writes the lock; this fails when someone edits pyproject.toml's dependencies and forgets it.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from config import BASE_DIR

LOCK_BASE = BASE_DIR / "requirements" / "base.txt"
LOCK_DEV = BASE_DIR / "requirements" / "dev.txt"
# `name==version [; marker] \` followed by `--hash=...` lines (pip-compile --generate-hashes).
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)\s*(?:;(?P<marker>[^\\]*))?\\?$"
)
HASH = re.compile(r"^\s+--hash=sha256:[0-9a-f]{64}\s*\\?$")


def pins(lock: Path) -> dict[str, tuple[str, int]]:
    """Canonical name -> (version, number of hashes) of every package the lock file pins."""
    pinned: dict[str, tuple[str, int]] = {}
    current = None
    for line in lock.read_text().splitlines():
        if match := PIN.match(line):
            current = canonicalize_name(match["name"])
            assert current not in pinned, f"{lock.name} pins {current} twice"
            pinned[current] = (match["version"], 0)
        elif HASH.match(line):
            assert current is not None, f"{lock.name}: a hash before any pin"
            version, hashes = pinned[current]
            pinned[current] = (version, hashes + 1)
        elif line.strip() and not line.lstrip().startswith("#"):
            pytest.fail(f"{lock.name}: not a pin, a hash or a comment: {line!r}")
    return pinned


def declared() -> tuple[list[Requirement], list[Requirement]]:
    project = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]
    runtime = [Requirement(spec) for spec in project["dependencies"]]
    dev = [Requirement(spec) for spec in project["optional-dependencies"]["dev"]]
    return runtime, dev


def out_of_range(requirements: list[Requirement], pinned: dict[str, tuple[str, int]]) -> list[str]:
    problems = []
    for requirement in requirements:
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue  # not for this Python (the lock is made for the one CI runs)
        name = canonicalize_name(requirement.name)
        if name not in pinned:
            problems.append(f"{requirement} is not in the lock")
            continue
        version = pinned[name][0]
        if not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement} but the lock pins {name}=={version}")
        # An extra's packages (celery[redis] -> redis, psycopg[binary] -> psycopg-binary) are pinned too.
        for extra in requirement.extras:
            for spec in importlib.metadata.requires(requirement.name) or []:
                dependency = Requirement(spec)
                wanted = dependency.marker is not None and dependency.marker.evaluate({"extra": extra})
                if wanted and canonicalize_name(dependency.name) not in pinned:
                    problems.append(f"{requirement.name}[{extra}] needs {dependency.name}, not locked")
    return problems


def test_every_dependency_of_pyproject_is_pinned_in_the_lock_within_its_range():
    # given pyproject.toml's ranges and the two lock files
    runtime, dev = declared()
    base, full = pins(LOCK_BASE), pins(LOCK_DEV)
    # then each runtime dependency is pinned in base.txt, each dev one in dev.txt, inside its range
    problems = out_of_range(runtime, base) + out_of_range(dev, full)
    assert not problems, "pyproject.toml and the lock disagree; run `make lock`:\n" + "\n".join(problems)
    # and the image (base.txt) gets exactly the versions CI tested (dev.txt)
    assert {name: full.get(name, ("missing", 0))[0] for name in base} == {
        name: version for name, (version, _) in base.items()
    }, "base.txt and dev.txt pin different versions; run `make lock`"
    # and every pin carries hashes (pip install --require-hashes)
    assert all(hashes for _, hashes in full.values()), "a pin without --hash; run `make lock`"


def test_the_venv_runs_exactly_the_locked_versions():
    # given the packages dev.txt pins
    locked = {name: version for name, (version, _) in pins(LOCK_DEV).items()}
    # then this interpreter has each of them at that version (make rebuilds .venv when the lock changes)
    installed = {
        canonicalize_name(dist.metadata["Name"]): dist.version for dist in importlib.metadata.distributions()
    }
    differ = {
        name: (version, installed.get(name, "not installed"))
        for name, version in locked.items()
        if installed.get(name) != version
    }
    assert not differ, f"locked vs installed: {differ}; `make test` reinstalls .venv from the lock"
