"""Condition types and reasons the operator writes into status, spelled once for everyone who reads them.

The planner (controller/), the build (whose BuildResult.reason becomes Built's reason), the Argo CD health
scripts (deploy/argocd/health-*.lua) and the README's conditions table all name reasons; tests/api/test_reasons.py
holds each of them to the lists below.
"""

from __future__ import annotations

from typing import Final

# ------------------------------------------------------------------------------------------ condition types
# A DataProduct's, in the order the Ready summary consults them.
VALIDATED: Final = "Validated"
COMPLIANT: Final = "Compliant"
INPUTS_READY: Final = "InputsReady"
BUILT: Final = "Built"
#: A build on its domain's warm engine could not reach it (not up in time, token refused): retried.
ENGINE_UNAVAILABLE: Final = "EngineUnavailable"
#: A build sent to the warm engine needs what only a pod build has (the operator does not send those).
ENGINE_UNSUPPORTED: Final = "EngineUnsupported"
QUALITY_PASSED: Final = "QualityPassed"
FRESH: Final = "Fresh"
READY: Final = "Ready"
CATALOG_SYNCED: Final = "CatalogSynced"
#: Whether the product, or a product it reads, carries spec.deprecation (informational: not part of Ready).
DEPRECATED: Final = "Deprecated"
PRODUCT_SUMMARY_OF: Final = (VALIDATED, COMPLIANT, INPUTS_READY, BUILT, QUALITY_PASSED, FRESH)
PRODUCT_CONDITIONS: Final = (*PRODUCT_SUMMARY_OF, CATALOG_SYNCED, DEPRECATED, READY)
# A Domain's.
WORKSPACE_READY: Final = "WorkspaceReady"
#: Whether a Domain's storage can hold its products (see controller/storage.py).
STORAGE_READY: Final = "StorageReady"

# ------------------------------------------------------------------------------------ DataProduct reasons
# Built=False while the operator is at work: Argo CD reports Progressing, not Degraded (PRODUCT_IN_PROGRESS).
#: A build Job is running.
BUILDING: Final = "Building"
#: A build is due but its Job has not started (coalescing, back-off, the first reconcile).
PENDING: Final = "Pending"
#: Ready=False reasons that mean "still working" (deploy/argocd/health-dataproduct.lua).
PRODUCT_IN_PROGRESS: Final = frozenset({BUILDING, PENDING})

# Reasons for results the operator checks rather than believes, and for deletions carried out by Jobs.
#: A build claimed a publish its table's Delta log does not show (Built=False; not retried).
RESULT_MISMATCH: Final = "ResultMismatch"
#: The table's log could not be read to check a claimed publish (Built=False; retried like StorageError).
VERIFICATION_FAILED: Final = "VerificationFailed"
#: The build Job vanished before it finished (deleted, possibly while the operator was away; retried).
JOB_DELETED: Final = "JobDeleted"
#: deletionPolicy Delete: the deletion Job is removing the published table (Ready=False while it runs).
DELETING: Final = "Deleting"
#: The deletion Job failed; retried with backoff, the finalizer stays (Ready=False, Warning Event).
DELETION_FAILED: Final = "DeletionFailed"
#: The deletion Job (or a build's own wall) refused a location outside the domain's storage or a table that is not
#: the product's.
LOCATION_REFUSED: Final = "LocationRefused"
#: The product is being deleted but other products still read it: its finalizer holds it (Ready=False, Warning Event)
#: until they move or the datamesh.dev/force-delete annotation lets it go (docs/lifecycle.md).
DELETION_HELD: Final = "DeletionHeld"
#: Ready=False reasons that mean "waiting for something outside the operator" (Argo CD's Suspended: a held deletion
#: waits for its consumers to move; deploy/argocd/health-dataproduct.lua).
PRODUCT_SUSPENDED: Final = frozenset({DELETION_HELD})

# Deprecated's reasons (docs/lifecycle.md).
#: This product carries spec.deprecation.
PRODUCT_DEPRECATED: Final = "Deprecated"
#: This product reads a product that carries spec.deprecation (a Warning Event too, when it starts).
UPSTREAM_DEPRECATED: Final = "UpstreamDeprecated"
#: Neither.
NOT_DEPRECATED: Final = "NotDeprecated"

