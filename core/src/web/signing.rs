//! Signing pages: a document of an application with its signatures, the
//! applicant's way to sign it (an SMS code, CryptoPro, NCALayer), signature
//! files beside it, the signed package; and the office's side of the same
//! (asking for signatures, the utility's own signature).

use super::shared::{self, staff};
use super::{AppState, CsrfForm, Ctx, FormBy, OwnApplication, WebError, attachment, with_status};
use crate::account::Account;
use crate::application::Application;
use crate::signing::{self, Asked, Scheme, Side, SignError, Signer, pep};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/applications/{id}/documents/{file}", get(page))
        .route("/applications/{id}/documents/{file}/sign", post(sign))
        .route("/applications/{id}/documents/{file}/code", post(send_code))
        .route("/applications/{id}/documents/{file}/confirm", post(confirm))
        .route(
            "/applications/{id}/documents/{file}/signature-file",
            post(signature_file),
        )
        .route(
            "/applications/{id}/documents/{file}/package.zip",
            get(package),
        )
        .route(
            "/applications/{id}/signatures/{sig}",
            get(signature_download),
        )
        .route(
            "/office/applications/{id}/documents/{file}",
            get(office_page),
        )
        .route(
            "/office/applications/{id}/documents/{file}/ask",
            post(office_ask),
        )
        .route(
            "/office/applications/{id}/documents/{file}/sign",
            post(office_sign),
        )
        .route(
            "/office/applications/{id}/documents/{file}/package.zip",
            get(office_package),
        )
        .route(
            "/office/applications/{id}/signatures/{sig}",
            get(office_signature_download),
        )
}

fn parse_id(s: &str) -> Result<i64, WebError> {
    s.parse().map_err(|_| WebError::NotFound)
}

/// The application of the office's tenant (never a draft) with its applicant.
async fn office_application(
    st: &AppState,
    ctx: &Ctx,
    id: &str,
) -> Result<(Application, Account), WebError> {
    let r = crate::office::queue::card(&st.db, &ctx.tenant, parse_id(id)?)
        .await?
        .ok_or(WebError::NotFound)?;
    let acc = crate::account::get(&st.db, ctx.slug(), r.app.account_id)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok((r.app, acc))
}

async fn doc(
    st: &AppState,
    ctx: &Ctx,
    a: &Application,
    file: &str,
) -> Result<signing::Document, WebError> {
    signing::document(&st.db, ctx.slug(), a.id, parse_id(file)?)
        .await?
        .ok_or(WebError::NotFound)
}

#[derive(serde::Deserialize, Default)]
struct PageQuery {
    signed: Option<String>,
    sent: Option<String>,
    checked: Option<String>,
}

/// What went wrong with the last attempt, shown beside the widget it
/// concerns: `code` (the SMS form), `cms` (the plug-in) or `file`.
#[derive(Default)]
struct Problem {
    at: &'static str,
    message: String,
}

