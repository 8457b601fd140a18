//! Registration: a new applicant's form checked field by field (the core's
//! rules, then the tenant's plugin, the captcha, and whether the email,
//! login and phone are free), then one transaction that creates the
//! account, records the event and queues the phone code, the confirmation
//! link and the utility's notice.

use super::common::{LinkError, check_with_plugin, mail_link, sms_allowed};
use super::{FieldErrors, Key, NewAccount, codes, codes::purpose, password};
use crate::notify::{self, NotifyError};
use crate::plugin::Plugins;
use crate::security::{self, captcha};
use crate::store::{Author, Db};
use crate::tenant::Tenant;
use crate::tenant::config::{ApplicantType, HeaderRole, Need};
use minijinja::context;
use std::collections::BTreeMap;
use std::time::Duration;

/// One registration as the form gave it.
pub struct Registration<'a> {
    pub tenant: &'a Tenant,
    /// The posted form, field name → value.
    pub form: &'a BTreeMap<String, String>,
    /// The client's address, for the rate limits and the audit.
    pub ip: &'a str,
    /// The proof-of-work difficulty the captcha asked for.
    pub captcha_bits: u32,
    /// The tenant's public address, for the confirmation link.
    pub base: String,
}

/// The account made, and what the applicant confirms next.
#[derive(Debug)]
pub struct Registered {
    pub id: i64,
    pub applicant_type: ApplicantType,
    /// A confirmation link went by email; sign-in waits for it.
    pub confirm_email: bool,
    /// A code went (or is due) by SMS.
    pub confirm_phone: bool,
}

/// The form comes back: the type chosen, the values as typed, the errors
/// beside their fields.
#[derive(Debug)]
pub struct Invalid {
    pub applicant_type: ApplicantType,
    pub values: BTreeMap<String, String>,
    pub errors: FieldErrors,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The tenant does not take registrations.
    #[error("registration is closed")]
    Closed,
    #[error("too many registrations from this address")]
    RateLimited,
    #[error("the form has errors")]
    Invalid(Box<Invalid>),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

impl From<LinkError> for RegisterError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Db(e) => RegisterError::Db(e),
            LinkError::Notify(e) => RegisterError::Notify(e),
        }
    }
}

const HOUR: Duration = Duration::from_secs(3600);

/// The applicant type a form asks for, if the tenant has it; else the
/// tenant's first.
pub fn pick_type(tenant: &Tenant, raw: Option<&str>) -> ApplicantType {
    raw.and_then(ApplicantType::from_id)
        .filter(|t| tenant.applicant_types().contains(t))
        .unwrap_or(tenant.applicant_types()[0])
}

