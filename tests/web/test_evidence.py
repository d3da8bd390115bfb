"""The evidence library: uploading, replacing, listing and downloading documents."""
import hashlib
import io
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from app.domain.reference import DocumentKind as K
from app.domain.states import DocumentStatus as S, Role
from app.extensions import db
from app.filters import LONDON
from app.models import AuditEvent, Document
from app.storage import new_key
from tests.factories import login, make_provider, make_setting, make_user
from tests.unit.test_documents import ELF, HTML, JPEG, PDF, docx_bytes, png_bytes, zip_bytes

INSURANCE = {"insurer": "Aviva", "policy_number": "PL-2026-001", "cover_amount": "5,000,000",
             "expires_on": ["31", "3", "2030"]}


@pytest.fixture
def provider(app_ctx):
    return make_provider()


@pytest.fixture
def owner(client, provider):
    user = make_user(Role.PROVIDER_USER, provider)
    login(client, user)
    return user


def stored_files(app) -> set[Path]:
    """Every file under the storage root, temporary ones included."""
    return {p for p in Path(app.config["STORAGE_DIR"]).rglob("*") if p.is_file()}


def upload(client, kind: K, data: bytes | None, name: str = "", query: str = "",
           headers=None, **fields):
    form = dict(fields)
    if data is not None:
        form["file"] = (io.BytesIO(data), name)
    return client.post(f"/evidence/upload?kind={kind.value}{query}", data=form,
                       content_type="multipart/form-data", headers=headers)


def documents() -> list[Document]:
    db.session.expire_all()
    return Document.query.order_by(Document.id).all()


def add_document(provider, kind=K.SAFEGUARDING_POLICY, *, setting=None, **fields) -> Document:
    """A document row made directly, for pages that only list documents."""
    doc = Document(provider_id=provider.id, setting_id=setting.id if setting else None, kind=kind,
                   storage_key=new_key(f"providers/{provider.id}"),
                   original_filename=fields.pop("original_filename", f"{kind.value}.pdf"),
                   content_type="application/pdf", size_bytes=10, sha256="0" * 64, **fields)
    db.session.add(doc)
    db.session.commit()
    return doc


# --- uploading ----------------------------------------------------------------

def test_insurance_upload_is_stored_and_recorded(app, client, owner):
    r = upload(client, K.PUBLIC_LIABILITY, PDF, "PL certificate 2026.pdf", **INSURANCE)
    assert r.status_code == 303 and r.headers["Location"] == "/evidence/"
    [doc] = documents()
    assert (doc.provider_id, doc.kind, doc.status) == (owner.provider_id, K.PUBLIC_LIABILITY,
                                                       S.AWAITING_CHECK)
    assert doc.original_filename == "PL certificate 2026.pdf"
    assert doc.content_type == "application/pdf"
    assert doc.size_bytes == len(PDF) and doc.sha256 == hashlib.sha256(PDF).hexdigest()
    assert (doc.insurer, doc.policy_number, doc.cover_amount) == ("Aviva", "PL-2026-001",
                                                                  Decimal("5000000.00"))
    assert doc.expires_on.isoformat() == "2030-03-31" and doc.uploaded_by_id == owner.id
    stored = Path(app.config["STORAGE_DIR"]) / doc.storage_key
    assert stored.read_bytes() == PDF
    assert "PL certificate" not in doc.storage_key  # the name is metadata only
    [event] = AuditEvent.query.filter_by(action="document.uploaded").all()
    assert event.subject_id == doc.id and event.provider_id == owner.provider_id
    page = client.get("/evidence/").data.decode()
    assert "Public liability insurance uploaded" in page
    assert "PL certificate 2026.pdf" in page and "Awaiting check" in page


