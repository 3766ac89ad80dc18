"""The project as a newcomer installs it: the ``verbatim`` command, the requirements files against what the code
imports, ``verbatim serve``, CI's script and the shared data the tests read.

Cheap checks (no model, no network, no Streamlit server): they catch a dependency used but not listed, an entry
point that no longer resolves, a new sub-package left out of the install, a CI script that lost its guards.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them (``PyStemmer`` = ``pystemmer``, ``ir_measures`` = ``ir-measures``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(path: Path) -> dict[str, str]:
    """``{normalised name: line}`` of a requirements file, following ``-r`` includes."""
    found: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r"):
            found.update(requirements(path.parent / line[2:].strip()))
            continue
        found[normalise(re.split(r"[\s=<>!~;\[]", line, maxsplit=1)[0])] = line
    return found


def imported_names(files) -> dict[str, list[str]]:
    """Top-level names of absolute imports (``import a.b``, ``from a import b``) → the files that import them."""
    names: dict[str, list[str]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                tops = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops = [node.module.split(".")[0]]
            else:
                continue
            for top in tops:
                names.setdefault(top, []).append(str(path.relative_to(REPO)))
    return names


def local_names() -> set[str]:
    """Modules of this repository itself: top-level folders and files, and the tests' helpers (``conftest``)."""
    names = {p.stem for p in REPO.glob("*.py")} | {p.stem for p in (REPO / "tests").glob("*.py")}
    names |= {d.name for d in REPO.iterdir() if d.is_dir() and any(d.glob("*.py"))}
    return names


def unlisted_imports(files, allowed: dict[str, str]) -> list[str]:
    """Third-party imports whose distribution is not among ``allowed`` (with the files that import them)."""
    distributions = importlib.metadata.packages_distributions()
    local = local_names()
    problems = []
    for name, where in sorted(imported_names(files).items()):
        if name in sys.stdlib_module_names or name in local or name == "__future__":
            continue
        owners = {normalise(d) for d in distributions.get(name, [])}
        if not owners:
            problems.append(f"{name} (imported by {sorted(set(where))}) is not installed, so not listed either")
        elif not owners & set(allowed):
            problems.append(f"{name} (imported by {sorted(set(where))}) comes from {sorted(owners)}, not listed")
    return problems


# --------------------------------------------------------------------------------------- the verbatim command


def test_pyproject_declares_the_verbatim_command_and_it_resolves_to_a_callable():
    target = PYPROJECT["project"]["scripts"]["verbatim"]
    assert target == "qa.cli:main"
    module, _, attribute = target.partition(":")
    assert callable(getattr(importlib.import_module(module), attribute))


