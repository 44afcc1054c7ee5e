"""schemathesis against intake's own OpenAPI schema: no 5xx, no response off the schema.

Runs with the fake publisher (the schema, not Kafka, is under test). The SMS webhook
is exercised unsigned, so there only its 401/422 answers are checked.
"""

import os
from uuid import uuid4

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pantau.intake.main import create_app
from pantau.shared.auth import Role, issue_token
from pantau.shared.identity import generate_key

from ..conftest import make_config
from ..fakes import FakePublisher

_ENV = {
    "PANTAU_KAFKA_BOOTSTRAP": "127.0.0.1:1",
    "PANTAU_AUTH_SECRET": uuid4().hex + uuid4().hex,
    "PANTAU_IDENTITY_KEYS": f"schema:{generate_key()}",
    "PANTAU_ENV_FILE": "/nonexistent",
    "PANTAU_SMS_WEBHOOK_SECRET": "schemathesis-" + uuid4().hex,
}
_CONFIG = make_config(_ENV, client_rate_limit="1000000/minute", public_rate_limit="1000000/minute")
_TOKEN = issue_token(
    secret=_CONFIG.auth_secret.get_secret_value(),
    issuer=_CONFIG.token_issuer,
    role=Role.MONITOR,
    subject="schemathesis",
)
_APP = create_app(_CONFIG, publisher=FakePublisher())
schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
MAX_EXAMPLES = int(os.environ.get("PANTAU_SCHEMATHESIS_EXAMPLES", "60"))


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {_TOKEN}"}, checks=CHECKS)
