"""The disputes API: list (filters, pagination), retrieve, evidence saved until submitted,
files checked from their bytes and served only to the dispute's merchant, merchant scoping."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from disputes import files, services
from disputes.models import Dispute, Evidence, EvidenceFile, Status
from tests.conftest import client_for
from tests.disputes.conftest import webhook_types
from tests.disputes.factories import DisputeFactory

pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
PDF = b"%PDF-1.7\n" + b"%" * 64


def test_list_filters_by_status_and_payment_and_paginates(api, captured):
    first, second = captured(), captured()
    a = DisputeFactory(payment=first)
    b = DisputeFactory(payment=second, status=Status.UNDER_REVIEW)
    c = DisputeFactory(payment=second, status=Status.WON)

    everything = api.get("/api/disputes").json()
    assert everything["object"] == "list"
    assert [d["id"] for d in everything["data"]] == [c.id, b.id, a.id]
    by_status = api.get("/api/disputes", {"status": "under_review"}).json()["data"]
    assert [d["id"] for d in by_status] == [b.id]
    by_payment = api.get("/api/disputes", {"payment": second.id}).json()["data"]
    assert [d["id"] for d in by_payment] == [c.id, b.id]

    page = api.get("/api/disputes", {"limit": 2}).json()
    assert page["has_more"] is True and len(page["data"]) == 2
    rest = api.get("/api/disputes", {"limit": 2, "starting_after": page["data"][-1]["id"]}).json()
    assert [d["id"] for d in rest["data"]] == [a.id] and rest["has_more"] is False


def test_list_refuses_an_unknown_status_or_parameter(api):
    response = api.get("/api/disputes", {"status": "closed"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "status"
    response = api.get("/api/disputes", {"merchant": "x"})
    assert response.json()["error"]["code"] == "parameter_unknown"


def test_retrieve_renders_the_dispute(api, captured):
    payment = captured(amount_minor=4_200)
    dispute = DisputeFactory(payment=payment, reason="duplicate", fee_minor=1500)
    body = api.get(f"/api/disputes/{dispute.id}").json()
    assert body["id"].startswith("dp_")
    assert (body["object"], body["status"], body["reason"]) == (
        "dispute",
        "needs_response",
        "duplicate",
    )
    assert (body["amount"], body["currency"], body["fee"]) == (4_200, "EUR", 1500)
    assert body["payment"] == payment.id and body["livemode"] is False
    assert isinstance(body["evidence_due_by"], int)
    assert body["evidence"] == {} and body["evidence_details"]["submitted"] is False


def test_another_merchants_dispute_is_a_404(api, captured, other_merchant):
    dispute = DisputeFactory(payment=captured())
    other = client_for(other_merchant.secret)
    assert other.get(f"/api/disputes/{dispute.id}").status_code == 404
    assert other.post(f"/api/disputes/{dispute.id}/accept").status_code == 404
    assert other.get("/api/disputes").json()["data"] == []
    assert api.get("/api/disputes/dp_nope").json()["error"]["code"] == "resource_missing"


def test_evidence_is_saved_without_submitting_and_merged(api, captured, endpoint):
    dispute = DisputeFactory(payment=captured())
    url = f"/api/disputes/{dispute.id}/evidence"
    first = api.post(
        url,
        {"evidence": {"shipping_carrier": "DHL", "shipping_tracking_number": "JD0146"}},
        format="json",
    )
    assert first.status_code == 200, first.content
    second = api.post(
        url,
        {"evidence": {"shipping_tracking_number": "", "service_date": "2026-11-01"}},
        format="json",
    )
    body = second.json()
    assert body["status"] == "needs_response"
    assert body["evidence"] == {"shipping_carrier": "DHL", "service_date": "2026-11-01"}
    assert body["evidence_details"]["submitted"] is False
    assert webhook_types(dispute.id) == []  # saving is not a state change


def test_unknown_evidence_fields_and_parameters_are_refused(api, captured):
    dispute = DisputeFactory(payment=captured())
    url = f"/api/disputes/{dispute.id}/evidence"
    response = api.post(url, {"evidence": {"favourite_colour": "blue"}}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "evidence[favourite_colour]"
    response = api.post(url, {"evidence": {}, "force": True}, format="json")
    assert response.json()["error"]["code"] == "parameter_unknown"


def test_submitted_evidence_is_read_only(api, captured):
    dispute = DisputeFactory(payment=captured(), status=Status.UNDER_REVIEW)
    Evidence.objects.create(dispute=dispute, texts={"uncategorized_text": "x"})
    Evidence.objects.filter(dispute=dispute).update(submitted_at=dispute.created)
    response = api.post(
        f"/api/disputes/{dispute.id}/evidence",
        {"evidence": {"uncategorized_text": "changed"}},
        format="json",
    )
    assert response.status_code == 400
    assert Evidence.objects.get(dispute=dispute).texts == {"uncategorized_text": "x"}


def test_a_file_is_typed_from_its_bytes_stored_privately_and_served_to_its_merchant(
    api, captured, other_merchant, _evidence_dir
):
    dispute = DisputeFactory(payment=captured())
    upload = SimpleUploadedFile("receipt.pdf", PNG, content_type="application/pdf")
    response = api.post(
        f"/api/disputes/{dispute.id}/files",
        {"file": upload, "purpose": "receipt"},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["type"], body["filename"], body["size"]) == ("image/png", "receipt.pdf", len(PNG))
    stored = EvidenceFile.objects.get(pk=body["id"])
    assert (_evidence_dir / stored.stored_name).read_bytes() == PNG
    assert "receipt" not in stored.stored_name

    download = api.get(body["url"])
    assert download.status_code == 200 and download.content == PNG
    assert download["Content-Type"] == "image/png"
    assert download["Content-Disposition"].startswith("attachment")
    assert client_for(other_merchant.secret).get(body["url"]).status_code == 404
    assert client_for("sk_test_nope").get(body["url"]).status_code == 401
    listed = api.get(f"/api/disputes/{dispute.id}").json()["evidence_details"]["files"]
    assert [f["id"] for f in listed] == [body["id"]]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"GIF89a" + b"\0" * 10, "file_type_unsupported"),
        (b"<html><script>alert(1)</script>", "file_type_unsupported"),
        (b"", "parameter_invalid"),  # DRF refuses an empty upload before we see it
    ],
)
def test_files_that_are_not_pdf_png_or_jpeg_are_refused(api, captured, content, code):
    dispute = DisputeFactory(payment=captured())
    upload = SimpleUploadedFile("evidence.pdf", content, content_type="application/pdf")
    body = {"file": upload, "purpose": "receipt"}
    response = api.post(f"/api/disputes/{dispute.id}/files", body, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert not EvidenceFile.objects.filter(dispute=dispute).exists()


def test_a_file_over_five_megabytes_is_refused(captured, _evidence_dir):
    dispute = DisputeFactory(payment=captured())
    too_big = PDF + b"0" * (files.MAX_FILE_BYTES - len(PDF) + 1)
    with pytest.raises(Exception) as refused:
        services.add_evidence_file(
            dispute_id=dispute.id,
            merchant_id=None,
            livemode=None,
            name="big.pdf",
            content=too_big,
            purpose="receipt",
            actor=services.Actor.staff("agent"),
        )
    assert refused.value.code == "file_too_large"
    exactly = too_big[:-1]
    stored = services.add_evidence_file(
        dispute_id=dispute.id,
        merchant_id=None,
        livemode=None,
        name="../../etc/big.pdf",
        content=exactly,
        purpose="receipt",
        actor=services.Actor.staff("agent"),
    )
    assert stored.size_bytes == files.MAX_FILE_BYTES and stored.original_name == "big.pdf"
    assert list(_evidence_dir.iterdir()) == [_evidence_dir / stored.stored_name]


def test_evidence_files_live_outside_every_served_directory(settings):
    del settings.DISPUTES_EVIDENCE_DIR  # the default
    served = [settings.STATIC_ROOT, *settings.STATICFILES_DIRS]
    assert files.evidence_dir() == settings.LOCAL_DIR / "evidence"
    assert not any(files.evidence_dir().is_relative_to(root) for root in served)
    assert not settings.STATIC_URL.startswith("/") or "evidence" not in settings.STATIC_URL


def test_accept_sends_dispute_closed(api, captured, endpoint):
    dispute = DisputeFactory(payment=captured())
    assert api.post(f"/api/disputes/{dispute.id}/accept").json()["status"] == "accepted"
    assert webhook_types(dispute.id) == ["dispute.closed"]
    assert Dispute.objects.get(pk=dispute.id).closed_at is not None


def test_an_upload_may_be_larger_than_an_api_body_but_not_than_five_megabytes(api, captured):
    dispute = DisputeFactory(payment=captured())
    url = f"/api/disputes/{dispute.id}/files"

    def upload(size_bytes: int):
        content = PNG + b"\0" * (size_bytes - len(PNG))
        body = {"file": SimpleUploadedFile("scan.png", content), "purpose": "receipt"}
        return api.post(url, body, format="multipart")

    big = upload(1024 * 1024)
    assert big.status_code == 201, big.content
    assert big.json()["size"] == 1024 * 1024
    over = upload(files.MAX_FILE_BYTES + 1)
    assert over.status_code == 400 and over.json()["error"]["code"] == "file_too_large"
    far_over = upload(6 * 1024 * 1024)
    assert far_over.status_code == 413
    assert far_over.json()["error"]["code"] == "request_too_large"
    # Elsewhere the API's body limit still holds.
    evidence = api.post(
        f"/api/disputes/{dispute.id}/evidence",
        {"evidence": {"uncategorized_text": "x" * 70_000}},
        format="json",
    )
    assert evidence.status_code == 413
