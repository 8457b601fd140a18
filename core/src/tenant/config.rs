//! The typed schema of `tenants/<slug>/tenant.toml`.
//!
//! Parsing is strict: unknown keys are errors (`deny_unknown_fields`), ids
//! are newtypes that check their own syntax, and values other parts of the
//! file refer to keep their source span (`Spanned`) so that the cross-checks
//! in [`super::load`] can name the line of the reference that dangles.

use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Deref;
use toml::Spanned;

/// An item other parts of the config and the code find by its id.
pub trait Keyed {
    fn key(&self) -> &str;
}

/// A list of the tenant file, in file order, with an index by id built
/// once as the file is read: requests find a kind, a field or a status
/// without walking the list. An id written twice is the checker's error;
/// until then the first one is found, as a walk would.
#[derive(Debug, Clone)]
pub struct ById<T> {
    items: Vec<T>,
    index: HashMap<String, usize>,
}

impl<T: Keyed> ById<T> {
    pub fn get(&self, id: &str) -> Option<&T> {
        self.position(id).map(|i| &self.items[i])
    }

    /// Where the item of `id` stands in file order.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }
}

impl<T: Keyed> From<Vec<T>> for ById<T> {
    fn from(items: Vec<T>) -> Self {
        let mut index = HashMap::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            index.entry(item.key().to_string()).or_insert(i);
        }
        ById { items, index }
    }
}

impl<T> Default for ById<T> {
    fn default() -> Self {
        ById {
            items: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<T> Deref for ById<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items
    }
}

impl<'a, T> IntoIterator for &'a ById<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl<'de, T: Deserialize<'de> + Keyed> Deserialize<'de> for ById<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(d).map(ById::from)
    }
}

/// A short identifier used in URLs, form names and references:
/// lowercase ASCII letters, digits and `_`/`-`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Ident(String);

impl Ident {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Ident {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let ok = s.len() <= 64
            && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if ok {
            Ok(Ident(s))
        } else {
            Err(format!(
                "`{s}` is not a valid id: use lowercase latin letters, digits, `_` or `-`, starting with a letter"
            ))
        }
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for Ident {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Who applies: the three legal forms the portals know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplicantType {
    Individual,
    Legal,
    Entrepreneur,
}

impl ApplicantType {
    pub const ALL: [ApplicantType; 3] = [Self::Individual, Self::Legal, Self::Entrepreneur];

    pub fn id(self) -> &'static str {
        match self {
            Self::Individual => "individual",
            Self::Legal => "legal",
            Self::Entrepreneur => "entrepreneur",
        }
    }

    pub fn from_id(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.id() == s)
    }

