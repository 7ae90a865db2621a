"""The baseline of bench/translate.py: a bare FastAPI app, nothing switched off.

* `GET /hello` returns a constant dict (FastAPI's usual path: validation, `jsonable_encoder`,
  `JSONResponse`), the ceiling a FastAPI GET reaches on this machine.
* `POST /echo` reads the raw body, parses it with `json.loads` and answers with the JSON document
  found in the file named by `$BENCH_ECHO_ANSWER` (read once, at startup), serialized compactly
  with `json.dumps` (UTF-8, no spaces, like the gateway's answer): "just parsing and serializing
  the same JSON bodies" over the same HTTP path as the gateway's batch endpoint.
* Both apps carry the gateway's `ServerTiming` middleware, so the server time of each is read
  from the same `Server-Timing: app;dur=…` header.

Started by bench/translate.py as `uvicorn --factory --app-dir bench baseline_app:create_app`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response

from gateway.server_timing import ServerTiming

ANSWER_ENV = "BENCH_ECHO_ANSWER"


def create_app() -> FastAPI:
    """Plain `FastAPI()` defaults; the echo answer is loaded here, once."""
    answer_path = os.environ.get(ANSWER_ENV)
    precomputed: Any = (
        json.loads(Path(answer_path).read_bytes()) if answer_path else {"results": []}
    )
    app = FastAPI()
    app.add_middleware(ServerTiming)

    @app.get("/hello")
    async def hello() -> dict[str, Any]:
        return {"message": "hello", "n": 1}

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        json.loads(await request.body())
        text = json.dumps(precomputed, ensure_ascii=False, separators=(",", ":"))
        return Response(text.encode(), media_type="application/json")

    return app
