"""The status board: a read-only web page over the status directory, served by the
operator on ``--http-port`` (``sgorch.app`` wires it). One self-contained HTML page
polls a small JSON API that returns the status files as the operator wrote them."""

from sgorch.board.app import build_board_app

__all__ = ["build_board_app"]
