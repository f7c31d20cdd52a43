"""Architecture rules that keep the trust boundaries readable in the code."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(folder: str) -> set[str]:
    names = set()
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
    return names


def test_audit_does_not_import_the_coordinator():
    assert not [m for m in imported_modules("audit") if m.split(".")[0] == "coordinator"]


def test_the_shared_core_imports_no_party():
    parties = {"coordinator", "node", "keyholder", "audit"}
    assert not [m for m in imported_modules("pcf") if m.split(".")[0] in parties]


def test_a_non_editable_install_ships_every_package():
    """The Docker image installs with `pip install .`: every top-level package the parties import
    must be listed for setuptools (keyholder/ once was not)."""
    import tomllib
    from fnmatch import fnmatch

    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert packages >= {"pcf", "node", "coordinator", "keyholder", "audit", "tanji"}
    assert sorted(p for p in packages if not any(fnmatch(p, pattern) for pattern in include)) == []
