"""A fast fake inference worker for the router benchmark (loopback only).

``POST /v1/completions`` answers a small JSON completion at once, or, with
``"stream": true``, ``--chunks`` SSE events ``--chunk-interval-ms`` apart (the first one
immediately). It also answers the discovery calls sglang-router makes at registration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging

from aiohttp import web

COMPLETION = json.dumps(
    {
        "id": "cmpl-bench",
        "object": "text_completion",
        "model": "bench",
        "choices": [{"index": 0, "text": "hello world", "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4},
    }
).encode()

MODEL_INFO = {"model_path": "bench", "tokenizer_path": None, "is_generation": True}


def build_app(chunks: int, interval_s: float) -> web.Application:
    async def completions(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if b'"stream": true' not in body and b'"stream":true' not in body:
            return web.Response(body=COMPLETION, content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for index in range(chunks):
            if index:
                await asyncio.sleep(interval_s)
            event = {"choices": [{"index": 0, "text": f"t{index}"}]}
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def info(request: web.Request) -> web.StreamResponse:
        return web.json_response(MODEL_INFO)

    async def health(request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok")

    async def models(request: web.Request) -> web.StreamResponse:
        return web.json_response({"object": "list", "data": [{"id": "bench", "object": "model"}]})

    app = web.Application()
    app.router.add_post("/v1/completions", completions)
    app.router.add_get("/health", health)
    app.router.add_get("/health_generate", health)
    for path in ("/server_info", "/model_info", "/get_server_info", "/get_model_info"):
        app.router.add_get(path, info)
    app.router.add_get("/v1/models", models)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--chunk-interval-ms", type=float, default=10.0)
    args = parser.parse_args()
    # sglang-router probes for gRPC with an HTTP/2 preface; the parse errors are noise here.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    web.run_app(
        build_app(args.chunks, args.chunk_interval_ms / 1000),
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
