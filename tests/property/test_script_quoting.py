"""Whatever args and env values a user writes, the batch script stays valid bash and the
engine receives exactly those args (with only {PORT}/{HOST} substituted)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sgorch.resources import Deployment
from sgorch.slurm import OwnerTag, compute_template_hash, render_job_script

ARG = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=12,
)
PRINTER = ["python3", "-c", "import json, sys; print(json.dumps(sys.argv[1:]))"]


@settings(max_examples=40, deadline=None)
@given(
    args=st.lists(
        st.one_of(
            ARG,
            st.sampled_from(
                ["'", '"', "$(id)", "`id`", "\\", "\n", "{PORT}x{HOST}", "$PORT", "*", "!"]
            ),
        ),
        max_size=5,
    )
)
def test_engine_receives_exactly_the_args_written(args: list[str], tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    tmp: Path = tmp_path_factory.mktemp("job")
    deployment = Deployment.model_validate(
        {
            "apiVersion": "sgorch.io/v1alpha1",
            "kind": "Deployment",
            "metadata": {"name": "q"},
            "spec": {
                "backend": {"type": "command", "command": [*PRINTER, "{PORT}"], "args": args},
                "connectivity": {"bind_host": "127.0.0.1"},
            },
        }
    )
    tag = OwnerTag("t", "q", 0, compute_template_hash(deployment))
    script = render_job_script(deployment, 0, tag, tmp)
    result = subprocess.run(
        ["bash", "-s"],
        input=script,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp,
        env={"PATH": os.environ["PATH"], "SLURM_JOB_ID": "7"},
    )
    assert result.returncode == 0, result.stderr
    port = json.loads((tmp / "endpoints" / "7.json").read_text())["port"]
    expected = [str(port)] + [
        a.replace("{PORT}", str(port)).replace("{HOST}", "127.0.0.1") for a in args
    ]
    assert json.loads(result.stdout) == expected
