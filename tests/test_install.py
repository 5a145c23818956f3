"""outreach installed as a user installs it: the sdist built, a wheel built from the sdist (so the sdist
holds everything), the wheel installed into a fresh venv outside the checkout, and there: import, contacts,
preview — a store created by the migrations that ship inside the package.

To stay fast, the fresh venv gets outreach from the wheel only; its dependencies are the ones this test
run already has (a ``.pth`` file points at this interpreter's site-packages), and ``pip check`` proves the
wheel's declared dependencies are met. Building needs PyPA's ``build`` (the test extra) and setuptools
from the package index or pip's cache, as any wheel build does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import unavailable

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def run(
    args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        import build  # noqa: F401
    except ImportError:
        unavailable("PyPA's build is not installed (pip install -e '.[test]')")
    dist = tmp_path_factory.mktemp("dist")
    done = run([sys.executable, "-m", "build", "--outdir", str(dist), str(REPO)])
    if done.returncode != 0 and "Could not find a version that satisfies" in done.stdout + done.stderr:
        unavailable(f"the build backend could not be installed (no package index?): {done.stderr[-300:]}")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    wheels = list(dist.glob("outreach-*.whl"))
    assert len(wheels) == 1 and list(dist.glob("outreach-*.tar.gz")), list(dist.iterdir())
    return wheels[0]


def test_the_wheel_carries_the_migrations_and_the_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = {n for n in names if n.startswith("outreach/store/migrations/versions/") and n.endswith(".py")}
    in_repo = {f"outreach/store/migrations/versions/{p.name}" for p in (REPO / "migrations" / "versions").glob("*.py")}
    assert migrations == in_repo
    favour = "outreach/signals/model/favour"
    for needed in ("outreach/store/migrations/env.py", "outreach/store/migrations/script.py.mako",
                   "outreach/py.typed", "outreach/data/sample-mailbox/INBOX.mbox",
                   "outreach/campaign/report/report.html.j2", "outreach/signals/model/ask/model.json",
                   f"{favour}/model.onnx", f"{favour}/model-seed1.onnx", f"{favour}/tokenizer.json",
                   f"{favour}/meta.json"):  # fmt: skip
        assert needed in names, needed


def test_installed_in_a_fresh_venv_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", "--without-pip", str(venv)]).returncode == 0
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "_outreach_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # the deps, reused
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    installed = run([*pip, "install", "--no-deps", "--no-index", "--disable-pip-version-check", str(wheel)])
    assert installed.returncode == 0, installed.stderr
    checked = run([*pip, "check", "--disable-pip-version-check"])
    assert checked.returncode == 0, checked.stdout + checked.stderr  # every declared dependency is there

    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }

    def outreach(*args: str) -> subprocess.CompletedProcess[str]:
        return run([str(venv / "bin" / "outreach"), *args], cwd=work, env=env)

    where = run([str(python), "-c", "import outreach; print(outreach.__file__)"], cwd=work, env=env)
    assert where.stdout.strip().startswith(str(site)), where.stdout + where.stderr  # the wheel's, not the repo's
    assert outreach("--version").stdout.strip() == "outreach, version 0.1.0"

    sample = site / "outreach" / "data" / "sample-mailbox"
    imported = outreach("import", str(sample), "--mailbox", "alex", "--quiet")
    assert imported.returncode == 0, imported.stderr
    assert "sentence classifier:" in imported.stdout  # the shipped favour model ran from the wheel
    store = home / "data" / "outreach" / "outreach.db"
    assert store.is_file()  # the default store, created by the packaged migrations
    current = outreach("db", "current")
    assert current.returncode == 0 and "(latest " in current.stdout and ": empty" not in current.stdout

    contacts = outreach("--as-of", "2026-11-21", "contacts")
    assert contacts.returncode == 0, contacts.stderr
    assert "maya@techdaily.example" in contacts.stdout

    shutil.copytree(REPO / "templates" / "warm-pitch", work / "pitch")
    preview = outreach("--as-of", "2026-11-21", "preview", "pitch")
    assert preview.returncode == 1, preview.stderr  # some recipients are blocked: the point of the example
    rows = {line.split()[0]: line.split()[4] for line in preview.stdout.splitlines()[1:9]}
    assert rows["maya@techdaily.example"] == "READY" and rows["sam@unknownmedia.example"] == "BLOCKED"
