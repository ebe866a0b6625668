"""The staff groups and what each may do in the back office.

Permissions are named `app_label.codename`; a trailing `*` matches every codename with that
start (e.g. `ledger.view_*`). `sync_staff_groups` makes the groups match this table exactly, so
running it again (every `make run` does) repairs drift.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

FINANCE = "finance"
SUPPORT = "support"

GROUP_PERMISSIONS: dict[str, list[str]] = {
    FINANCE: [
        "ledger.view_*",
        "ledger.export_entries",
        "ledger.import_bank_statement",
        "ledger.match_bank_credit",
        "ledger.resolve_break",
        "ledger.adjust_break",
        "ledger.export_breaks",
        "ledger.run_reconciliation",
        "payments.view_*",
        "payments.capture_payment",
        "payments.refund_payment",
        "payments.cancel_payment",
        "disputes.view_*",
        "disputes.change_dispute",
        "disputes.submit_evidence",
        "disputes.accept_dispute",
        "disputes.add_disputenote",
        "disputes.add_evidencefile",
        "routing.view_*",
        "merchants.view_merchant",
        "fraud.view_*",
    ],
    SUPPORT: [
        "payments.view_*",
        "payments.cancel_payment",
        "disputes.view_*",
        "disputes.change_dispute",
        "disputes.submit_evidence",
        "disputes.accept_dispute",
        "disputes.add_disputenote",
        "disputes.add_evidencefile",
        "fraud.view_*",
        "fraud.review_assessment",
        "fraud.change_reviewitem",
        "tokenization.view_token",
        "merchants.view_merchant",
    ],
}


def _permissions(patterns: list[str]) -> list[Permission]:
    query = Q(pk__in=[])
    for pattern in patterns:
        app_label, codename = pattern.split(".", 1)
        if codename.endswith("*"):
            query |= Q(content_type__app_label=app_label, codename__startswith=codename[:-1])
        else:
            query |= Q(content_type__app_label=app_label, codename=codename)
    return list(Permission.objects.filter(query))


def sync_staff_groups() -> dict[str, int]:
    """Create or repair the staff groups; returns how many permissions each holds."""
    counts = {}
    for name, patterns in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = _permissions(patterns)
        group.permissions.set(permissions)
        counts[name] = len(permissions)
    return counts
