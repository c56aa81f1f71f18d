from ictg_common.migrate import run_env
from ictg_identity.models import SCHEMA, Model

run_env(Model.metadata, SCHEMA)
