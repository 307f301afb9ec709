"""Every request body of the API documents an example, and every example is valid."""

from __future__ import annotations

import pytest

from restosync.web.routes import ROUTES

BODIES = sorted({route.body for route in ROUTES if route.body is not None}, key=str)


@pytest.mark.parametrize("model", BODIES, ids=lambda model: model.__name__)
def test_request_bodies_carry_valid_examples(model: type) -> None:
    examples = model.model_json_schema(by_alias=True).get("examples")  # type: ignore[attr-defined]
    assert examples, f"{model.__name__} documents no example"
    for example in examples:
        model.model_validate(example)  # type: ignore[attr-defined]
