"""Functions over a table's rows, generated from its declaration (schema.py) once, at import, as
Python source, the way dataclasses generate __init__: the write path and the change feeds run them
on every row, and code that names a slot (`row.vegetable`) is read twice as fast as
operator.attrgetter reads it, a row built from named values quicker than from `*values`."""

from collections.abc import Callable, Collection
from typing import Any

from .schema import Table, Type


def compiled(name: str, parameters: str, expression: str, **namespace: Any) -> Callable[..., Any]:
    """`def name(parameters): return expression`, with `namespace` as its globals."""
    scope: dict[str, Any] = {}
    exec(f"def {name}({parameters}):\n    return {expression}\n", namespace, scope)
    return scope[name]  # type: ignore[no-any-return]


def fields(table: Table, prefix: str = "") -> list[str]:
    return [prefix + column.name for column in table.row_columns]


def tuple_of(values: list[str]) -> str:
    return values[0] if len(values) == 1 else f"({', '.join(values)},)"


def key_function(table: Table) -> Callable[[Any], Any]:
    """A row's key: the value of its key column, or a tuple of them (as the row class's `key`)."""
    return compiled(f"{table.name}_key", "row", tuple_of([f"row.{name}" for name in table.key]))


def group_function(table: Table) -> Callable[[Any], Any] | None:
    """A row's group (Table.group), if its table has one."""
    return compiled(f"{table.name}_group", "row", f"row.{table.group}") if table.group else None


def values_function(table: Table) -> Callable[[Any], tuple[Any, ...]]:
    """A row's values, in the order of its fields."""
    return compiled(f"{table.name}_values", "row", f"({', '.join(fields(table, 'row.'))},)")


def values_lists(table: Table, after: str = "") -> Callable[..., list[tuple[Any, ...]]]:
    """`(rows[, after])`: each row's values, in the order of its fields, then the value `after` names."""
    values = ", ".join(fields(table, "row.") + ([after] if after else []))
    parameters = f"rows, {after}" if after else "rows"
    return compiled(f"{table.name}_values_lists", parameters, f"[({values},) for row in rows]")


def column_lists(table: Table) -> Callable[..., list[list[Any]]]:
    """`(rows)`: the rows' values as one list per field, in the order of the fields."""
    lists = ", ".join(f"[row.{name} for row in rows]" for name in fields(table))
    return compiled(f"{table.name}_column_lists", "rows", f"[{lists}]")


def rows_reader(
    table: Table, flags_as_integers: bool = False, skipped: int = 0, given: Collection[str] = ()
) -> Callable[..., list[Any]]:
    """`(value_tuples, *given)`: the rows of tuples of their values, in the order of their fields
    after `skipped` leading values and without the `given` columns, whose values are passed instead;
    a FLAG read back as 0 or 1 made a bool when `flags_as_integers`."""
    names = fields(table)
    read = [f"_{number}" for number in range(skipped)] + [name for name in names if name not in given]
    flags = {column.name for column in table.row_columns if column.type is Type.FLAG} if flags_as_integers else set()
    made = ", ".join(f"{name} == 1" if name in flags else name for name in names)
    return compiled(
        f"read_{table.name}",
        ", ".join(["value_tuples", *given]),
        f"[row({made}) for ({', '.join(read)},) in value_tuples]",
        row=table.row,
    )
