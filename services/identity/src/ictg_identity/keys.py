"""The token service's signing keys: ES256, a current key that signs and a next key already published,
so a rotation fails no request.

- The JWKS (`/.well-known/jwks.json`) lists the current key, the next key, and every key retired
  within a token's life (plus a margin): a token signed just before a rotation still verifies.
- `rotate`: the next key becomes current, the current one is retired, a new next key is made. A
  service that has not seen the new current key yet meets an unknown `kid` and refetches the JWKS
  (`ictg_common.issuers`), but it has usually had it for a whole rotation period already.
- Private parts are stored encrypted (Fernet, a key derived from `ICTG_IDENTITY_KEY_SECRET`).

Command line: `python -m ictg_identity.keys rotate` (or `show`), against `ICTG_DATABASE_URL`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import secrets
import sys
import time
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet
from joserfc import jwk
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ictg_common.clock import utcnow

from .models import SigningKey

RETIRED_MARGIN = timedelta(minutes=5)  # beyond a token's life (and the verifiers' clock leeway)


def _fernet(secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


def _new_key(fernet: Fernet, now: datetime, *, current: bool) -> SigningKey:
    kid = f"{now:%Y%m%d}-{secrets.token_hex(6)}"
    key = jwk.ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256", "use": "sig"}, private=True)
    return SigningKey(
        kid=kid,
        private_jwk=fernet.encrypt(json.dumps(key.as_dict(private=True)).encode()).decode(),
        public_jwk=key.as_dict(private=False),
        created_at=now,
        activated_at=now if current else None,
    )


class KeyStore:
    """Reads and rotates the signing keys in the `identity` schema."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, secret: str, token_seconds: int) -> None:
        self.sessionmaker = sessionmaker
        self.fernet = _fernet(secret)
        self.token_seconds = token_seconds
        self._published: tuple[float, dict[str, Any]] | None = None

    async def _locked(self, session: AsyncSession) -> None:
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('identity:keys'))"))

    async def _live(self, session: AsyncSession) -> tuple[SigningKey | None, SigningKey | None]:
        rows = (await session.execute(select(SigningKey).where(SigningKey.retired_at.is_(None)))).scalars().all()
        current = next((k for k in rows if k.activated_at is not None), None)
        upcoming = next((k for k in rows if k.activated_at is None), None)
        return current, upcoming

    async def ensure(self) -> None:
        """A current and a next key exist (made at first start)."""
        async with self.sessionmaker() as session, session.begin():
            await self._locked(session)
            current, upcoming = await self._live(session)
            now = utcnow()
            if current is None:
                session.add(_new_key(self.fernet, now, current=True))
            if upcoming is None:
                session.add(_new_key(self.fernet, now, current=False))

    async def rotate(self) -> str:
        """The next key signs from now on; the current one is retired (still published for a while).
        Returns the new current key's kid."""
        async with self.sessionmaker() as session, session.begin():
            await self._locked(session)
            current, upcoming = await self._live(session)
            now = utcnow()
            if upcoming is None:
                upcoming = _new_key(self.fernet, now, current=False)
                session.add(upcoming)
                await session.flush()
            if current is not None:
                await session.execute(update(SigningKey).where(SigningKey.kid == current.kid).values(retired_at=now))
            await session.execute(update(SigningKey).where(SigningKey.kid == upcoming.kid).values(activated_at=now))
            session.add(_new_key(self.fernet, now, current=False))
            kid = upcoming.kid
        return kid

    async def signing(self) -> jwk.KeySet:
        """The current key (private), as a key set of one: what signs access tokens. Read at every token
        request (one small query), so every replica signs with the new key as soon as it is rotated."""
        async with self.sessionmaker() as session:
            current, _ = await self._live(session)
        if current is None:
            await self.ensure()
            return await self.signing()
        data = json.loads(self.fernet.decrypt(current.private_jwk.encode()))
        return jwk.KeySet([jwk.ECKey.import_key(data)])

    async def published(self) -> dict[str, Any]:
        """The public JWKS: current, next, and keys retired within a token's life (plus a margin). Kept
        for a second: anyone may ask, and asking must not cost a query each time."""
        if self._published is not None and time.monotonic() - self._published[0] < 1.0:
            return self._published[1]
        since = utcnow() - timedelta(seconds=self.token_seconds) - RETIRED_MARGIN
        async with self.sessionmaker() as session:
            rows = (
                (
                    await session.execute(
                        select(SigningKey)
                        .where((SigningKey.retired_at.is_(None)) | (SigningKey.retired_at > since))
                        .order_by(SigningKey.created_at.desc(), SigningKey.kid)
                    )
                )
                .scalars()
                .all()
            )
        published = {"keys": [dict(k.public_jwk) for k in rows]}
        self._published = (time.monotonic(), published)
        return published


async def _main(command: str) -> int:
    from ictg_common.db import create_engine, create_sessionmaker

    from .settings import IdentitySettings

    settings = IdentitySettings()
    engine = create_engine(settings.database_url)
    store = KeyStore(
        create_sessionmaker(engine), secret=settings.key_secret.get_secret_value(), token_seconds=settings.token_seconds
    )
    try:
        await store.ensure()
        if command == "rotate":
            print(f"signing with {await store.rotate()} from now on")
        print(json.dumps(await store.published(), indent=2))
    finally:
        await engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ictg_identity.keys", description="The token service's signing keys (ICTG_DATABASE_URL)."
    )
    parser.add_argument("command", choices=["show", "rotate"], help="show the published keys, or rotate them")
    args = parser.parse_args(argv)
    return asyncio.run(_main(args.command))


if __name__ == "__main__":
    sys.exit(main())
