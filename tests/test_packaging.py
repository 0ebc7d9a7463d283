"""Packaging: a non-editable install in a fresh venv works from any folder, and nothing named
graph/nodes/ui/workflows lands at the top of site-packages (DESIGN.md, "Layout").

Offline: the wheel is built without build isolation (setuptools>=77 and wheel come from the venv
running the tests), installed with --no-deps --no-index, and the installed copy finds its
dependencies (click, pydantic, ...) through PYTHONPATH pointing at this venv's site-packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
TOP_FOLDERS = ("graph", "nodes", "ui", "workflows")
# Things in the checkout that are not part of the source tree a build needs.
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__",
                                     ".pytest_cache", ".hypothesis", "node_modules", "out", "tests", "*.pyc")


def _toml() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _package_folders() -> dict[str, Path]:
    """Every folder with an __init__.py under the top folders, by its import name (a folder that
    package-dir maps to a name of its own, like ui/client -> reelgraph.client, goes by that name)."""
    renamed = {folder: name for name, folder in _toml()["tool"]["setuptools"]["package-dir"].items()
               if name.split(".")[-1] != folder.split("/")[-1] or "/" in folder}
    found = {}
    for top in TOP_FOLDERS:
        for init in sorted((REPO / top).rglob("__init__.py")):
            rel = init.parent.relative_to(REPO)
            if any(part in ("__pycache__", "node_modules") for part in rel.parts):
                continue
            found[renamed.get(rel.as_posix(), ".".join(("reelgraph", *rel.parts)))] = init.parent
    return found


def _run(cmd, **kwargs) -> subprocess.CompletedProcess:
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kwargs)
    assert p.returncode == 0, f"{cmd} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p


def test_every_package_folder_is_listed_in_pyproject():
    setuptools_cfg = _toml()["tool"]["setuptools"]
    listed = set(setuptools_cfg["packages"])
    found = _package_folders()
    assert set(found) - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - set(found) == set(), "these listed packages have no folder with an __init__.py"
    package_dir = setuptools_cfg["package-dir"]
    for top in TOP_FOLDERS:
        assert package_dir[f"reelgraph.{top}"] == top
    assert "" not in package_dir  # nothing maps the repo root itself to the top of site-packages


def test_console_script_entry_point_is_declared():
    project = _toml()["project"]
    assert project["scripts"]["reelgraph"] == "reelgraph.ui.cli:main"
    assert project["entry-points"]["reelgraph.nodes"]["builtin"] == "reelgraph.nodes"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("setuptools")
    pytest.importorskip("wheel")
    base = tmp_path_factory.mktemp("wheel")
    # Build from a copy of the checkout: no build/ or egg-info left in the repo, no stale files from
    # an earlier build/lib sneaking into the wheel, and concurrent test runs cannot collide.
    src = base / "src"
    shutil.copytree(REPO, src, ignore=_NOT_SOURCE)
    out = base / "dist"
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", out, src], env=env)
    wheels = list(out.glob("reelgraph-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def fresh(wheel, tmp_path_factory) -> dict:
    """A fresh venv (no pip, nothing installed) with the wheel installed into it."""
    root = tmp_path_factory.mktemp("fresh")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel],
         env=env)
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     env=_isolated_env(root)).stdout.strip())
    work = root / "elsewhere"  # a working directory far from the repo
    work.mkdir()
    return {"venv": venv, "python": python, "script": bindir / "reelgraph", "site": site, "cwd": work,
            "env": _isolated_env(root)}


def _isolated_env(root: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PIP_"))}
    # Dependencies only: this venv's site-packages. Its editable reelgraph is a .pth hook, which
    # Python does not run for PYTHONPATH entries, so it cannot shadow the installed copy.
    env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]
    env["PYTHONNOUSERSITE"] = "1"
    env["REELGRAPH_CACHE_DIR"] = str(root / "user-cache")
    return env


def test_wheel_contents(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"reelgraph", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
    for package, folder in _package_folders().items():
        prefix = package.replace(".", "/")
        for py in folder.glob("*.py"):
            assert f"{prefix}/{py.name}" in names
    for wf in (REPO / "workflows").glob("*.json"):
        assert f"reelgraph/workflows/{wf.name}" in names
    # the editor's canvas ships built: pip users need no Node, and its sources stay out of the wheel
    assert "reelgraph/ui/static/canvas.js" in names
    for lang in (REPO / "ui" / "i18n").glob("*.json"):  # node titles and tooltips in other languages
        assert f"reelgraph/ui/i18n/{lang.name}" in names
    assert not [n for n in names if "/frontend/" in n or "node_modules" in n]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "reelgraph = reelgraph.ui.cli:main" in text
    assert "builtin = reelgraph.nodes" in text


def test_nothing_but_reelgraph_at_top_of_site_packages(fresh):
    site = fresh["site"]
    for name in TOP_FOLDERS:
        assert not (site / name).exists(), f"{name}/ landed at the top of site-packages"
    assert (site / "reelgraph" / "graph" / "__init__.py").is_file()
    dist = next(site.glob("reelgraph-*.dist-info"))
    if (dist / "top_level.txt").exists():
        assert (dist / "top_level.txt").read_text().split() == ["reelgraph"]
    record = (dist / "RECORD").read_text().splitlines()
    for line in record:
        path = line.split(",", 1)[0]
        assert path.startswith(("reelgraph/", "reelgraph-", "../")), path


def test_installed_copy_is_the_one_imported(fresh):
    code = ("import json, reelgraph.graph, reelgraph.ui.cli, reelgraph.nodes, reelgraph.client;"
            "from reelgraph.workflows import path;"
            "print(json.dumps({'graph': reelgraph.graph.__file__, 'cli': reelgraph.ui.cli.__file__,"
            " 'nodes': reelgraph.nodes.__file__, 'wf': str(path('shot_outline')),"
            " 'client': reelgraph.client.__file__,"
            " 'types': [c.type for c in reelgraph.nodes.NODES]}))")
    p = _run([fresh["python"], "-c", code], cwd=fresh["cwd"], env=fresh["env"])
    info = json.loads(p.stdout)
    venv = fresh["venv"].resolve()
    for key in ("graph", "cli", "nodes", "wf", "client"):
        assert venv in Path(info[key]).resolve().parents, f"{key} imported from {info[key]}"
        assert REPO not in Path(info[key]).resolve().parents
    assert {"text.template", "number.math", "list.pick"} <= set(info["types"])


def _bundled_workflow(fresh) -> Path:
    code = "from reelgraph.workflows import path; print(path('shot_outline'))"
    wf = Path(_run([fresh["python"], "-c", code], cwd=fresh["cwd"], env=fresh["env"]).stdout.strip())
    assert fresh["venv"].resolve() in wf.resolve().parents
    return wf


def test_installed_cli_validates_and_runs_bundled_workflow(fresh):
    wf = _bundled_workflow(fresh)
    script, cwd, env = fresh["script"], fresh["cwd"], fresh["env"]
    assert script.is_file()
    v = _run([script, "validate", wf], cwd=cwd, env=env)
    assert "valid (6 nodes, 6 edges)" in v.stdout
    cache = cwd / "cache"
    r = _run([script, "run", wf, "--cache-dir", cache, "-o", "outline.txt"], cwd=cwd, env=env)
    text = (cwd / "outline.txt").read_text(encoding="utf-8")
    assert text.startswith("The Keeper: 3 shots")
    assert "Shot 2: Waves break white against the rocks below" in text
    assert (cache / "index.db").is_file()
    again = _run([script, "run", wf, "--cache-dir", cache, "--events", "json"], cwd=cwd, env=env)
    events = [json.loads(line) for line in again.stdout.splitlines()]
    assert {e["node"] for e in events if e["event"] == "node_cached"} == \
        {"story", "style", "describe", "outline", "count", "title"}
    nodes = _run([script, "nodes", "--json"], cwd=cwd, env=env)
    catalog = json.loads(nodes.stdout)
    assert catalog["problems"] == []
    assert {n["pack"] for n in catalog["nodes"]} == {"reelgraph.nodes"}
    assert "Traceback" not in r.stderr + v.stderr


def test_installed_cli_version(fresh):
    p = _run([fresh["script"], "--version"], cwd=fresh["cwd"], env=fresh["env"])
    assert _toml()["project"]["version"] in p.stdout
