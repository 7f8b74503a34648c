"""Who receives a product's Delta share, and which tokens to issue, rotate or revoke: decided here, applied by the
runtime (Secret writes) and the catalog link (token hashes).

Why a module of its own: the recipients come from governance (mesh/access.py `share_readers`, the catalog API's
own rule), but the operator must also hand each recipient a profile file and take it back, and that bookkeeping
(what the status says was handed out, expiry, the rotate annotation) is easier to trust as one pure function.

Each recipient domain's namespace holds one Secret, `datamesh-shares`, with one key per product it reads
(`<producer-domain>.<product>.share`, the profile JSON). Each product writes only its own key, by server-side apply
under a field manager of its own: revoking is an apply without the key, so the operator needs no delete right and
one product's revoke never touches another's key. Tokens are per (recipient, product), so rotating one product's
token leaves the recipient's other profiles working. The catalog API decides what a token may read from
governance at every request: a revoked grant stops reads at once, and the token revocation here is the cleanup.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from datamesh.api import DataProduct
from datamesh.api.dataproduct import Share
from datamesh.mesh.access import share_readers
from datamesh.mesh.world import World
from datamesh.sharing_tokens import token_hash

ROTATE_ANNOTATION = "datamesh.dev/rotate-share"
SHARES_SECRET = "datamesh-shares"
#: A token is rotated once less than this share of its lifetime is left.
ROTATE_FRACTION = 0.2
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_MANAGER_LIMIT = 128
MANAGED = {"app.kubernetes.io/managed-by": "datamesh-operator", "datamesh.dev/purpose": "delta-sharing-profiles"}


def secret_key(domain: str, product: str) -> str:
    """The product's key in a recipient's Secret: `<domain>.<product>.share` for DNS labels (no dot inside, so the
    first dot splits and two products never meet); anything else, which validation should have refused, becomes
    `sha256-<hex>.share`, which has one dot fewer and so cannot equal a readable key."""
    if _LABEL.match(domain) and _LABEL.match(product):
        return f"{domain}.{product}.share"
    digest = hashlib.sha256(f"{domain}\0{product}".encode()).hexdigest()
    return f"sha256-{digest}.share"


def field_manager(domain: str, product: str) -> str:
    """The server-side apply field manager that owns the product's key in every recipient Secret."""
    name = "datamesh-share-" + secret_key(domain, product).removesuffix(".share")
    if len(name) <= _MANAGER_LIMIT:
        return name
    return "datamesh-share-sha256-" + hashlib.sha256(name.encode()).hexdigest()


def _location(namespace: str, key: str) -> str:
    return f"{namespace}/{SHARES_SECRET}:{key}"


def _namespace_of(share: Share) -> str:
    return share.secret.split("/", 1)[0]


@dataclass(frozen=True)
class Issue:
    """A new token for a recipient: the profile goes into its Secret, the hash into the catalog."""

    share: Share
    namespace: str
    key: str
    profile: dict[str, Any]
    #: The token this one replaces (revoked in the catalog once the new one is stored).
    replaces: str | None


@dataclass(frozen=True)
class Revoke:
    share: Share
    namespace: str
    key: str
    #: False when the recipient's Domain is gone: its namespace (and Secret) go with it, and the operator's rights
    #: there went with its workspace binding.
    remove_key: bool


@dataclass
class SharePlan:
    shares: list[Share] = field(default_factory=list)
    issue: list[Issue] = field(default_factory=list)
    revoke: list[Revoke] = field(default_factory=list)
    handled_rotation: str | None = None
    #: Why the product has no recipients although governance names some ("" when it has them or none are named).
    note: str = ""


def _profile(endpoint: str, token: str, expires_at: datetime) -> dict[str, Any]:
    return {
        "shareCredentialsVersion": 1,
        "endpoint": endpoint.rstrip("/"),
        "bearerToken": token,
        "expirationTime": expires_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }


