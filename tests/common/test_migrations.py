"""Each service's alembic history builds exactly the schema its models describe (no drift)."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData

from ictg_cases.models import Model as CasesModel
from ictg_common.db import create_engine
from ictg_identity.models import Model as IdentityModel
from ictg_intake.models import Model as IntakeModel
from ictg_metrics.models import Model as MetricsModel
from ictg_webhooks.models import Model as WebhooksModel


@pytest.mark.parametrize(
    "metadata",
    [IntakeModel.metadata, CasesModel.metadata, MetricsModel.metadata, WebhooksModel.metadata, IdentityModel.metadata],
    ids=["intake", "cases", "metrics", "webhooks", "identity"],
)
async def test_migrations_match_the_models(database_url: str, metadata: MetaData) -> None:
    schema = metadata.schema
    engine = create_engine(database_url, pool_size=1)

    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(
            sync_conn,
            opts={
                "include_schemas": True,
                "version_table_schema": schema,
                "include_name": lambda name, kind, _parent: kind != "schema" or name == schema,
            },
        )
        return list(compare_metadata(context, metadata))

    async with engine.connect() as conn:
        found = await conn.run_sync(diff)
        assert found == []
    await engine.dispose()
