"""Model instances read with one plain SQL statement, for the few reads on every rater request.

Building a query costs the ORM more CPU than the database spends answering it: reading a task with
its rater, their study and the prompt through ``select_related`` took 1.5 ms of process CPU here,
against 0.2 ms for the same row read with a plain statement and made into the same model instances
(``benchmarks/request_cpu.py``; a trivial Django request costs about 0.4 ms). So the rater's hot reads
name their columns from the models' own metadata, run one statement, and turn each model's slice of
the row into an instance with the converters the ORM would apply (JSON, and SQLite's dates and
booleans), then link the instances as ``select_related`` would. Everything else uses the ORM.
"""

from collections.abc import Sequence
from functools import cache

from django.db import connection
from django.db.models import Model


@cache
def _fields(model: type[Model]) -> tuple:
    return tuple(model._meta.concrete_fields)


def columns(model: type[Model], alias: str) -> str:
    """The model's columns, in its fields' order, as ``alias.column, …`` for a SELECT list."""
    return ", ".join(f"{alias}.{connection.ops.quote_name(field.column)}" for field in _fields(model))


def table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _converters(model: type[Model]) -> list[tuple[int, list, object]]:
    """(field index, converters, column) of each field whose database value needs converting, as the
    ORM's compiler finds them (backend's, then field's). Per connection vendor, computed once."""
    found = _CONVERTERS.get((model, connection.vendor))
    if found is None:
        found = []
        for index, field in enumerate(_fields(model)):
            column = field.get_col(model._meta.db_table)
            converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if converters:
                found.append((index, converters, column))
        _CONVERTERS[(model, connection.vendor)] = found
    return found


_CONVERTERS: dict[tuple[type[Model], str], list] = {}


def instance(model: type[Model], values: Sequence) -> Model:
    """One model instance from its columns' values (in ``columns`` order), as the ORM makes it."""
    values = list(values)
    for index, converters, column in _converters(model):
        for converter in converters:
            values[index] = converter(values[index], column, connection)
    return model.from_db(connection.alias, None, values)


def one_row(sql: str, params: Sequence, models: Sequence[type[Model]]) -> list[Model] | None:
    """Run a SELECT of ``columns`` of each model in turn (one row at most) and return the instances,
    or None when no row matched."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    found, start = [], 0
    for model in models:
        width = len(_fields(model))
        found.append(instance(model, row[start : start + width]))
        start += width
    return found
