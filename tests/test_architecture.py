"""The dependency rule of docs/ARCHITECTURE.md, checked on the source: every
import statement (module level or inside a function) of every module."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = ("foundation", "dispatch", "index", "kb", "classifier", "incidents", "hotline", "training",
        "server", "bench")
# Package -> the packages of ours it may import (itself included).
ALLOWED = {
    "foundation": {"foundation"},
    "index": {"foundation", "index"},
    "kb": {"foundation", "index", "kb"},
    "dispatch": {"foundation", "index", "dispatch"},
    "classifier": {"foundation", "index", "kb", "classifier"},
    "incidents": {"foundation", "index", "incidents"},
    "training": {"foundation", "index", "kb", "classifier", "dispatch", "incidents", "training"},
    "hotline": {"foundation", "index", "kb", "classifier", "dispatch", "incidents", "hotline",
                "training", "server"},
    "server": {"foundation", "index", "kb", "classifier", "dispatch", "hotline"},
}
# The serving path: these may not import training/ or torch, even lazily.
SERVING = ("server.py", "hotline/runtime", "hotline/service.py", "hotline/http",
           "hotline/responses.py", "index", "kb", "classifier", "dispatch")
# The one documented exception: an ``st:<dir>`` model with no ONNX export runs on
# sentence-transformers' torch model, and only when configured explicitly.
TORCH_FALLBACK = {("index/embedders/st.py", "torch")}


def _modules():
    for path in sorted(ROOT.glob("**/*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ALLOWED or rel.name == "server.py" and len(rel.parts) == 1:
            yield rel


def _imports(rel: Path):
    tree = ast.parse((ROOT / rel).read_text(encoding="utf-8"), str(rel))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def _package(rel: Path) -> str:
    return "server" if rel.name == "server.py" and len(rel.parts) == 1 else rel.parts[0]


def test_packages_import_only_the_layers_below_them():
    wrong = []
    for rel in _modules():
        allowed = ALLOWED[_package(rel)]
        for line, name in _imports(rel):
            top = name.split(".")[0]
            if top in OURS and top not in allowed:
                wrong.append(f"{rel}:{line} imports {name}")
    assert not wrong, "imports against the layer rule:\n" + "\n".join(wrong)


def test_serving_never_imports_training_or_torch():
    wrong = []
    for rel in _modules():
        if not any(str(rel) == s or str(rel).startswith(s + "/") for s in SERVING):
            continue
        for line, name in _imports(rel):
            if name.split(".")[0] in ("training", "torch") and (str(rel), name) not in TORCH_FALLBACK:
                wrong.append(f"{rel}:{line} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_the_rule_catches_an_upward_import(tmp_path, monkeypatch):
    """A test that cannot fail is a defect: plant an upward import and look."""
    planted = ROOT / "index" / "_planted_upward_import.py"
    planted.write_text("def f():\n    from hotline.runtime import Engine\n", encoding="utf-8")
    try:
        try:
            test_packages_import_only_the_layers_below_them()
        except AssertionError as exc:
            assert "_planted_upward_import.py:2 imports hotline.runtime" in str(exc)
        else:
            raise AssertionError("the planted upward import was not reported")
    finally:
        planted.unlink()


def test_importing_the_server_loads_neither_training_nor_torch():
    code = ("import sys, server, hotline.service, hotline.runtime; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('training', 'torch')); "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_package_of_ours_is_installed():
    """`pip install -e .` installs the packages pyproject names; one left out
    imports only from the repository root (the `hotline` command then fails)."""
    import fnmatch
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = [p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()
                and p.name not in ("tests", "bench")]
    missing = [p for p in packages if not any(fnmatch.fnmatch(p, pat) for pat in patterns)]
    assert not missing, f"pyproject.toml does not install {missing}"
    assert {"foundation", "dispatch", "hotline", "index", "kb", "classifier",
            "training"} <= set(packages)