    /// Default Russian title; a tenant may rename it in `[applicants.titles]`.
    pub fn default_title(self) -> &'static str {
        match self {
            Self::Individual => "Физическое лицо",
            Self::Legal => "Юридическое лицо",
            Self::Entrepreneur => "Индивидуальный предприниматель",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantFile {
    pub tenant: TenantSection,
    pub branding: Branding,
    #[serde(default)]
    pub texts: Texts,
    #[serde(default)]
    pub accounts: Accounts,
    pub applicants: Applicants,
    #[serde(default)]
    pub lists: BTreeMap<Ident, Vec<String>>,
    #[serde(default)]
    pub notify: Notify,
    #[serde(default)]
    pub plugin: PluginSection,
    #[serde(default)]
    pub applications: ApplicationsSection,
    /// Fields of application forms; kinds pick from them by id.
    #[serde(default, rename = "application_field")]
    pub application_fields: ById<FieldDef>,
    #[serde(default, rename = "application_kind")]
    pub application_kinds: ById<ApplicationKind>,
    #[serde(default)]
    pub workflow: Workflow,
    #[serde(default)]
    pub appeals: AppealsSection,
    #[serde(default)]
    pub content: ContentSection,
    #[serde(default)]
    pub signature: SignatureSection,
}

/// Whose signatures the tenant trusts, how revocation is checked, and
/// who signs what with which scheme. Anchors and CRL files are paths
/// inside the tenant folder; without a list, every certificate (.pem,
/// .crt, .cer) and CRL (.crl) in `trust/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureSection {
    #[serde(default)]
    pub trust: Vec<Spanned<String>>,
    #[serde(default)]
    pub crls: Vec<Spanned<String>>,
    #[serde(default)]
    /// crl, ocsp, either (OCSP when it answers, else a CRL) or both.
    pub revocation: tapline_signature::policy::Revocation,
    /// Whether CRLs are downloaded from the certificates' distribution
    /// points and OCSP responders asked; off, only the CRL files count.
    #[serde(default = "yes")]
    pub fetch: bool,
    /// How each applicant type signs; a type without a scheme signs
    /// nothing in the portal.
    pub individual: Option<Spanned<Scheme>>,
    pub legal: Option<Spanned<Scheme>>,
    pub entrepreneur: Option<Spanned<Scheme>>,
    /// How the utility's staff sign in the office (cryptopro or ncalayer).
    pub office: Option<Spanned<Scheme>>,
    /// A scheme per document kind, over the applicant type's: `application`
    /// (the step's application), `contract`, or a document type of the
    /// tenant's slots (seed 004), e.g. `contract = "ncalayer"`.
    #[serde(default)]
    pub documents: std::collections::BTreeMap<String, Scheme>,
    /// The utility's own INN or BIN: a staff member's signature must be
    /// made with a key issued to the utility. Unset, any trusted key of a
    /// staff member signs for it.
    pub utility_id: Option<Spanned<String>>,
    /// Signature files (.sig, .p7s) made outside the portal may be
    /// attached beside a document and are checked on arrival (seed 002).
    #[serde(default)]
    pub upload: bool,
    /// Where the page loads CryptoPro's `cadesplugin_api.js` from.
    #[serde(default = "default_cadesplugin_api")]
    pub cadesplugin_api: String,
    /// CryptoPro's installation help, linked when the plug-in is missing.
    #[serde(default = "default_cadesplugin_install")]
    pub cadesplugin_install: String,
    /// NCALayer's local websocket.
    #[serde(default = "default_ncalayer")]
    pub ncalayer: String,
    /// The applicant signs the application (its Word file) when sending
    /// it, with their type's certificate scheme (seed 004).
    #[serde(default)]
    pub sign_on_send: bool,
    /// How applicants may log in besides a password: "ncalayer", by
    /// signing a one-time challenge with their authentication key.
    #[serde(default)]
    pub login: Option<KeyLogin>,
    /// The version of the agreement on simple electronic signatures the
    /// applicant accepts before the first SMS signature (63-FZ art. 9).
    #[serde(default = "default_pep_agreement")]
    pub pep_agreement: String,
    /// Statuses in which the applicant signs the application or the
    /// contract, and where a verified signature moves it.
    #[serde(default, rename = "step")]
    pub steps: ById<SignStep>,
    /// The tenant's Word template of the contract (relative to the tenant
    /// folder); the built-in one when absent.
    pub contract: Option<Spanned<String>>,
}

/// A way to log in with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyLogin {
    Ncalayer,
}

/// A signing scheme (tenant.toml: `"pep_sms"`, `"cryptopro"`, `"ncalayer"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// A simple electronic signature: a code by SMS to the confirmed phone.
    PepSms,
    /// A qualified signature made by CryptoPro's browser plug-in.
    Cryptopro,
    /// A signature made by NCALayer (Kazakhstan).
    Ncalayer,
}

impl Scheme {
    pub fn id(self) -> &'static str {
        match self {
            Scheme::PepSms => "pep_sms",
            Scheme::Cryptopro => "cryptopro",
            Scheme::Ncalayer => "ncalayer",
        }
    }

    /// Whether the scheme makes a CMS signature the engine checks.
    pub fn is_certificate(self) -> bool {
        !matches!(self, Scheme::PepSms)
    }
}

/// `[[signature.step]]`: in `status`, the applicant signs `document`; a
/// verified signature moves the application to `then`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignStep {
    pub status: Spanned<String>,
    #[serde(default)]
    pub document: StepDocument,
    pub then: Option<Spanned<String>>,
    /// The utility signs before the applicant may (a two-sided contract).
    #[serde(default)]
    pub utility_first: bool,
}

impl SignStep {
    /// The status the applicant signs in.
    pub fn status(&self) -> &str {
        self.status.get_ref()
    }

    /// Where a verified signature moves the application.
    pub fn then(&self) -> Option<&str> {
        self.then.as_ref().map(|t| t.get_ref().as_str())
    }
}

impl Keyed for SignStep {
    fn key(&self) -> &str {
        self.status()
    }
}

