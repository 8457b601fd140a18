//! Tenants: loading `tenants/<slug>/` folders, checking them, and the
//! registry the web layer uses to find a tenant by slug or host name.
//!
//! Every problem found while loading is collected (not just the first) as a
//! [`Problem`] carrying `file:line: message`, so `tapline check` can print
//! them all and `tapline serve` can refuse to start on the same list.

pub mod config;
pub mod templates;
pub mod trust;

use config::{
    ApplicantType, ApplicationKind, FieldDef, FieldKind, FieldStep, LoginBy, Need, StatusDef,
    TenantFile,
};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// One thing wrong with a tenant folder, located to the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Field ids the core uses on its own forms; a tenant field may not take them.
const RESERVED_FIELDS: &[&str] = &[
    "email",
    "phone",
    "login",
    "password",
    "password2",
    "consent",
    "captcha",
    "captcha_id",
    "csrf_token",
    "type",
    "remember",
    "current_password",
];

/// A loaded, checked tenant.
pub struct Tenant {
    pub slug: String,
    pub dir: PathBuf,
    pub config: TenantFile,
    pub templates: minijinja::Environment<'static>,
    /// The tenant's clock (see `[tenant] utc_offset`).
    pub offset: time::UtcOffset,
    /// Anchors, CRL files and revocation policy for signatures.
    pub trust: trust::Trust,
    /// Each application kind's form, by the kind's place in the config:
    /// positions in `application_fields`, in form order, for each
    /// [`type_slot`]. Resolved once at load, not on every request.
    forms: Vec<[Vec<usize>; 4]>,
}

/// Where an applicant type's form stands in [`Tenant::forms`]; the first
/// is every field (an account of no known type, or staff reading a card).
fn type_slot(t: Option<ApplicantType>) -> usize {
    match t {
        None => 0,
        Some(ApplicantType::Individual) => 1,
        Some(ApplicantType::Legal) => 2,
        Some(ApplicantType::Entrepreneur) => 3,
    }
}

/// Every kind's form resolved from the ids it lists (see [`Tenant::forms`]).
fn resolve_forms(c: &TenantFile) -> Vec<[Vec<usize>; 4]> {
    let fields = &c.application_fields;
    c.application_kinds
        .iter()
        .map(|k| {
            let all: Vec<usize> = k.field_ids().filter_map(|id| fields.position(id)).collect();
            let of = |t: ApplicantType| -> Vec<usize> {
                all.iter()
                    .copied()
                    .filter(|&i| fields[i].applies_to(t))
                    .collect()
            };
            [
                all.clone(),
                of(ApplicantType::Individual),
                of(ApplicantType::Legal),
                of(ApplicantType::Entrepreneur),
            ]
        })
        .collect()
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenant").field("slug", &self.slug).finish()
    }
}

impl Tenant {
    /// Today's date on the tenant's clock.
    pub fn today(&self) -> time::Date {
        crate::store::now().to_offset(self.offset).date()
    }

    /// A stored UTC timestamp on the tenant's clock: "23.11.2026 13:05".
    pub fn local_time(&self, ts: &str) -> String {
        local_time(ts, self.offset)
    }

    /// A stored UTC timestamp's date on the tenant's clock: "23.11.2026".
    pub fn local_date(&self, ts: &str) -> String {
        match crate::store::parse_ts(ts) {
            Some(t) => ru_date(&t.to_offset(self.offset).date().to_string()),
            None => ts.to_string(),
        }
    }

    pub fn name(&self) -> &str {
        &self.config.tenant.name
    }

    pub fn short_name(&self) -> &str {
        self.config
            .tenant
            .short_name
            .as_deref()
            .unwrap_or(&self.config.tenant.name)
    }

    pub fn applicant_types(&self) -> &[ApplicantType] {
        self.config.applicants.types.get_ref()
    }

    pub fn type_title(&self, t: ApplicantType) -> &str {
        self.config
            .applicants
            .titles
            .get(&t)
            .map(String::as_str)
            .unwrap_or(t.default_title())
    }

    /// Profile fields that apply to an applicant type, in config order.
    pub fn fields_for(&self, t: ApplicantType) -> impl Iterator<Item = &FieldDef> {
        self.config
            .applicants
            .fields
            .iter()
            .filter(move |f| f.applies_to(t))
    }

    pub fn registration_fields(&self, t: ApplicantType) -> impl Iterator<Item = &FieldDef> {
        self.fields_for(t)
            .filter(|f| f.step == FieldStep::Registration)
    }

    pub fn login_by(&self) -> &[LoginBy] {
        self.config.accounts.login_by.get_ref()
    }

    pub fn asks_phone(&self) -> bool {
        self.config.accounts.phone != Need::None
    }

    pub fn asks_login(&self) -> bool {
        self.login_by().contains(&LoginBy::Login)
    }

    pub fn application_kind(&self, id: &str) -> Option<&ApplicationKind> {
        self.config.application_kinds.get(id)
    }

    pub fn application_field(&self, id: &str) -> Option<&FieldDef> {
        self.config.application_fields.get(id)
    }

    /// A status of the workflow's vocabulary (not `draft`, not a custom one).
    pub fn status(&self, id: &str) -> Option<&StatusDef> {
        self.config.workflow.status(id)
    }

