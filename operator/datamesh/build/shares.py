"""Writing the product's Delta Sharing copies after its publish, in the same run (docs/sharing.md).

The operator decides which copies a product needs (`BuildRequest.share_copies`, one per PII treatment some
recipient's grant gives); the build writes each after its own isolation wall has checked the copy's folder again
(confine.check_copy) and masks with the mesh key from its environment, exactly as the REST output masks.
"""

from __future__ import annotations

from collections.abc import Mapping

from datamesh import settings
from datamesh.build import confine
from datamesh.build.secrets import masking_key
from datamesh.mesh.contract import BuildRequest
from datamesh.sharing_copy import CopyMode, write_copy


def write_share_copy(request: BuildRequest, mode: CopyMode, environ: Mapping[str, str] | None = None) -> int:
    """Write the `mode` copy of the product's current version; returns that version. Raises BuildError when the
    copy's folder is refused or a mask copy has no masking key."""
    confine.check_copy(request, mode)
    key = masking_key(environ) if mode == "mask" else None
    pii = {column.name for column in request.spec.schema_ if column.pii}
    retain = float(settings.VACUUM_RETAIN_HOURS.get(environ))
    return write_copy(request.output_location, mode=mode, pii_columns=pii, key=key, retain_hours=retain)
