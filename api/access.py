"""Who may see and do what: the service's access matrix, in one place.

- ``citizen`` (``sub`` = their ``person_id``): their own record; a principal's record within the
  scopes of an active proxy grant they hold.
- ``caseworker``: any person in their regions (full history), and the review queue there.
- ``auditor``: any person, read only, personal data masked.
- ``operator``: aggregates only, no person-level route.

Who looked at a person's record (the access log): the person themself and auditors; a
caseworker, whose reads it records, gets 403.

A role that may never use a route gets 403. A person-level read the caller may not make gets
404, the same as for a person who does not exist, so a caller never learns who is registered.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from api.auth import Caller
from domain.entitlement import grant_active

# What a proxy grant must include for each part of a principal's record.
SCOPE_FOR = {
    "status": "view_status",
    "history": "view_status",
    "payments": "view_payments",
    "notifications": "receive_notifications",
    "liveness_checks": "certify_on_behalf",
}
READERS = ("citizen", "caseworker", "auditor")


class Forbidden(Exception):
    """The caller's role may not use this route at all: 403."""


class NotVisible(Exception):
    """The caller may not see this (or it does not exist): 404."""


def require_role(caller: Caller, *roles: str) -> None:
    if caller.role not in roles:
        article = "an" if caller.role[:1] in "aeiou" else "a"
        raise Forbidden(f"{article} {caller.role} token cannot use this route")


def check_person(caller: Caller, doc: Mapping[str, Any] | None, part: str, today: date) -> None:
    """May ``caller`` use ``part`` of this person's record (``doc``: the person's status, or
    None for a person who does not exist)? Raises Forbidden or NotVisible."""
    writes = part == "liveness_checks"
    require_role(caller, "citizen") if writes else require_role(caller, *READERS)
    if doc is None:
        raise NotVisible()
    if caller.role == "auditor":
        return
    if caller.role == "caseworker":
        if not caller.covers(doc.get("region")):
            raise NotVisible()
        return
    if doc["person_id"] == caller.sub and not writes:
        return
    if proxy_grant_for(caller, doc, SCOPE_FOR[part], today) is None:
        raise NotVisible()


def check_access_log(caller: Caller, person_id: str, exists: bool) -> None:
    """May ``caller`` see who looked at this person's record? Their own only, for a citizen (not
    a proxy's principal's); anyone's for an auditor."""
    require_role(caller, "citizen", "auditor")
    if not exists:
        raise NotVisible()
    if caller.role == "citizen" and caller.sub != person_id:
        raise NotVisible()


def proxy_grant_for(
    caller: Caller, doc: Mapping[str, Any], scope: str, today: date
) -> dict[str, Any] | None:
    """The active grant of this principal that lets ``caller`` use ``scope``, if any."""
    for grant in doc.get("proxies", ()):
        if grant["requester_id"] == caller.sub and scope in grant["scopes"]:
            if grant_active(grant, today):
                return grant
    return None


def check_request(caller: Caller, request: Mapping[str, Any] | None) -> None:
    """May ``caller`` see this proxy request? Its requester, its principal, a caseworker of the
    principal's region, an auditor."""
    require_role(caller, *READERS)
    if request is None:
        raise NotVisible()
    if caller.role == "auditor":
        return
    if caller.role == "caseworker":
        if not caller.covers(request.get("principal_region")):
            raise NotVisible()
        return
    if caller.sub not in (request["requester_id"], request["principal_id"]):
        raise NotVisible()


def revoker_role(caller: Caller, request: Mapping[str, Any] | None) -> str:
    """Who ``caller`` is to a grant they revoke: its principal, its proxy or a caseworker."""
    require_role(caller, "citizen", "caseworker")
    if request is None:
        raise NotVisible()
    if caller.role == "caseworker":
        if not caller.covers(request.get("principal_region")):
            raise NotVisible()
        return "caseworker"
    if caller.sub == request["principal_id"]:
        return "principal"
    if caller.sub == request["requester_id"]:
        return "proxy"
    raise NotVisible()


def check_review(caller: Caller, item: Mapping[str, Any] | None, deciding: bool) -> None:
    """Caseworkers see and decide the review items of their regions; auditors see them all."""
    require_role(caller, "caseworker") if deciding else require_role(
        caller, "caseworker", "auditor"
    )
    if item is None:
        raise NotVisible()
    if caller.role == "caseworker" and not caller.covers(item.get("region")):
        raise NotVisible()
