//! Views, extractors and helpers the web files share: staff sign-in and
//! the office layout, event and message lines, the fee and field views,
//! file responses, notification recipients and plugin field errors. Web
//! files import each other only through here.

use super::{AppState, Ctx, WebError};
use crate::account::{Account, FieldErrors};
use crate::application::{self as app, Application};
use crate::office::{self, Staff};
use crate::plugin::types::{self as pt};
use crate::store::Author;
use crate::tenant::Tenant;
use crate::tenant::config::FieldDef;
use crate::workflow::{self, Recipient, WorkflowError};
use axum::response::Response;
use minijinja::{Value, context};
use std::collections::BTreeMap;

/// The signed-in staff member, or a redirect to the sign-in page.
pub(super) async fn staff(st: &AppState, ctx: &Ctx) -> Result<Staff, WebError> {
    let login = || WebError::NeedLogin(ctx.url("/office/login"));
    let token = ctx.staff_session.as_deref().ok_or_else(login)?;
    let Some((id, pending)) = office::session(&st.db, ctx.slug(), token)
        .await
        .map_err(internal)?
    else {
        return Err(login());
    };
    if pending {
        return Err(WebError::NeedLogin(ctx.url("/office/login/code")));
    }
    match office::get_staff(&st.db, ctx.slug(), id)
        .await
        .map_err(internal)?
    {
        Some(s) if s.active => Ok(s),
        _ => Err(login()),
    }
}

pub(super) fn internal(e: office::OfficeError) -> WebError {
    WebError::Internal(e.into())
}

pub(super) fn render(
    ctx: &Ctx,
    name: &str,
    s: Option<&Staff>,
    extra: minijinja::Value,
) -> Result<Response, WebError> {
    ctx.render(name, None, context! { staff => s.map(staff_view), ..extra })
}

/// What an event in the history means, in words either side reads.
pub(super) fn event_text(ctx: &Ctx, e: &app::Event) -> String {
    let status = || workflow::status_title(&ctx.tenant, e.status.as_deref().unwrap_or(""));
    use app::EventKind as K;
    let Some(kind) = K::from_id(&e.kind) else {
        return e.kind.clone();
    };
    match kind {
        K::Created => "Создан черновик".into(),
        // Waiting for the signed original, an application is not filed yet
        // (kazenergo, seed 000): "подана" would say otherwise.
        K::Submitted
            if ctx
                .tenant
                .config
                .workflow
                .submitted_edo()
                .is_some_and(|s| Some(s) == e.status.as_deref()) =>
        {
            format!("Заявка отправлена: {}", status())
        }
        K::Submitted => format!("Заявка подана: {}", status()),
        K::Status => format!("Статус: {}", status()),
        K::Resubmitted => format!("Отправлена повторно после доработки: {}", status()),
        K::CustomStatus => "Статус изменён".into(),
        K::Number => "Присвоен регистрационный номер".into(),
        K::Assigned => "Назначен исполнитель".into(),
        K::Message => "Сообщение".into(),
        K::Document => "Документ".into(),
        K::Request => "Запрос документов или сведений".into(),
        K::Stage => "Этап".into(),
        K::Answer => "Ответ заявителя".into(),
        K::Saved => "Черновик сохранён".into(),
        K::Signed => match &e.note {
            Some(n) => format!("Документ подписан: {n}"),
            None => "Документ подписан".into(),
        },
        K::SigningAsked => match &e.note {
            Some(n) => format!("Запрошена подпись документа: {n}"),
            None => "Запрошена подпись документа".into(),
        },
    }
}

/// The correspondence of an application, for either side.
pub(super) async fn message_views(
    st: &AppState,
    ctx: &Ctx,
    application: i64,
    names: &BTreeMap<i64, String>,
) -> Result<Vec<minijinja::Value>, WebError> {
    Ok(office::messages(&st.db, ctx.slug(), application)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|m| {
            context! {
                side => &m.side,
                kind => &m.kind,
                who => actor_name(names, m.author),
                title => &m.title,
                body => minijinja::Value::from_safe_string(m.body.clone()),
                file_id => m.file_id,
                when => ctx.tenant.local_time(&m.created_at),
            }
        })
        .collect())
}

pub(super) use crate::application::word::shown_fields;

/// The plugin's fee for an application, as pages show it.
pub(super) async fn fee_view(
    st: &AppState,
    tenant: &str,
    app_view: pt::Application,
) -> Option<minijinja::Value> {
    crate::application::word::fee_view(&st.plugins, tenant, app_view).await
}

