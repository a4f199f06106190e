"""Plain SQL statements for the few reads and writes on every rater request.

Building a query costs the ORM more CPU than the database spends answering it: reading a task with
its rater, their study and the prompt through ``select_related`` took 1.5 ms of process CPU here,
against 0.2 ms for the same row read with a plain statement and made into the same model instances
(``benchmarks/request_cpu.py``; a trivial Django request costs about 0.4 ms). So the rater's hot path
(claim, task page, clip audio, submit: README, Benchmarks) writes its statements here or with these
helpers: columns and tables named from the models' own metadata, values prepared by their fields as the
ORM's save would, results converted as the ORM's compiler would (JSON, and SQLite's dates and
booleans), instances linked as ``select_related`` would. They run on SQLite and PostgreSQL alike
(tests/ratings/test_plain_sql.py holds them to the ORM's answers), but for the few that say they are
PostgreSQL's (a write in a WITH clause: writes_in_with); everything else uses the ORM.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model


def _db():
    """The default database's own wrapper. Each attribute read through ``django.db.connection`` goes
    through a proxy to a per-context object: a submit made about 90 such reads (preparing its 45
    values, converting its rows), a seventh of its view's CPU (benchmarks/request_cpu.py --profile)."""
    return connections[DEFAULT_DB_ALIAS]


@cache
def _fields(model: type[Model]) -> tuple:
    return tuple(model._meta.concrete_fields)


def columns(model: type[Model], alias: str) -> str:
    """The model's columns, in its fields' order, as ``alias.column, …`` for a SELECT list."""
    return _column_list(model, alias, None, _db().vendor)


def some_columns(model: type[Model], alias: str, names: tuple[str, ...]) -> str:
    """These fields' columns, in this order, as ``alias.column, …`` for a SELECT list (partial)."""
    return _column_list(model, alias, names, _db().vendor)


@cache
def _column_list(model: type[Model], alias: str, names: tuple[str, ...] | None, vendor: str) -> str:
    """columns (names None: every field) or some_columns, made once per database vendor."""
    quote_name = _db().ops.quote_name
    fields = _fields(model) if names is None else named_fields(model, names)
    return ", ".join(f"{alias}.{quote_name(field.column)}" for field in fields)


def column(model: type[Model], name: str) -> str:
    """One field's column, quoted, for a WHERE or SET clause."""
    return _db().ops.quote_name(model._meta.get_field(name).column)


def prepared(model: type[Model], name: str, value: object) -> object:
    """A value for one field's column, prepared by the field as the ORM's save would."""
    return model._meta.get_field(name).get_db_prep_save(value, _db())


def table(model: type[Model]) -> str:
    return _db().ops.quote_name(model._meta.db_table)


def placeholders(count: int) -> str:
    """``%s, %s, …`` for an IN list of this many values."""
    return ", ".join(["%s"] * count)


def for_update(skip_locked: bool = False, of: str = "") -> str:
    """The row-locking clause where the database has one (PostgreSQL); SQLite serialises its writers
    and has none. ``of``: the aliases to lock, the others read unlocked (``"r"``, ``"r, t"``)."""
    db = _db()
    if not db.features.has_select_for_update:
        return ""
    clause = " FOR UPDATE"
    if of and db.features.has_select_for_update_of:
        clause += f" OF {of}"
    if skip_locked and db.features.has_select_for_update_skip_locked:
        clause += " SKIP LOCKED"
    return clause


def execute(sql: str, params: Sequence) -> int:
    """Run one statement; the rows it changed (for a conditional UPDATE, whether it took)."""
    with _db().cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def tuples(sql: str, params: Sequence) -> list[tuple]:
    """Run a SELECT of plain columns (ids, counts, text) and return its rows as the database gives them."""
    with _db().cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def field_converters(field) -> tuple[list, object]:
    """The converters the ORM applies to a column of this field as the database returns it (none for
    most), with the column expression they take."""
    db = _db()
    column = field.get_col(field.model._meta.db_table)
    return db.ops.get_db_converters(column) + column.get_db_converters(db), column


_CONVERTERS: dict[tuple[tuple, str], list] = {}


def _converters(fields: tuple) -> list[tuple[int, list, object]]:
    """(index, converters, column) of each of these fields whose database value needs converting, as
    the ORM's compiler finds them (backend's, then field's). Per connection vendor, found once."""
    key = (fields, _db().vendor)
    if key not in _CONVERTERS:
        found = [(index, *field_converters(field)) for index, field in enumerate(fields)]
        _CONVERTERS[key] = [(index, converters, column) for index, converters, column in found if converters]
    return _CONVERTERS[key]


def converted(fields: tuple, row: Sequence) -> list:
    """A row's values of these fields (in this order), converted as the ORM's compiler would."""
    db = _db()
    values = list(row)
    for index, converters, column in _converters(fields):
        for converter in converters:
            values[index] = converter(values[index], column, db)
    return values