/// The applicant's name as the profile's name fields give it.
fn profile_name(tenant: &Tenant, t: ApplicantType, profile: &BTreeMap<String, String>) -> String {
    tenant
        .fields_for(t)
        .filter(|f| f.header == Some(HeaderRole::Name))
        .filter_map(|f| profile.get(f.id()))
        .filter(|v| !v.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Registers an applicant.
pub async fn register(
    db: &Db,
    plugins: &Plugins,
    r: Registration<'_>,
) -> Result<Registered, RegisterError> {
    let Registration {
        tenant,
        form,
        ip,
        captcha_bits,
        base,
    } = r;
    let slug = tenant.slug.as_str();
    if !tenant.config.accounts.registration {
        return Err(RegisterError::Closed);
    }
    if !security::hit(db, &format!("register:ip:{slug}:{ip}"), HOUR, 20).await? {
        return Err(RegisterError::RateLimited);
    }
    let acc = &tenant.config.accounts;
    let t = pick_type(tenant, form.get("type").map(String::as_str));
    let mut errors = FieldErrors::new();
    let mut values = BTreeMap::new();
    let get = |k: &str| {
        form.get(k)
            .map(String::as_str)
            .unwrap_or("")
            .trim()
            .to_string()
    };

    let email = get("email");
    values.insert("email".to_string(), email.clone());
    let email = match super::normalize_email(&email) {
        Some(e) => Some(e),
        None => {
            errors.insert(
                "email".into(),
                "Введите адрес почты, например ivanov@mail.ru".into(),
            );
            None
        }
    };
    let login = if tenant.asks_login() {
        let raw = get("login");
        values.insert("login".to_string(), raw.clone());
        match super::normalize_login(&raw) {
            Ok(l) => Some(l),
            Err(e) => {
                errors.insert("login".into(), e.into());
                None
            }
        }
    } else {
        None
    };
    let phone = if acc.phone != Need::None {
        let raw = get("phone");
        values.insert("phone".to_string(), raw.clone());
        if raw.is_empty() {
            if acc.phone == Need::Required {
                errors.insert(
                    "phone".into(),
                    "Укажите мобильный телефон: на него придёт код".into(),
                );
            }
            None
        } else {
            match super::normalize_phone(&raw) {
                Some(p) => Some(p),
                None => {
                    errors.insert(
                        "phone".into(),
                        "Введите номер телефона, например +7 900 123-45-67".into(),
                    );
                    None
                }
            }
        }
    } else {
        None
    };
    let pw = form.get("password").cloned().unwrap_or_default();
    if let Err((field, msg)) = password::check_new(
        &pw,
        form.get("password2").map(String::as_str).unwrap_or(""),
        acc.password_min_length,
    ) {
        errors.insert(field.into(), msg);
    }
    if tenant.config.texts.consent.is_some()
        && form.get("consent").map(String::as_str) != Some("on")
    {
        errors.insert(
            "consent".into(),
            "Без согласия на обработку персональных данных регистрация невозможна".into(),
        );
    } else {
        // A consent once given stays ticked when the form comes back with errors.
        values.insert("consent".into(), "on".into());
    }
    let mut profile = BTreeMap::new();
    super::check_fields(
        tenant,
        tenant.registration_fields(t),
        form,
        &mut profile,
        &mut errors,
    );
    check_with_plugin(
        plugins,
        tenant,
        t,
        tenant.registration_fields(t),
        &profile,
        &mut errors,
    )
    .await;
    values.extend(profile.iter().map(|(k, v)| (k.clone(), v.clone())));
    // A faulted profile field comes back as typed, not as normalised.
    for k in errors.keys() {
        if let Some(raw) = form.get(k)
            && profile.contains_key(k)
        {
            values.insert(k.clone(), raw.clone());
        }
    }
    if acc.captcha {
        let proof = get("captcha_proof");
        let ok = captcha::check(
            db,
            slug,
            &get("captcha_id"),
            &get("captcha"),
            (&proof, captcha_bits),
        )
        .await?;
        if !ok {
            errors.insert(
                "captcha".into(),
                if proof.is_empty() {
                    "Цифры с картинки введены неверно. Введите цифры с новой картинки"
                } else {
                    "Автоматическая проверка не прошла или устарела. Отправьте форму ещё раз"
                }
                .into(),
            );
        }
    }
    if errors.is_empty() {
        if let Some(e) = &email
            && !super::is_free(db, slug, Key::Email, e, None).await?
        {
            errors.insert(
                "email".into(),
                "Этот адрес уже зарегистрирован. Войдите или восстановите пароль".into(),
            );
        }
        if let Some(l) = &login
            && !super::is_free(db, slug, Key::Login, l, None).await?
        {
            errors.insert("login".into(), "Этот логин занят, выберите другой".into());
        }
        if let Some(p) = &phone
            && !super::is_free(db, slug, Key::Phone, p, None).await?
        {
            errors.insert(
                "phone".into(),
                "Этот номер уже указан в другой учётной записи".into(),
            );
        }
    }
    let invalid = |values, errors| {
        RegisterError::Invalid(Box::new(Invalid {
            applicant_type: t,
            values,
            errors,
        }))
    };
    if !errors.is_empty() {
        return Err(invalid(values, errors));
    }

    let hash = password::hash(pw).await;
    let send_sms = match (&phone, acc.confirm_phone) {
        (Some(p), true) => sms_allowed(db, tenant, ip, p).await?,
        _ => false,
    };
    let mut tx = db.begin().await?;
    let id = match super::insert(
        &mut tx,
        &NewAccount {
            tenant: slug,
            applicant_type: t,
            email: email.as_deref(),
            login: login.as_deref(),
            phone: phone.as_deref(),
            password_hash: &hash,
            profile: &profile,
        },
    )
    .await
    {
        Ok(id) => id,
        // Lost a race with a twin request: same answer as the check above.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            drop(tx);
            errors.insert(
                "email".into(),
                "Этот адрес, логин или телефон уже зарегистрирован".into(),
            );
            return Err(invalid(values, errors));
        }
        Err(e) => return Err(e.into()),
    };
    super::event(
        &mut *tx,
        slug,
        Some(id),
        "registered",
        serde_json::json!({"type": t.id()}),
        Author::Applicant,
        Some(ip),
    )
    .await?;
    if send_sms && let Some(p) = &phone {
        let code = codes::issue_code(&mut tx, slug, id, purpose::CONFIRM_PHONE, p).await?;
        notify::sms(&mut tx, tenant, p, "phone_code", context! { code => code }).await?;
    }
    let email_addr = email.clone().unwrap_or_default();
    if acc.confirm_email {
        mail_link(
            &mut tx,
            tenant,
            &base,
            id,
            (purpose::CONFIRM_EMAIL, codes::LINK_LIFETIME),
            &email_addr,
            "confirm-email",
            "confirm_email",
        )
        .await?;
    }
    for to in acc.registration_watchers() {
        let badge_name = profile_name(tenant, t, &profile);
        let ids: Vec<(String, String)> = tenant
            .registration_fields(t)
            .filter(|f| f.validate.is_some())
            .filter_map(|f| profile.get(f.id()).map(|v| (f.label.clone(), v.clone())))
            .collect();
        notify::email(
            &mut tx,
            tenant,
            to,
            "new_registration",
            context! { type_title => tenant.type_title(t), name => badge_name, email => &email_addr, phone => &phone, ids => ids },
        )
        .await?;
    }
    tx.commit().await?;
    tracing::info!(account_id = id, applicant_type = t.id(), "registered");
    Ok(Registered {
        id,
        applicant_type: t,
        confirm_email: acc.confirm_email,
        confirm_phone: phone.is_some() && acc.confirm_phone,
    })
}

/// What a new account's email link did.
#[derive(Debug, PartialEq, Eq)]
pub enum EmailConfirm {
    Confirmed,
    /// Used, expired, never issued, or for an address the account no
    /// longer has.
    Invalid,
    /// The account is gone.
    NoAccount,
}

/// Opens a new account's email link: the link is used once, and confirms
/// the address only while the account still has it.
pub async fn confirm_email(
    db: &Db,
    tenant: &str,
    token: &str,
    ip: &str,
) -> Result<EmailConfirm, sqlx::Error> {
    let mut tx = db.begin().await?;
    let codes::LinkState::Valid(id, Some(email)) =
        codes::use_link(&mut tx, tenant, purpose::CONFIRM_EMAIL, token).await?
    else {
        return Ok(EmailConfirm::Invalid);
    };
    let Some(acc) = super::get_on(&mut *tx, tenant, id).await? else {
        return Ok(EmailConfirm::NoAccount);
    };
    let done = if acc.email.as_deref() == Some(email.as_str()) {
        super::set_email_confirmed(&mut tx, tenant, id, &email).await?;
        super::event(
            &mut *tx,
            tenant,
            Some(id),
            "email_confirmed",
            serde_json::json!({"email": email}),
            Author::Applicant,
            Some(ip),
        )
        .await?;
        EmailConfirm::Confirmed
    } else {
        EmailConfirm::Invalid
    };
    // The link is spent either way.
    tx.commit().await?;
    Ok(done)
}

/// What a new account's SMS code did.
#[derive(Debug, PartialEq, Eq)]
pub enum PhoneConfirm {
    Confirmed,
    /// No live code for the account's number: never sent, expired, used,
    /// out of attempts, or sent to a number the account no longer has.
    Gone,
    Wrong {
        attempts_left: i64,
    },
}

/// Checks the code sent to a new account's phone number.
pub async fn confirm_phone(
    db: &Db,
    tenant: &str,
    acc: &super::Account,
    typed: &str,
    ip: &str,
) -> Result<PhoneConfirm, sqlx::Error> {
    let phone = match codes::check_code(db, tenant, acc.id, purpose::CONFIRM_PHONE, typed).await? {
        codes::CodeCheck::Ok(phone) if Some(&phone) == acc.phone.as_ref() => phone,
        codes::CodeCheck::Ok(_) | codes::CodeCheck::NoCode => return Ok(PhoneConfirm::Gone),
        codes::CodeCheck::Wrong { attempts_left } => {
            return Ok(PhoneConfirm::Wrong { attempts_left });
        }
    };
    let mut tx = db.begin().await?;
    super::set_phone_confirmed(&mut tx, tenant, acc.id, &phone).await?;
    super::event(
        &mut *tx,
        tenant,
        Some(acc.id),
        "phone_confirmed",
        serde_json::json!({"phone": phone}),
        Author::Applicant,
        Some(ip),
    )
    .await?;
    tx.commit().await?;
    Ok(PhoneConfirm::Confirmed)
}