/// What a step's applicant signs: the application as sent, or the contract
/// made from the contract template.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepDocument {
    #[default]
    Application,
    Contract,
}

impl SignatureSection {
    /// The scheme the applicant type signs with, if any.
    pub fn scheme_for(&self, t: ApplicantType) -> Option<Scheme> {
        match t {
            ApplicantType::Individual => self.individual.as_ref(),
            ApplicantType::Legal => self.legal.as_ref(),
            ApplicantType::Entrepreneur => self.entrepreneur.as_ref(),
        }
        .map(|s| *s.get_ref())
    }

    /// The certificate scheme an applicant of type `t` signs the
    /// application with as it is sent, where the tenant asks for that.
    pub fn scheme_on_send(&self, t: Option<ApplicantType>) -> Option<Scheme> {
        t.and_then(|t| self.scheme_for(t))
            .filter(|s| self.sign_on_send && s.is_certificate())
    }

    /// The step of `status`, if the applicant signs in it.
    pub fn step(&self, status: &str) -> Option<&SignStep> {
        self.steps.get(status)
    }

    /// How the utility's staff sign, if they do.
    pub fn office_scheme(&self) -> Option<Scheme> {
        self.office.as_ref().map(|s| *s.get_ref())
    }

    /// Whether anyone signs with a certificate (and so needs trust anchors).
    pub fn any_certificate_scheme(&self) -> bool {
        [
            &self.individual,
            &self.legal,
            &self.entrepreneur,
            &self.office,
        ]
        .into_iter()
        .flatten()
        .any(|s| s.get_ref().is_certificate())
    }

    /// The utility's INN or BIN its staff's keys must be issued to.
    pub fn utility_id(&self) -> Option<&str> {
        self.utility_id.as_ref().map(|u| u.get_ref().as_str())
    }

    /// The tenant's contract template, relative to its folder.
    pub fn contract(&self) -> Option<&str> {
        self.contract.as_ref().map(|c| c.get_ref().as_str())
    }
}

impl SignatureSection {
    /// The origin `cadesplugin_api` is served from (`https://host[:port]`),
    /// `None` for a path on the portal itself, or why the address is unusable.
    pub fn cadesplugin_origin(&self) -> Result<Option<String>, &'static str> {
        script_origin(&self.cadesplugin_api)
    }
}

/// A script's origin for a Content-Security-Policy source list. Only
/// http(s) addresses with a host qualify: anything else could not load or
/// would widen the policy (`data:`, `*`, a quote breaking the header).
pub fn script_origin(addr: &str) -> Result<Option<String>, &'static str> {
    if addr.starts_with('/') && !addr.starts_with("//") {
        return Ok(None);
    }
    let u = url::Url::parse(addr)
        .map_err(|_| "is not an address like https://host/cadesplugin_api.js")?;
    if !matches!(u.scheme(), "https" | "http") || u.host_str().is_none() {
        return Err("must be an http(s) address or a path starting with /");
    }
    Ok(Some(u.origin().ascii_serialization()))
}

fn default_cadesplugin_api() -> String {
    "https://www.cryptopro.ru/sites/default/files/products/cades/cadesplugin_api.js".into()
}
fn default_cadesplugin_install() -> String {
    "https://www.cryptopro.ru/products/cades/plugin".into()
}
fn default_ncalayer() -> String {
    "wss://127.0.0.1:13579".into()
}
fn default_pep_agreement() -> String {
    "1".into()
}

impl Default for SignatureSection {
    fn default() -> Self {
        SignatureSection {
            trust: Vec::new(),
            crls: Vec::new(),
            revocation: Default::default(),
            fetch: true,
            individual: None,
            legal: None,
            entrepreneur: None,
            office: None,
            documents: Default::default(),
            utility_id: None,
            upload: false,
            cadesplugin_api: default_cadesplugin_api(),
            cadesplugin_install: default_cadesplugin_install(),
            ncalayer: default_ncalayer(),
            login: None,
            sign_on_send: false,
            pep_agreement: default_pep_agreement(),
            steps: ById::default(),
            contract: None,
        }
    }
}

/// Appeals ("обращения", seeds 001–003): free-form questions to the utility.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppealsSection {
    /// The topics an applicant picks from; no topics, no appeals.
    #[serde(default)]
    pub topics: Vec<String>,
    /// One unsent draft at a time (seed 003).
    #[serde(default)]
    pub one_draft: bool,
    /// Whether an appeal needs text besides its topic (seed 002 asks only
    /// the topic).
    #[serde(default = "yes")]
    pub text_required: bool,
    /// The tenant's words for the appeal statuses.
    #[serde(default)]
    pub titles: AppealTitles,
}

