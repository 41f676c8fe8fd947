"""Views for humans: ``sgorch get``, ``describe``, ``logs`` and ``wait``, rendered from the
status and event files alone (no running operator needed). Rendering is pure; the few
readers are plain blocking I/O, as befits a command-line program."""

from sgorch.views.commands import add_view_commands
from sgorch.views.describe import render_description
from sgorch.views.documents import StatusFile, list_status_files, read_status_file
from sgorch.views.get import render_deployment_table, render_router_table

__all__ = [
    "StatusFile",
    "add_view_commands",
    "list_status_files",
    "read_status_file",
    "render_deployment_table",
    "render_description",
    "render_router_table",
]