def plan_shares(
    product: DataProduct,
    world: World,
    *,
    now: datetime,
    endpoint: str,
    lifetime: timedelta,
    ready: frozenset[str],
    new_token: Callable[[], str],
) -> SharePlan:
    """What to hand out and take back for `product`, from governance and what its status says was handed out.

    `endpoint` empty means the operator has no sharing endpoint (or no catalog): nothing is handed out and what was
    is revoked. `ready` names the domains whose workspace (and so the operator's right to write there) is applied:
    a new recipient outside it waits. `new_token` makes a token (random in the runtime, predictable in tests)."""
    status = product.status
    current = {s.recipient: s for s in (status.shares if status else [])}
    handled = status.handled_share_rotation if status else None
    requested = (product.metadata.get("annotations") or {}).get(ROTATE_ANNOTATION)
    rotate_all = bool(requested) and requested != handled
    plan = SharePlan(handled_rotation=requested if rotate_all else handled)

    wanted: dict[str, Literal["clear", "mask", "exclude"]] = {}
    # From the index: scanning every product here made each reconcile O(products).
    same_name = [p for p in world.products.named(product.spec.domain, product.name) if p.namespace != product.namespace]
    if not endpoint:
        plan.note = "no sharing endpoint or catalog is configured: no recipient gets a profile"
    elif status is None or status.table_version is None:
        plan.note = "not published yet: recipients get a profile after the first publish"
    elif same_name:
        # The catalog API serves neither of two same-named products of one domain; their keys would be one key.
        plan.note = f"another product of domain {product.spec.domain!r} is named {product.name!r}: not shared"
    else:
        wanted = {d: r.pii for d, r in share_readers(product, world).items() if d != product.spec.domain}

    key = secret_key(product.spec.domain, product.name)
    table = f"{product.name}.{product.spec.domain}.{product.name}"
    for recipient, share in sorted(current.items()):
        domain = world.domains.get(recipient)
        namespace = domain.namespace_name if domain else _namespace_of(share)
        moved = _location(namespace, key) != share.secret
        if recipient not in wanted or moved:
            # Moved (the domain's namespace changed): revoked at the old place, issued afresh below at the new one.
            plan.revoke.append(Revoke(share, _namespace_of(share), share.secret.rsplit(":", 1)[-1], domain is not None))
            continue
        left = share.expires_at - now
        if rotate_all or left <= lifetime * ROTATE_FRACTION:
            continue  # re-issued below
        plan.shares.append(share.model_copy(update={"pii": wanted[recipient], "table": table}))
    kept = {s.recipient for s in plan.shares}
    for recipient, pii in sorted(wanted.items()):
        if recipient in kept or recipient not in ready:
            continue
        namespace = world.domains[recipient].namespace_name
        token = new_token()
        expires_at = now + lifetime
        old = current.get(recipient)
        share = Share(
            recipient=recipient, table=table, pii=pii, secret=_location(namespace, key), expires_at=expires_at,
            token_hash=token_hash(token),
        )  # fmt: skip
        replaces = old.token_hash if old is not None and old.token_hash != share.token_hash else None
        if any(r.share.recipient == recipient for r in plan.revoke):
            replaces = None  # revoked already
        plan.issue.append(Issue(share, namespace, key, _profile(endpoint, token, expires_at), replaces))
        plan.shares.append(share)
    # A recipient still wanted but whose domain is not ready keeps what it has until it is.
    placed = {s.recipient for s in plan.shares} | {r.share.recipient for r in plan.revoke}
    plan.shares += [s for r, s in current.items() if r in wanted and r not in ready and r not in placed]
    plan.shares.sort(key=lambda s: s.recipient)
    return plan


def plan_unshare(product: DataProduct, world: World) -> SharePlan:
    """Everything the product handed out, taken back: it is being deleted. Each recipient's key goes from its
    Secret (unless its Domain, and so its namespace, is gone) and each token is revoked in the catalog."""
    status = product.status
    plan = SharePlan()
    for share in status.shares if status else []:
        key = share.secret.rsplit(":", 1)[-1]
        plan.revoke.append(Revoke(share, _namespace_of(share), key, share.recipient in world.domains))
    return plan


def settle(plan: SharePlan, failed: set[str], previous: list[Share], previous_rotation: str | None) -> SharePlan:
    """The plan as far as its Secret writes landed, `failed` naming the namespaces where they did not: an issue
    there is dropped (the recipient keeps what the status had, its new token is never stored), a removal stays
    in the status so the next reconcile tries again (its token is revoked all the same: the grant is gone), and a
    rotation request counts as handled only once every recipient's new token is written."""
    if not failed:
        return plan
    before = {s.recipient: s for s in previous}
    issue = [i for i in plan.issue if i.namespace not in failed]
    dropped = {i.share.recipient for i in plan.issue if i.namespace in failed}
    shares = [s for s in plan.shares if s.recipient not in dropped]
    shares += [before[r] for r in sorted(dropped) if r in before]
    shares += [
        r.share for r in plan.revoke if r.remove_key and r.namespace in failed and r.share.recipient not in dropped
    ]
    rotation = previous_rotation if dropped else plan.handled_rotation
    return SharePlan(sorted(shares, key=lambda s: s.recipient), issue, plan.revoke, rotation, plan.note)


def shares_secret(namespace: str, key: str, profile: dict[str, Any] | None) -> dict[str, Any]:
    """What one product applies to a recipient's Secret under its own field manager: its key with the profile, or
    (revoking) no key at all, which server-side apply turns into removing the key this manager owned."""
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": SHARES_SECRET, "namespace": namespace, "labels": dict(MANAGED)},
    }
    if profile is not None:
        body["data"] = {key: base64.b64encode(json.dumps(profile, indent=2).encode()).decode()}
    return body