/// Where an application's notifications go: the email and phone given in
/// the application ("для уведомлений"), else the account's.
pub(super) fn recipient<'a>(
    st: &AppState,
    ctx: &Ctx,
    acc: &'a Account,
    a: &'a Application,
) -> Recipient<'a> {
    Recipient::of(acc, a, application_link(st, ctx, a.id))
}

/// An application's page in the applicant's portal, as notifications link it.
pub(super) fn application_link(st: &AppState, ctx: &Ctx, id: i64) -> String {
    format!(
        "{}/applications/{id}",
        ctx.tenant.public_url(&st.cfg.public_url)
    )
}

/// The words for a refused status change; internal failures become a 500.
pub(super) fn refusal_text(e: WorkflowError) -> String {
    match e {
        WorkflowError::Refused(reason) | WorkflowError::Plugin(reason) => reason,
        WorkflowError::NotAllowed => step_message("not_allowed"),
        WorkflowError::Changed => step_message("changed"),
        WorkflowError::Db(_) | WorkflowError::Notify(_) => step_message("failed"),
    }
}

/// One file of an application the caller may already see.
pub(super) async fn send_file(
    st: &AppState,
    ctx: &Ctx,
    application: i64,
    file: &str,
) -> Result<Response, WebError> {
    let file: i64 = file.parse().map_err(|_| WebError::NotFound)?;
    let f = crate::document::files_of(&st.db, ctx.slug(), application)
        .await?
        .into_iter()
        .find(|x| x.id == file)
        .ok_or(WebError::NotFound)?;
    super::stored_file(st, &f.sha256, &f.content_type, "file", &f.file_name).await
}

/// The view of tenant fields a form template loops over.
pub(super) fn field_views<'a>(
    tenant: &Tenant,
    fields: impl Iterator<Item = &'a FieldDef>,
    values: &BTreeMap<String, String>,
    errors: &FieldErrors,
) -> Vec<Value> {
    fields
        .map(|f| {
            let id = f.id();
            let options = f.options().and_then(|o| tenant.list(o)).unwrap_or(&[]);
            context! {
                id => id,
                label => &f.label,
                kind => format!("{:?}", f.kind).to_lowercase(),
                required => f.required,
                hint => &f.hint,
                placeholder => &f.placeholder,
                options => options.to_vec(),
                max_length => f.max_length,
                unit => &f.unit,
                value => values.get(id).cloned().unwrap_or_default(),
                error => errors.get(id),
            }
        })
        .collect()
}

pub(super) fn staff_view(s: &Staff) -> minijinja::Value {
    context! {
        id => s.id,
        name => &s.name,
        email => &s.email,
        role => s.role.id(),
        role_title => s.role.title(),
        is_manager => s.role.is_manager(),
        is_admin => s.role.is_admin(),
        has_totp => s.has_totp(),
    }
}

pub(super) fn actor_name(names: &BTreeMap<i64, String>, actor: Author) -> String {
    match actor {
        Author::Applicant => "Заявитель".into(),
        Author::System => "Система".into(),
        Author::Staff(id) => names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| "Сотрудник".into()),
    }
}

pub(super) fn step_message(code: &str) -> String {
    match code {
        "not_allowed" => "Это действие сейчас недоступно.".into(),
        "changed" => "Статус заявки только что изменился. Обновите страницу.".into(),
        _ => "Не удалось выполнить действие. Попробуйте ещё раз.".into(),
    }
}

// ------------------------------------------------------------------ signing

/// A document asking for signatures, as the pages show it.
pub(super) fn document_view(ctx: &Ctx, d: &crate::signing::Document) -> Value {
    context! {
        id => d.id,
        name => &d.file_name,
        size => super::human_size(d.size),
        sha256 => &d.sha256,
        asked => d.asked.map(crate::signing::Asked::id),
        contract => d.slot == crate::signing::CONTRACT_SLOT,
        when => ctx.tenant.local_time(&d.created_at),
    }
}

