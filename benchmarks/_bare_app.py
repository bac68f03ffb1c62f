"""The peer for benchmarks/api_core.py: a bare FastAPI app, the ceiling for any FastAPI endpoint.

Run by the benchmark as ``uvicorn --app-dir benchmarks _bare_app:app`` (1 worker, no access log).

* ``GET /ping`` - an ``async def`` endpoint returning a small JSON object: no middleware, no
  dependencies, no database, no thread pool. Nothing served by FastAPI on the same uvicorn can be faster.
* ``GET /ping-sync`` - the same as a plain ``def`` endpoint, which FastAPI runs in its thread pool
  (as it does CityAI's synchronous routes and dependencies): the cost of exactly one thread-pool hop
  (neither endpoint has a return annotation, so FastAPI adds no response validation, which for a sync
  endpoint would be a second hop).
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/ping")
async def ping():  # no return annotation: FastAPI adds no response validation
    return {"ok": True, "service": "bare-fastapi"}


@app.get("/ping-sync")
def ping_sync():
    return {"ok": True, "service": "bare-fastapi"}
