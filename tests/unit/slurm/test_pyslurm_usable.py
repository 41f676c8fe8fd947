"""``pyslurm_usable`` decides from a throw-away import and ``scontrol --version``: here
with stand-in bindings and stand-in scontrol scripts, since no pyslurm fits Slurm 22.05."""

from __future__ import annotations

from pathlib import Path

import pytest

from sgorch.slurm.pyslurm_client import pyslurm_usable


@pytest.fixture
def bindings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on the probe's PYTHONPATH for stand-in binding modules."""
    directory = tmp_path / "bindings"
    directory.mkdir()
    monkeypatch.setenv("PYTHONPATH", str(directory))
    return directory


def binding(directory: Path, name: str, body: str) -> str:
    (directory / f"{name}.py").write_text(body)
    return name


def scontrol(tmp_path: Path, version_line: str) -> str:
    script = tmp_path / "scontrol"
    script.write_text(f"#!/bin/sh\necho '{version_line}'\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize(
    ("binding_version", "slurm_line"),
    [("25.11.0", "slurm 25.11.2"), ("24.5.1", "slurm-wlm 24.05.4")],
    ids=["same numbering", "pyslurm drops the leading zero"],
)
async def test_a_binding_built_for_the_clusters_release_is_usable(
    bindings: Path, tmp_path: Path, binding_version: str, slurm_line: str
) -> None:
    module = binding(bindings, "goodslurm", f"__version__ = {binding_version!r}\n")

    usable, why = await pyslurm_usable(module=module, scontrol=scontrol(tmp_path, slurm_line))

    assert usable, why
    assert why == f"goodslurm {binding_version} matches {slurm_line}"


async def test_a_binding_for_another_release_is_not_usable(bindings: Path, tmp_path: Path) -> None:
    module = binding(bindings, "newslurm", "__version__ = '25.11.0'\n")

    usable, why = await pyslurm_usable(
        module=module, scontrol=scontrol(tmp_path, "slurm-wlm 22.05.8")
    )

    assert not usable
    assert "newslurm 25.11.0 is built for another Slurm" in why and "22.05.8" in why


async def test_a_binding_that_does_not_import_is_not_usable(bindings: Path) -> None:
    module = binding(bindings, "brokenslurm", "raise ImportError('libslurm.so.42: not found')\n")

    usable, why = await pyslurm_usable(module=module)

    assert (usable, why) == (
        False,
        "brokenslurm does not import: ImportError: libslurm.so.42: not found",
    )


async def test_an_import_that_hangs_is_given_up_on_time(bindings: Path) -> None:
    module = binding(bindings, "hangingslurm", "import time\ntime.sleep(60)\n")

    usable, why = await pyslurm_usable(module=module, timeout_s=1)

    assert not usable and "took over 1 s" in why


async def test_without_scontrol_nothing_can_be_compared(bindings: Path, tmp_path: Path) -> None:
    module = binding(bindings, "someslurm", "__version__ = '25.11.0'\n")

    usable, why = await pyslurm_usable(module=module, scontrol=str(tmp_path / "no-scontrol"))

    assert not usable and "cannot ask" in why