def test_the_install_takes_its_dependencies_from_requirements_txt_and_every_package():
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}
    packages = {
        ".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "qa").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert set(PYPROJECT["tool"]["setuptools"]["packages"]) == packages, "a qa sub-package is missing from pyproject.toml"
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"


def test_the_installed_verbatim_command_works_from_any_folder(tmp_path):
    points = importlib.metadata.entry_points(group="console_scripts", name="verbatim")
    assert points, "the project is not installed in this environment: run `pip install -e .` in the repository"
    (point,) = points
    assert point.value == "qa.cli:main" and callable(point.load())
    script = Path(sys.executable).parent / "verbatim"
    assert script.is_file(), f"no {script}: run `pip install -e .` with this environment's pip"
    done = subprocess.run([str(script), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout and "ask" in done.stdout


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"], ["ask", "--help"]])
def test_python_m_qa_help_works_from_the_repository(args):
    done = subprocess.run([sys.executable, "-m", "qa", *args], cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:")
    if args[0] == "serve":
        assert "--port" in done.stdout and "--docs" in done.stdout and "STREAMLIT_ARGS" in done.stdout


def test_help_loads_none_of_the_heavy_libraries():
    """``verbatim --help`` answers at once: qa.cli (and serve) import the model, Streamlit, numpy only when used."""
    code = (
        "import sys\n"
        "from qa.cli import main\n"
        "for argv in (['--help'], ['serve', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('torch', 'streamlit', 'numpy', 'sentence_transformers', 'faiss') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


# ----------------------------------------------------------------------------------------- the requirements


def test_qa_and_the_app_import_only_the_standard_library_and_requirements_txt():
    """A user installs requirements.txt only: ``verbatim eval`` and every other command must run with it."""
    files = sorted((REPO / "qa").rglob("*.py")) + [REPO / "app.py"]
    assert unlisted_imports(files, requirements(REPO / "requirements.txt")) == []


def test_tests_and_benchmarks_import_only_what_requirements_dev_txt_lists():
    files = sorted((REPO / "tests").rglob("*.py")) + sorted((REPO / "bench").rglob("*.py"))
    assert unlisted_imports(files, requirements(REPO / "requirements-dev.txt")) == []


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_every_requirement_is_pinned_once(name):
    lines = [
        line.split("#", 1)[0].strip() for line in (REPO / name).read_text(encoding="utf-8").splitlines()
    ]
    lines = [line for line in lines if line and not line.startswith("-r")]
    assert [line for line in lines if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][^\s=]*", line)] == []
    if name == "requirements-dev.txt":
        runtime = requirements(REPO / "requirements.txt")
        own = {normalise(line.split("==")[0]) for line in lines}
        assert own.isdisjoint(runtime), "a runtime requirement repeated in requirements-dev.txt"


# --------------------------------------------------------------------------------------------- verbatim serve


def test_serve_runs_streamlit_with_this_interpreter_on_the_repositorys_app():
    from qa.serve import app_path, streamlit_command

    app = app_path()
    assert app == REPO / "app.py"
    command = streamlit_command(app, 8501, ["--theme.base", "dark"])
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py")]
    assert command[command.index("--server.port") + 1] == "8501"
    assert command[-2:] == ["--theme.base", "dark"]  # the caller's arguments last: they win
    assert "--server.port" not in streamlit_command(app, None, ["--server.port", "9000"])[:-2]


def test_serve_options_and_address():
    from qa.serve import address, option_value

    assert option_value(["--server.port", "9000"], "--server.port") == "9000"
    assert option_value(["--server.port=9001"], "--server.port") == "9001"
    assert option_value(["--server.portx=1"], "--server.port") is None
    assert address(8501, []) == "http://localhost:8501"
    assert address(8502, ["--server.address", "0.0.0.0"]) == "http://localhost:8502"
    assert address(8503, ["--server.address=127.0.0.1"]) == "http://127.0.0.1:8503"


def test_serve_moves_past_a_port_that_is_taken():
    from qa.serve import free_port, port_is_free

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert not port_is_free(taken)
        assert free_port(taken, tries=20) > taken


def test_serve_updates_the_index_then_starts_the_app_on_the_same_folders(monkeypatch, tmp_path, capsys):
    import qa.serve as serve_module
    from qa.settings import load_settings

    settings = load_settings({}).with_(docs=tmp_path / "docs", index=tmp_path / "index")
    calls = []
    monkeypatch.setattr(serve_module, "update", lambda s: calls.append(("update", s.docs)))

    class FakeProcess:
        def __init__(self, command, cwd, env):
            calls.append(("start", command, cwd, env["QA_DOCS"], env["QA_INDEX"]))

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(serve_module.subprocess, "Popen", FakeProcess)
    args = SimpleNamespace(port=8765, no_update=False, streamlit_args=["--theme.base", "dark"])
    assert serve_module.serve(args, settings) == 0
    assert calls[0] == ("update", settings.docs)
    _, command, cwd, docs, index = calls[1]
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py")] and cwd == REPO
    assert "8765" in command and command[-1] == "dark"
    assert (docs, index) == (str(settings.docs.resolve()), str(settings.index.resolve()))
    assert "open http://localhost:8765 in your browser" in capsys.readouterr().out

    calls.clear()
    args = SimpleNamespace(port=None, no_update=True, streamlit_args=["--server.port", "9123"])
    assert serve_module.serve(args, settings) == 0
    assert [c[0] for c in calls] == ["start"] and calls[0][1].count("--server.port") == 1
    assert "http://localhost:9123" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------------- CI


def test_ci_script_keeps_its_guards():
    text = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "set -euo pipefail" in text
    assert "DPkg::Lock::Timeout=600" in text and "--no-install-recommends chromium" in text
    assert "Could not get lock" in text  # `apt-get update` ignores the timeout: the script waits itself
    assert "--durations=15" in text
    assert '-eq 5' in text  # pytest's "no tests collected" is reported as the failure it is
    assert "requirements-dev.txt -e ." in text


# ----------------------------------------------------------------------------------------------- shared data


def test_the_shared_corpora_are_beside_the_repository():
    """The UN documents and SciFact that tests and benchmarks read: a missing folder fails here by name."""
    needed = [
        SHARED / "corpora" / "un_human_rights_docs",
        SHARED / "corpora" / "beir_scifact" / "corpus.jsonl",
        SHARED / "corpora" / "beir_scifact" / "queries.jsonl",
        SHARED / "corpora" / "beir_scifact" / "qrels" / "test.tsv",
    ]
    missing = [str(path) for path in needed if not path.exists()]
    assert not missing, (
        f"missing shared data: {', '.join(missing)}. The tests read the team's corpora from {SHARED} "
        "(a folder beside the repository, never copied into it); see README, 'Getting the shared data'."
    )


def test_serve_stops_streamlit_when_it_is_terminated(tmp_path, monkeypatch, capsys):
    """`kill <pid of verbatim serve>` (a service manager's SIGTERM) left the Streamlit process running."""
    import argparse
    import os
    import signal
    import threading

    from qa import serve as serve_module
    from qa.settings import load_settings

    class Streamlit:  # stands in for the Streamlit process: runs until terminated
        def __init__(self, *args, **kwargs):
            self.stopped = threading.Event()

        def wait(self, timeout=None):
            assert self.stopped.wait(30), "serve did not pass SIGTERM on"
            return -signal.SIGTERM

        def terminate(self):
            self.stopped.set()

    started = []
    monkeypatch.setattr(serve_module.subprocess, "Popen", lambda *a, **k: started.append(Streamlit(*a, **k)) or started[-1])
    settings = load_settings({}).with_(docs=tmp_path / "docs", index=tmp_path / "index")
    args = argparse.Namespace(port=None, no_update=True, streamlit_args=[])
    before = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        assert serve_module.serve(args, settings) == 0
    finally:
        timer.cancel()
    assert started and started[0].stopped.is_set() and "stopped" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is put back
