"""The ``vector`` column type, sending vectors to PostgreSQL in binary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pgvector import Vector as VectorValue
from pgvector.sqlalchemy import Vector
from sqlalchemy import ColumnElement, cast, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY, REAL
from sqlalchemy.engine import Dialect

_FLOATS = ARRAY(REAL)


class FastVector(Vector):
    """pgvector's type, but a vector is bound as ``real[]`` (asyncpg encodes it in binary,
    in C) and cast to ``vector`` by the server: formatting 384 floats as text per memory
    was the largest cost of a compile next to the model (``bench/compile.py``). The cast
    is exact (float4 both ways), so the stored vector is the same."""

    cache_ok = True

    def bind_expression(self, bindvalue: Any) -> ColumnElement[Any]:
        return cast(type_coerce(bindvalue, _FLOATS), Vector)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], list[float] | None]:
        def process(value: Any) -> list[float] | None:
            if value is None or isinstance(value, list):
                return value
            if isinstance(value, str):
                return VectorValue.from_text(value).to_list()
            if isinstance(value, VectorValue):
                return value.to_list()
            return VectorValue(value).to_list()  # a numpy array

        return process
