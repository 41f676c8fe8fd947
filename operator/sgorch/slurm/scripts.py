"""Batch scripts and job requests for a Deployment's slot, as pure functions.

The script picks a free port on its node (20000-29999, starting at the job id), writes
an endpoint file (host, port, job id, start time) atomically into
``LOG_DIR/endpoints/JOBID.json``, runs the pre-commands, activates the venv, then
``exec``s the engine so that Slurm's signals reach it. The
operator reads the endpoint file: no port guessing, no log scraping. Secrets never
appear here: the job inherits them from the submission's environment.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shlex
from collections.abc import Mapping
from pathlib import Path

from sgorch.backends import render_engine_argv
from sgorch.resources.durations import UNLIMITED, parse_memory_mb, parse_time_limit_min
from sgorch.resources.envrefs import resolve_env_refs
from sgorch.resources.models import Deployment
from sgorch.slurm.tags import OwnerTag, render_job_name
from sgorch.slurm.types import JobRequest, SbatchOptions

__all__ = [
    "LOOPBACK_HOSTS",
    "build_job_request",
    "compute_template_hash",
    "endpoint_path",
    "render_job_script",
    "render_sbatch_options",
]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_PLACEHOLDER = re.compile(r"(\{PORT\}|\{HOST\})")

_PICK_PORT = r"""# Ports 20000-29999: below Linux's ephemeral range (32768+), so none of the
# engine's own outgoing connections can take the port before it binds it (after
# loading its model); the search starts at the job id, so jobs on a node start apart.
sgorch_port_free() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket, sys
s = socket.socket()
try:
    s.bind(("", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
  else
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}
sgorch_pick_port() {
  local first=20000 span=10000 port tries
  port=$(( first + ${SLURM_JOB_ID:-$$} % span ))
  for ((tries = 0; tries < 500; tries++)); do
    if sgorch_port_free "${port}"; then
      echo "${port}"
      return
    fi
    port=$(( first + (port - first + 1) % span ))
  done
  echo "sgorch: no free port in ${first}-$(( first + span - 1 ))" >&2
  return 1
}"""

_WRITE_ENDPOINT = r"""sgorch_write_endpoint() {
  local dir=$1 tmp
  mkdir -p "${dir}"
  tmp=$(mktemp "${dir}/.${SLURM_JOB_ID}.XXXXXX")
  printf '{"host": "%s", "port": %s, "job_id": "%s", "started_at": "%s"}\n' \
    "${ADVERTISE_HOST}" "${PORT}" "${SLURM_JOB_ID}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"${tmp}"
  mv -f "${tmp}" "${dir}/${SLURM_JOB_ID}.json"
}"""


def compute_template_hash(deployment: Deployment) -> str:
    """A short hash of everything that goes into the job script: when it changes, running
    workers are out of date and are replaced by a rolling update."""
    spec = deployment.spec
    payload = {
        "backend": spec.backend.model_dump(mode="json"),
        "slurm": spec.slurm.model_dump(mode="json"),
        "bind_host": spec.connectivity.bind_host,
        "advertise_host": spec.connectivity.advertise_host,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def endpoint_path(log_dir: Path, job_id: str) -> Path:
    """Where the job with ``job_id`` writes its endpoint file."""
    return log_dir / "endpoints" / f"{job_id}.json"


def render_sbatch_options(deployment: Deployment, slot: int) -> SbatchOptions:
    """The scheduling options of ``slot`` (the time limit is staggered per slot)."""
    slurm = deployment.spec.slurm
    limit = parse_time_limit_min(slurm.time_limit)
    if limit != UNLIMITED:
        limit += math.ceil(slot * slurm.time_limit_stagger_s / 60)
    return SbatchOptions(
        partition=slurm.partition,
        account=slurm.account,
        qos=slurm.qos,
        reservation=slurm.reservation,
        gres=slurm.gres,
        constraint=slurm.constraint,
        exclude=tuple(slurm.exclude),
        cpus_per_task=slurm.cpus_per_task,
        mem_mb=parse_memory_mb(slurm.mem) if slurm.mem else None,
        time_limit_min=limit,
        extra=tuple(item.removeprefix("#SBATCH").strip() for item in slurm.sbatch_extra),
    )


def _sbatch_lines(name: str, comment: str, stdout: str, options: SbatchOptions) -> list[str]:
    lines = [
        f"--job-name={name}",
        f"--comment={comment}",
        f"--output={stdout}",
        "--open-mode=append",
        "--nodes=1",
        "--ntasks=1",
        f"--cpus-per-task={options.cpus_per_task}",
    ]
    if options.time_limit_min is not None:
        limit = "UNLIMITED" if options.time_limit_min == UNLIMITED else options.time_limit_min
        lines.append(f"--time={limit}")
    if options.mem_mb is not None:
        lines.append(f"--mem={options.mem_mb}M")
    for flag, value in (
        ("partition", options.partition),
        ("account", options.account),
        ("qos", options.qos),
        ("reservation", options.reservation),
        ("gres", options.gres),
        ("constraint", options.constraint),
    ):
        if value:
            lines.append(f"--{flag}={value}")
    if options.exclude:
        lines.append(f"--exclude={','.join(options.exclude)}")
    lines.extend(options.extra)
    return [f"#SBATCH {line}" for line in lines]


def _shell_word(arg: str) -> str:
    """``arg`` as one shell word, with ``{PORT}``/``{HOST}`` expanded by the shell."""
    if not arg:
        return "''"
    parts: list[str] = []
    for piece in _PLACEHOLDER.split(arg):
        if piece == "{PORT}":
            parts.append('"${PORT}"')
        elif piece == "{HOST}":
            parts.append('"${HOST}"')
        elif piece:
            parts.append(shlex.quote(piece))
    return "".join(parts)


def render_job_script(deployment: Deployment, slot: int, tag: OwnerTag, log_dir: Path) -> str:
    """The complete batch script of ``slot`` (deterministic: golden-file tested)."""
    spec = deployment.spec
    name = render_job_name(spec.backend.type, deployment.name, slot)
    options = render_sbatch_options(deployment, slot)
    stdout = str(log_dir / "%x-%j.out")
    connectivity = spec.connectivity
    bind = connectivity.bind_host
    if connectivity.advertise_host:
        advertise = shlex.quote(connectivity.advertise_host)
    elif bind in LOOPBACK_HOSTS:
        advertise = shlex.quote(bind)
    else:
        advertise = '"$(hostname -f 2>/dev/null || hostname)"'
    venv = getattr(spec.backend, "venv_path", None)
    engine = " ".join(_shell_word(arg) for arg in render_engine_argv(spec.backend))

    lines = [
        "#!/bin/bash",
        *_sbatch_lines(name, tag.render(), stdout, options),
        "#",
        f"# SGOrch worker: Deployment {deployment.name!r}, slot {slot}, "
        f"template {tag.template_hash}.",
        "# Rendered by the operator; secrets reach the job through its environment only.",
        "set -eo pipefail",
        "",
        _PICK_PORT,
        "",
        _WRITE_ENDPOINT,
        "",
        "PORT=$(sgorch_pick_port)",
        f"HOST={shlex.quote(bind)}",
        f"ADVERTISE_HOST={advertise}",
        "export PORT HOST",
        f"sgorch_write_endpoint {shlex.quote(str(log_dir / 'endpoints'))}",
        'echo "sgorch: job ${SLURM_JOB_ID} serving on ${ADVERTISE_HOST}:${PORT}" >&2',
    ]
    if spec.slurm.pre_commands:
        lines += ["", "# pre_commands", *spec.slurm.pre_commands]
    if venv:
        lines += ["", f"source {shlex.quote(venv.rstrip('/') + '/bin/activate')}"]
    lines += ["", f"exec {engine}", ""]
    return "\n".join(lines)


def build_job_request(
    deployment: Deployment,
    slot: int,
    tag: OwnerTag,
    log_dir: Path,
    environ: Mapping[str, str],
) -> JobRequest:
    """Everything a client needs to submit ``slot``. ``${VAR}`` references in env values
    are resolved from ``environ`` now (``UnsetVariable`` if one is missing)."""
    spec = deployment.spec
    environment = {
        key: resolve_env_refs(value, environ)
        for key, value in {**spec.slurm.env, **spec.backend.env}.items()
    }
    return JobRequest(
        name=render_job_name(spec.backend.type, deployment.name, slot),
        script=render_job_script(deployment, slot, tag, log_dir),
        comment=tag.render(),
        options=render_sbatch_options(deployment, slot),
        working_dir=str(log_dir),
        stdout_path=str(log_dir / "%x-%j.out"),
        environment=environment,
    )