    /// The fields of the form of `kind` an applicant of type `t` sees, in
    /// form order; every field of the form for no type. Nothing for a kind
    /// no longer configured.
    pub fn form_fields(
        &self,
        kind: &str,
        t: Option<ApplicantType>,
    ) -> impl Iterator<Item = &FieldDef> + '_ {
        let form = self
            .config
            .application_kinds
            .position(kind)
            .map_or(&[][..], |k| &self.forms[k][type_slot(t)]);
        form.iter().map(|&i| &self.config.application_fields[i])
    }

    /// A kind's title for people; the id itself for a kind no longer configured.
    pub fn kind_title(&self, id: &str) -> String {
        self.application_kind(id)
            .map(|k| k.title.clone())
            .unwrap_or_else(|| id.to_string())
    }

    pub fn list(&self, name: &str) -> Option<&[String]> {
        self.config.lists.get(name).map(Vec::as_slice)
    }

    /// The application field that says which supply an application is for
    /// (`[applications] supply_field`).
    pub fn supply_field(&self) -> Option<&str> {
        self.config
            .applications
            .supply_field
            .as_ref()
            .map(|f| f.get_ref().as_str())
    }

    /// The supply type an application is for, as lists filter by it: the
    /// value of the tenant's supply field, or, for a tenant that names no
    /// such field and supplies one thing, that one.
    pub fn supply_of<'a>(
        &'a self,
        values: &'a std::collections::BTreeMap<String, String>,
    ) -> Option<&'a str> {
        match self.supply_field() {
            Some(field) => values
                .get(field)
                .map(String::as_str)
                .filter(|v| !v.is_empty()),
            None => match self.list(SUPPLY_TYPES) {
                Some([only]) => Some(only.as_str()),
                _ => None,
            },
        }
    }

    /// Absolute base URL for links in emails.
    pub fn public_url(&self, server_public_url: &str) -> String {
        if let Some(u) = &self.config.tenant.public_url {
            return u.get_ref().trim_end_matches('/').to_string();
        }
        format!(
            "{}/t/{}",
            server_public_url.trim_end_matches('/'),
            self.slug
        )
    }
}

/// All tenants of the deployment.
#[derive(Debug, Default)]
pub struct Registry {
    tenants: Vec<Arc<Tenant>>,
    by_slug: HashMap<String, Arc<Tenant>>,
    by_host: HashMap<String, Arc<Tenant>>,
}

impl Registry {
    pub fn by_slug(&self, slug: &str) -> Option<&Arc<Tenant>> {
        self.by_slug.get(slug)
    }

    pub fn by_host(&self, host: &str) -> Option<&Arc<Tenant>> {
        let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
        self.by_host.get(&host)
    }

    pub fn all(&self) -> &[Arc<Tenant>] {
        &self.tenants
    }

    /// Load every `*/tenant.toml` under `dir`. Returns the registry or every
    /// problem found.
    pub fn load(dir: &Path) -> Result<Registry, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.join("tenant.toml").is_file())
                .collect(),
            Err(e) => {
                return Err(vec![Problem {
                    file: dir.to_path_buf(),
                    line: 0,
                    message: format!("cannot read the tenants folder: {e}"),
                }]);
            }
        };
        entries.sort();
        if entries.is_empty() {
            problems.push(Problem {
                file: dir.to_path_buf(),
                line: 0,
                message: "no tenant found (expected <slug>/tenant.toml)".into(),
            });
        }
        let mut reg = Registry::default();
        let mut host_owner: HashMap<String, String> = HashMap::new();
        for tdir in entries {
            match load_tenant(&tdir) {
                Ok(t) => {
                    let file = tdir.join("tenant.toml");
                    let src = std::fs::read_to_string(&file).unwrap_or_default();
                    for h in &t.config.tenant.hosts {
                        let host = h.get_ref().to_ascii_lowercase();
                        if let Some(other) = host_owner.insert(host.clone(), t.slug.clone()) {
                            let message = if other == t.slug {
                                format!("tenant.hosts: `{host}` is listed twice")
                            } else {
                                format!("host `{host}` is already used by tenant `{other}`")
                            };
                            problems.push(Problem {
                                file: file.clone(),
                                line: line_of(&src, h.span()),
                                message,
                            });
                        }
                    }
                    let t = Arc::new(t);
                    for h in &t.config.tenant.hosts {
                        reg.by_host
                            .insert(h.get_ref().to_ascii_lowercase(), t.clone());
                    }
                    reg.by_slug.insert(t.slug.clone(), t.clone());
                    reg.tenants.push(t);
                }
                Err(mut p) => problems.append(&mut p),
            }
        }
        if problems.is_empty() {
            Ok(reg)
        } else {
            Err(problems)
        }
    }
}

/// A stored UTC timestamp at an offset: "23.11.2026 13:05"; anything that
/// is not a timestamp is shown as it is.
pub fn local_time(ts: &str, offset: time::UtcOffset) -> String {
    match crate::store::parse_ts(ts) {
        Some(t) => {
            let t = t.to_offset(offset);
            format!(
                "{} {:02}:{:02}",
                ru_date(&t.date().to_string()),
                t.hour(),
                t.minute()
            )
        }
        None => ts.to_string(),
    }
}

