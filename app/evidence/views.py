"""The evidence library: one place where a provider keeps the documents every
application reuses, and where staff read them."""
from datetime import datetime

import sqlalchemy as sa
from flask import Response, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user

from app.access import PROVIDER_ROLES, role_required
from app.antivirus import get_scanner
from app.domain import documents
from app.domain.reference import DocumentKind
from app.domain.states import DocumentStatus
from app.evidence import bp
from app.evidence.access import load_document_or_404, load_own_setting_or_404
from app.evidence.forms import ChooseKindForm, UploadForm
from app.extensions import db
from app.filters import LONDON
from app.forms import spend_token
from app.models import Document, Setting
from app.storage import get_storage
from app.web import audit_ctx, render, safe_next

# Shared by the templates: tag colour for each status.
STATUS_COLOURS = {
    DocumentStatus.AWAITING_CHECK: None,  # the default tag colour is blue
    DocumentStatus.VERIFIED: "green",
    DocumentStatus.REJECTED: "red",
    DocumentStatus.SUPERSEDED: "grey",
}


def _today():
    return datetime.now(LONDON).date()


def _template_helpers() -> dict:
    return dict(status_colours=STATUS_COLOURS, expiry_notice=documents.expiry_notice,
                human_size=documents.human_size, today=_today())


def _own_settings() -> list[Setting]:
    return list(db.session.execute(
        sa.select(Setting).where(Setting.provider_id == current_user.provider_id)
        .order_by(Setting.name, Setting.id)
    ).scalars())


@bp.get("/")
@role_required(*PROVIDER_ROLES)
def library():
    if current_user.provider_id is None:
        return redirect(url_for("providers.organisation_new"))
    docs = db.session.execute(
        sa.select(Document).where(Document.provider_id == current_user.provider_id)
    ).scalars().all()
    entries = documents.library_entries(docs, _own_settings())
    return render("evidence/library.html", title="Your evidence",
                  organisation_entries=[e for e in entries if not e.kind.per_setting],
                  ofsted_entries=[e for e in entries if e.kind.per_setting],
                  missing=documents.missing_count(entries), **_template_helpers())


def _kind_from_query() -> DocumentKind | None:
    value = request.args.get("kind")
    if not value:
        return None
    try:
        return DocumentKind(value)
    except ValueError:
        abort(404)


@bp.route("/upload", methods=["GET", "POST"])
@role_required(*PROVIDER_ROLES)
def upload():
    if current_user.provider_id is None:
        return redirect(url_for("providers.organisation_new"))
    kind = _kind_from_query()
    if kind is None:
        return _choose_kind()

    setting = choices = None
    if kind.per_setting:
        if request.args.get("setting_id"):
            setting = load_own_setting_or_404(request.args["setting_id"])
        else:
            choices = _own_settings()
            if not choices:
                return render("evidence/no_settings.html", title="Add a setting first")

    max_bytes = current_app.config["MAX_UPLOAD_BYTES"]
    form = UploadForm(kind, settings=choices, max_bytes=max_bytes)
    if form.is_submitted():
        form.validate()
        upload = form.file.data
        checked = _check_file(form)
        if choices is not None and not form.setting_id.errors:
            setting = next(s for s in choices if str(s.id) == form.setting_id.data)
        if checked and not any(f.errors for f in form):
            # Before the file is stored: a twin sent at the same moment stops here.
            spend_token(form, safe_next("evidence.library"))
            try:
                document = documents.store_document(
                    audit_ctx(), get_storage(), upload.stream, checked,
                    provider_id=current_user.provider_id, kind=kind,
                    setting_id=setting.id if setting else None,
                    uploaded_by_id=current_user.id, metadata=_metadata(form, kind),
                    max_bytes=max_bytes)
            except documents.UploadRejected as exc:
                form.file.errors.append(str(exc))
            else:
                _commit_or_delete(document)
                flash(f"{_describe(kind, setting)} uploaded. We will check it and tell you "
                      "if there is a problem.", "success")
                return _redirect_after_upload()
        if not form.file.errors:
            # Browsers never send a file back to the page, so say what to do.
            form.file.errors.append("Select the file again. We do not keep the file when "
                                    "other answers have a problem")

    current = None
    if setting is not None or not kind.per_setting:
        current = next((d for d in documents.versions_of(
            current_user.provider_id, kind, setting.id if setting else None)
            if d.status is not DocumentStatus.SUPERSEDED), None)
    form_action = url_for("evidence.upload", kind=kind.value,
                          setting_id=setting.id if setting and choices is None else None,
                          next=request.args.get("next") or None)
    verb = "Replace" if current else "Upload"
    return render("evidence/upload.html", fragments={"upload-form": "evidence/_upload_form.html"},
                  status=400 if form.errors else 200,
                  title=f"{verb} {_describe(kind, setting, lower=True)}",
                  form=form, kind=kind, setting=setting, current=current,
                  form_action=form_action, back_url=safe_next("evidence.library"))


