"""Administrators manage the lead and member authorities, their access
agreements (which lots, for what yearly fee, from when until when) and the
API tokens their brokerage tools use."""
from collections import defaultdict

import sqlalchemy as sa
from flask import abort, flash, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from app.authorities import bp
from app.authorities.forms import (LEAD, MEMBER, AgreementForm, AuthorityForm, ConfirmForm,
                                   EndAgreementForm, TokenForm)
from app.domain import agreements, api_tokens
from app.domain.applications import today
from app.extensions import db
from app.forms import spend_token
from app.models import AccessAgreement, ApiToken, Authority, Lot, User
from app.web import audit_ctx, redirect_303, render


def _authority_or_404(authority_id: int) -> Authority:
    return db.session.get(Authority, authority_id) or abort(404)


def _agreement_or_404(agreement_id: int) -> AccessAgreement:
    return db.session.get(AccessAgreement, agreement_id) or abort(404)


def _token_or_404(token_id: int) -> ApiToken:
    return db.session.get(ApiToken, token_id) or abort(404)


def _lots() -> list[Lot]:
    return list(db.session.execute(sa.select(Lot).order_by(Lot.dps_id, Lot.number)).scalars())


def _show_error(form, exc) -> None:
    """Put a domain refusal next to the field it is about (else the first)."""
    field = getattr(form, exc.field or "", None) or next(
        f for f in form if f.type not in ("CSRFTokenField", "HiddenField"))
    field.errors = [*field.errors, str(exc)]


def _form_status(form) -> int:
    return 400 if form.errors else 200


@bp.get("/")
def index():
    authorities = db.session.execute(
        sa.select(Authority)
        .options(selectinload(Authority.agreements).selectinload(AccessAgreement.lot))
        .order_by(Authority.is_lead.desc(), Authority.name)
    ).scalars().all()
    tokens = defaultdict(list)
    for token in db.session.execute(
            sa.select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(),
                                         ApiToken.id.desc())).scalars():
        tokens[token.authority_id].append(token)
    staff = dict(db.session.execute(
        sa.select(User.authority_id, sa.func.count()).where(User.authority_id.is_not(None))
        .group_by(User.authority_id)).all())
    on = today()
    return render("authorities/index.html", title="Authorities", authorities=authorities,
                  tokens=tokens, staff=staff, today=on, state=agreements.agreement_state,
                  has_lead=any(a.is_lead for a in authorities),
                  confirm=ConfirmForm())


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = AuthorityForm()
    if form.validate_on_submit():
        try:
            authority = agreements.create_authority(audit_ctx(), name=form.name.data,
                                                    is_lead=form.kind.data == LEAD)
        except agreements.AgreementError as exc:
            _show_error(form, exc)
        else:
            spend_token(form, url_for("authorities.index"))
            db.session.commit()
            flash(f"{authority.name} added.", "success")
            return redirect_303("authorities.index")
    elif not form.is_submitted():
        form.kind.data = MEMBER
    return render("authorities/authority_form.html", title="Add an authority", form=form,
                  status=_form_status(form))


@bp.route("/<int:authority_id>/edit", methods=["GET", "POST"])
def edit(authority_id: int):
    authority = _authority_or_404(authority_id)
    form = AuthorityForm(data={"name": authority.name,
                               "kind": LEAD if authority.is_lead else MEMBER})
    if form.validate_on_submit():
        try:
            changed = agreements.update_authority(audit_ctx(), authority, name=form.name.data,
                                                  is_lead=form.kind.data == LEAD)
        except agreements.AgreementError as exc:
            _show_error(form, exc)
        else:
            db.session.commit()
            if changed:
                flash(f"{authority.name} saved.", "success")
            return redirect_303("authorities.index")
    return render("authorities/authority_form.html", title=f"Change {authority.name}",
                  form=form, authority=authority, status=_form_status(form))


def _save_agreement(form, save):
    """Run a domain save for a valid agreement form; on success commit and
    return the redirect, else leave the refusal on the form."""
    lot = db.session.get(Lot, int(form.lot_id.data))
    try:
        agreement = save(lot)
    except agreements.AgreementError as exc:
        _show_error(form, exc)
        return None
    db.session.commit()
    flash(f"Agreement for Lot {lot.number} saved for {agreement.authority.name}: "
          f"{_dates(agreement)}.", "success")
    return redirect_303("authorities.index")