impl Default for AppealsSection {
    fn default() -> Self {
        AppealsSection {
            topics: Vec::new(),
            one_draft: false,
            text_required: true,
            titles: AppealTitles::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppealTitles {
    pub accepted: String,
    pub processing: String,
    pub answered: String,
}

impl Default for AppealTitles {
    fn default() -> Self {
        AppealTitles {
            accepted: "Принято".into(),
            processing: "В работе".into(),
            answered: "Ответ направлен".into(),
        }
    }
}

/// Built-in portal texts the tenant admin may replace from the office.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentSection {
    /// A link to blank application forms shown in drafts (seed 003).
    pub blank_forms_url: Option<String>,
}

/// How applications start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationsSection {
    /// Ask for the city (from `[lists] cities`) before the kind (seed 001).
    #[serde(default)]
    pub city_first: bool,
    /// Largest attached file, in MB (seed 003: 50).
    #[serde(default = "default_upload_mb")]
    pub max_upload_mb: u64,
    /// The tenant's Word template of an application (relative to the
    /// tenant folder); the built-in one when absent.
    pub docx: Option<Spanned<String>>,
    /// Applicant types told after submitting to send the Word file through
    /// their EDO with a qualified signature (seed 000).
    #[serde(default)]
    pub edo_for: Vec<ApplicantType>,
    /// The application field (a select) that says which supply (heat,
    /// water, …) an application is for; «Мои заявки» and the office queue
    /// filter by its value (seed 002). Unset: a tenant whose `[lists]
    /// supply_types` holds one type has every application of that type.
    pub supply_field: Option<Spanned<String>>,
    /// Drafts one account may keep at a time, of all kinds (20 by default):
    /// enough for anyone preparing several connections, not for filling the
    /// disk; a company filing for many buildings may need more.
    #[serde(default = "default_max_drafts")]
    pub max_drafts: std::num::NonZeroU32,
}

fn default_max_drafts() -> std::num::NonZeroU32 {
    std::num::NonZeroU32::new(20).expect("20 is not zero")
}

impl Default for ApplicationsSection {
    fn default() -> Self {
        ApplicationsSection {
            city_first: false,
            max_upload_mb: default_upload_mb(),
            docx: None,
            edo_for: Vec::new(),
            supply_field: None,
            max_drafts: default_max_drafts(),
        }
    }
}

impl ApplicationsSection {
    /// The tenant's Word template of an application, relative to its folder.
    pub fn docx(&self) -> Option<&str> {
        self.docx.as_ref().map(|d| d.get_ref().as_str())
    }
}

fn default_upload_mb() -> u64 {
    50
}

/// One kind of application (technical conditions, connection contract, …).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationKind {
    pub id: Spanned<Ident>,
    pub title: String,
    pub description: Option<String>,
    /// Application field ids, in form order.
    pub fields: Vec<Spanned<String>>,
    /// Applicant types that may file it; all when empty.
    #[serde(default)]
    pub types: Vec<ApplicantType>,
    /// Several drafts at once, or one at a time (seed 003).
    #[serde(default)]
    pub drafts: DraftPolicy,
}

impl ApplicationKind {
    pub fn id(&self) -> &str {
        self.id.get_ref().as_str()
    }

    /// Its form's field ids, in form order.
    pub fn field_ids(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.get_ref().as_str())
    }

    /// Whether its form has the field `id`.
    pub fn asks(&self, id: &str) -> bool {
        self.field_ids().any(|f| f == id)
    }
}

