"""A bare stand-in for intake and reporting: the generator's calibration target.

It answers like the real APIs (202 ``{"report_id"}``; a read model with a
``classification``) and does nothing else, so driving it measures the generator,
not Pantau. Run: ``python -m pantau.bench.stub PORT``.
"""

import sys
import uuid

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def create_app() -> FastAPI:
    """The stand-in app: accepts any JSON report, knows every report as classified."""
    app = FastAPI()

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/v1/reports", status_code=202)
    async def submit(request: Request) -> JSONResponse:
        body = await request.json()
        if "client_report_id" not in body:
            return JSONResponse({"title": "missing client_report_id"}, status_code=422)
        return JSONResponse({"report_id": f"rpt_{uuid.uuid4().hex}"}, status_code=202)

    @app.get("/v1/reports/{report_id}")
    async def read(report_id: str) -> dict[str, object]:
        return {
            "report_id": report_id,
            "classification": {"category": "logistik", "severity": "medium"},
            "alerts": [],
        }

    return app


def main(argv: list[str]) -> None:
    """Serve on 127.0.0.1:PORT until interrupted."""
    uvicorn.run(create_app(), host="127.0.0.1", port=int(argv[1]), log_level="warning")


if __name__ == "__main__":
    main(sys.argv)