async fn page(
    ctx: Ctx,
    State(st): State<AppState>,
    OwnApplication(acc, a): OwnApplication,
    Path((_, file)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> Result<Response, WebError> {
    let d = doc(&st, &ctx, &a, &file).await?;
    let notice = if q.signed.is_some() {
        Some("Документ подписан.")
    } else if q.sent.is_some() {
        Some("Код отправлен на ваш телефон.")
    } else if q.checked.is_some() {
        Some("Файл подписи проверен: результат в списке подписей.")
    } else {
        None
    };
    render_page(&st, &ctx, &acc, &a, &d, notice, None, StatusCode::OK).await
}

#[allow(clippy::too_many_arguments)]
async fn render_page(
    st: &AppState,
    ctx: &Ctx,
    acc: &Account,
    a: &Application,
    d: &signing::Document,
    notice: Option<&str>,
    problem: Option<Problem>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let sigs = signing::signatures_of(&st.db, ctx.slug(), a.id).await?;
    let turn = signing::turn_now(&st.db, &ctx.tenant, a, d, Side::Applicant, &sigs).await?;
    let scheme = signing::scheme_of(&ctx.tenant, acc, d);
    let pep_view = if scheme == Some(Scheme::PepSms) {
        Some(context! {
            agreed => pep::agreed(&st.db, &ctx.tenant, acc).await?,
            pending => pep::pending(&st.db, ctx.slug(), acc.id, d.id).await?,
            phone => acc.phone.as_deref().filter(|_| acc.phone_confirmed).map(mask_phone),
            version => &ctx.tenant.config.signature.pep_agreement,
        })
    } else {
        None
    };
    let problem = problem.unwrap_or_default();
    let base = format!("{}/applications/{}", ctx.base, a.id);
    let page = ctx.render(
        "portal/sign.html",
        Some(acc),
        context! {
            a => context! { id => a.id, number => &a.number },
            doc => shared::document_view(ctx, d),
            text => shared::document_text(st, d).await,
            signatures => shared::signature_views(ctx, &sigs, d.id, &base),
            turn => turn,
            scheme => scheme.map(Scheme::id),
            pep => pep_view,
            widget => shared::sign_widget(ctx, &base, d, scheme, "SIGNATURE", &format!("{base}/documents/{}/sign", d.id)),
            upload => ctx.tenant.config.signature.upload,
            notice => notice,
            problem_at => problem.at,
            problem => problem.message,
            package => format!("{base}/documents/{}/package.zip", d.id),
        },
    )?;
    let page = shared::with_signing_csp(page, &ctx.tenant);
    Ok(with_status(page, status))
}

/// "+7 900 ***-**-67": enough to know which phone, not enough to read it.
fn mask_phone(p: &str) -> String {
    let digits: Vec<char> = p.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 4 {
        return p.to_string();
    }
    let tail: String = digits[digits.len() - 2..].iter().collect();
    format!(
        "+{} ***-**-{tail}",
        digits[..digits.len() - 7].iter().collect::<String>()
    )
}

/// Whether `side` has signed `d` by now: a press that lost to its twin
/// (a double click) shows the signature, not an error.
async fn signed_by(
    st: &AppState,
    ctx: &Ctx,
    a: &Application,
    d: &signing::Document,
    side: Side,
) -> bool {
    match signing::signatures_of(&st.db, ctx.slug(), a.id).await {
        Ok(sigs) => signing::turn(d, side, &sigs) == signing::Turn::Signed,
        Err(_) => false,
    }
}

fn back_to(ctx: &Ctx, a: &Application, d: i64, flag: &str) -> Response {
    Redirect::to(&format!(
        "{}/applications/{}/documents/{d}?{flag}=1",
        ctx.base, a.id
    ))
    .into_response()
}

/// The applicant's CMS signature from CryptoPro or NCALayer.
async fn sign(
    ctx: Ctx,
    State(st): State<AppState>,
    Path((_, file)): Path<(String, String)>,
    FormBy(OwnApplication(acc, a), form): FormBy<OwnApplication>,
) -> Result<Response, WebError> {
    let d = doc(&st, &ctx, &a, &file).await?;
    let scheme = signing::scheme_of(&ctx.tenant, &acc, &d)
        .filter(|s| s.is_certificate())
        .ok_or(WebError::NotFound)?;
    match sign_cms(
        &st,
        &ctx,
        &acc,
        &a,
        &d,
        Signer::Applicant(&acc),
        scheme,
        &form,
    )
    .await
    {
        Ok(()) => Ok(back_to(&ctx, &a, d.id, "signed")),
        Err(e) => show_problem(&st, &ctx, &acc, &a, &d, "cms", e.message()).await,
    }
}

/// One CMS signature of `d` by `signer`, as the form posted it. Ok when
/// the document is signed by the signer's side, by this press or by a
/// twin press that got there first (a double click shows the signature).
#[allow(clippy::too_many_arguments)]
async fn sign_cms(
    st: &AppState,
    ctx: &Ctx,
    acc: &Account,
    a: &Application,
    d: &signing::Document,
    signer: Signer<'_>,
    scheme: Scheme,
    form: &std::collections::BTreeMap<String, String>,
) -> Result<(), SignError> {
    let cms = form.get("signature").map(String::as_str).unwrap_or("");
    let recipient = shared::recipient(st, ctx, acc, a);
    let res = signing::sign_with_cms(
        &st.db,
        &st.files,
        signing::Signing {
            tenant: &ctx.tenant,
            application: a,
            file: d.id,
            signer,
            scheme,
            cms: cms.as_bytes(),
            recipient: &recipient,
        },
    )
    .await;
    match res {
        Ok(_) => {
            st.outbox_wake.notify_one();
            Ok(())
        }
        Err(SignError::AlreadySigned | SignError::NotAsked)
            if signed_by(st, ctx, a, d, signer.side()).await =>
        {
            Ok(())
        }
        Err(e) => {
            if matches!(
                e,
                SignError::Db(_) | SignError::Io(_) | SignError::Workflow(_)
            ) {
                tracing::error!(error = %e, "signing failed");
            }
            Err(e)
        }
    }
}

async fn refused(
    st: &AppState,
    ctx: &Ctx,
    acc: &Account,
    a: &Application,
    d: &signing::Document,
    at: &'static str,
    e: SignError,
) -> Result<Response, WebError> {
    if matches!(
        e,
        SignError::Db(_) | SignError::Io(_) | SignError::Workflow(_)
    ) {
        tracing::error!(error = %e, "signing failed");
    }
    show_problem(st, ctx, acc, a, d, at, e.message()).await
}

/// The document's page again (422) with `message` beside the form `at`.
async fn show_problem(
    st: &AppState,
    ctx: &Ctx,
    acc: &Account,
    a: &Application,
    d: &signing::Document,
    at: &'static str,
    message: String,
) -> Result<Response, WebError> {
    let problem = Problem { at, message };
    render_page(
        st,
        ctx,
        acc,
        a,
        d,
        None,
        Some(problem),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// «Получить код»: accepts the agreement when ticked, sends the SMS.
async fn send_code(
    ctx: Ctx,
    State(st): State<AppState>,
    Path((_, file)): Path<(String, String)>,
    FormBy(OwnApplication(acc, a), form): FormBy<OwnApplication>,
) -> Result<Response, WebError> {
    let d = doc(&st, &ctx, &a, &file).await?;
    if form.get("agree").is_some_and(|v| !v.is_empty()) {
        pep::agree(&st.db, &ctx.tenant, &acc, &ctx.ip, &ctx.user_agent).await?;
    }
    let asking = pep::Asking {
        tenant: &ctx.tenant,
        account: &acc,
        application: &a,
        file: d.id,
        ip: &ctx.ip,
        user_agent: &ctx.user_agent,
    };
    match pep::send(&st.db, asking).await {
        Ok(()) => {
            st.outbox_wake.notify_one();
            Ok(back_to(&ctx, &a, d.id, "sent"))
        }
        Err(e) => pep_refused(&st, &ctx, &acc, &a, &d, e).await,
    }
}

async fn pep_refused(
    st: &AppState,
    ctx: &Ctx,
    acc: &Account,
    a: &Application,
    d: &signing::Document,
    e: pep::PepError,
) -> Result<Response, WebError> {
    let at = match e {
        pep::PepError::NoAgreement => "agree",
        _ => "code",
    };
    if let pep::PepError::Sign(SignError::Db(_)) | pep::PepError::Notify(_) = &e {
        tracing::error!(error = %e, "SMS signing failed");
    }
    show_problem(st, ctx, acc, a, d, at, e.message()).await
}

/// «Подписать» with the code from the SMS.
async fn confirm(
    ctx: Ctx,
    State(st): State<AppState>,
    Path((_, file)): Path<(String, String)>,
    FormBy(OwnApplication(acc, a), form): FormBy<OwnApplication>,
) -> Result<Response, WebError> {
    let d = doc(&st, &ctx, &a, &file).await?;
    let code = form.get("code").map(String::as_str).unwrap_or("");
    let recipient = shared::recipient(&st, &ctx, &acc, &a);
    let asking = pep::Asking {
        tenant: &ctx.tenant,
        account: &acc,
        application: &a,
        file: d.id,
        ip: &ctx.ip,
        user_agent: &ctx.user_agent,
    };
    match pep::confirm(&st.db, asking, code, &recipient).await {
        Ok(_) => {
            st.outbox_wake.notify_one();
            Ok(back_to(&ctx, &a, d.id, "signed"))
        }
        Err(
            pep::PepError::NoCode
            | pep::PepError::Sign(SignError::AlreadySigned | SignError::NotAsked),
        ) if signed_by(&st, &ctx, &a, &d, Side::Applicant).await => {
            Ok(back_to(&ctx, &a, d.id, "signed"))
        }
        Err(e) => pep_refused(&st, &ctx, &acc, &a, &d, e).await,
    }
}

/// A `.sig` file made outside the portal, checked on arrival.
async fn signature_file(
    ctx: Ctx,
    State(st): State<AppState>,
    OwnApplication(acc, a): OwnApplication,
    Path((_, file)): Path<(String, String)>,
    multipart: axum::extract::Multipart,
) -> Result<Response, WebError> {
    let d = doc(&st, &ctx, &a, &file).await?;
    let bytes = match shared::small_upload(&ctx, &st, multipart, signing::MAX_CMS).await {
        Ok(b) => b,
        Err(message) => return show_problem(&st, &ctx, &acc, &a, &d, "file", message).await,
    };
    match signing::attach_signature_file(&st.db, &st.files, &ctx.tenant, &acc, &a, d.id, &bytes)
        .await
    {
        Ok(_) => Ok(back_to(&ctx, &a, d.id, "checked")),
        Err(e) => refused(&st, &ctx, &acc, &a, &d, "file", e).await,
    }
}

async fn package(
    ctx: Ctx,
    State(st): State<AppState>,
    OwnApplication(_, a): OwnApplication,
    Path((_, file)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let d = doc(&st, &ctx, &a, &file).await?;
    send_package(&st, &ctx, &a, &d).await
}

async fn send_package(
    st: &AppState,
    ctx: &Ctx,
    a: &Application,
    d: &signing::Document,
) -> Result<Response, WebError> {
    let bytes = signing::report::package(&st.db, &st.files, &ctx.tenant, a, d)
        .await
        .map_err(|e| WebError::Internal(e.into()))?;
    let stem = d
        .file_name
        .rsplit_once('.')
        .map(|(s, _)| s)
        .unwrap_or(&d.file_name);
    Ok(attachment(
        "application/zip",
        "signed.zip",
        &format!("{stem} (подписи).zip"),
        bytes,
    ))
}

async fn signature_download(
    ctx: Ctx,
    State(st): State<AppState>,
    OwnApplication(_, a): OwnApplication,
    Path((_, sig)): Path<(String, String)>,
) -> Result<Response, WebError> {
    send_signature(&st, &ctx, &a, &sig).await
}

async fn send_signature(
    st: &AppState,
    ctx: &Ctx,
    a: &Application,
    sig: &str,
) -> Result<Response, WebError> {
    let stored = signing::stored(&st.db, ctx.slug(), a.id, parse_id(sig)?)
        .await?
        .ok_or(WebError::NotFound)?;
    let (bytes, mime, ext) = match signing::report::signature_file(&stored) {
        Some(f) => f,
        None => return Err(WebError::NotFound),
    };
    let d = signing::document(&st.db, ctx.slug(), a.id, stored.signature.file_id)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(attachment(
        mime,
        &format!("signature.{ext}"),
        &format!("{}.{}.{ext}", d.file_name, stored.signature.id),
        bytes,
    ))
}

// ------------------------------------------------------------------ office

/// Back to a document's page in the office, with `query` (may be empty).
fn office_doc(ctx: &Ctx, a: &Application, d: i64, query: &str) -> Response {
    Redirect::to(&format!(
        "{}/office/applications/{}/documents/{d}{query}",
        ctx.base, a.id
    ))
    .into_response()
}

async fn office_page(
    ctx: Ctx,
    State(st): State<AppState>,
    Path((id, file)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> Result<Response, WebError> {
    let s = staff(&st, &ctx).await?;
    let (a, _) = office_application(&st, &ctx, &id).await?;
    let d = doc(&st, &ctx, &a, &file).await?;
    let notice = q.signed.map(|_| "Документ подписан.");
    render_office(&st, &ctx, &s, &a, &d, notice, None).await
}

async fn render_office(
    st: &AppState,
    ctx: &Ctx,
    s: &crate::office::Staff,
    a: &Application,
    d: &signing::Document,
    notice: Option<&str>,
    problem: Option<Problem>,
) -> Result<Response, WebError> {
    let sigs = signing::signatures_of(&st.db, ctx.slug(), a.id).await?;
    let turn = signing::turn_now(&st.db, &ctx.tenant, a, d, Side::Utility, &sigs).await?;
    let scheme = ctx.tenant.config.signature.office_scheme();
    let base = format!("{}/office/applications/{}", ctx.base, a.id);
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let problem = problem.unwrap_or_default();
    let page = shared::render(
        ctx,
        "office/sign.html",
        Some(s),
        context! {
            a => context! { id => a.id, number => &a.number },
            doc => shared::document_view(ctx, d),
            text => shared::document_text(st, d).await,
            signatures => shared::signature_views(ctx, &sigs, d.id, &base),
            turn => turn,
            scheme => scheme.map(Scheme::id),
            widget => shared::sign_widget(ctx, &base, d, scheme, "SIGNATURE", &format!("{base}/documents/{}/sign", d.id)),
            asked => d.asked.map(Asked::id),
            notice => notice,
            problem_at => problem.at,
            problem => problem.message,
            package => format!("{base}/documents/{}/package.zip", d.id),
        },
    )?;
    Ok(with_status(
        shared::with_signing_csp(page, &ctx.tenant),
        status,
    ))
}

/// Staff ask for signatures on a document.
async fn office_ask(
    ctx: Ctx,
    State(st): State<AppState>,
    Path((id, file)): Path<(String, String)>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let s = staff(&st, &ctx).await?;
    let (a, acc) = office_application(&st, &ctx, &id).await?;
    let d = doc(&st, &ctx, &a, &file).await?;
    let Some(asked) = form.get("asked").and_then(|v| Asked::from_id(v)) else {
        let problem = Problem {
            at: "asked",
            message: "Выберите, чьи подписи нужны.".into(),
        };
        return render_office(&st, &ctx, &s, &a, &d, None, Some(problem)).await;
    };
    let recipient = shared::recipient(&st, &ctx, &acc, &a);
    match signing::ask(&st.db, &ctx.tenant, &s, &a, d.id, asked, &recipient).await {
        Ok(()) => {
            st.outbox_wake.notify_one();
            Ok(office_doc(&ctx, &a, d.id, ""))
        }
        Err(SignError::AlreadySigned) => {
            let problem = Problem {
                at: "asked",
                message: "Документ уже подписан: что нужно от сторон, менять поздно.".into(),
            };
            render_office(&st, &ctx, &s, &a, &d, None, Some(problem)).await
        }
        Err(e) => Err(WebError::Internal(e.into())),
    }
}

/// The utility's own signature, made by a staff member's plug-in.
async fn office_sign(
    ctx: Ctx,
    State(st): State<AppState>,
    Path((id, file)): Path<(String, String)>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let s = staff(&st, &ctx).await?;
    let (a, acc) = office_application(&st, &ctx, &id).await?;
    let d = doc(&st, &ctx, &a, &file).await?;
    let scheme = ctx
        .tenant
        .config
        .signature
        .office_scheme()
        .ok_or(WebError::NotFound)?;
    match sign_cms(&st, &ctx, &acc, &a, &d, Signer::Staff(&s), scheme, &form).await {
        Ok(()) => Ok(office_doc(&ctx, &a, d.id, "?signed=1")),
        Err(e) => {
            let problem = Problem {
                at: "cms",
                message: e.message(),
            };
            render_office(&st, &ctx, &s, &a, &d, None, Some(problem)).await
        }
    }
}

async fn office_package(
    ctx: Ctx,
    State(st): State<AppState>,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, WebError> {
    staff(&st, &ctx).await?;
    let (a, _) = office_application(&st, &ctx, &id).await?;
    let d = doc(&st, &ctx, &a, &file).await?;
    send_package(&st, &ctx, &a, &d).await
}

async fn office_signature_download(
    ctx: Ctx,
    State(st): State<AppState>,
    Path((id, sig)): Path<(String, String)>,
) -> Result<Response, WebError> {
    staff(&st, &ctx).await?;
    let (a, _) = office_application(&st, &ctx, &id).await?;
    send_signature(&st, &ctx, &a, &sig).await
}
