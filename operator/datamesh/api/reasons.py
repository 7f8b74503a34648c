"""Condition types and reasons the operator writes into status, spelled once for everyone who reads them.

So far the Domain's StorageReady condition; the DataProduct's still live in controller/conditions.py.
"""

from __future__ import annotations

from typing import Final

#: A Domain's condition: whether its storage can hold its products (see controller/storage.py).
STORAGE_READY: Final = "StorageReady"

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
