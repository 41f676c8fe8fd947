"""``python -m sgorch.router``: the router without the rest of the SGOrch CLI."""

import argparse
import sys

from .cli import add_router_arguments, run_router

parser = argparse.ArgumentParser(
    prog="python -m sgorch.router",
    description="Run the SGOrch router: one OpenAI-compatible endpoint in front of many workers.",
)
add_router_arguments(parser)
sys.exit(run_router(parser.parse_args()))
