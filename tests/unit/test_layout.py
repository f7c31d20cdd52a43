"""Layout rules that import-linter does not cover: what an installed tanji puts into site-packages.

The layer contracts themselves (methodology below protocol below the roles, roles independent,
the CLI on top) are import-linter contracts in pyproject.toml, checked by `make check` and by
tests/unit/test_import_contracts.py."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_an_install_puts_only_the_tanji_package_into_site_packages():
    """`pip install .` must not install generic top-level names (node, audit, coordinator ...):
    every importable package lives under `tanji` (decision 0008)."""
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert find["include"] == ["tanji*"]
    top_level = {p.parent.name for p in ROOT.glob("*/__init__.py") if not p.parent.is_symlink()}
    assert top_level - {"tests", "bench"} == {"tanji"}


def test_the_role_folders_at_the_top_lead_to_their_packages():
    """The card's top-level folders stay where a reader looks for them, as links into the package."""
    for role in ("node", "coordinator", "keyholder", "audit"):
        link = ROOT / role
        assert link.is_symlink() and link.resolve() == (ROOT / "tanji" / role).resolve()
