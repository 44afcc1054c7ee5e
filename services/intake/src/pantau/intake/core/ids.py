"""Deterministic report ids: a retry of the same report gets the same id, with no storage."""

import uuid

# Fixed namespace for uuid5; changing it would change every report id.
REPORT_ID_NAMESPACE = uuid.UUID("6f1d2b8e-6c1e-5b5e-9f43-2f4f1f6a9c10")


def report_id_for(*, client_id: str, client_report_id: str) -> str:
    """``rpt_<32 hex>`` derived from who sent it and the id the client chose."""
    # The separator cannot occur in a token subject or a UUID, so distinct
    # (client, id) pairs never collide by concatenation.
    name = f"{client_id}\x1f{client_report_id.lower()}"
    return f"rpt_{uuid.uuid5(REPORT_ID_NAMESPACE, name).hex}"