#: Every reason a DataProduct condition may carry, by condition type (README's table lists the False ones).
PRODUCT_REASONS: Final = {
    VALIDATED: frozenset(
        {"Valid", "InvalidSpec", "DomainNotFound", "WrongNamespace", "LocationConflict", "TransformNotAllowed"}
    ),
    COMPLIANT: frozenset({"Compliant", "PolicyViolation", "NotValidated"}),
    INPUTS_READY: frozenset(
        {
            "Resolved", "NotValidated", "DomainNotFound", "SourceNotFound", "UpstreamNotFound", "UpstreamNotReady",
            "Cycle", "AccessDenied", "CredentialsUnavailable", "UpstreamVersionNotServed",
        }
    ),  # fmt: skip
    BUILT: frozenset(
        {
            "Published", "NotBuilt", "NoTransform", BUILDING, PENDING,
            # From the build (BuildResult.reason, build/errors.py and the steps that raise BuildError).
            "SqlError", "SqlRefused", "SchemaViolation", "InputMissing", "InputError", "StorageError", LOCATION_REFUSED,
            "MaskingKeyMissing", "CredentialsUnavailable", "TransformError", "TransformNotAllowed", "PublishFailed",
            "SparkUnavailable", "BuildFailed", "InvalidRequest", "AfterPublish", ENGINE_UNAVAILABLE, ENGINE_UNSUPPORTED,
            # From the operator, about the build's Job and what it claims.
            RESULT_MISMATCH, VERIFICATION_FAILED, "DeadlineExceeded", "Unschedulable", "PodFailed", "PodDeleted",
            JOB_DELETED,
        }
    ),  # fmt: skip
    QUALITY_PASSED: frozenset({"ChecksPassed", "QualityFailed", "NotChecked"}),
    FRESH: frozenset({"WithinSla", "Stale", "NoData"}),
    CATALOG_SYNCED: frozenset({"Synced", "CatalogUnavailable"}),
    DEPRECATED: frozenset({PRODUCT_DEPRECATED, UPSTREAM_DEPRECATED, NOT_DEPRECATED}),
    # Ready also carries the first failing condition's reason (controller/conditions.summarize).
    READY: frozenset({"Ready", DELETING, DELETION_FAILED, DELETION_HELD}),
}

# ------------------------------------------------------------------------------------------ Domain reasons

# StorageReady=True reasons.
#: An object-store URI: the operator holds no credentials to prove more; builds report StorageError.
STORAGE_OBJECT_STORE: Final = "ObjectStore"
#: The Domain's PersistentVolumeClaim is Bound.
STORAGE_BOUND: Final = "Bound"
#: Its StorageClass binds the claim when the first build pod is scheduled (volumeBindingMode WaitForFirstConsumer).
STORAGE_WAIT_FOR_FIRST_CONSUMER: Final = "WaitForFirstConsumer"
#: The local folder exists (the operator created it).
STORAGE_CREATED: Final = "Created"
#: A folder under the host lake the operator cannot see: the build's init container creates it.
STORAGE_DEFERRED: Final = "Deferred"

# StorageReady=False (or Unknown) reasons.
#: Placement refuses spec.storage.location (a refused spelling, or a place another Domain or product owns).
STORAGE_REFUSED: Final = "StorageRefused"
#: The claim names a StorageClass that does not exist: it can never be provisioned.
STORAGE_CLASS_NOT_FOUND: Final = "StorageClassNotFound"
#: The claim is not bound (Unknown at first, False once it has waited longer than a provisioner would take).
STORAGE_PENDING: Final = "StoragePending"
#: The claim lost its PersistentVolume: what was published on it cannot be read.
STORAGE_LOST: Final = "StorageLost"
#: The claim is missing or being deleted, or the local folder cannot be created where builds would write.
STORAGE_UNAVAILABLE: Final = "StorageUnavailable"

#: The Domain's namespace or storage is refused (a system or another Domain's namespace, overlapping storage, a
#: namespace not labelled for adoption): nothing of the workspace is provisioned.
CLAIM_REFUSED: Final = "ClaimRefused"
#: WorkspaceReady: the namespace, its service account, role and build Secret exist (or could not be made).
PROVISIONED: Final = "Provisioned"
PROVISIONING_FAILED: Final = "ProvisioningFailed"

DOMAIN_REASONS: Final = {
    WORKSPACE_READY: frozenset({PROVISIONED, PROVISIONING_FAILED, CLAIM_REFUSED, "InForce"}),
    STORAGE_READY: frozenset(
        {
            STORAGE_OBJECT_STORE, STORAGE_BOUND, STORAGE_WAIT_FOR_FIRST_CONSUMER, STORAGE_CREATED, STORAGE_DEFERRED,
            STORAGE_REFUSED, STORAGE_CLASS_NOT_FOUND, STORAGE_PENDING, STORAGE_LOST, STORAGE_UNAVAILABLE,
        }
    ),  # fmt: skip
    # Ready also carries the first failing condition's reason (controller/conditions.summarize).
    READY: frozenset({PROVISIONED, "DeletionBlocked"}),
}
#: A GovernancePolicy's Ready: in force, or unreadable under the current rules.
POLICY_REASONS: Final = {READY: frozenset({"InForce", "InvalidSpec"})}
#: Ready=False reasons of a Domain that mean "still working" (deploy/argocd/health-domain.lua): none. A Domain's
#: only slow step, a claim waiting for its volume, is Unknown (Progressing anyway) until it has waited too long.
DOMAIN_IN_PROGRESS: Final = frozenset[str]()

#: Every reason the operator writes, on any kind.
ALL_REASONS: Final = frozenset[str]().union(
    *PRODUCT_REASONS.values(), *DOMAIN_REASONS.values(), *POLICY_REASONS.values()
)