/// The signatures of one document, newest last, each with its verdict and
/// download address under `base` (the application's page, either side).
pub(super) fn signature_views(
    ctx: &Ctx,
    sigs: &[crate::signing::Signature],
    file: i64,
    base: &str,
) -> Vec<Value> {
    sigs.iter()
        .filter(|s| s.file_id == file)
        .map(|s| {
            context! {
                id => s.id,
                side => &s.side,
                scheme => &s.scheme,
                scheme_title => match s.scheme.as_str() {
                    "pep_sms" => "простая электронная подпись (код из SMS)",
                    "cryptopro" => "квалифицированная подпись (КриптоПро)",
                    "ncalayer" => "ЭЦП (NCALayer)",
                    _ => "файл подписи",
                },
                signer => &s.signer_name,
                ids => &s.signer_ids,
                serial => &s.cert_serial,
                issuer => &s.cert_issuer,
                valid => s.valid,
                reason => &s.reason,
                date => ctx.tenant.local_time(&s.created_at).split(' ').next().unwrap_or_default().to_string(),
                when => ctx.tenant.local_time(&s.created_at),
                download => format!("{base}/signatures/{}", s.id),
            }
        })
        .collect()
}

/// Where NCALayer is downloaded (NCA RK's site).
const NCALAYER_INSTALL: &str = "https://pki.gov.kz/ncalayer/";

/// The plug-in widget's settings for a certificate scheme (see
/// `templates/portal/sign_widget.html`); None for SMS or no scheme.
pub(super) fn sign_widget(
    ctx: &Ctx,
    base: &str,
    d: &crate::signing::Document,
    scheme: Option<crate::signing::Scheme>,
    key: &str,
    action: &str,
) -> Option<Value> {
    let scheme = scheme.filter(|s| s.is_certificate())?;
    let sig = &ctx.tenant.config.signature;
    Some(context! {
        scheme => scheme.id(),
        action => action,
        content_url => format!("{base}/file/{}", d.id),
        size => d.size,
        plugin_api => &sig.cadesplugin_api,
        // The help that fits the program: NCALayer comes from NCA RK.
        install => match scheme {
            crate::signing::Scheme::Ncalayer => NCALAYER_INSTALL,
            _ => sig.cadesplugin_install.as_str(),
        },
        ncalayer => &sig.ncalayer,
        key => key,
        // No root configured: every signature would be refused, so say so first.
        ready => !ctx.tenant.trust.anchors.is_empty(),
    })
}

/// What an application's page shows of signing, for `side`: the documents
/// that ask for signatures with where each stands (`signing`), and every
/// file's signatures keyed by the file id as text (`file_sigs`, looked up
/// beside each file). The signatures are read once for both.
pub(super) async fn signing_views(
    st: &AppState,
    ctx: &Ctx,
    a: &Application,
    side: crate::signing::Side,
    base: &str,
) -> Result<(Vec<Value>, BTreeMap<String, Vec<Value>>), WebError> {
    let sigs = crate::signing::signatures_of(&st.db, ctx.slug(), a.id).await?;
    let docs = crate::signing::asked_documents(&st.db, ctx.slug(), a.id).await?;
    let mut asked = Vec::new();
    for d in &docs {
        let turn = crate::signing::turn_now(&st.db, &ctx.tenant, a, d, side, &sigs).await?;
        asked.push(context! {
            doc => document_view(ctx, d),
            turn => turn,
            signatures => signature_views(ctx, &sigs, d.id, base),
            link => format!("{base}/documents/{}", d.id),
        });
    }
    let files: std::collections::BTreeSet<i64> = sigs.iter().map(|s| s.file_id).collect();
    let by_file = files
        .into_iter()
        .map(|f| (f.to_string(), signature_views(ctx, &sigs, f, base)))
        .collect();
    Ok((asked, by_file))
}

/// The CryptoPro extension's page script, which `cadesplugin_api.js` loads
/// in Chromium (Chrome, Edge) and in Opera and Yandex Browser. Chromium
/// lets extension scripts past a page's policy already; naming them keeps
/// signing working where a browser does not.
const CADES_EXTENSIONS: [&str; 2] = [
    "chrome-extension://iifchhfnnmpdbibifmljnfjhpififfog",
    "chrome-extension://epebfcehmdedogndhlcacafjaacknbcm",
];

/// A signing page may load CryptoPro's script from the tenant's address
/// and talk to NCALayer on the user's machine; every other page keeps the
/// strict policy of `security_headers`.
pub(super) fn with_signing_csp(mut page: Response, tenant: &Tenant) -> Response {
    let sig = &tenant.config.signature;
    let origin = |u: &str| {
        url::Url::parse(u)
            .ok()
            .map(|u| u.origin().ascii_serialization())
            .filter(|o| o != "null")
    };
    // Checked by `tapline check` (an http(s) origin, or none for a copy on
    // the portal), plus the plug-in extension's own script.
    let script = sig
        .cadesplugin_origin()
        .ok()
        .flatten()
        .into_iter()
        .chain(CADES_EXTENSIONS.map(String::from))
        .collect::<Vec<_>>()
        .join(" ");
    let connect = origin(&sig.ncalayer).unwrap_or_default();
    let csp = format!(
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self' {script}; \
         connect-src 'self' {connect}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&csp) {
        page.headers_mut()
            .insert(axum::http::header::CONTENT_SECURITY_POLICY, v);
    }
    page
}