impl Keyed for ApplicationKind {
    fn key(&self) -> &str {
        self.id()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DraftPolicy {
    #[default]
    Many,
    One,
}

/// Status vocabulary and transitions. `draft` is built in; `submitted`
/// names the status an application takes when the applicant submits it.
///
/// Without any `[[workflow.transition]]`, staff may set any status and the
/// applicant only submits: a small utility writes its vocabulary and
/// nothing else. With transitions, only those listed are allowed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    pub submitted: Spanned<String>,
    /// Where an application of an `applications.edo_for` applicant type
    /// starts instead: it counts as filed only once the signed original
    /// arrives through EDO (seed 000), and the status should say so.
    pub submitted_edo: Option<Spanned<String>>,
    /// The production calendar deadlines are counted in.
    #[serde(default)]
    pub calendar: CalendarId,
    /// Staff may type a status of their own words besides the vocabulary (seed 003).
    #[serde(default)]
    pub custom_status: bool,
    #[serde(default, rename = "status")]
    pub statuses: ById<StatusDef>,
    #[serde(default, rename = "transition")]
    pub transitions: Vec<TransitionDef>,
}

impl Default for Workflow {
    fn default() -> Self {
        Workflow {
            submitted: Spanned::new(0..0, "submitted".into()),
            submitted_edo: None,
            calendar: CalendarId::default(),
            custom_status: false,
            statuses: ById::from(vec![StatusDef {
                id: Spanned::new(0..0, Ident("submitted".into())),
                title: "Подана".into(),
                notify: vec![Channel::Email],
                deadline_working_days: None,
                is_final: false,
                applicant_edits: false,
                requires_note: false,
            }]),
            transitions: Vec::new(),
        }
    }
}

impl Workflow {
    pub fn status(&self, id: &str) -> Option<&StatusDef> {
        self.statuses.get(id)
    }

    /// The status a submitted application takes.
    pub fn submitted(&self) -> &str {
        self.submitted.get_ref()
    }

    /// Where an application filed through EDO starts instead.
    pub fn submitted_edo(&self) -> Option<&str> {
        self.submitted_edo.as_ref().map(|s| s.get_ref().as_str())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CalendarId {
    #[default]
    Ru,
    Kz,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusDef {
    pub id: Spanned<Ident>,
    pub title: String,
    /// Channels the applicant is told on entering this status.
    #[serde(default)]
    pub notify: Vec<Channel>,
    /// The utility must act within this many working days of the status
    /// being set; the application shows the due date and turns overdue.
    pub deadline_working_days: Option<u32>,
    /// Nothing follows (fulfilled, rejected, withdrawn): no deadline, no actions.
    #[serde(default, rename = "final")]
    pub is_final: bool,
    /// The application is back with the applicant, who may edit and send it
    /// again (returned for corrections, seed 004).
    #[serde(default)]
    pub applicant_edits: bool,
    /// Staff must say why when setting it (a rejection, a return).
    #[serde(default)]
    pub requires_note: bool,
}

impl StatusDef {
    pub fn id(&self) -> &str {
        self.id.get_ref().as_str()
    }
}

impl Keyed for StatusDef {
    fn key(&self) -> &str {
        self.id()
    }
}

/// Who may make a status change.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Applicant,
    Operator,
    Manager,
    Admin,
    System,
}

impl Role {
    pub fn id(self) -> &'static str {
        match self {
            Role::Applicant => "applicant",
            Role::Operator => "operator",
            Role::Manager => "manager",
            Role::Admin => "admin",
            Role::System => "system",
        }
    }
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Operator | Role::Manager | Role::Admin)
    }
}

/// `from` (status ids, or `*` for any non-final status) → `to`, made by `by`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionDef {
    pub from: Vec<Spanned<String>>,
    pub to: Spanned<String>,
    pub by: Vec<Role>,
    /// The button's words when they should differ from the status title.
    pub label: Option<String>,
    /// Only for applications of these kinds (application_kind ids); for
    /// every kind when empty. Kinds end differently: technical conditions
    /// issued, a contract signed.
    #[serde(default)]
    pub kinds: Vec<Spanned<String>>,
}

impl TransitionDef {
    pub fn to(&self) -> &str {
        self.to.get_ref()
    }

    /// The statuses it leaves, `*` for any non-final one.
    pub fn from_ids(&self) -> impl Iterator<Item = &str> {
        self.from.iter().map(|f| f.get_ref().as_str())
    }

    /// Whether it applies to applications of `kind`.
    pub fn for_kind(&self, kind: &str) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k.get_ref() == kind)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
}

/// Limits and settings of the tenant's plugin (`[tenant] plugin` names the file).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSection {
    /// Wall-clock budget of one hook call; the host's default when absent.
    pub timeout_ms: Option<Spanned<u64>>,
    /// Linear memory cap of one call in MiB; the host's default when absent.
    pub memory_mb: Option<Spanned<u64>>,
    /// Values the plugin reads with `host::setting(key)`.
    #[serde(default)]
    pub settings: BTreeMap<String, SettingValue>,
}

