"""Parse raw Kafka bytes into a contract model, with one error type for all failures."""

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from pantau.shared import __version__

ModelT = TypeVar("ModelT", bound=BaseModel)


class ContractValidationError(ValueError):
    """The payload is not a valid event of the expected type. Retrying will not help."""


def parse_event(raw: bytes | str, model: type[ModelT]) -> ModelT:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise ContractValidationError(
            f"not a valid {model.__name__} (pantau-shared {__version__}): "
            f"{exc.error_count()} error(s): {exc.errors(include_url=False, include_input=False)}"
        ) from exc
