"""Answers that go out as they were built: a pydantic model that documents and checks an answer, whose
JSON form (`wire()`) keeps its fields in the order they were given, leaves out those never given, and
keeps numbers as computed (an int stays an int in a float field: a whole-number quantile is 2, not 2.0)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_serializer,
    model_validator,
)


def _as_given(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Checked by the field's type, kept as computed: an int stays an int in a float field."""
    handler(value)
    return value


Number = Annotated[float, WrapValidator(_as_given)]
Count = Annotated[int, WrapValidator(_as_given)]


class Shaped(BaseModel):
    """A part of an answer that goes out as it was built (`wire()`): its fields in the order given."""

    _given: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        model = handler(data)
        if isinstance(data, dict) and isinstance(model, Shaped):
            model._given = tuple(data)
        return model

    # No return annotation: pydantic would document it as the answer's schema instead of the fields'.
    @model_serializer(mode="wrap")
    def _in_given_order(self, handler: SerializerFunctionWrapHandler):
        out: dict[str, Any] = handler(self)
        aliases = {name: field.alias or name for name, field in type(self).model_fields.items()}
        first = [aliases.get(k, k) for k in self._given]
        return {**{k: out[k] for k in first if k in out}, **out}

    def wire(self) -> dict[str, Any]:
        """The JSON body: by alias, only the fields given, in the order given."""
        return self.model_dump(by_alias=True, exclude_unset=True)