def values(sql: str, params: Sequence, fields: Sequence) -> list[list]:
    """Run a SELECT of these model fields' columns and return each row's values as the ORM would."""
    fields = tuple(fields)
    return [converted(fields, row) for row in tuples(sql, params)]


def locked_fields(model: type[Model], pk: int, field_names: Sequence[str]) -> list:
    """Lock one row (FOR UPDATE where the database has row locks) and read these fields of it, converted
    as the ORM would; the model's DoesNotExist when the row is gone."""
    names = tuple(field_names)
    pk_column = column(model, model._meta.pk.name)
    found = values(
        f"SELECT {some_columns(model, 'x', names)} FROM {table(model)} x WHERE x.{pk_column} = %s{for_update()}",
        [pk],
        named_fields(model, names),
    )
    if not found:
        raise model.DoesNotExist(f"{model._meta.model_name} {pk} is gone")
    return found[0]


def instance(model: type[Model], row: Sequence) -> Model:
    """One model instance from its columns' values (in ``columns`` order), as the ORM makes it."""
    return model.from_db(DEFAULT_DB_ALIAS, None, converted(_fields(model), row))


@cache
def named_fields(model: type[Model], names: tuple[str, ...]) -> tuple:
    """The model's fields of these names, in this order (found once)."""
    return tuple(model._meta.get_field(name) for name in names)


def partial(model: type[Model], names: tuple[str, ...], row: Sequence) -> Model:
    """An instance with only these fields read (``some_columns``' order), converted as the ORM would,
    the others deferred as ``only()`` leaves them: reading one costs a query of its own."""
    fields = named_fields(model, names)
    return model.from_db(DEFAULT_DB_ALIAS, [field.attname for field in fields], converted(fields, row))


def rows(sql: str, params: Sequence, model: type[Model]) -> list[Model]:
    """Run a SELECT of ``columns`` of one model and return an instance per row."""
    return [instance(model, row) for row in tuples(sql, params)]


def one_row(sql: str, params: Sequence, models: Sequence[type[Model]]) -> list[Model] | None:
    """Run a SELECT of ``columns`` of each model in turn (one row at most) and return the instances,
    or None when no row matched."""
    found_rows = tuples(sql, params)
    if not found_rows:
        return None
    return instances(found_rows[0], models)


def instances(row: Sequence, models: Sequence[type[Model]]) -> list[Model]:
    """One instance of each model from a row of their ``columns`` in turn (columns after theirs left)."""
    found, start = [], 0
    for model in models:
        width = len(_fields(model))
        found.append(instance(model, row[start : start + width]))
        start += width
    return found


def _column_names(fields: Sequence) -> str:
    """These fields' columns, quoted, as ``column, …`` (an INSERT's or a RETURNING's list)."""
    return ", ".join(_db().ops.quote_name(field.column) for field in fields)


def _insert_sql(model: type[Model], fields: Sequence, count: int) -> str:
    """``INSERT INTO table (columns…) VALUES (%s, …), …`` for `count` rows of these fields."""
    row = f"({placeholders(len(fields))})"
    return f"INSERT INTO {table(model)} ({_column_names(fields)}) VALUES {', '.join([row] * count)}"


def _written_fields(model: type[Model]) -> list:
    """The fields an INSERT of a new instance writes: all but an automatic key (the database numbers
    every row)."""
    automatic = model._meta.auto_field
    return [field for field in _fields(model) if field is not automatic]


def _new_value(new: Model, field, db) -> object:
    """A new instance's value for one field, taken and prepared as the ORM's save() would (``pre_save``:
    ``auto_now_add`` and the like)."""
    return field.get_db_prep_save(field.pre_save(new, True), db)


def _saved(new: Model, db) -> Model:
    """The instance, marked as one the database holds (as the ORM's save() leaves it)."""
    new._state.adding = False
    new._state.db = db.alias
    return new


@dataclass(frozen=True)
class Statement:
    """One SQL statement and its parameters, made here to be run later (``run_writes``)."""

    sql: str
    params: list


def insert_statement(
    model: type[Model], field_names: Sequence[str], records: Sequence[Sequence], suffix: str = ""
) -> Statement:
    """The INSERT of these rows (values in ``field_names``' order), each value prepared for the database
    by its field, as the ORM's save would (no signals, no returned ids); ``suffix`` ends the statement
    (``ON CONFLICT DO NOTHING``). At least one record."""
    assert records, "an INSERT of no rows"
    db = _db()
    fields = [model._meta.get_field(name) for name in field_names]
    params = [
        field.get_db_prep_save(value, db)
        for each in records
        for field, value in zip(fields, each, strict=True)
    ]
    return Statement(_insert_sql(model, fields, len(records)) + suffix, params)


