"""Fixtures for the experiment tests: the oTree environment and a private copy of the project.

Each test run works on a copy of ``experiments/`` in a temporary folder, so a test never
reads or writes the database of the working tree's project.
"""

import shutil
from pathlib import Path

import pytest

from cheaptalk.experiments import otree_env

# Where screenshots and exports of the experiment tests are kept for a person to look at
# (git-ignored).
OUTPUT_DIR = otree_env.REPO_ROOT / "out" / "experiments"


@pytest.fixture(scope="session")
def otree_bin() -> Path:
    """The `otree` command of the project's own virtual environment (built on first use)."""
    return otree_env.ensure_venv()


@pytest.fixture(scope="session")
def venv_python(otree_bin) -> Path:
    return otree_bin.parent / "python"


def copy_project(target: Path) -> Path:
    shutil.copytree(otree_env.PROJECT_DIR, target,
                    ignore=shutil.ignore_patterns("db.sqlite3", "__temp*", "__pycache__"))
    return target


@pytest.fixture
def project_copy(tmp_path_factory, otree_bin) -> Path:
    """A fresh copy of the oTree project (oTree keeps its SQLite database in the project
    folder, so two runs must not share one)."""
    return copy_project(tmp_path_factory.mktemp("otree") / "project")


@pytest.fixture(scope="session")
def new_project(tmp_path_factory, otree_bin):
    """Make fresh copies of the oTree project: ``new_project(name) -> Path``."""
    return lambda name: copy_project(tmp_path_factory.mktemp("otree") / name)


@pytest.fixture(scope="module")
def module_project_copy(tmp_path_factory, otree_bin) -> Path:
    return copy_project(tmp_path_factory.mktemp("otree") / "project")


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    return OUTPUT_DIR