@pytest.mark.parametrize("kind,data,name", [
    (K.SAFEGUARDING_POLICY, docx_bytes(), "Safeguarding policy.docx"),
    (K.CREDIT_REPORT, png_bytes(), "credit.png"),
    (K.ACCOUNTS, JPEG, "accounts.JPG"),
])
def test_other_allowed_types_are_accepted(client, owner, kind, data, name):
    r = upload(client, kind, data, name)
    assert r.status_code == 303
    [doc] = documents()
    assert doc.kind == kind and doc.original_filename == name and doc.expires_on is None


def test_uploaded_name_is_sanitised(client, owner):
    upload(client, K.ACCOUNTS, PDF, "../../etc/passwd.pdf")
    assert documents()[0].original_filename == "passwd.pdf"


@pytest.mark.parametrize("data,name,message", [
    (ELF, "insurance.pdf", "The selected file must be a PDF, Word document (DOCX), PNG or JPEG"),
    (HTML, "insurance.pdf", "The selected file must be a PDF, Word document (DOCX), PNG or JPEG"),
    (zip_bytes(), "policy.docx", "It is a zip file that is not a Word document"),
    (png_bytes(), "insurance.pdf", "The selected file is a PNG image but is named .pdf"),
    (b"", "insurance.pdf", "The selected file is empty"),
    (None, "", "Select a file"),
])
def test_bad_files_are_refused_and_nothing_is_kept(app, client, owner, data, name, message):
    before = stored_files(app)
    r = upload(client, K.PUBLIC_LIABILITY, data, name, **INSURANCE)
    assert r.status_code == 400
    html = r.data.decode()
    assert "There is a problem" in html and message in html
    assert 'value="Aviva"' in html and 'value="PL-2026-001"' in html  # typed answers kept
    assert documents() == [] and stored_files(app) == before