def insert(
    model: type[Model], field_names: Sequence[str], records: Sequence[Sequence], suffix: str = ""
) -> int:
    """INSERT the rows with one plain statement (insert_statement). The rows inserted."""
    if not records:
        return 0
    statement = insert_statement(model, field_names, records, suffix)
    return execute(statement.sql, statement.params)


def run_writes(statements: Sequence[Statement]) -> None:
    """Run these INSERTs and UPDATEs, in order. On PostgreSQL they go as one statement, one round trip:
    each but the last in a WITH clause (``WITH w0 AS (…), w1 AS (…) <last>``), all of them then reading
    the database as it was before any (a WITH's writes see one snapshot), so only writes that read no
    row another of them writes may go together. Elsewhere, one statement each."""
    if not writes_in_with():
        for statement in statements:
            execute(statement.sql, statement.params)
        return
    *first, last = statements
    clauses = ", ".join(f"w{index} AS ({statement.sql})" for index, statement in enumerate(first))
    params = [param for statement in statements for param in statement.params]
    execute(f"WITH {clauses} {last.sql}" if first else last.sql, params)


def returns_rows() -> bool:
    """Whether INSERT and UPDATE can return rows (``RETURNING``): PostgreSQL, and SQLite from 3.35,
    the release that brought it to both."""
    return _db().features.can_return_columns_from_insert


def writes_in_with() -> bool:
    """Whether an INSERT or UPDATE may stand in a WITH clause whose query reads the rows it returns
    (PostgreSQL's data-modifying WITH; SQLite has none)."""
    return _db().vendor == "postgresql"


def create(new: Model) -> Model:
    """INSERT one new instance with one plain statement, every field's value taken and prepared as the
    ORM's save() would (``pre_save``: ``auto_now_add`` and the like), and give it the id the database
    chose where the model's key is automatic (a key set on the instance beforehand is not written: the
    database numbers every row; no signals). The instance, saved."""
    db = _db()
    model = type(new)
    automatic = model._meta.auto_field
    fields = _written_fields(model)
    params = [_new_value(new, field, db) for field in fields]
    sql = _insert_sql(model, fields, 1)
    with db.cursor() as cursor:
        if automatic and returns_rows():
            cursor.execute(f"{sql} RETURNING {db.ops.quote_name(automatic.column)}", params)
            new.pk = cursor.fetchone()[0]
        else:  # (SQLite before 3.35 has no RETURNING; its rowid is the new key)
            cursor.execute(sql, params)
            if automatic:
                new.pk = cursor.lastrowid
    return _saved(new, db)


def create_from(
    new: Model, *, with_clause: str, source: str, computed: dict[str, str], params: Sequence
) -> Model | None:
    """INSERT one new instance from the row of ``source``, a table of ``with_clause`` (``WITH name AS
    (…), …``, its parameters ``params``), in one statement: the fields named in ``computed`` take the
    SQL expression given (``taken.id``, a subquery), every other field the instance's value, prepared
    as create() prepares it. The instance with its id and its computed fields as stored, or None when
    ``source`` had no row (nothing inserted). PostgreSQL only (writes_in_with: its WITH clause may
    hold the UPDATE the row comes from)."""
    assert writes_in_with(), "create_from writes from a WITH clause: PostgreSQL's"
    db = _db()
    model = type(new)
    fields = _written_fields(model)
    select = [computed.get(field.name, "%s") for field in fields]
    values = [_new_value(new, field, db) for field in fields if field.name not in computed]
    read_back = [field for field in fields if field.name in computed]
    found = tuples(
        f"{with_clause} INSERT INTO {table(model)} ({_column_names(fields)}) SELECT {', '.join(select)} "
        f"FROM {source} RETURNING {_column_names([model._meta.auto_field, *read_back])}",
        [*params, *values],
    )
    if not found:
        return None
    new.pk, *stored = found[0]
    for field, value in zip(read_back, converted(tuple(read_back), stored), strict=True):
        setattr(new, field.attname, value)
    return _saved(new, db)


def update_statement(saved: Model, field_names: Sequence[str]) -> Statement:
    """The UPDATE of these fields of one saved instance, each value prepared by its field, as
    ``save(update_fields=…)`` would (no signals)."""
    db = _db()
    meta = type(saved)._meta
    fields = [meta.get_field(name) for name in field_names]
    assignments = ", ".join(f"{db.ops.quote_name(field.column)} = %s" for field in fields)
    params = [field.get_db_prep_save(getattr(saved, field.attname), db) for field in fields]
    pk = db.ops.quote_name(meta.pk.column)
    return Statement(f"UPDATE {table(type(saved))} SET {assignments} WHERE {pk} = %s", [*params, saved.pk])


def update(saved: Model, field_names: Sequence[str]) -> None:
    """UPDATE these fields of one saved instance with one plain statement (update_statement)."""
    statement = update_statement(saved, field_names)
    execute(statement.sql, statement.params)
