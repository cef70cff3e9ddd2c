"""The run manifest's code version: the commit of the checkout, as git says it."""

import subprocess

from quant_engine.simulation.artifacts import git_sha, package_versions


def _git(cwd, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_sha_is_the_commit_of_the_checkout_holding_the_folder(tmp_path):
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    (root / "pkg" / "f.txt").write_text("1")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c1")
    assert git_sha(root / "pkg") == _git(root, "rev-parse", "HEAD")
    assert len(git_sha(root / "pkg")) == 40


def test_outside_git_the_sha_is_unknown(tmp_path):
    assert git_sha(tmp_path) == "unknown"


def test_package_versions_are_a_fresh_dict_each_call():
    first = package_versions()
    first["numpy"] = "edited"
    assert package_versions()["numpy"] != "edited"
