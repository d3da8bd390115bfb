"""Deny by default: every endpoint needs a signed-in user unless marked public;
each blueprint then checks the role it serves. Ownership checks live in the
load-or-404 helpers of each feature, never scattered in views."""
from functools import wraps

from flask import abort, current_app, g, request
from flask_login import current_user

from app.domain.states import Role

PUBLIC_ATTR = "_portal_public"


def public(view):
    """Mark a view as reachable without signing in."""
    setattr(view, PUBLIC_ATTR, True)
    return view


def require_login_unless_public():
    # Load the user afresh for every request, even when a test shares one app
    # context (and so one `g`) across several requests.
    g.pop("_login_user", None)
    if request.endpoint is None:
        return None  # 404 follows
    if request.endpoint == "static" or request.endpoint.endswith(".static"):
        return None
    view = current_app.view_functions.get(request.endpoint)
    if view is not None and getattr(view, PUBLIC_ATTR, False):
        return None
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    return None


def roles_required(*roles: Role):
    """A blueprint `before_request` guard: signed-in user with one of `roles`."""
    def guard():
        view = current_app.view_functions.get(request.endpoint or "")
        if view is not None and getattr(view, PUBLIC_ATTR, False):
            return None
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()
        if current_user.role not in roles:
            abort(403)
        return None
    return guard


def role_required(*roles: Role):
    """Per-view narrowing inside a blueprint (e.g. provider admin only)."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


PROVIDER_ROLES = (Role.PROVIDER_USER, Role.PROVIDER_ADMIN)
STAFF_ROLES = (Role.EVALUATOR, Role.MANAGER, Role.MEMBER_OFFICER, Role.ADMIN)
# Lead-authority staff who evaluate and decide; member officers only look.
COMMISSIONER_ROLES = (Role.EVALUATOR, Role.MANAGER, Role.ADMIN)
EVALUATOR_ROLES = (Role.EVALUATOR, Role.MANAGER)
MODERATOR_ROLES = (Role.MANAGER,)