impl PluginSection {
    /// The budget of one hook call, if the tenant sets one.
    pub fn timeout(&self) -> Option<std::time::Duration> {
        self.timeout_ms
            .as_ref()
            .map(|m| std::time::Duration::from_millis(*m.get_ref()))
    }

    /// The memory cap of one call in bytes, if the tenant sets one.
    pub fn memory_bytes(&self) -> Option<u64> {
        self.memory_mb.as_ref().map(|m| m.get_ref() << 20)
    }
}

/// A plugin setting: written in TOML as text, number or boolean, handed to
/// the plugin as text.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SettingValue {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl std::fmt::Display for SettingValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingValue::Text(s) => f.write_str(s),
            SettingValue::Integer(n) => write!(f, "{n}"),
            SettingValue::Float(x) => write!(f, "{x}"),
            SettingValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSection {
    pub slug: Spanned<Ident>,
    pub name: String,
    /// Used in SMS texts and the page title where the full name is too long.
    pub short_name: Option<String>,
    #[serde(default)]
    pub hosts: Vec<Spanned<String>>,
    #[serde(default = "default_locale")]
    pub locale: Spanned<String>,
    /// Absolute URL of the portal used in emailed links; defaults to the
    /// first host over https, or the server's public URL + `/t/<slug>`.
    pub public_url: Option<Spanned<String>>,
    /// The tenant's WebAssembly plugin, relative to the tenant folder.
    pub plugin: Option<Spanned<String>>,
    /// The tenant's clock as an offset from UTC ("+07:00" for Krasnoyarsk):
    /// the dates and times people see, deadlines and the digest hour.
    /// Without it, the capital's of the workflow calendar's country
    /// (Moscow +03:00, Astana +05:00). Neither country moves its clocks.
    pub utc_offset: Option<Spanned<String>>,
}

fn default_locale() -> Spanned<String> {
    Spanned::new(0..0, "ru".to_string())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    pub logo: Option<Spanned<String>>,
    pub primary_color: Spanned<String>,
    pub primary_contrast: Option<Spanned<String>>,
    pub accent_color: Option<Spanned<String>>,
    /// Subtitle under the name in the header, e.g. "Личный кабинет заявителя".
    pub tagline: Option<String>,
}

/// Texts the tenant writes; plain text, paragraphs split on blank lines.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    /// Shown beside the login and registration forms.
    pub welcome: Option<String>,
    /// The label of the consent checkbox.
    pub consent: Option<String>,
    /// The "read more" text behind the consent checkbox.
    pub consent_details: Option<String>,
    pub footer: Option<String>,
    /// Shown on the cabinet home page.
    pub home: Option<String>,
    pub support_phone: Option<String>,
    pub support_email: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoginBy {
    Email,
    Login,
    Phone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Need {
    #[default]
    Required,
    Optional,
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accounts {
    /// Which identifiers a user may type into the login form.
    #[serde(default = "default_login_by")]
    pub login_by: Spanned<Vec<LoginBy>>,
    /// Whether registration asks for a mobile phone.
    #[serde(default)]
    pub phone: Need,
    /// Send an SMS code to the phone right after registration (seed 000).
    #[serde(default = "yes")]
    pub confirm_phone: bool,
    /// Require the emailed link to be followed before the first login (seed 002).
    #[serde(default)]
    pub confirm_email: bool,
    #[serde(default = "yes")]
    pub captcha: bool,
    /// Utility addresses told about every new registration (seed 003).
    #[serde(default)]
    pub notify_on_registration: Vec<Spanned<String>>,
    #[serde(default = "default_password_min")]
    pub password_min_length: usize,
    /// Self-service registration; off for portals where staff create accounts.
    #[serde(default = "yes")]
    pub registration: bool,
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts {
            login_by: default_login_by(),
            phone: Need::Required,
            confirm_phone: true,
            confirm_email: false,
            captcha: true,
            notify_on_registration: Vec::new(),
            password_min_length: default_password_min(),
            registration: true,
        }
    }
}

impl Accounts {
    /// The utility's addresses told about each new registration.
    pub fn registration_watchers(&self) -> impl Iterator<Item = &str> {
        self.notify_on_registration
            .iter()
            .map(|a| a.get_ref().as_str())
    }
}

fn default_login_by() -> Spanned<Vec<LoginBy>> {
    Spanned::new(0..0, vec![LoginBy::Email])
}
fn yes() -> bool {
    true
}
fn default_password_min() -> usize {
    8
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Applicants {
    pub types: Spanned<Vec<ApplicantType>>,
    /// Tenant wording for the applicant types.
    #[serde(default)]
    pub titles: BTreeMap<ApplicantType, String>,
    #[serde(default, rename = "field")]
    pub fields: Vec<FieldDef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    Text,
    Textarea,
    Email,
    Phone,
    Date,
    Select,
    Checkbox,
    Number,
    /// A slot for attached documents (application forms only).
    File,
}

/// When the field is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldStep {
    /// On the registration form and in the profile.
    Registration,
    /// In the profile only.
    #[default]
    Profile,
}

/// What the header shows of the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeaderRole {
    /// Part of the user's display name, in field order.
    Name,
    /// An identifier shown after the applicant type (INN, SNILS, …).
    Id,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    pub id: Spanned<Ident>,
    pub label: String,
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    /// Applicant types that see the field; all when empty.
    #[serde(default)]
    pub types: Vec<ApplicantType>,
    #[serde(default)]
    pub step: FieldStep,
    /// Identifier checksum: inn, inn_legal, inn_person, ogrn, ogrnip, kpp, snils, iin, bin, iin_or_bin.
    pub validate: Option<Spanned<String>>,
    /// Name of a `[lists]` entry for `select` fields.
    pub options: Option<Spanned<String>>,
    pub hint: Option<String>,
    pub placeholder: Option<String>,
    pub max_length: Option<usize>,
    pub header: Option<HeaderRole>,
    /// Unit shown after a number ("кВт", "Гкал/ч", "м³/сут").
    pub unit: Option<String>,
    /// File slots: the document type recorded with each file (seed 004).
    pub doc_type: Option<String>,
    /// File slots: accepted types, checked by content: pdf, jpeg, png, tiff, docx, xlsx, zip.
    #[serde(default)]
    pub accept: Vec<Spanned<String>>,
}