def _check_file(form: UploadForm) -> documents.CheckedFile | None:
    """Judge the file by its first bytes; nothing is stored yet."""
    upload = form.file.data
    if not upload:
        form.file.errors.append("Select a file")
        return None
    try:
        return documents.check_file(upload.stream, upload.filename, get_scanner())
    except documents.UploadRejected as exc:
        form.file.errors.append(str(exc))
        return None


def _choose_kind():
    # The GET form marks itself with `choose`, so an empty choice is an error,
    # while a first visit is not.
    form = ChooseKindForm(formdata=request.args if request.args.get("choose") else None)
    if request.args.get("choose"):
        form.validate()
    return render("evidence/choose_kind.html", title="What are you uploading?", form=form,
                  next=request.args.get("next", ""), setting_id=request.args.get("setting_id", ""),
                  back_url=safe_next("evidence.library"), status=400 if form.errors else 200)


def _metadata(form: UploadForm, kind: DocumentKind) -> documents.Metadata:
    if kind.is_insurance:
        return documents.Metadata(insurer=form.insurer.data.strip(),
                                  policy_number=form.policy_number.data.strip(),
                                  cover_amount=form.cover, expires_on=form.expires_on.data)
    return documents.Metadata(expires_on=form.expires_on.data)


def _commit_or_delete(document: Document) -> None:
    """Commit the new document; if that fails, leave no orphan file behind."""
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        get_storage().delete(document.storage_key)
        raise


def _redirect_after_upload():
    target = safe_next("evidence.library")
    if request.headers.get("HX-Request"):
        # htmx would swap a redirected page into the form: send the browser there.
        response = Response(status=200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, code=303)


def _describe(kind: DocumentKind, setting, lower: bool = False) -> str:
    label = kind.label
    if lower:
        # "Ofsted" keeps its capital; the other labels are common nouns.
        label = "the " + label if kind.per_setting else "your " + label[0].lower() + label[1:]
    if setting is not None:
        label += f" for {setting.name}"
    return label


@bp.get("/<int:document_id>/download")
def download(document_id: int):
    document = load_document_or_404(document_id)
    storage = get_storage()
    if not storage.exists(document.storage_key):
        current_app.logger.error("document %s: file %s missing from storage",
                                 document.id, document.storage_key)
        abort(404)
    response = Response(storage.open_chunks(document.storage_key), direct_passthrough=True)
    response.headers["Content-Type"] = document.content_type
    response.headers["Content-Length"] = str(document.size_bytes)
    response.headers["Content-Disposition"] = documents.content_disposition(
        document.original_filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/<int:document_id>")
def detail(document_id: int):
    document = load_document_or_404(document_id)
    history = documents.versions_of(document.provider_id, document.kind, document.setting_id)
    is_owner = current_user.is_provider
    back = safe_next("evidence.library" if is_owner else "staff.dashboard")
    return render("evidence/detail.html", title=_describe(document.kind, document.setting),
                  document=document, history=history, is_owner=is_owner, back_url=back,
                  **_template_helpers())
