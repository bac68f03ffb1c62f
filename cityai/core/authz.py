"""Authorization, in one place: every operation is a service function declared with :func:`action`.

``@action("agency.create", scope="write", auth=...)`` registers the operation's name, the token scope
it needs and its auth function (the CKAN model: the auth function sits next to the action). Calling
the service function checks access first; a refusal is written to the audit trail and raised as a
401 (anonymous) or 403 problem. :data:`OPERATIONS` is what the role x operation test enumerates.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

from cityai.core.context import Context
from cityai.core.errors import forbidden, unauthorized

AuthFn = Callable[..., bool]


@dataclass(frozen=True)
class Operation:
    name: str
    scope: str
    auth: AuthFn
    doc: str


OPERATIONS: dict[str, Operation] = {}


def action(name: str, *, scope: str, auth: AuthFn) -> Callable:
    if scope not in ("read", "write", "admin"):
        raise ValueError(f"unknown scope {scope!r}")

    def decorate(fn: Callable) -> Callable:
        if name in OPERATIONS and OPERATIONS[name].auth is not auth:
            raise ValueError(f"operation {name!r} declared twice")
        OPERATIONS[name] = Operation(name, scope, auth, (fn.__doc__ or "").strip().split("\n")[0])

        @functools.wraps(fn)
        def wrapper(ctx: Context, *args: Any, **kwargs: Any) -> Any:
            check(ctx, name, *args, **kwargs)
            return fn(ctx, *args, **kwargs)

        wrapper.operation = name  # type: ignore[attr-defined]
        wrapper.unchecked = fn  # type: ignore[attr-defined]
        return wrapper

    return decorate


def is_allowed(ctx: Context, name: str, /, *args: Any, **kwargs: Any) -> bool:
    op = OPERATIONS[name]
    if ctx.actor.kind == "system":
        return True
    if not ctx.actor.has_scope(op.scope):
        return False
    return bool(op.auth(ctx, *args, **kwargs))


def check(ctx: Context, name: str, /, *args: Any, **kwargs: Any) -> None:
    if is_allowed(ctx, name, *args, **kwargs):
        return
    from cityai.core import audit

    target = next((str(v) for k, v in kwargs.items() if k.endswith("id") and v is not None), None)
    audit.record_denied(ctx, name, target)
    if ctx.actor.is_anonymous:
        raise unauthorized()
    raise forbidden(name)


# ------------------------------------------------------------------ reusable auth functions


def anyone(ctx: Context, *a: Any, **k: Any) -> bool:
    return True


def authenticated(ctx: Context, *a: Any, **k: Any) -> bool:
    return not ctx.actor.is_anonymous


def sysadmin(ctx: Context, *a: Any, **k: Any) -> bool:
    return ctx.actor.is_sysadmin


def admin_anywhere(ctx: Context, *a: Any, **k: Any) -> bool:
    return ctx.is_admin_anywhere()


def agency_role(minimum: str, key: str = "agency_id") -> AuthFn:
    """Allow holders of ``minimum`` (or stronger) in the agency named by keyword ``key``, or above it."""

    def auth(ctx: Context, *a: Any, **k: Any) -> bool:
        return ctx.has_role(k.get(key), minimum)

    auth.__name__ = f"agency_role_{minimum}"
    return auth


def owner_role(model: Any, key: str, minimum: str, name: str) -> AuthFn:
    """Allow holders of ``minimum`` in the agency that owns the row of ``model`` whose id is keyword
    ``key`` (the row's ``agency_id``), or above it; anonymous callers never. An unknown or malformed id
    passes, so that the action itself answers 404 rather than this check answering 403."""

    def auth(ctx: Context, *a: Any, **k: Any) -> bool:
        if ctx.actor.is_anonymous:
            return False
        obj_id = k.get(key)
        row = ctx.db.get(model, obj_id) if isinstance(obj_id, int) and not isinstance(obj_id, bool) else None
        return row is None or ctx.has_role(row.agency_id, minimum)

    auth.__name__ = f"{name}_{minimum}"
    return auth
