"""What the REST API's endpoints share: parameter types, documented errors, error helpers."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import HTTPException, Path, Query, status
from fastapi.exceptions import RequestValidationError

from socialcrm.web.api_models import MAX_ID, Error

MAX_LIMIT: Final = 200
DEFAULT_LIMIT: Final = 50
# no NUL: PostgreSQL refuses it in text, and no filter value needs it
NO_NUL: Final = r"^[^\x00]*$"

ItemId = Annotated[int, Path(ge=1, le=MAX_ID, description="The item's id.")]
Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"At most this many items (≤ {MAX_LIMIT}).")
]
After = Annotated[
    int | None,
    Query(ge=1, le=MAX_ID, description="The `next` of the previous page (keyset cursor)."),
]
Word = Annotated[str | None, Query(max_length=255, pattern=NO_NUL)]

# every endpoint behind a token can answer these
AUTH_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    status.HTTP_401_UNAUTHORIZED: {
        "model": Error,
        "description": "No token, or an unknown or revoked one.",
    },
    status.HTTP_403_FORBIDDEN: {"model": Error, "description": "The token lacks the scope."},
}
NOT_FOUND: Final[dict[int | str, dict[str, Any]]] = {
    status.HTTP_404_NOT_FOUND: {"model": Error, "description": "No item has this id."},
}


def not_found(what: str, item_id: int) -> HTTPException:
    """A 404 naming what was missing."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} {item_id} does not exist")


def invalid(where: str, name: str, message: str) -> RequestValidationError:
    """A 422 in FastAPI's own shape (as documented), for a value only our code can judge."""
    return RequestValidationError([{"loc": (where, name), "msg": message, "type": "value_error"}])