/// "2026-11-23" → "23.11.2026", the way dates are written in Russia and
/// Kazakhstan.
pub fn ru_date(d: &str) -> String {
    match (d.get(0..4), d.get(5..7), d.get(8..10)) {
        (Some(y), Some(m), Some(dd)) if d.len() == 10 => format!("{dd}.{m}.{y}"),
        _ => d.to_string(),
    }
}

/// "+05:00", "-03:30" or "+7" → the offset, if within what clocks use.
pub fn parse_offset(s: &str) -> Option<time::UtcOffset> {
    let (sign, rest) = match s.trim().split_at_checked(1)? {
        ("+", r) => (1i8, r),
        ("-", r) => (-1i8, r),
        _ => return None,
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    time::UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

/// The tenant's clock: its own offset, else its calendar country's capital's.
fn offset_of(c: &TenantFile) -> time::UtcOffset {
    c.tenant
        .utc_offset
        .as_ref()
        .and_then(|o| parse_offset(o.get_ref()))
        .unwrap_or(match c.workflow.calendar {
            config::CalendarId::Ru => time::macros::offset!(+3),
            config::CalendarId::Kz => time::macros::offset!(+5),
        })
}

/// 1-based line of a byte offset.
pub fn line_of(src: &str, span: Range<usize>) -> usize {
    let end = span.start.min(src.len());
    src[..end].bytes().filter(|b| *b == b'\n').count() + 1
}

/// A step of a key path into the TOML document: a key or an array item.
#[derive(Clone, Copy)]
enum At<'k> {
    Key(&'k str),
    Item(usize),
}

/// The tenant file parsed once more with spans on every value, to locate
/// keys the typed config keeps no span for (plain `bool`, `usize`, …).
struct Doc<'a> {
    src: &'a str,
    root: Option<toml::Spanned<toml::de::DeTable<'a>>>,
}

impl<'a> Doc<'a> {
    fn parse(src: &'a str) -> Self {
        Doc {
            src,
            root: toml::de::DeTable::parse(src).ok(),
        }
    }

    /// Span of the value at `path`, if the file spells it out.
    fn span(&self, path: &[At<'_>]) -> Option<Range<usize>> {
        use toml::de::DeValue;
        let (At::Key(first), rest) = path.split_first()? else {
            return None;
        };
        let mut v = self.root.as_ref()?.get_ref().get(*first)?;
        for step in rest {
            v = match (step, v.get_ref()) {
                (At::Key(k), DeValue::Table(t)) => t.get(*k)?,
                (At::Item(i), DeValue::Array(a)) => a.get(*i)?,
                _ => return None,
            };
        }
        Some(v.span())
    }

    /// Span of the first of `paths` the file spells out, else `0..0`.
    fn first_span(&self, paths: &[&[At<'_>]]) -> Range<usize> {
        paths.iter().find_map(|p| self.span(p)).unwrap_or(0..0)
    }

    fn line(&self, span: Range<usize>) -> usize {
        line_of(self.src, span)
    }
}

/// Load and check one tenant folder.
pub fn load_tenant(dir: &Path) -> Result<Tenant, Vec<Problem>> {
    let file = dir.join("tenant.toml");
    let src = std::fs::read_to_string(&file).map_err(|e| {
        vec![Problem {
            file: file.clone(),
            line: 0,
            message: format!("cannot read: {e}"),
        }]
    })?;
    let config: TenantFile = toml::from_str(&src).map_err(|e| {
        vec![Problem {
            file: file.clone(),
            line: e.span().map(|s| line_of(&src, s)).unwrap_or(0),
            message: e.message().trim().to_string(),
        }]
    })?;
    let mut problems = Vec::new();
    let mut err = |span: Range<usize>, message: String| {
        problems.push(Problem {
            file: file.clone(),
            line: line_of(&src, span),
            message,
        })
    };
    let doc = Doc::parse(&src);
    check_config(dir, &config, &doc, &mut err);
    let trust = trust::load(dir, &config, &src, &mut err);

    let slug = config.tenant.slug.get_ref().to_string();
    let offset = offset_of(&config);
    let forms = resolve_forms(&config);
    let templates = match templates::environment(dir, offset) {
        Ok(env) => env,
        Err(mut p) => {
            problems.append(&mut p);
            minijinja::Environment::new()
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Tenant {
        slug,
        dir: dir.to_path_buf(),
        config,
        templates,
        offset,
        trust,
        forms,
    })
}

fn check_config(
    dir: &Path,
    c: &TenantFile,
    doc: &Doc<'_>,
    err: &mut impl FnMut(Range<usize>, String),
) {
    let slug = &c.tenant.slug;
    let dir_name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if slug.get_ref().as_str() != dir_name {
        err(
            slug.span(),
            format!(
                "tenant.slug `{}` must equal the folder name `{dir_name}`",
                slug.get_ref()
            ),
        );
    }
    for h in &c.tenant.hosts {
        let ok = !h.get_ref().is_empty()
            && h.get_ref()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if !ok {
            err(
                h.span(),
                format!("tenant.hosts: `{}` is not a host name", h.get_ref()),
            );
        }
    }
    if !["ru", "kk", "en"].contains(&c.tenant.locale.get_ref().as_str()) {
        err(
            c.tenant.locale.span(),
            format!(
                "tenant.locale: `{}` is not supported (ru, kk, en)",
                c.tenant.locale.get_ref()
            ),
        );
    }
    if let Some(o) = &c.tenant.utc_offset
        && parse_offset(o.get_ref()).is_none()
    {
        err(
            o.span(),
            format!(
                "tenant.utc_offset: `{}` is not an offset from UTC such as \"+03:00\"",
                o.get_ref()
            ),
        );
    }
    if let Some(u) = &c.tenant.public_url {
        match url::Url::parse(u.get_ref()) {
            Ok(p) if p.scheme() == "http" || p.scheme() == "https" => {}
            _ => err(
                u.span(),
                format!("tenant.public_url: `{}` is not an http(s) URL", u.get_ref()),
            ),
        }
    }
    let b = &c.branding;
    for (key, v) in [
        ("branding.primary_color", Some(&b.primary_color)),
        ("branding.primary_contrast", b.primary_contrast.as_ref()),
        ("branding.accent_color", b.accent_color.as_ref()),
    ] {
        if let Some(v) = v
            && !is_color(v.get_ref())
        {
            err(
                v.span(),
                format!(
                    "{key}: `{}` is not a colour like #0a5 or #00aa55",
                    v.get_ref()
                ),
            );
        }
    }
    if let Some(d) = &c.applications.docx {
        match safe_relative(d.get_ref()) {
            Some(p) if dir.join(&p).is_file() && d.get_ref().ends_with(".docx") => {
                let bytes = std::fs::read(dir.join(&p)).unwrap_or_default();
                let field_ids: Vec<&str> = c
                    .application_fields
                    .iter()
                    .map(|f| f.id.get_ref().as_str())
                    .collect();
                let checked = crate::document::docx::render(&bytes, &minijinja::context! {})
                    .and_then(|_| crate::document::docx::unknown_names(&bytes, &field_ids));
                match checked {
                    Ok(unknown) => {
                        for name in unknown {
                            err(
                                d.span(),
                                format!(
                                    "applications.docx: `{{{{ {name} }}}}` names nothing the document is given \
                                     ({}, or values.<application field id>)",
                                    crate::document::docx::CONTEXT_NAMES.join(", ")
                                ),
                            );
                        }
                    }
                    Err(e) => err(
                        d.span(),
                        format!("applications.docx: `{}` cannot be used: {e}", d.get_ref()),
                    ),
                }
            }
            _ => err(
                d.span(),
                format!(
                    "applications.docx: `{}` is not a .docx file inside the tenant folder",
                    d.get_ref()
                ),
            ),
        }
    }
    if let Some(logo) = &b.logo {
        match safe_relative(logo.get_ref()) {
            None => err(
                logo.span(),
                format!(
                    "branding.logo: `{}` must be a path inside the tenant folder",
                    logo.get_ref()
                ),
            ),
            Some(p) if !dir.join(&p).is_file() => err(
                logo.span(),
                format!("branding.logo: file `{}` not found", logo.get_ref()),
            ),
            Some(_) => {}
        }
    }

    let types = c.applicants.types.get_ref();
    if types.is_empty() {
        err(
            c.applicants.types.span(),
            "applicants.types: at least one applicant type is needed".into(),
        );
    }
    let uniq: BTreeSet<_> = types.iter().collect();
    if uniq.len() != types.len() {
        err(
            c.applicants.types.span(),
            "applicants.types: an applicant type is listed twice".into(),
        );
    }

    let mut seen: HashMap<&str, usize> = HashMap::new();
    let fields = &c.applicants.fields;
    for (i, f) in fields.iter().enumerate() {
        // One id may carry a different definition per applicant type (the
        // INN: ten digits for an organisation, twelve for a person), as long
        // as no type sees two of them.
        let id = f.id.get_ref().as_str();
        let mut twins = fields[..i]
            .iter()
            .filter(|g| g.id.get_ref().as_str() == id)
            .peekable();
        let for_other_types = twins.peek().is_some()
            && twins.all(|g| {
                !f.types.is_empty()
                    && !g.types.is_empty()
                    && !g.types.iter().any(|t| f.types.contains(t))
            });
        if for_other_types {
            seen.remove(id);
        }
        check_field(c, f, i, doc, &mut seen, err, Place::Profile);
    }
    check_applications(c, doc, err);

    let acc = &c.accounts;
    let login_by = acc.login_by.get_ref();
    if login_by.is_empty() {
        err(
            acc.login_by.span(),
            "accounts.login_by: name at least one of email, login, phone".into(),
        );
    }
    if login_by.contains(&LoginBy::Phone) && acc.phone != Need::Required {
        err(
            acc.login_by.span(),
            "accounts.login_by: login by phone needs accounts.phone = \"required\"".into(),
        );
    }
    if acc.confirm_phone && acc.phone == Need::None {
        // `confirm_phone` defaults to true: point at it when written, else at `phone`.
        err(
            doc.first_span(&[
                &[At::Key("accounts"), At::Key("confirm_phone")],
                &[At::Key("accounts"), At::Key("phone")],
            ]),
            "accounts.confirm_phone: the tenant does not ask for a phone (accounts.phone = \"none\")"
                .into(),
        );
    }
    if acc.password_min_length < 8 {
        err(
            doc.first_span(&[&[At::Key("accounts"), At::Key("password_min_length")]]),
            format!(
                "accounts.password_min_length: {} is too short, must be at least 8",
                acc.password_min_length
            ),
        );
    }
    for a in &acc.notify_on_registration {
        if !is_email(a.get_ref()) {
            err(
                a.span(),
                format!(
                    "accounts.notify_on_registration: `{}` is not an email address",
                    a.get_ref()
                ),
            );
        }
    }
    // Only OCSP needs the network: `either` falls back to the CRL files.
    use tapline_signature::policy::Revocation;
    if !c.signature.fetch && matches!(c.signature.revocation, Revocation::Ocsp | Revocation::Both) {
        err(
            doc.first_span(&[
                &[At::Key("signature"), At::Key("revocation")],
                &[At::Key("signature"), At::Key("fetch")],
            ]),
            "signature: revocation \"ocsp\" or \"both\" needs fetch = true (OCSP is only ever asked over the network)".into(),
        );
    }
    if let Err(why) = c.signature.cadesplugin_origin() {
        err(
            doc.first_span(&[&[At::Key("signature"), At::Key("cadesplugin_api")]]),
            format!(
                "signature.cadesplugin_api: `{}` {why}",
                c.signature.cadesplugin_api
            ),
        );
    }
    check_signing(c, dir, err);
    if let Some(from) = &c.notify.email_from
        && from.get_ref().parse::<lettre::message::Mailbox>().is_err()
    {
        err(
            from.span(),
            format!(
                "notify.email_from: `{}` is not a mailbox like `Name <addr@host>`",
                from.get_ref()
            ),
        );
    }
}

/// Which list of fields a field belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Profile,
    Application,
}

/// The `[lists]` entry the supply filters offer.
pub const SUPPLY_TYPES: &str = "supply_types";

/// How an application's supply type reaches the filters: through the
/// select named by `[applications] supply_field`, or, with one supply type,
/// implicitly. Several types and no field would offer a filter that finds
/// nothing.
fn check_supply(c: &TenantFile, doc: &Doc<'_>, err: &mut impl FnMut(Range<usize>, String)) {
    let types = c.lists.get(SUPPLY_TYPES).map_or(0, Vec::len);
    let Some(field) = &c.applications.supply_field else {
        if types > 1 {
            err(
                doc.first_span(&[&[At::Key("lists"), At::Key(SUPPLY_TYPES)]]),
                format!(
                    "lists.supply_types: {types} supply types, but no [applications] supply_field names \
                     the application field that says which one an application is for"
                ),
            );
        }
        return;
    };
    let id = field.get_ref().as_str();
    let Some(def) = c
        .application_fields
        .iter()
        .find(|f| f.id.get_ref().as_str() == id)
    else {
        err(
            field.span(),
            format!("applications.supply_field: `{id}` is not an application_field id"),
        );
        return;
    };
    if def.kind != FieldKind::Select {
        err(
            field.span(),
            format!(
                "applications.supply_field: `{id}` must be a select (its value is matched against lists.supply_types)"
            ),
        );
    }
    if types == 0 {
        err(
            field.span(),
            "applications.supply_field: [lists] has no supply_types for the filters to offer"
                .into(),
        );
    }
    if !c
        .application_kinds
        .iter()
        .any(|k| k.fields.iter().any(|f| f.get_ref() == id))
    {
        err(
            field.span(),
            format!("applications.supply_field: no application_kind asks for `{id}`"),
        );
    }
}

fn check_applications(c: &TenantFile, doc: &Doc<'_>, err: &mut impl FnMut(Range<usize>, String)) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, f) in c.application_fields.iter().enumerate() {
        check_field(c, f, i, doc, &mut seen, err, Place::Application);
    }
    let mut kinds: HashMap<&str, usize> = HashMap::new();
    for k in &c.application_kinds {
        let id = k.id.get_ref().as_str();
        if let Some(first) = kinds.insert(id, doc.line(k.id.span())) {
            err(
                k.id.span(),
                format!("application_kind `{id}`: defined twice (first on line {first})"),
            );
        }
        for f in &k.fields {
            if !seen.contains_key(f.get_ref().as_str()) {
                err(
                    f.span(),
                    format!(
                        "application_kind `{id}`: field `{}` is not defined by any [[application_field]]",
                        f.get_ref()
                    ),
                );
            }
        }
        for t in &k.types {
            if !c.applicants.types.get_ref().contains(t) {
                err(
                    k.id.span(),
                    format!(
                        "application_kind `{id}`: type `{}` is not in applicants.types",
                        t.id()
                    ),
                );
            }
        }
    }
    let statuses: BTreeSet<&str> = c
        .workflow
        .statuses
        .iter()
        .map(|s| s.id.get_ref().as_str())
        .collect();
    if statuses.len() != c.workflow.statuses.len() {
        err(
            doc.first_span(&[&[At::Key("workflow")]]),
            "workflow.status: a status id is defined twice".into(),
        );
    }
    if statuses.contains("draft") {
        err(
            doc.first_span(&[&[At::Key("workflow")]]),
            "workflow.status: `draft` is built in and cannot be redefined".into(),
        );
    }
    let sub = &c.workflow.submitted;
    if !statuses.contains(sub.get_ref().as_str()) {
        err(
            sub.span(),
            format!(
                "workflow.submitted: `{}` is not a workflow.status id",
                sub.get_ref()
            ),
        );
    }
    if let Some(edo) = &c.workflow.submitted_edo {
        if !statuses.contains(edo.get_ref().as_str()) {
            err(
                edo.span(),
                format!(
                    "workflow.submitted_edo: `{}` is not a workflow.status id",
                    edo.get_ref()
                ),
            );
        }
        if c.applications.edo_for.is_empty() {
            err(
                edo.span(),
                "workflow.submitted_edo needs applications.edo_for to name the applicant types it is for".into(),
            );
        }
    }
    for t in &c.workflow.transitions {
        for k in &t.kinds {
            if !c
                .application_kinds
                .iter()
                .any(|ak| ak.id.get_ref().as_str() == k.get_ref().as_str())
            {
                err(
                    k.span(),
                    format!(
                        "workflow.transition: kind `{}` is not an application_kind id",
                        k.get_ref()
                    ),
                );
            }
        }
        for f in &t.from {
            let f_id = f.get_ref().as_str();
            if f_id != "*" && !statuses.contains(f_id) {
                err(
                    f.span(),
                    format!(
                        "workflow.transition: from `{f_id}` is not a workflow.status id (submission from the draft is built in)"
                    ),
                );
            }
        }
        if t.from.is_empty() {
            err(
                t.to.span(),
                "workflow.transition: `from` lists no status".into(),
            );
        }
        if !statuses.contains(t.to.get_ref().as_str()) {
            err(
                t.to.span(),
                format!(
                    "workflow.transition: to `{}` is not a workflow.status id",
                    t.to.get_ref()
                ),
            );
        }
        if t.by.is_empty() {
            err(
                t.to.span(),
                "workflow.transition: `by` names nobody who may make it".into(),
            );
        }
    }
    for s in &c.workflow.statuses {
        if s.deadline_working_days.is_some_and(|d| d == 0 || d > 365) {
            err(
                s.id.span(),
                format!(
                    "workflow.status `{}`: deadline_working_days must be 1..=365",
                    s.id.get_ref()
                ),
            );
        }
    }
    check_supply(c, doc, err);
    if let Some(u) = &c.content.blank_forms_url
        && !url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
    {
        err(
            doc.first_span(&[&[At::Key("content"), At::Key("blank_forms_url")]]),
            format!("content.blank_forms_url: `{u}` is not an http(s) address"),
        );
    }
    let mut topics = BTreeSet::new();
    for t in &c.appeals.topics {
        if t.trim().is_empty() || !topics.insert(t.as_str()) {
            err(
                doc.first_span(&[&[At::Key("appeals"), At::Key("topics")]]),
                format!("appeals.topics: `{t}` is empty or listed twice"),
            );
        }
    }
    if c.applications.city_first && c.lists.get("cities").is_none_or(|l| l.is_empty()) {
        err(
            doc.first_span(&[&[At::Key("applications"), At::Key("city_first")]]),
            "applications.city_first needs a non-empty [lists] cities".into(),
        );
    }
}

fn check_field<'a>(
    c: &TenantFile,
    f: &'a FieldDef,
    index: usize,
    doc: &Doc<'_>,
    seen: &mut HashMap<&'a str, usize>,
    err: &mut impl FnMut(Range<usize>, String),
    place: Place,
) {
    let id = f.id.get_ref().as_str();
    let (what, path): (&str, [At<'_>; 2]) = match place {
        Place::Profile => (
            "applicants.field",
            [At::Key("applicants"), At::Key("field")],
        ),
        Place::Application => (
            "application_field",
            [At::Key("application_field"), At::Key("")],
        ),
    };
    if place == Place::Profile && RESERVED_FIELDS.contains(&id) {
        err(
            f.id.span(),
            format!("{what} `{id}`: this id is reserved by the core form"),
        );
    }
    if let Some(first) = seen.insert(id, doc.line(f.id.span())) {
        err(
            f.id.span(),
            format!("{what} `{id}`: defined twice (first on line {first})"),
        );
    }
    if f.kind == FieldKind::File && place == Place::Profile {
        err(
            f.id.span(),
            format!("{what} `{id}`: file slots belong to application forms"),
        );
    }
    for a in &f.accept {
        if crate::document::FileType::from_name(a.get_ref()).is_none() {
            err(
                a.span(),
                format!(
                    "{what} `{id}`: unknown file type `{}` (pdf, jpeg, png, tiff, docx, xlsx, zip)",
                    a.get_ref()
                ),
            );
        }
    }
    if !f.accept.is_empty() && f.kind != FieldKind::File {
        err(
            f.id.span(),
            format!("{what} `{id}`: accept is only for kind = \"file\""),
        );
    }
    // Span of one of this field's keys; the id line when it is not written.
    let key_span = |key: &str| {
        let found = match place {
            Place::Profile => doc.span(&[path[0], path[1], At::Item(index), At::Key(key)]),
            Place::Application => doc.span(&[path[0], At::Item(index), At::Key(key)]),
        };
        found.unwrap_or_else(|| f.id.span())
    };
    let types_span = key_span("types");
    for t in &f.types {
        if !c.applicants.types.get_ref().contains(t) {
            err(
                types_span.clone(),
                format!(
                    "{what} `{id}`: type `{}` is not in applicants.types",
                    t.id()
                ),
            );
        }
    }
    if let Some(v) = &f.validate {
        if tapline_ids::IdKind::from_name(v.get_ref()).is_none() {
            err(
                v.span(),
                format!(
                    "{what} `{id}`: unknown validator `{}` (inn, inn_legal, inn_person, ogrn, ogrnip, kpp, snils, iin, bin, iin_or_bin)",
                    v.get_ref()
                ),
            );
        } else if f.kind != FieldKind::Text {
            err(
                v.span(),
                format!("{what} `{id}`: validate applies to kind = \"text\" only"),
            );
        }
    }
    match (&f.options, f.kind) {
        (Some(o), FieldKind::Select) => match c.lists.get(o.get_ref().as_str()) {
            None => err(
                o.span(),
                format!(
                    "{what} `{id}`: options refers to list `{}`, which [lists] does not define",
                    o.get_ref()
                ),
            ),
            Some(items) if items.is_empty() => err(
                o.span(),
                format!(
                    "{what} `{id}`: options refers to list `{}`, which is empty",
                    o.get_ref()
                ),
            ),
            Some(_) => {}
        },
        (None, FieldKind::Select) => err(
            f.id.span(),
            format!("{what} `{id}`: a select needs `options = \"<list>\"`"),
        ),
        (Some(o), _) => err(
            o.span(),
            format!("{what} `{id}`: options is only for kind = \"select\""),
        ),
        (None, _) => {}
    }
    if f.header.is_some() && f.kind != FieldKind::Text {
        err(
            key_span("header"),
            format!("{what} `{id}`: header applies to text fields only"),
        );
    }
}

fn is_color(s: &str) -> bool {
    let Some(hex) = s.strip_prefix('#') else {
        return false;
    };
    (hex.len() == 3 || hex.len() == 6) && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// A light syntactic check; the real proof is the confirmation link.
pub fn is_email(s: &str) -> bool {
    s.parse::<lettre::Address>().is_ok() && s.len() <= 254
}

/// A relative path without `..`, or None.
pub fn safe_relative(p: &str) -> Option<PathBuf> {
    let path = Path::new(p);
    if path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        && !p.is_empty()
    {
        Some(path.to_path_buf())
    } else {
        None
    }
}

/// `[signature]`'s schemes and steps: each step's statuses exist, the
/// status a signature moves to is one the workflow lets the system set,
/// an SMS signature has a phone to go to, and a contract template is a
/// Word file inside the tenant folder.
fn check_signing(c: &TenantFile, dir: &Path, err: &mut impl FnMut(std::ops::Range<usize>, String)) {
    use config::{Need, Scheme};
    let sig = &c.signature;
    let wf = &c.workflow;
    let known = |id: &str| wf.status(id).is_some();
    for (key, s) in [
        ("individual", &sig.individual),
        ("legal", &sig.legal),
        ("entrepreneur", &sig.entrepreneur),
    ] {
        if let Some(s) = s
            && *s.get_ref() == Scheme::PepSms
            && c.accounts.phone == Need::None
        {
            err(
                s.span(),
                format!(
                    "signature.{key}: \"pep_sms\" sends a code by SMS, but accounts.phone = \"none\""
                ),
            );
        }
    }
    if let Some(o) = &sig.office
        && !o.get_ref().is_certificate()
    {
        err(
            o.span(),
            "signature.office: staff sign with \"cryptopro\" or \"ncalayer\"".into(),
        );
    }
    if let Some(u) = &sig.utility_id {
        let n = u.get_ref().chars().filter(char::is_ascii_digit).count();
        if !(n == 10 || n == 12) || u.get_ref().chars().any(|c| c.is_alphabetic()) {
            err(
                u.span(),
                format!(
                    "signature.utility_id: `{}` is not an INN (10 digits) or a BIN (12 digits)",
                    u.get_ref()
                ),
            );
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for step in &sig.steps {
        if step.utility_first
            && !sig
                .office
                .as_ref()
                .is_some_and(|o| o.get_ref().is_certificate())
        {
            err(
                step.status.span(),
                "signature.step: utility_first needs signature.office = \"cryptopro\" or \"ncalayer\" (how staff sign), or the applicant waits for ever".into(),
            );
        }
        let status = step.status.get_ref();
        if !known(status) {
            err(
                step.status.span(),
                format!("signature.step: status `{status}` is not a [[workflow.status]]"),
            );
        } else if !seen.insert(status.clone()) {
            err(
                step.status.span(),
                format!("signature.step: status `{status}` has two steps"),
            );
        }
        if let Some(then) = &step.then {
            let to = then.get_ref();
            // Without transitions anyone but the applicant may set any status.
            let by_system = wf.transitions.is_empty()
                || wf.transitions.iter().any(|t| {
                    t.to.get_ref() == to
                        && t.from.iter().any(|f| f.get_ref() == status)
                        && t.by.contains(&config::Role::System)
                });
            if !known(to) {
                err(
                    then.span(),
                    format!("signature.step: status `{to}` is not a [[workflow.status]]"),
                );
            } else if !by_system {
                err(
                    then.span(),
                    format!(
                        "signature.step: a signature moves `{status}` to `{to}`, so [[workflow.transition]] needs from = [\"{status}\"], to = \"{to}\", by = [\"system\"]"
                    ),
                );
            }
        }
    }
    // A status only the system may leave is a dead end unless a signature
    // step moves it (seed 004: «На подписании у потребителя»).
    for st in &wf.statuses {
        let id = st.id.get_ref().as_str();
        if st.is_final {
            continue;
        }
        let exits: Vec<_> = wf
            .transitions
            .iter()
            .filter(|t| t.from.iter().any(|f| f.get_ref() == id))
            // A transition nobody may make is its own problem.
            .filter(|t| !t.by.is_empty())
            .collect();
        let only_system = !exits.is_empty()
            && exits
                .iter()
                .all(|t| t.by.iter().all(|r| *r == config::Role::System));
        let moved = sig.steps.iter().any(|s| {
            s.status.get_ref() == id
                && s.then
                    .as_ref()
                    .is_some_and(|to| exits.iter().any(|t| t.to.get_ref() == to.get_ref()))
        });
        if only_system && !moved {
            err(
                st.id.span(),
                format!(
                    "workflow.status `{id}`: only the system may leave it, and nothing does; add a [[signature.step]] with status = \"{id}\" and then = the status a signature moves it to"
                ),
            );
        }
    }
    if let Some(d) = &sig.contract {
        match safe_relative(d.get_ref()) {
            Some(p) if dir.join(&p).is_file() && d.get_ref().ends_with(".docx") => {}
            _ => err(
                d.span(),
                format!(
                    "signature.contract: `{}` is not a .docx file inside the tenant folder",
                    d.get_ref()
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::offset;

    #[test]
    fn offsets_are_read_the_way_people_write_them() {
        assert_eq!(parse_offset("+03:00"), Some(offset!(+3)));
        assert_eq!(parse_offset("+5"), Some(offset!(+5)));
        assert_eq!(parse_offset("-03:30"), Some(offset!(-3:30)));
        for bad in ["Asia/Almaty", "03:00", "+15:00", "+03:60", "+", ""] {
            assert_eq!(parse_offset(bad), None, "{bad}");
        }
    }

    /// The indexes built at load find what a walk of the config finds:
    /// every kind, application field, status and signing step by its id,
    /// and each kind's form in form order with the fields an applicant
    /// type does not see left out, for every demo tenant.
    #[test]
    fn the_indexes_agree_with_the_config() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenants");
        let reg = Registry::load(&dir).expect("the demo tenants load");
        let mut filtered = 0;
        for t in reg.all() {
            let c = &t.config;
            for k in c.application_kinds.iter() {
                assert!(std::ptr::eq(t.application_kind(k.id()).unwrap(), k));
                let walk = |ty: Option<ApplicantType>| -> Vec<&str> {
                    k.fields
                        .iter()
                        .filter_map(|id| {
                            c.application_fields
                                .iter()
                                .find(|f| f.id.get_ref().as_str() == id.get_ref().as_str())
                        })
                        .filter(|f| ty.is_none_or(|ty| f.applies_to(ty)))
                        .map(|f| f.id())
                        .collect()
                };
                let all: Vec<&str> = k.field_ids().collect();
                assert_eq!(walk(None), all, "{}: {}", t.slug, k.id());
                for ty in [None].into_iter().chain(ApplicantType::ALL.map(Some)) {
                    let indexed: Vec<&str> = t.form_fields(k.id(), ty).map(|f| f.id()).collect();
                    assert_eq!(indexed, walk(ty), "{}: {} for {ty:?}", t.slug, k.id());
                    filtered += all.len() - indexed.len();
                }
            }
            for f in c.application_fields.iter() {
                assert!(std::ptr::eq(t.application_field(f.id()).unwrap(), f));
            }
            for s in c.workflow.statuses.iter() {
                assert!(std::ptr::eq(t.status(s.id()).unwrap(), s));
            }
            for step in c.signature.steps.iter() {
                assert!(std::ptr::eq(c.signature.step(step.status()).unwrap(), step));
            }
            assert!(t.application_kind("no-such-kind").is_none());
            assert!(t.application_field("no-such-field").is_none());
            assert!(t.status("draft").is_none(), "draft is built in");
            assert_eq!(t.form_fields("no-such-kind", None).count(), 0);
        }
        // almatyenergosbyt asks one field of legal entities only.
        assert!(filtered > 0, "no demo form leaves a field out for a type");
    }

    /// 20:30 UTC on the 22nd is already the 23rd in Almaty (+05:00) and
    /// still the 22nd in Moscow; a day's filter bounds follow the clock.
    #[test]
    fn times_and_days_follow_the_tenants_clock() {
        let ts = "2026-11-22T20:30:00.000000Z";
        assert_eq!(local_time(ts, offset!(+5)), "23.11.2026 01:30");
        assert_eq!(local_time(ts, offset!(+3)), "22.11.2026 23:30");
        assert_eq!(local_time("not a time", offset!(+3)), "not a time");
        assert_eq!(ru_date("2026-01-07"), "07.01.2026");
        let (start, end) = crate::store::day_bounds("2026-11-23", offset!(+5)).unwrap();
        assert_eq!(start, "2026-11-22T19:00:00.000000Z");
        assert_eq!(end, "2026-11-23T19:00:00.000000Z");
        assert!(start.as_str() <= ts && ts < end.as_str());
        assert_eq!(crate::store::day_bounds("23.11.2026", offset!(+5)), None);
    }
}
