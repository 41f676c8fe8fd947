"""Hypothesis strategies for valid resources, shared by property tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Text that stresses YAML quoting: indicators, numbers, booleans, nulls, unicode.
tricky = st.one_of(
    st.sampled_from(
        [
            "yes",
            "no",
            "on",
            "null",
            "~",
            "0x10",
            "007",
            "1e3",
            ".inf",
            "- x",
            "a: b",
            "#c",
            "'q'",
            '"d"',
            "{x}",
            "[y]",
            "*ref",
            "&anc",
            "!tag",
            "%p",
            "@",
            "`",
            "{PORT}",
            "--port={PORT}",
            " lead",
            "trail ",
            "",
            "é ü 字",
            "a\\b",
            "$HOME",
            "${X}",
            "2001-01-01",
            "true",
            "False",
        ]
    ),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=20),
)
line = tricky
names = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
env_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
env_values = st.one_of(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="$"), max_size=20
    ),
    env_names.map(lambda n: "${" + n + "}"),
    st.tuples(env_names, line.filter(lambda s: "}" not in s and "$" not in s)).map(
        lambda t: "${" + t[0] + ":-" + t[1] + "}"
    ),
)
time_limits = st.one_of(
    st.integers(0, 10_000).map(str),
    st.tuples(st.integers(0, 99), st.integers(0, 59), st.integers(0, 59)).map(
        lambda t: f"{t[0]:02d}:{t[1]:02d}:{t[2]:02d}"
    ),
    st.tuples(st.integers(0, 30), st.integers(0, 23)).map(lambda t: f"{t[0]}-{t[1]}"),
    st.just("UNLIMITED"),
)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


@st.composite
def backends(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["sglang", "tei", "vllm", "command"]))
    args = draw(st.lists(tricky, max_size=4))
    env = draw(st.dictionaries(env_names, env_values, max_size=3))
    base: dict[str, Any] = {"type": kind, "args": args, "env": env}
    if kind == "sglang":
        base["model_path"] = draw(line)
    elif kind == "tei":
        base["model_id"] = draw(line)
        base["prometheus_port"] = draw(_optional(st.integers(1, 65535)))
    elif kind == "vllm":
        base["model"] = draw(line)
    else:
        base["command"] = [*draw(st.lists(tricky, min_size=1, max_size=3)), "{PORT}"]
    return {k: v for k, v in base.items() if v is not None}


@st.composite
def deployments(draw: st.DrawFn) -> dict[str, Any]:
    slurm = {
        "partition": draw(_optional(line)),
        "gres": draw(_optional(line)),
        "cpus_per_task": draw(st.integers(1, 256)),
        "time_limit": draw(time_limits),
        "exclude": draw(st.lists(line, max_size=2)),
        "env": draw(st.dictionaries(env_names, env_values, max_size=3)),
        "pre_commands": draw(st.lists(line, max_size=2)),
        "sbatch_extra": draw(
            st.lists(st.sampled_from(["--nice=5", "#SBATCH --exclusive"]), max_size=2)
        ),
    }
    spec: dict[str, Any] = {
        "replicas": draw(st.integers(0, 50)),
        "backend": draw(backends()),
        "slurm": {k: v for k, v in slurm.items() if v is not None},
        "health": {
            "path": draw(line),
            "headers": draw(
                st.dictionaries(
                    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,10}", fullmatch=True),
                    env_values.filter(lambda v: "\n" not in v and "\r" not in v),
                    max_size=2,
                )
            ),
            "readiness": {
                "period_s": draw(st.floats(0.1, 100)),
                "failure_threshold": draw(st.integers(1, 10)),
            },
        },
        "strategy": {
            "max_surge": draw(st.integers(1, 3)),
            "max_unavailable": draw(st.integers(0, 3)),
        },
    }
    if draw(st.booleans()):
        spec["router"] = {"name": draw(names)}
    if draw(st.booleans()):
        spec["model"] = {"name": draw(line), "aliases": draw(st.lists(line, max_size=2))}
    return {
        "apiVersion": "sgorch.io/v1alpha1",
        "kind": "Deployment",
        "metadata": {
            "name": draw(names),
            "labels": draw(st.dictionaries(names, line, max_size=2)),
            "annotations": draw(st.dictionaries(names, tricky, max_size=2)),
        },
        "spec": spec,
    }


@st.composite
def routers(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "apiVersion": "sgorch.io/v1alpha1",
        "kind": "Router",
        "metadata": {"name": draw(names)},
        "spec": {
            "listen": {
                "host": draw(st.sampled_from(["127.0.0.1", "::1", "0.0.0.0"])),
                "port": draw(st.integers(1, 65535)),
            },
            "policy": draw(
                st.sampled_from(["round_robin", "random", "least_inflight", "power_of_two"])
            ),
            "default_models": draw(
                st.dictionaries(
                    st.sampled_from(["/v1/chat/completions", "/v1/embeddings"]), line, max_size=2
                )
            ),
        },
    }