def test_file_over_the_limit_is_refused_while_streaming(app, client, owner, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_UPLOAD_BYTES", 4 * 1024)
    before = stored_files(app)
    r = upload(client, K.ACCOUNTS, PDF + b"%" + b"x" * 4 * 1024, "accounts.pdf")
    assert r.status_code == 400
    assert "The selected file must be smaller than 4KB" in r.data.decode()
    assert documents() == [] and stored_files(app) == before


def test_file_at_the_limit_is_accepted(app, client, owner, monkeypatch):
    data = PDF + b"%" * (4 * 1024 - len(PDF))
    monkeypatch.setitem(app.config, "MAX_UPLOAD_BYTES", len(data))
    assert upload(client, K.ACCOUNTS, data, "accounts.pdf").status_code == 303
    assert documents()[0].size_bytes == 4 * 1024


@pytest.mark.parametrize("fields,messages", [
    ({}, ["Enter the name of the insurer", "Enter the policy number", "Enter the cover amount",
          "Enter the expiry date"]),
    ({**INSURANCE, "cover_amount": "lots"}, ["Cover amount must be a number, like 5,000,000"]),
    ({**INSURANCE, "cover_amount": "0"}, ["Cover amount must be more than £0"]),
    ({**INSURANCE, "expires_on": ["31", "2", "2030"]}, ["Expiry date must be a real date"]),
    ({**INSURANCE, "expires_on": ["1", "", "2030"]}, ["Expiry date must be a real date"]),
    ({**INSURANCE, "expires_on": ["1"]}, ["Expiry date must be a real date"]),
])
def test_insurance_details_are_validated(app, client, owner, fields, messages):
    before = stored_files(app)
    r = upload(client, K.EMPLOYERS_LIABILITY, PDF, "el.pdf", **fields)
    assert r.status_code == 400
    html = r.data.decode()
    for message in messages:
        assert message in html
    # A good file must be chosen again, and the page says so.
    assert "Select the file again" in html
    assert documents() == [] and stored_files(app) == before


def test_expiry_date_is_optional_for_other_documents_but_kept_when_given(client, owner):
    r = upload(client, K.SAFEGUARDING_POLICY, PDF, "policy.pdf", expires_on=["1", "9", "2027"])
    assert r.status_code == 303
    assert documents()[0].expires_on.isoformat() == "2027-09-01"
    assert client.get("/evidence/upload?kind=safeguarding_policy").status_code == 200


def test_replacing_a_document_supersedes_the_old_version(client, owner):
    upload(client, K.PUBLIC_LIABILITY, PDF, "2025.pdf", **INSURANCE)
    page = client.get("/evidence/upload?kind=public_liability").data.decode()
    assert "Replace your public liability insurance" in page and "This replaces 2025.pdf" in page
    upload(client, K.PUBLIC_LIABILITY, PDF, "2026.pdf", **INSURANCE)
    old, new = documents()
    assert (old.status, new.status) == (S.SUPERSEDED, S.AWAITING_CHECK)
    superseded = AuditEvent.query.filter_by(action="document.superseded").one()
    assert superseded.subject_id == old.id and superseded.after["replaced_by"] == new.id
    library = client.get("/evidence/").data.decode()
    assert "2026.pdf" in library and "Earlier versions" in library
    detail = client.get(f"/evidence/{new.id}").data.decode()
    assert "2025.pdf" in detail and "Replaced" in detail


def test_a_rejected_document_stays_rejected_when_replaced(client, owner, provider):
    rejected = add_document(provider, K.ACCOUNTS, status=S.REJECTED,
                            rejection_reason="These accounts are for 2019")
    upload(client, K.ACCOUNTS, PDF, "accounts-2025.pdf")
    db.session.refresh(rejected)
    assert rejected.status is S.REJECTED
    assert documents()[-1].status is S.AWAITING_CHECK


def test_next_page_is_followed_only_when_local(client, owner):
    r = upload(client, K.ACCOUNTS, PDF, "a.pdf", query="&next=/applications/7/evidence")
    assert r.headers["Location"] == "/applications/7/evidence"
    r = upload(client, K.ACCOUNTS, PDF, "b.pdf", query="&next=//evil.example/")
    assert r.headers["Location"] == "/evidence/"


def test_failed_commit_leaves_no_file(app, client, owner, monkeypatch):
    before = stored_files(app)

    def broken_commit():
        raise RuntimeError("database went away")
    monkeypatch.setattr(db.session, "commit", broken_commit)
    with pytest.raises(RuntimeError):
        upload(client, K.ACCOUNTS, PDF, "accounts.pdf")
    monkeypatch.undo()
    assert documents() == [] and stored_files(app) == before


def test_kind_can_be_chosen_on_the_page(client, owner):
    page = client.get("/evidence/upload?next=/applications/3")
    assert page.status_code == 200 and 'name="kind"' in page.data.decode()
    assert 'value="/applications/3"' in page.data.decode()
    r = client.get("/evidence/upload?choose=1")
    assert r.status_code == 400 and "Select what you are uploading" in r.data.decode()
    r = client.get("/evidence/upload?choose=1&kind=credit_report")
    assert r.status_code == 200 and "Upload your credit report" in r.data.decode()
    assert client.get("/evidence/upload?kind=passport").status_code == 404


def test_date_fields_missing_from_the_post_do_not_break_the_page(client, owner):
    r = client.post("/evidence/upload?kind=motor_insurance", data={"insurer": "Aviva"},
                    content_type="multipart/form-data")
    assert r.status_code == 400 and "Enter the expiry date" in r.data.decode()


# --- Ofsted certificates belong to a setting ----------------------------------

def test_ofsted_certificate_for_a_setting_in_the_query(client, owner, provider):
    oak = make_setting(provider, name="Oak House")
    page = client.get(f"/evidence/upload?kind=ofsted_certificate&setting_id={oak.id}")
    assert "Upload the Ofsted registration certificate for Oak House" in page.data.decode()
    r = upload(client, K.OFSTED_CERTIFICATE, PDF, "oak.pdf", query=f"&setting_id={oak.id}")
    assert r.status_code == 303
    [doc] = documents()
    assert doc.setting_id == oak.id
    assert "Ofsted registration certificate for Oak House" in client.get("/evidence/").data.decode()


def test_ofsted_certificate_setting_can_be_selected(client, owner, provider):
    oak = make_setting(provider, name="Oak House")
    make_setting(provider, name="Elm House")
    page = client.get("/evidence/upload?kind=ofsted_certificate").data.decode()
    assert "Oak House" in page and "Elm House" in page
    r = upload(client, K.OFSTED_CERTIFICATE, PDF, "oak.pdf", setting_id="")
    assert r.status_code == 400 and "Select the setting this certificate is for" in r.data.decode()
    r = upload(client, K.OFSTED_CERTIFICATE, PDF, "oak.pdf", setting_id=str(oak.id))
    assert r.status_code == 303 and documents()[0].setting_id == oak.id


def test_ofsted_certificate_needs_a_setting_first(client, owner):
    r = client.get("/evidence/upload?kind=ofsted_certificate")
    assert r.status_code == 200 and "Add a setting first" in r.data.decode()


def test_another_providers_setting_is_not_found(app, client, owner, provider):
    other_setting = make_setting(make_provider())
    url = f"/evidence/upload?kind=ofsted_certificate&setting_id={other_setting.id}"
    assert client.get(url).status_code == 404
    before = stored_files(app)
    r = upload(client, K.OFSTED_CERTIFICATE, PDF, "x.pdf", query=f"&setting_id={other_setting.id}")
    assert r.status_code == 404 and documents() == [] and stored_files(app) == before
    own = make_setting(provider)
    r = upload(client, K.OFSTED_CERTIFICATE, PDF, "x.pdf", setting_id=str(other_setting.id))
    assert r.status_code == 400 and documents() == []
    own_url = f"/evidence/upload?kind=ofsted_certificate&setting_id={own.id}"
    assert client.get(own_url).status_code == 200
    assert client.get("/evidence/upload?kind=ofsted_certificate&setting_id=abc").status_code == 404


# --- the library ----------------------------------------------------------------

def test_library_shows_statuses_and_expiry_warnings(client, owner, provider):
    today = datetime.now(LONDON).date()
    add_document(provider, K.PUBLIC_LIABILITY, status=S.VERIFIED, insurer="Zurich",
                 policy_number="Z-1", cover_amount=Decimal("10000000"),
                 expires_on=today + timedelta(days=30))
    add_document(provider, K.EMPLOYERS_LIABILITY, status=S.VERIFIED, insurer="Hiscox",
                 policy_number="H-1", cover_amount=Decimal("5000000"),
                 expires_on=today - timedelta(days=1))
    add_document(provider, K.PROFESSIONAL_INDEMNITY, insurer="Aviva", policy_number="A-1",
                 cover_amount=Decimal("2000000"), expires_on=today + timedelta(days=200))
    add_document(provider, K.SAFEGUARDING_POLICY, status=S.REJECTED,
                 rejection_reason="The policy is not signed by a director")
    make_setting(provider, name="Oak House")
    html = client.get("/evidence/").data.decode()
    assert "Verified" in html and "Awaiting check" in html and "Rejected" in html
    assert "The policy is not signed by a director" in html
    assert "Expires in 30 days" in html and "Expired" in html
    assert "Zurich" in html and "£10,000,000.00" in html and "Z-1" in html
    # Credit report or accounts, and Oak House's certificate, are still needed.
    assert html.count("Not uploaded") >= 4
    assert "Upload a credit report or your latest accounts" in html
    assert "Ofsted registration certificate for Oak House" in html
    assert "You have not uploaded 2 required documents yet" in html


def test_library_lists_only_the_providers_own_documents(client, owner, provider):
    add_document(provider, original_filename="ours.pdf")
    add_document(make_provider(), original_filename="theirs.pdf")
    html = client.get("/evidence/").data.decode()
    assert "ours.pdf" in html and "theirs.pdf" not in html


@pytest.mark.parametrize("role", [Role.EVALUATOR, Role.MANAGER, Role.MEMBER_OFFICER, Role.ADMIN])
def test_staff_cannot_use_the_providers_library(client, app_ctx, role):
    login(client, make_user(role))
    assert client.get("/evidence/").status_code == 403
    assert client.get("/evidence/upload?kind=accounts").status_code == 403


# --- downloading and viewing ------------------------------------------------------

def _assert_download(r, data: bytes, ascii_name: str):
    assert r.status_code == 200 and r.data == data
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"].startswith(f'attachment; filename="{ascii_name}"')
    assert "filename*=UTF-8''" in r.headers["Content-Disposition"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "private, no-store"


def test_owner_and_staff_can_download(app, client, owner):
    upload(client, K.ACCOUNTS, PDF, "Comptes été 2025.pdf")
    [doc] = documents()
    _assert_download(client.get(f"/evidence/{doc.id}/download"), PDF, "Comptes ete 2025.pdf")
    for role in (Role.EVALUATOR, Role.MEMBER_OFFICER):
        staff = app.test_client()
        login(staff, make_user(role))
        _assert_download(staff.get(f"/evidence/{doc.id}/download"), PDF, "Comptes ete 2025.pdf")
        detail = staff.get(f"/evidence/{doc.id}")
        assert detail.status_code == 200 and "Comptes été 2025.pdf" in detail.data.decode()


def test_colleagues_in_the_same_organisation_can_download(app, client, owner, provider):
    upload(client, K.ACCOUNTS, PDF, "accounts.pdf")
    colleague = app.test_client()
    login(colleague, make_user(Role.PROVIDER_ADMIN, provider))
    assert colleague.get(f"/evidence/{documents()[0].id}/download").status_code == 200


def test_another_provider_gets_not_found(app, client, owner):
    upload(client, K.ACCOUNTS, PDF, "accounts.pdf")
    [doc] = documents()
    other = app.test_client()
    login(other, make_user(Role.PROVIDER_ADMIN, make_provider()))
    assert other.get(f"/evidence/{doc.id}/download").status_code == 404
    assert other.get(f"/evidence/{doc.id}").status_code == 404
    assert other.get("/evidence/999999/download").status_code == 404
    assert other.get("/evidence/99999999999").status_code == 404


def test_detail_shows_metadata_and_history(client, owner):
    upload(client, K.PUBLIC_LIABILITY, PDF, "2025.pdf", **INSURANCE)
    upload(client, K.PUBLIC_LIABILITY, PDF, "2026.pdf", **{**INSURANCE, "insurer": "Hiscox"})
    old, new = documents()
    html = client.get(f"/evidence/{new.id}").data.decode()
    assert "Hiscox" in html and "PL-2026-001" in html and "£5,000,000.00" in html
    assert "31 March 2030" in html and new.sha256 in html
    assert f"/evidence/{old.id}" in html  # the earlier version is linked
    assert "Upload a new version" in html


# --- htmx ------------------------------------------------------------------------

HX = {"HX-Request": "true", "HX-Target": "upload-form"}


def test_htmx_errors_swap_only_the_form(client, owner):
    r = upload(client, K.PUBLIC_LIABILITY, png_bytes(), "cert.pdf", headers=HX, **INSURANCE)
    html = r.data.decode()
    assert r.status_code == 400
    assert html.lstrip().startswith('<form id="upload-form"') and "<html" not in html
    assert "There is a problem" in html and "is a PNG image but is named .pdf" in html


def test_htmx_success_redirects_the_browser(client, owner):
    r = upload(client, K.ACCOUNTS, PDF, "a.pdf", query="&next=/applications/1", headers=HX)
    assert r.status_code == 200 and r.headers["HX-Redirect"] == "/applications/1"
    assert len(documents()) == 1


def test_upload_form_works_without_javascript(client, owner):
    html = client.get("/evidence/upload?kind=public_liability").data.decode()
    assert 'method="post"' in html and 'enctype="multipart/form-data"' in html
    assert 'hx-encoding="multipart/form-data"' in html and 'type="file"' in html
