"""problem+json errors, bearer auth and the ops endpoints, on a throwaway FastAPI app."""

from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from pantau.shared.auth import Principal, Role, issue_token
from pantau.shared.health import ops_router
from pantau.shared.http import PROBLEM_JSON, Problem, bearer_auth, install_problem_handlers

SECRET = "h" * 40


class Body(BaseModel):
    count: int


def make_app(*, ready: bool) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    async def check() -> bool:
        return ready

    async def broken() -> bool:
        raise ConnectionError("down")

    app.include_router(ops_router({"store": check, **({} if ready else {"broker": broken})}))
    liaison_or_operator = bearer_auth(
        secret=lambda: SECRET, issuer="pantau", roles=[Role.LIAISON, Role.OPERATOR]
    )

    @app.post("/things")
    async def things(body: Body, who: Annotated[Principal, Depends(liaison_or_operator)]) -> dict:
        if body.count > 3:
            raise Problem(409, "Too many", "at most 3", type_="https://pantau.id/problems/x")
        return {"who": who.subject}

    return app


def token(role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(secret=SECRET, issuer='pantau', role=role)}"}


def test_missing_token_is_a_401_problem():
    res = TestClient(make_app(ready=True)).post("/things", json={"count": 1})
    assert res.status_code == 401
    assert res.headers["content-type"] == PROBLEM_JSON
    assert res.headers["www-authenticate"] == "Bearer"
    assert res.json()["title"] == "Authentication required"


def test_wrong_role_is_a_403_problem():
    res = TestClient(make_app(ready=True)).post(
        "/things", json={"count": 1}, headers=token(Role.MONITOR)
    )
    assert res.status_code == 403
    assert "monitor" in res.json()["detail"]


def test_garbage_token_is_a_401_problem():
    res = TestClient(make_app(ready=True)).post(
        "/things", json={"count": 1}, headers={"Authorization": "Bearer nope"}
    )
    assert res.status_code == 401 and res.json()["title"] == "Invalid token"


def test_validation_errors_name_the_field():
    res = TestClient(make_app(ready=True)).post(
        "/things", json={"count": "many"}, headers=token(Role.OPERATOR)
    )
    assert res.status_code == 422
    assert res.headers["content-type"] == PROBLEM_JSON
    assert res.json()["errors"][0]["field"] == "count"


def test_domain_problem_and_unknown_route_are_problem_json():
    client = TestClient(make_app(ready=True))
    res = client.post("/things", json={"count": 9}, headers=token(Role.LIAISON))
    assert (res.status_code, res.json()["type"]) == (409, "https://pantau.id/problems/x")
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM_JSON


def test_readyz_reports_each_dependency():
    assert TestClient(make_app(ready=True)).get("/readyz").json() == {
        "status": "ready",
        "checks": {"store": True},
    }
    res = TestClient(make_app(ready=False)).get("/readyz")
    assert res.status_code == 503
    assert res.json()["checks"] == {"store": False, "broker": False}


def test_healthz_and_metrics_answer():
    client = TestClient(make_app(ready=False))
    assert client.get("/healthz").status_code == 200
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "python_info" in metrics.text


def test_asyncapi_lists_the_subscribed_topic():
    from faststream.kafka import KafkaBroker

    from pantau.shared.health import asyncapi_router

    broker = KafkaBroker("127.0.0.1:1")

    @broker.subscriber("pantau.reports.submitted", group_id="g")
    async def handle(body: bytes) -> None: ...

    app = FastAPI()
    app.include_router(asyncapi_router(broker, title="Pantau test", version="1.2.3"))
    doc = TestClient(app).get("/asyncapi.json").json()
    assert doc["info"] == {"title": "Pantau test", "version": "1.2.3"} | {
        k: v for k, v in doc["info"].items() if k not in ("title", "version")
    }
    assert any("pantau.reports.submitted" in str(c) for c in doc["channels"].values())
