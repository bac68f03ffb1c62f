"""How the data module's rows interact with the core's identity actions."""

from __future__ import annotations

from cityai.core import identity
from cityai.core.models import Agency, AuditEntry

from ..core.test_identity import SYSTEM, call, count, refused


def test_agency_delete_refused_while_a_module_row_refers_to_it(platform, users):
    """A dataset owned by the agency (a RESTRICT foreign key) makes the delete a 409, not a 500."""
    from cityai.data import catalog

    call(platform, SYSTEM, catalog.dataset_create, name="ds-of-division", owner_id=users.division,
         title="Bộ dữ liệu của phòng")
    p = refused(platform, SYSTEM, identity.agency_delete, agency_id=users.division)
    assert p.status == 409 and p.code == "invalid-state"
    assert "datasets" in p.detail[1]
    with platform.transaction() as db:
        assert db.get(Agency, users.division) is not None
    assert count(platform, AuditEntry, AuditEntry.action == "agency.delete") == 0