/// A small file posted with a CSRF token (a `.sig`): its bytes, up to
/// `cap`, or the words for what was wrong.
pub(super) async fn small_upload(
    ctx: &Ctx,
    st: &AppState,
    mut multipart: axum::extract::Multipart,
    cap: usize,
) -> Result<Vec<u8>, String> {
    let mut fields = BTreeMap::new();
    let mut bytes: Option<Vec<u8>> = None;
    while let Ok(Some(mut field)) = multipart.next_field().await {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            if ctx.check_csrf(st, &fields).is_err() {
                return Err("Форма устарела. Обновите страницу и повторите.".into());
            }
            let mut buf = Vec::new();
            loop {
                match field.chunk().await {
                    Ok(Some(c)) => {
                        if buf.len() + c.len() > cap {
                            return Err(
                                "Файл подписи слишком большой: это не отсоединённая подпись."
                                    .into(),
                            );
                        }
                        buf.extend_from_slice(&c);
                    }
                    Ok(None) => break,
                    Err(_) => return Err("Файл не загрузился. Попробуйте ещё раз.".into()),
                }
            }
            bytes = Some(buf);
        } else if let Ok(v) = field.text().await {
            fields.insert(name, v);
        }
    }
    match bytes {
        Some(b) if !b.is_empty() => Ok(b),
        _ => Err("Выберите файл подписи (.sig, .p7s).".into()),
    }
}

/// Makes the document of a signing step if the status has one. A failure
/// costs the page its signing block, not the page: it is logged and the
/// next visit tries again.
pub(super) async fn freeze_step_document(st: &AppState, ctx: &Ctx, acc: &Account, a: &Application) {
    if ctx.tenant.config.signature.step(&a.status).is_none() {
        return;
    }
    if let Err(e) =
        crate::signing::step_document(&st.db, &st.files, &st.plugins, &ctx.tenant, acc, a).await
    {
        tracing::error!(application = a.id, error = %e, "the signing step's document could not be made");
    }
}

/// The text of a Word document to read on its page (the contract's
/// «Просмотр договора»); none for other files or a file that cannot be read.
pub(super) async fn document_text(st: &AppState, d: &crate::signing::Document) -> Vec<String> {
    if d.content_type != crate::document::FileType::Docx.mime() {
        return Vec::new();
    }
    match crate::signing::read_document(&st.files, d).await {
        Ok(bytes) => tokio::task::spawn_blocking(move || crate::document::docx::paragraphs(&bytes))
            .await
            .unwrap_or_default(),
        Err(e) => {
            tracing::warn!(file = d.id, error = %e, "a document's text could not be read");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    fn script_src(tenant: &Tenant) -> String {
        let page = with_signing_csp("page".into_response(), tenant);
        let csp = page.headers()["content-security-policy"].to_str().unwrap();
        let start = csp.find("script-src ").unwrap();
        csp[start..start + csp[start..].find(';').unwrap()].to_string()
    }

    #[test]
    fn a_signing_page_may_load_the_plugin_api_from_the_configured_origin_only() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenants/kvadra");
        let mut tenant = crate::tenant::load_tenant(&dir).expect("kvadra loads");
        let ext = CADES_EXTENSIONS.join(" ");
        tenant.config.signature.cadesplugin_api =
            "https://www.cryptopro.ru/sites/default/files/products/cades/cadesplugin_api.js".into();
        assert_eq!(
            script_src(&tenant),
            format!("script-src 'self' https://www.cryptopro.ru {ext}")
        );
        tenant.config.signature.cadesplugin_api =
            "https://cdn.kvadra.example:8443/js/cadesplugin_api.js".into();
        assert_eq!(
            script_src(&tenant),
            format!("script-src 'self' https://cdn.kvadra.example:8443 {ext}")
        );
        // A copy on the portal itself needs nothing more than 'self'.
        tenant.config.signature.cadesplugin_api = "/t/kvadra/assets/cadesplugin_api.js".into();
        assert_eq!(script_src(&tenant), format!("script-src 'self' {ext}"));
    }
}
