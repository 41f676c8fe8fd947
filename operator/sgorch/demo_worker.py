"""A demo inference worker — NOT a model. It speaks enough of the OpenAI API to show
SGOrch end to end on a laptop: chat and completions echo the last message (optionally
streamed as SSE), embeddings are deterministic hashes of the input. The quickstart and
the end-to-end tests run it as the engine of a ``command`` Deployment.

    python -m sgorch.demo_worker --host 127.0.0.1 --port 8001 --model demo
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import time
from typing import Any

from aiohttp import web

__all__ = ["build_app", "embed", "main"]

EMBEDDING_DIM = 16


def embed(text: str, dim: int = EMBEDDING_DIM) -> list[float]:
    """A unit vector derived from the SHA-256 of ``text``: same text, same vector."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    raw = [(digest[i % len(digest)] - 127.5) / 127.5 for i in range(dim)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [round(x / norm, 6) for x in raw]


def _last_user_text(body: dict[str, Any]) -> str:
    if "messages" in body:
        messages = body.get("messages") or [{}]
        content = messages[-1].get("content", "")
        return content if isinstance(content, str) else json.dumps(content)
    prompt = body.get("prompt", "")
    return prompt if isinstance(prompt, str) else json.dumps(prompt)


def build_app(model: str, *, chunk_delay_s: float = 0.02) -> web.Application:
    """The demo worker's routes, serving ``model``."""
    started = time.time()

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "model": model})

    async def models(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {
                        "id": model,
                        "object": "model",
                        "created": int(started),
                        "owned_by": "sgorch-demo",
                    }
                ],
            }
        )

    async def generate(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        text = "echo: " + _last_user_text(body)
        chat = request.path.endswith("/chat/completions")
        created = int(time.time())
        if not body.get("stream"):
            choice: dict[str, Any] = (
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
                if chat
                else {"index": 0, "text": text, "finish_reason": "stop"}
            )
            return web.json_response(
                {
                    "id": f"demo-{created}",
                    "object": "chat.completion" if chat else "text_completion",
                    "created": created,
                    "model": model,
                    "choices": [choice],
                    "usage": {
                        "prompt_tokens": len(text.split()),
                        "completion_tokens": len(text.split()),
                        "total_tokens": 2 * len(text.split()),
                    },
                }
            )
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        for word in text.split(" "):
            delta: dict[str, Any] = (
                {"index": 0, "delta": {"content": word + " "}}
                if chat
                else {"index": 0, "text": word + " "}
            )
            chunk = {
                "id": f"demo-{created}",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [delta],
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await asyncio.sleep(chunk_delay_s)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def embeddings(request: web.Request) -> web.Response:
        body = await request.json()
        inputs = body.get("input", "")
        texts = inputs if isinstance(inputs, list) else [inputs]
        data = [
            {"object": "embedding", "index": i, "embedding": embed(str(t))}
            for i, t in enumerate(texts)
        ]
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": 0, "total_tokens": 0},
            }
        )

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", generate)
    app.router.add_post("/v1/completions", generate)
    app.router.add_post("/v1/embeddings", embeddings)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sgorch.demo_worker",
        description="Demo OpenAI-compatible worker (echo chat, hash embeddings); not a model.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--model", default="demo", help="model name to serve (default demo)")
    parser.add_argument(
        "--startup-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="sleep before listening, to imitate a model load",
    )
    args = parser.parse_args(argv)
    if args.startup_delay:
        time.sleep(args.startup_delay)
    web.run_app(build_app(args.model), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
