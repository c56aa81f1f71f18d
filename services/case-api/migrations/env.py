from ictg_cases.models import SCHEMA, Model
from ictg_common.migrate import run_env

run_env(Model.metadata, SCHEMA)
