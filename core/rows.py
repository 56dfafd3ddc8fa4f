"""Model instances read with SQL built once per model, for the few lookups every classify request makes.

The ORM compiles a queryset's SQL on every evaluation: for ``Campaign.objects.filter(slug=...).first()`` or a
session or user by key that costs more CPU than PostgreSQL needs to answer. Each volunteer request
makes several such lookups (session, user, campaign, active model versions), and under load that CPU is what
the volunteers wait for. Here the SELECT list and each column's converters are worked out once per
(model, columns, database) and reused; the rows come back as ordinary model instances (``Model.from_db``), so
callers cannot tell the difference. Only the SQL text and converter functions are kept per process: no data.
"""

from __future__ import annotations

from functools import lru_cache

from django.db import connections, router


@lru_cache(maxsize=64)
def _plan(model, alias: str, skip: frozenset[str]):
    connection = connections[alias]
    qn = connection.ops.quote_name
    table = model._meta.db_table
    fields = [f for f in model._meta.concrete_fields if f.attname not in skip and f.name not in skip]
    columns = ", ".join(f"{qn(table)}.{qn(f.column)}" for f in fields)
    converters = []
    for i, field in enumerate(fields):
        col = field.get_col(table)
        found = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
        if found:
            converters.append((i, col, tuple(found)))
    return f"SELECT {columns} FROM {qn(table)}", [f.attname for f in fields], converters


def fetch(model, where: str, params, *, skip: tuple[str, ...] = (), limit: int | None = None) -> list:
    """Instances of ``model`` matching ``where`` (SQL with %s placeholders; columns unqualified or
    table-qualified). Fields named in ``skip`` are left deferred, as ``.defer()`` would."""
    alias = router.db_for_read(model)
    select, attnames, converters = _plan(model, alias, frozenset(skip))
    sql = f"{select} WHERE {where}" + (f" LIMIT {int(limit)}" if limit else "")
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    out = []
    for row in rows:
        if converters:
            row = list(row)
            for i, col, funcs in converters:
                value = row[i]
                for func in funcs:
                    value = func(value, col, connection)
                row[i] = value
        out.append(model.from_db(alias, attnames, row))
    return out


def fetch_one(model, where: str, params, *, skip: tuple[str, ...] = ()):
    """The one instance matching ``where`` (a unique key), or None."""
    found = fetch(model, where, params, skip=skip, limit=1)
    return found[0] if found else None


def fetch_ids(model, ids, *, skip: tuple[str, ...] = ()) -> list:
    """The instances with these primary keys (in no particular order; missing ones left out)."""
    ids = list(ids)
    if not ids:
        return []
    column = model._meta.pk.column
    return fetch(model, f"{column} IN ({', '.join(['%s'] * len(ids))})", ids, skip=skip)
