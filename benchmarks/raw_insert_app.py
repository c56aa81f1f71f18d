"""The raw ceiling the intake benchmark compares with: a FastAPI app doing one asyncpg
`INSERT … RETURNING` per request on the same Postgres (no validation, auth, duplicates, audit or outbox).

Run by the benchmark with uvicorn in its own process, as intake is: `RAW_DATABASE_URL` names the database.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

POOL: dict[str, asyncpg.Pool] = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(os.environ["RAW_DATABASE_URL"], min_size=10, max_size=10)
    assert pool is not None
    await pool.execute(
        "CREATE TABLE IF NOT EXISTS public.raw_referral "
        "(id uuid PRIMARY KEY DEFAULT gen_random_uuid(), received_at timestamptz DEFAULT now(), body jsonb)"
    )
    POOL["db"] = pool
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.post("/v1/referrals", status_code=201)
async def create(request: Request) -> Any:
    body = await request.json()
    row = await POOL["db"].fetchrow(
        "INSERT INTO public.raw_referral (body) VALUES ($1::jsonb) RETURNING id, received_at", json.dumps(body)
    )
    return JSONResponse({"id": str(row["id"]), "received_at": row["received_at"].isoformat()}, status_code=201)
