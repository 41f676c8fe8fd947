"""YAML loading: every error names file, line, column and field; hostile files are
refused without exhausting anything; multi-document files and directories work."""

from __future__ import annotations

from pathlib import Path

import pytest

from sgorch.resources import (
    dump_resources,
    find_duplicate_names,
    iter_resource_files,
    load_file,
    load_text,
)

GOOD = """\
apiVersion: sgorch.io/v1alpha1
kind: Deployment
metadata:
  name: demo
spec:
  replicas: 2
  backend:
    type: command
    command: [srv, --port, "{PORT}"]
"""


def test_a_valid_file_loads_one_resource_with_its_line() -> None:
    result = load_text(GOOD, "a.yaml")
    assert result.ok
    (doc,) = result.documents
    assert doc.resource is not None and doc.resource.spec.replicas == 2
    assert (doc.kind, doc.name, doc.line) == ("Deployment", "demo", 1)


def test_multi_document_files_load_every_document_with_its_start_line() -> None:
    router = "apiVersion: sgorch.io/v1alpha1\nkind: Router\nmetadata: {name: main}\n"
    result = load_text(GOOD + "---\n" + router, "multi.yaml")
    assert [d.kind for d in result.documents] == ["Deployment", "Router"]
    assert result.documents[1].line == 11


def test_unknown_field_error_names_line_column_field_and_suggests_the_spelling() -> None:
    text = GOOD.replace("  replicas: 2", "  replica: 2")
    (err,) = load_text(text, "a.yaml").all_errors()
    location, message = err
    assert (location.line, location.column, location.field) == (6, 3, "spec.replica")
    assert message == "unknown field 'replica'; did you mean 'replicas'?"
    assert str(location) == "a.yaml:6:3: spec.replica"


def test_wrong_type_points_at_the_value() -> None:
    (err,) = load_text(GOOD.replace("replicas: 2", "replicas: many"), "a.yaml").all_errors()
    assert (err[0].line, err[0].column, err[0].field) == (6, 13, "spec.replicas")
    assert "integer" in err[1]


def test_missing_field_names_the_full_path_at_its_parent() -> None:
    text = GOOD.replace('    command: [srv, --port, "{PORT}"]\n', "").replace(
        "type: command", "type: sglang"
    )
    (err,) = load_text(text, "a.yaml").all_errors()
    assert err[0].field == "spec.backend.model_path"
    assert err[0].line == 8
    assert err[1] == "required field is missing"


def test_every_error_of_a_document_is_reported_in_file_order() -> None:
    text = GOOD.replace("name: demo", "name: Demo").replace("replicas: 2", "replicas: -1")
    errors = load_text(text, "a.yaml").all_errors()
    assert [e[0].field for e in errors] == ["metadata.name", "spec.replicas"]


def test_syntax_error_is_located() -> None:
    result = load_text("kind: Deployment\nmetadata: {name: [x\n", "bad.yaml")
    (err,) = result.errors
    assert err[0].file == "bad.yaml" and err[0].line is not None
    assert err[1].startswith("YAML syntax error")


def test_unknown_kind_and_missing_kind_say_what_is_allowed() -> None:
    (err,) = load_text(GOOD.replace("kind: Deployment", "kind: Pod"), "a.yaml").all_errors()
    assert "unknown kind 'Pod'" in err[1] and "kind: Deployment" in err[1]
    assert err[0].line == 2
    (err,) = load_text(GOOD.replace("kind: Deployment\n", ""), "a.yaml").all_errors()
    assert err[1].startswith("missing 'kind'")


def test_documents_that_are_not_mappings_are_errors() -> None:
    (err,) = load_text("- just\n- a list\n", "l.yaml").all_errors()
    assert "must be a mapping" in err[1]


def test_python_object_tags_are_refused_not_constructed() -> None:
    text = GOOD.replace("replicas: 2", "replicas: !!python/object/apply:os.system [id]")
    (err,) = load_text(text, "evil.yaml").errors
    assert "unsupported YAML tag" in err[1] and err[0].line == 6


def test_alias_bombs_are_refused_quickly() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i, name in enumerate("bcdefghij"):
        prev = "abcdefghij"[i]
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    (err,) = load_text("\n".join(lines) + "\n", "bomb.yaml").errors
    assert "too large" in err[1]


def test_duplicate_keys_are_refused_with_both_lines() -> None:
    (err,) = load_text(GOOD + "spec: {}\n", "dup.yaml").errors
    assert err[0].line == 10 and "first at line 5" in err[1]


def test_merge_keys_share_settings_between_documents() -> None:
    text = GOOD.replace("  replicas: 2\n", "  <<: {replicas: 3}\n")
    (doc,) = load_text(text, "m.yaml").documents
    assert doc.resource is not None and doc.resource.spec.replicas == 3


def test_yaml_1_2_keeps_yes_no_on_as_strings_and_reads_leading_zeros_as_decimal() -> None:
    text = GOOD.replace('command: [srv, --port, "{PORT}"]', 'command: [srv, "{PORT}", no, yes, on]')
    text = text.replace("replicas: 2", "replicas: 010")
    (doc,) = load_text(text, "y.yaml").documents
    assert doc.resource is not None
    assert doc.resource.spec.backend.command == ["srv", "{PORT}", "no", "yes", "on"]  # type: ignore[union-attr]
    assert doc.resource.spec.replicas == 10


def test_files_over_the_size_limit_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * (2 * 1024 * 1024))
    (err,) = load_file(big).errors
    assert "larger than" in err[1]


def test_non_utf8_files_are_refused_with_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"kind: Deployment\nmetadata: {name: caf\xe9}\n")
    (err,) = load_file(path).errors
    assert "not UTF-8" in err[1]


def test_directories_are_searched_recursively_skipping_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    for rel in ["a.yaml", "sub/b.yml", ".hidden.yaml", ".git/c.yaml", "notes.txt", "a.yaml~"]:
        (tmp_path / rel).write_text("x: 1\n")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_resource_files([tmp_path])]
    assert found == ["a.yaml", "sub/b.yml"]


def test_the_same_name_in_two_files_is_an_error_pointing_at_both() -> None:
    first = load_text(GOOD, "a.yaml")
    second = load_text("# comment\n" + GOOD, "b.yaml")
    (err,) = find_duplicate_names([first, second])
    assert err[0].file == "b.yaml" and err[0].line == 2
    assert "already defined at a.yaml:1" in err[1]


def test_a_router_and_a_deployment_may_share_a_name() -> None:
    router = load_text(
        "apiVersion: sgorch.io/v1alpha1\nkind: Router\nmetadata: {name: demo}\n", "r"
    )
    assert find_duplicate_names([load_text(GOOD, "a"), router]) == []


@pytest.mark.parametrize("text", ["", "---\n", "# only a comment\n"])
def test_empty_files_define_nothing_and_are_not_errors(text: str) -> None:
    result = load_text(text, "e.yaml")
    assert result.ok and result.documents == ()


def test_dump_puts_kind_first_and_round_trips() -> None:
    (doc,) = load_text(GOOD, "a.yaml").documents
    assert doc.resource is not None
    text = dump_resources([doc.resource])
    assert text.splitlines()[:2] == ["apiVersion: sgorch.io/v1alpha1", "kind: Deployment"]
    (again,) = load_text(text, "b.yaml").documents
    assert again.resource == doc.resource
