"""The run manifest's code version: the checkout's commit read from its files, as git says it."""

import subprocess

import pytest

from quant_engine.simulation.artifacts import _read_head, git_sha, package_versions


def _git(cwd, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A repository with two commits on ``main``, a linked worktree on ``side`` and a subfolder."""
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    for n in (1, 2):
        (root / "pkg" / "f.txt").write_text(str(n))
        _git(root, "add", ".")
        _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", f"c{n}")
    _git(root, "worktree", "add", "-q", str(tmp_path / "linked"), "-b", "side", "HEAD~1")
    return root


def test_head_read_from_files_matches_git(repo, tmp_path):
    linked = tmp_path / "linked"
    for where in (repo, repo / "pkg", linked, linked / "pkg"):
        assert _read_head(where) == _git(where, "rev-parse", "HEAD")
    _git(repo, "pack-refs", "--all")  # refs only in packed-refs
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert _read_head(repo / "pkg") == _git(repo, "rev-parse", "HEAD")
    assert _read_head(linked) == _git(linked, "rev-parse", "HEAD")
    _git(repo, "checkout", "-q", "--detach", "HEAD~1")
    assert _read_head(repo) == _git(repo, "rev-parse", "HEAD")


def test_outside_git_the_sha_is_unknown(tmp_path):
    assert _read_head(tmp_path) is None
    assert git_sha(tmp_path) == "unknown"


def test_package_versions_are_a_fresh_dict_each_call():
    first = package_versions()
    first["numpy"] = "edited"
    assert package_versions()["numpy"] != "edited"