impl FieldDef {
    pub fn id(&self) -> &str {
        self.id.get_ref().as_str()
    }

    /// The identifier check's name (inn, snils, …), if any.
    pub fn validate(&self) -> Option<&str> {
        self.validate.as_ref().map(|v| v.get_ref().as_str())
    }

    /// The `[lists]` entry a select picks from.
    pub fn options(&self) -> Option<&str> {
        self.options.as_ref().map(|o| o.get_ref().as_str())
    }

    /// A file slot's accepted types, as written.
    pub fn accepted(&self) -> impl Iterator<Item = &str> {
        self.accept.iter().map(|a| a.get_ref().as_str())
    }

    pub fn applies_to(&self, t: ApplicantType) -> bool {
        self.types.is_empty() || self.types.contains(&t)
    }
}

impl Keyed for FieldDef {
    fn key(&self) -> &str {
        self.id()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// `From:` of the tenant's emails; the server default when absent.
    pub email_from: Option<Spanned<String>>,
    /// Alpha sender name for SMS where the provider allows it.
    pub sms_sender: Option<String>,
    /// SMS sends per tenant per day, a cost guard against abuse.
    #[serde(default = "default_sms_daily")]
    pub sms_daily_limit: u32,
}

impl Notify {
    pub fn email_from(&self) -> Option<&str> {
        self.email_from.as_ref().map(|f| f.get_ref().as_str())
    }
}

fn default_sms_daily() -> u32 {
    2000
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_script_origin_is_an_http_origin_or_the_portal_itself() {
        use super::script_origin;
        assert_eq!(
            script_origin(&super::default_cadesplugin_api()),
            Ok(Some("https://www.cryptopro.ru".into()))
        );
        assert_eq!(
            script_origin("http://127.0.0.1:8123/cadesplugin_api.js"),
            Ok(Some("http://127.0.0.1:8123".into()))
        );
        assert_eq!(
            script_origin("/t/kvadra/assets/cadesplugin_api.js"),
            Ok(None)
        );
        // Nothing that would widen the policy past one origin, or break it.
        for bad in [
            "data:text/javascript,alert(1)",
            "javascript:alert(1)",
            "//evil.example/x.js",
            "*",
            "https://a.example; script-src *",
            "cadesplugin_api.js",
        ] {
            assert!(script_origin(bad).is_err(), "{bad}");
        }
    }
}