def _dates(agreement: AccessAgreement) -> str:
    return (f"{agreement.starts_on.day} {agreement.starts_on:%B %Y} to "
            f"{agreement.ends_on.day} {agreement.ends_on:%B %Y}")


@bp.route("/<int:authority_id>/agreements/new", methods=["GET", "POST"])
def agreement_new(authority_id: int):
    authority = _authority_or_404(authority_id)
    if authority.is_lead:
        flash("The lead authority sees every lot: it needs no access agreement.")
        return redirect_303("authorities.index")
    form = AgreementForm(_lots())
    if form.validate_on_submit():
        spend_token(form, url_for("authorities.index"))
        done = _save_agreement(form, lambda lot: agreements.add_agreement(
            audit_ctx(), authority, lot=lot, annual_fee=form.fee,
            starts_on=form.starts_on.data, ends_on=form.ends_on.data))
        if done:
            return done
    return render("authorities/agreement_form.html", title="Add an access agreement",
                  form=form, authority=authority, status=_form_status(form))


@bp.route("/agreements/<int:agreement_id>/edit", methods=["GET", "POST"])
def agreement_edit(agreement_id: int):
    agreement = _agreement_or_404(agreement_id)
    form = AgreementForm(_lots(), data={
        "lot_id": str(agreement.lot_id), "annual_fee": f"{agreement.annual_fee:,.2f}",
        "starts_on": agreement.starts_on, "ends_on": agreement.ends_on})
    def save(lot):
        agreements.update_agreement(audit_ctx(), agreement, lot=lot, annual_fee=form.fee,
                                    starts_on=form.starts_on.data, ends_on=form.ends_on.data)
        return agreement

    if form.validate_on_submit():
        done = _save_agreement(form, save)
        if done:
            return done
    return render("authorities/agreement_form.html", title="Change an access agreement",
                  form=form, authority=agreement.authority, agreement=agreement,
                  status=_form_status(form))


@bp.route("/agreements/<int:agreement_id>/end", methods=["GET", "POST"])
def agreement_end(agreement_id: int):
    agreement = _agreement_or_404(agreement_id)
    form = EndAgreementForm()
    if form.validate_on_submit():
        try:
            agreements.end_agreement(audit_ctx(), agreement, last_day=form.last_day.data,
                                     reason=(form.reason.data or "").strip() or None)
        except agreements.AgreementError as exc:
            _show_error(form, exc)
        else:
            db.session.commit()
            flash(f"Agreement for Lot {agreement.lot.number} ends on "
                  f"{agreement.ends_on.day} {agreement.ends_on:%B %Y}.", "success")
            return redirect_303("authorities.index")
    elif not form.is_submitted():
        form.last_day.data = max(today(), agreement.starts_on)
    return render("authorities/agreement_end.html", title="End an access agreement",
                  form=form, agreement=agreement, status=_form_status(form))


@bp.route("/<int:authority_id>/tokens/new", methods=["GET", "POST"])
def token_new(authority_id: int):
    authority = _authority_or_404(authority_id)
    form = TokenForm()
    if form.validate_on_submit():
        try:
            token, plaintext = api_tokens.issue_token(audit_ctx(), authority,
                                                      name=form.name.data,
                                                      created_by_id=current_user.id)
        except api_tokens.TokenError as exc:
            _show_error(form, exc)
        else:
            # A repeat cannot show the secret again: it goes to the authority's tokens.
            spend_token(form, url_for("authorities.index"))
            db.session.commit()
            # Shown on this response only, never stored or put in the session
            # (a cookie): so no redirect, and nothing may cache the page.
            body, status = render("authorities/token_issued.html", title="API token issued",
                                  authority=authority, token=token, plaintext=plaintext)
            return body, status, {"Cache-Control": "no-store"}
    return render("authorities/token_form.html", title="Issue an API token", form=form,
                  authority=authority, status=_form_status(form))


@bp.post("/tokens/<int:token_id>/revoke")
def token_revoke(token_id: int):
    token = _token_or_404(token_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        api_tokens.revoke_token(audit_ctx(), token, by_user_id=current_user.id)
    except api_tokens.TokenError as exc:
        flash(str(exc))
    else:
        db.session.commit()
        flash(f"Token {token.prefix}… ({token.name}) revoked: it no longer works.", "success")
    return redirect_303("authorities.index")
