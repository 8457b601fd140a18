//! Signatures on an application's documents, by the applicant and by the
//! utility: what a document asks for, checking a CMS signature with the
//! tenant's trust (through `tapline-signature`), matching its signer with
//! the applicant's profile, recording it with its verdict and evidence,
//! and moving the application on when a step's signature arrives. The
//! simple signature by SMS code is [`pep`]; the printable verdict and the
//! signed package are [`report`].

pub mod pep;
pub mod report;

use crate::account::Account;
use crate::application::{self as app, Application};
use crate::document::FileStore;
use crate::store::{Db, now_ts};
use crate::tenant::Tenant;
pub use crate::tenant::config::Scheme;
use crate::tenant::config::{ApplicantType, StepDocument};
use crate::workflow::{self, Actor, Recipient, WorkflowError};
use tapline_signature::identity::{self, Identity};
pub use tapline_signature::policy::Purpose;
use tapline_signature::policy::{self, Evidence, Policy, Verdict};

/// A CMS larger than this is refused before it is decoded: a detached
/// signature with its chain is a few kilobytes.
pub const MAX_CMS: usize = 1 << 20;

/// Slots of the documents the platform makes for signing.
pub const APPLICATION_SLOT: &str = "_application";
pub const CONTRACT_SLOT: &str = "_contract";

/// Which side signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Applicant,
    Utility,
}

impl Side {
    pub fn id(self) -> &'static str {
        match self {
            Side::Applicant => "applicant",
            Side::Utility => "utility",
        }
    }

    pub fn from_id(s: &str) -> Option<Side> {
        [Side::Applicant, Side::Utility]
            .into_iter()
            .find(|x| x.id() == s)
    }
}

/// Whose signatures a document asks for (`application_files.signing`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Asked {
    Applicant,
    Utility,
    /// The utility first, then the applicant.
    Both,
}

impl Asked {
    pub fn id(self) -> &'static str {
        match self {
            Asked::Applicant => "applicant",
            Asked::Utility => "utility",
            Asked::Both => "both",
        }
    }

    pub fn from_id(s: &str) -> Option<Asked> {
        [Asked::Applicant, Asked::Utility, Asked::Both]
            .into_iter()
            .find(|x| x.id() == s)
    }

    pub fn includes(self, side: Side) -> bool {
        matches!(
            (self, side),
            (Asked::Both, _)
                | (Asked::Applicant, Side::Applicant)
                | (Asked::Utility, Side::Utility)
        )
    }
}

/// A refused signature, in words for the person who made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// A CMS the engine accepted, with what it was judged on.
#[derive(Clone, Debug)]
pub struct Checked {
    pub verdict: Verdict,
    pub der: Vec<u8>,
    pub verdict_json: String,
    pub evidence_json: String,
}

/// The CMS as a browser plug-in, NCALayer or a `.sig` file hands it over:
/// base64 (CryptoPro splits it into lines), PEM or DER.
pub fn decode_cms(raw: &[u8]) -> Result<Vec<u8>, Refusal> {
    use base64::Engine;
    if raw.len() > MAX_CMS * 2 {
        return Err(Refusal::new(
            "too_large",
            "Файл подписи слишком большой: это не отсоединённая подпись.",
        ));
    }
    let empty = || Refusal::new("empty", "Подпись не получена: подпишите документ ещё раз.");
    if raw.first() == Some(&0x30) {
        return if raw.len() > MAX_CMS {
            Err(empty())
        } else {
            Ok(raw.to_vec())
        };
    }
    let text = std::str::from_utf8(raw)
        .map_err(|_| Refusal::new("not_cms", "Это не файл электронной подписи (CMS, PKCS#7)."))?;
    // PEM armour of any label: CMS, PKCS7, SIGNATURE.
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    if body.is_empty() {
        return Err(empty());
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|_| Refusal::new("not_cms", "Это не файл электронной подписи (CMS, PKCS#7)."))?;
    if der.len() > MAX_CMS {
        return Err(Refusal::new(
            "too_large",
            "Файл подписи слишком большой: это не отсоединённая подпись.",
        ));
    }
    Ok(der)
}

/// Checks a detached CMS over `content` with the tenant's anchors, CRL
/// files and revocation policy, at `at` (Unix seconds, the time of
/// receipt). Revocation data is fetched when the tenant allows it; what
/// cannot be had refuses the signature.
pub async fn check_cms(
    tenant: &Tenant,
    content: &[u8],
    cms: &[u8],
    purpose: Purpose,
    at: u64,
) -> Result<Checked, Refusal> {
    let der = decode_cms(cms)?;
    let trust = &tenant.trust;
    if trust.anchors.is_empty() {
        tracing::warn!(tenant = %tenant.slug, "a signature arrived, but the tenant trusts no certificate authority");
        return Err(Refusal::new(
            "no_anchors",
            "Портал пока не принимает электронные подписи: не настроены доверенные удостоверяющие центры. Обратитесь в организацию.",
        ));
    }
    let policy = Policy {
        revocation: trust.revocation.method,
        purpose,
    };
    // First with the operator's CRL files alone. Only a signature whose one
    // flaw is revocation data not at hand is worth a trip to the URLs its
    // certificates name: anything else fails the same with more data, and a
    // stranger's certificate must not send this server to an address of
    // their choosing.
    let files = Evidence {
        crls: trust.crls.clone(),
        ..Evidence::default()
    };
    let (mut verdict, der, mut evidence) = judge(tenant, der, content, &policy, files, at).await?;
    let unavailable = verdict.reason
        == Some(policy::Reason::Trust(
            policy::Distrust::RevocationUnavailable,
        ));
    if unavailable && trust.revocation.fetch {
        let mut fetched =
            tapline_signature::fetch::gather(&der, &trust.anchors, &trust.revocation, at).await;
        fetched.crls.extend(trust.crls.iter().cloned());
        (verdict, _, evidence) = judge(tenant, der.clone(), content, &policy, fetched, at).await?;
    }
    if !verdict.valid {
        let reason = verdict.reason;
        tracing::info!(tenant = %tenant.slug, reason = ?reason.map(|r| r.code()), "signature refused");
        return Err(Refusal::new(
            reason.map(|r| r.code()).unwrap_or("refused"),
            reason
                .map(|r| r.message())
                .unwrap_or("Подпись не прошла проверку."),
        ));
    }
    Ok(Checked {
        verdict_json: report::json(&verdict).to_string(),
        evidence_json: serde_json::to_string(&evidence).unwrap_or_default(),
        verdict,
        der,
    })
}

/// One run of the engine, off the runtime's workers (a GOST 512 check and
/// a chain take a millisecond or more).
async fn judge(
    tenant: &Tenant,
    der: Vec<u8>,
    content: &[u8],
    policy: &Policy,
    evidence: Evidence,
    at: u64,
) -> Result<(Verdict, Vec<u8>, Evidence), Refusal> {
    let anchors = tenant.trust.anchors.clone();
    let content = content.to_vec();
    let policy = *policy;
    tokio::task::spawn_blocking(move || {
        let v = policy::verify(&der, Some(&content), &anchors, &policy, &evidence, at);
        (v, der, evidence)
    })
    .await
    .map_err(|_| {
        Refusal::new(
            "internal",
            "Подпись не удалось проверить. Попробуйте ещё раз.",
        )
    })
}

/// The signer as people read it: «Иванов Иван Иванович» or «ООО «Ромашка»
/// (Иванов Иван Иванович)».
pub fn signer_line(id: &Identity) -> String {
    let person = id.person_name().unwrap_or_default();
    match &id.organisation {
        Some(o) if !person.is_empty() => format!("{o} ({person})"),
        Some(o) => o.clone(),
        None => person,
    }
}

/// Whose a certificate is, with its identifiers, for a refusal.
fn whose_line(id: &Identity) -> String {
    std::iter::once(signer_line(id))
        .chain(signer_ids(id).into_iter().map(|(k, v)| format!("{k} {v}")))
        .filter(|x| !x.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// The identifiers of a signer worth showing, with their Russian labels.
pub fn signer_ids(id: &Identity) -> Vec<(String, String)> {
    [
        ("ИНН", id.inn_le.clone().or(id.inn.clone())),
        ("ОГРН", id.ogrn.clone()),
        ("ОГРНИП", id.ogrnip.clone()),
        ("СНИЛС", id.snils.clone()),
        ("БИН", id.bin.clone()),
        ("ИИН", id.iin.clone()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
    .collect()
}

/// The profile's value of the first field of the account's type checked
/// by one of `validators`.
fn profile_id<'a>(tenant: &Tenant, acc: &'a Account, validators: &[&str]) -> Option<&'a str> {
    let t = acc.applicant_type.get()?;
    tenant
        .fields_for(t)
        .filter(|f| f.validate().is_some_and(|v| validators.contains(&v)))
        .find_map(|f| acc.profile.get(f.id()))
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
}

/// Who the profile says the applicant is, for matching a certificate.
pub fn applicant_of<'a>(tenant: &Tenant, acc: &'a Account) -> Option<identity::Applicant<'a>> {
    let id = |v: &[&str]| profile_id(tenant, acc, v);
    if let Some(bin) = id(&["bin"]) {
        return Some(identity::Applicant::KzOrganisation { bin });
    }
    if let Some(iin) = id(&["iin"]) {
        return Some(identity::Applicant::KzPerson { iin });
    }
    match acc.applicant_type.get()? {
        ApplicantType::Legal => Some(identity::Applicant::Legal {
            inn: id(&["inn_legal", "inn"])?,
            ogrn: id(&["ogrn"]).unwrap_or(""),
        }),
        ApplicantType::Entrepreneur => Some(identity::Applicant::Entrepreneur {
            inn: id(&["inn_person", "inn"])?,
            ogrnip: id(&["ogrnip"])?,
        }),
        ApplicantType::Individual => Some(identity::Applicant::Individual {
            snils: id(&["snils"]),
            inn: id(&["inn_person", "inn"]),
        }),
    }
}

/// How `acc` signs `doc`: the tenant's scheme for the document's kind
/// (`application`, `contract` or its document type) if it names one, else
/// the scheme of the applicant's type.
pub fn scheme_of(tenant: &Tenant, acc: &Account, doc: &Document) -> Option<Scheme> {
    let sig = &tenant.config.signature;
    let kind = match doc.slot.as_str() {
        APPLICATION_SLOT => Some("application"),
        CONTRACT_SLOT => Some("contract"),
        _ => doc.doc_type.as_deref(),
    };
    kind.and_then(|k| sig.documents.get(k).copied())
        .or_else(|| acc.applicant_type.get().and_then(|t| sig.scheme_for(t)))
}

/// A document of an application as signing sees it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Document {
    pub id: i64,
    pub application_id: i64,
    pub slot: String,
    pub file_name: String,
    pub size: i64,
    pub sha256: String,
    pub content_type: String,
    pub asked: Option<Asked>,
    pub created_at: String,
    /// For a step's document: the history event of the status entry it
    /// was made for.
    pub entry: Option<i64>,
    /// The document type of the slot or of staff's document (seed 004).
    pub doc_type: Option<String>,
}

const DOC_COLUMNS: &str = "id, application_id, slot, file_name, size, sha256, content_type, signing, created_at, \
     signing_entry, doc_type";

#[derive(sqlx::FromRow)]
struct DocRow {
    id: i64,
    application_id: i64,
    slot: String,
    file_name: String,
    size: i64,
    sha256: String,
    content_type: String,
    signing: Option<String>,
    created_at: String,
    signing_entry: Option<i64>,
    doc_type: Option<String>,
}

fn doc_of(r: DocRow) -> Document {
    Document {
        id: r.id,
        application_id: r.application_id,
        slot: r.slot,
        file_name: r.file_name,
        size: r.size,
        sha256: r.sha256,
        content_type: r.content_type,
        asked: r.signing.as_deref().and_then(Asked::from_id),
        created_at: r.created_at,
        entry: r.signing_entry,
        doc_type: r.doc_type,
    }
}

/// One file of the application.
pub async fn document(
    db: &Db,
    tenant: &str,
    application: i64,
    file: i64,
) -> Result<Option<Document>, sqlx::Error> {
    let sql = format!(
        "SELECT {DOC_COLUMNS} FROM application_files WHERE tenant_id = $1 AND application_id = $2 AND id = $3"
    );
    let row: Option<DocRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(application)
        .bind(file)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(doc_of))
}

/// The copy of a step's document made for one entry into the status.
async fn step_copy(
    db: &Db,
    tenant: &str,
    application: i64,
    slot: &str,
    entry: i64,
) -> Result<Option<Document>, sqlx::Error> {
    let sql = format!(
        "SELECT {DOC_COLUMNS} FROM application_files WHERE tenant_id = $1 AND application_id = $2 \
         AND slot = $3 AND signing_entry = $4"
    );
    let row: Option<DocRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(application)
        .bind(slot)
        .bind(entry)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(doc_of))
}

/// The application's files that ask for signatures, oldest first.
pub async fn asked_documents(
    db: &Db,
    tenant: &str,
    application: i64,
) -> Result<Vec<Document>, sqlx::Error> {
    let sql = format!(
        "SELECT {DOC_COLUMNS} FROM application_files WHERE tenant_id = $1 AND application_id = $2 \
         AND signing IS NOT NULL ORDER BY id"
    );
    let rows: Vec<DocRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(application)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(doc_of).collect())
}

/// A signature as recorded.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Signature {
    pub id: i64,
    pub file_id: i64,
    pub sha256: String,
    pub side: String,
    pub scheme: String,
    pub signer_name: String,
    pub signer_ids: Vec<(String, String)>,
    pub cert_serial: Option<String>,
    pub cert_issuer: Option<String>,
    pub valid: bool,
    pub reason: Option<String>,
    pub created_at: String,
}

const SIG_COLUMNS: &str = "id, file_id, sha256, side, scheme, signer_name, signer_ids, cert_serial, \
     cert_issuer, valid, reason, created_at";

#[derive(sqlx::FromRow)]
struct SigRow {
    id: i64,
    file_id: i64,
    sha256: String,
    side: String,
    scheme: String,
    signer_name: String,
    signer_ids: String,
    cert_serial: Option<String>,
    cert_issuer: Option<String>,
    valid: i64,
    reason: Option<String>,
    created_at: String,
}

fn sig_of(r: SigRow) -> Signature {
    Signature {
        id: r.id,
        file_id: r.file_id,
        sha256: r.sha256,
        side: r.side,
        scheme: r.scheme,
        signer_name: r.signer_name,
        signer_ids: serde_json::from_str(&r.signer_ids).unwrap_or_default(),
        cert_serial: r.cert_serial,
        cert_issuer: r.cert_issuer,
        valid: r.valid != 0,
        reason: r.reason,
        created_at: r.created_at,
    }
}

/// [`SIG_COLUMNS`] and what the signature was judged on.
#[derive(sqlx::FromRow)]
struct StoredRow {
    #[sqlx(flatten)]
    base: SigRow,
    cms: Option<String>,
    verdict: String,
    evidence: Option<String>,
}

/// Every signature received on the application's documents, oldest first.
pub async fn signatures_of(
    db: &Db,
    tenant: &str,
    application: i64,
) -> Result<Vec<Signature>, sqlx::Error> {
    let sql = format!(
        "SELECT {SIG_COLUMNS} FROM signatures WHERE tenant_id = $1 AND application_id = $2 ORDER BY id"
    );
    let rows: Vec<SigRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(application)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(sig_of).collect())
}

/// A recorded signature with what it was judged on: the CMS (base64), the
/// verdict and the evidence, as stored.
pub struct Stored {
    pub signature: Signature,
    pub cms: Option<String>,
    pub verdict: String,
    pub evidence: Option<String>,
}

pub async fn stored(
    db: &Db,
    tenant: &str,
    application: i64,
    id: i64,
) -> Result<Option<Stored>, sqlx::Error> {
    let sql = format!(
        "SELECT {SIG_COLUMNS}, cms, verdict, evidence FROM signatures \
         WHERE tenant_id = $1 AND application_id = $2 AND id = $3"
    );
    let row: Option<StoredRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(application)
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| Stored {
        signature: sig_of(r.base),
        cms: r.cms,
        verdict: r.verdict,
        evidence: r.evidence,
    }))
}

/// Where a document stands for one side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Turn {
    /// The document does not ask this side.
    NotAsked,
    /// The other side signs first.
    Waiting,
    /// This side may sign now.
    Open,
    Signed,
}

/// Whether `side` may sign `doc`, given the signatures already valid.
pub fn turn(doc: &Document, side: Side, signatures: &[Signature]) -> Turn {
    let Some(asked) = doc.asked else {
        return Turn::NotAsked;
    };
    if !asked.includes(side) {
        return Turn::NotAsked;
    }
    let signed_by = |s: Side| {
        signatures.iter().any(|x| {
            x.file_id == doc.id
                && x.valid
                && x.side == s.id()
                && x.scheme != "file"
                && x.sha256 == doc.sha256
        })
    };
    if signed_by(side) {
        Turn::Signed
    } else if asked == Asked::Both && side == Side::Applicant && !signed_by(Side::Utility) {
        Turn::Waiting
    } else {
        Turn::Open
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// Not a document of this application that asks this side to sign.
    #[error("not asked")]
    NotAsked,
    /// The other side signs first.
    #[error("not yet")]
    NotYet,
    #[error("already signed")]
    AlreadySigned,
    /// The engine refused the signature.
    #[error("refused: {}", .0.code)]
    Refused(Refusal),
    /// The signature is valid but the signer is someone else.
    #[error("signed by someone else")]
    NotTheApplicant { whose: String },
    /// A staff member signed with a key that is not the utility's.
    #[error("not the utility's key")]
    NotTheUtility { whose: String },
    /// The profile holds nothing a certificate could be matched with.
    #[error("profile without identifiers")]
    ProfileIncomplete,
    /// Too many signature files for now.
    #[error("too many signature files")]
    TooManyFiles,
    /// The stored bytes do not hash to what was recorded.
    #[error("document damaged")]
    Damaged,
    #[error(transparent)]
    Workflow(WorkflowError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl SignError {
    /// The words for the person signing.
    pub fn message(&self) -> String {
        match self {
            SignError::NotAsked => "Этот документ не нужно подписывать.".into(),
            SignError::NotYet => {
                "Документ ещё не подписан организацией: подписать его можно после неё.".into()
            }
            SignError::AlreadySigned => "Документ уже подписан.".into(),
            SignError::Refused(r) => r.message.clone(),
            SignError::NotTheApplicant { whose } => format!(
                "Подпись сделана сертификатом другого владельца: {whose}. Подпишите сертификатом, выданным на заявителя, данные которого указаны в профиле."
            ),
            SignError::NotTheUtility { whose } => format!(
                "Подпись сделана сертификатом, выданным не организации: {whose}. Подпишите сертификатом организации."
            ),
            SignError::ProfileIncomplete => "Чтобы подписать, укажите в профиле ИНН или СНИЛС (для организации — ИНН и ОГРН): по ним сверяется сертификат.".into(),
            SignError::TooManyFiles => "Слишком много файлов подписи за час. Попробуйте позже.".into(),
            SignError::Damaged => {
                "Документ повреждён в хранилище. Обратитесь в организацию.".into()
            }
            SignError::Workflow(_) | SignError::Io(_) | SignError::Db(_) => {
                "Подпись не удалось сохранить. Попробуйте ещё раз.".into()
            }
        }
    }
}

/// Who signs: an applicant (matched with the profile) or staff.
#[derive(Clone, Copy)]
pub enum Signer<'a> {
    Applicant(&'a Account),
    Staff(&'a crate::office::Staff),
}

impl Signer<'_> {
    pub fn side(&self) -> Side {
        match self {
            Signer::Applicant(_) => Side::Applicant,
            Signer::Staff(_) => Side::Utility,
        }
    }

    fn actor(&self) -> Actor {
        match self {
            Signer::Applicant(a) => Actor::Applicant(a.id),
            Signer::Staff(s) => Actor::Staff {
                id: s.id,
                role: s.role.workflow_role(),
            },
        }
    }
}

/// One signature arriving for a document of an application.
pub struct Signing<'a> {
    pub tenant: &'a Tenant,
    pub application: &'a Application,
    pub file: i64,
    pub signer: Signer<'a>,
    pub scheme: Scheme,
    /// The CMS as posted (base64, PEM or DER).
    pub cms: &'a [u8],
    /// Where the applicant's notices go.
    pub recipient: &'a Recipient<'a>,
}

/// The document's bytes from the store, checked against the recorded hash.
pub async fn read_document(files: &FileStore, doc: &Document) -> Result<Vec<u8>, SignError> {
    let bytes = tokio::fs::read(files.path(&doc.sha256)).await?;
    use sha2::Digest;
    if hex::encode(sha2::Sha256::digest(&bytes)) != doc.sha256 {
        tracing::error!(file = doc.id, "a stored document does not hash to its name");
        return Err(SignError::Damaged);
    }
    Ok(bytes)
}

/// Checks a qualified signature (CryptoPro, NCALayer) of a document and
/// records it; a step's signature moves the application on. The check
/// runs before the transaction opens; the record is conditional, so forty
/// presses at once record one signature.
pub async fn sign_with_cms(
    db: &Db,
    files: &FileStore,
    s: Signing<'_>,
) -> Result<Signature, SignError> {
    let tenant = s.tenant;
    let a = s.application;
    let side = s.signer.side();
    let doc = document(db, &tenant.slug, a.id, s.file)
        .await?
        .ok_or(SignError::NotAsked)?;
    if !open_now(db, tenant, a, &doc).await? {
        return Err(SignError::NotAsked);
    }
    let existing = signatures_of(db, &tenant.slug, a.id).await?;
    match turn(&doc, side, &existing) {
        Turn::NotAsked => return Err(SignError::NotAsked),
        Turn::Waiting => return Err(SignError::NotYet),
        Turn::Signed => return Err(SignError::AlreadySigned),
        Turn::Open => {}
    }
    let content = read_document(files, &doc).await?;
    let at = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    let checked = check_cms(tenant, &content, s.cms, Purpose::Sign, at)
        .await
        .map_err(SignError::Refused)?;
    let id = checked.verdict.signer.clone().unwrap_or_default();
    if let (Signer::Staff(_), Some(want)) = (s.signer, tenant.config.signature.utility_id()) {
        let want = digits(want);
        let theirs = [&id.inn_le, &id.inn, &id.bin]
            .into_iter()
            .flatten()
            .any(|v| digits(v) == want || digits(v).strip_prefix("00") == Some(want.as_str()));
        if !theirs {
            tracing::info!(tenant = %tenant.slug, application = a.id, "a staff signature with a key not issued to the utility");
            return Err(SignError::NotTheUtility {
                whose: whose_line(&id),
            });
        }
    }
    if let Signer::Applicant(acc) = s.signer {
        let profile = match applicant_of(tenant, acc) {
            None
            | Some(identity::Applicant::Individual {
                snils: None,
                inn: None,
            }) => {
                return Err(SignError::ProfileIncomplete);
            }
            Some(p) => p,
        };
        if !identity::matches(&id, &profile) {
            let whose = whose_line(&id);
            tracing::info!(tenant = %tenant.slug, application = a.id, "a valid signature of someone else than the applicant");
            return Err(SignError::NotTheApplicant { whose });
        }
    }
    let record = NewSignature {
        doc: &doc,
        side,
        scheme: s.scheme.id(),
        signer: s.signer,
        name: signer_line(&id),
        ids: signer_ids(&id),
        serial: checked.verdict.serial.clone(),
        issuer: checked.verdict.issuer.clone(),
        cms: Some(base64_of(&checked.der)),
        verdict: checked.verdict_json.clone(),
        evidence: Some(checked.evidence_json.clone()),
        valid: true,
        reason: None,
    };
    record_and_move(db, tenant, a, record, s.recipient).await
}

pub(crate) fn base64_of(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A signature to write.
pub(crate) struct NewSignature<'a> {
    pub doc: &'a Document,
    pub side: Side,
    pub scheme: &'static str,
    pub signer: Signer<'a>,
    pub name: String,
    pub ids: Vec<(String, String)>,
    pub serial: Option<String>,
    pub issuer: Option<String>,
    pub cms: Option<String>,
    pub verdict: String,
    pub evidence: Option<String>,
    pub valid: bool,
    pub reason: Option<String>,
}

/// Writes a signature row; None when the side had already signed (the
/// partial unique index keeps one valid signature per side).
pub(crate) async fn insert(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    n: &NewSignature<'_>,
) -> Result<Option<i64>, sqlx::Error> {
    let (account, staff) = match n.signer {
        Signer::Applicant(a) => (Some(a.id), None),
        Signer::Staff(s) => (None, Some(s.id)),
    };
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO signatures (tenant_id, application_id, file_id, sha256, side, scheme, account_id, staff_id, \
         signer_name, signer_ids, cert_serial, cert_issuer, cms, verdict, evidence, valid, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(tenant)
    .bind(n.doc.application_id)
    .bind(n.doc.id)
    .bind(&n.doc.sha256)
    .bind(n.side.id())
    .bind(n.scheme)
    .bind(account)
    .bind(staff)
    .bind(&n.name)
    .bind(serde_json::to_string(&n.ids).unwrap_or_else(|_| "[]".into()))
    .bind(&n.serial)
    .bind(&n.issuer)
    .bind(&n.cms)
    .bind(&n.verdict)
    .bind(&n.evidence)
    .bind(n.valid as i64)
    .bind(&n.reason)
    .bind(now_ts())
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// Records a valid signature with its history entry and notices, and
/// moves the application when it completes its step's document.
pub(crate) async fn record_and_move(
    db: &Db,
    tenant: &Tenant,
    a: &Application,
    n: NewSignature<'_>,
    recipient: &Recipient<'_>,
) -> Result<Signature, SignError> {
    let mut tx = db.begin().await?;
    let id = record_in(&mut tx, tenant, a, &n, recipient).await?;
    tx.commit().await?;
    recorded(db, tenant, a, &n, id).await
}

/// The signature just committed, as lists show it.
pub(crate) async fn recorded(
    db: &Db,
    tenant: &Tenant,
    a: &Application,
    n: &NewSignature<'_>,
    id: i64,
) -> Result<Signature, SignError> {
    tracing::info!(tenant = %tenant.slug, application = a.id, file = n.doc.id, side = n.side.id(), scheme = n.scheme, "document signed");
    signatures_of(db, &tenant.slug, a.id)
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or(SignError::Db(sqlx::Error::RowNotFound))
}

/// [`record_and_move`] inside the caller's transaction.
pub(crate) async fn record_in(
    tx: &mut sqlx::AnyConnection,
    tenant: &Tenant,
    a: &Application,
    n: &NewSignature<'_>,
    recipient: &Recipient<'_>,
) -> Result<i64, SignError> {
    // What the document asks is read again, and its row locked, in the
    // transaction: a change of what is asked, a new copy for a new entry
    // into the status, or a return meanwhile makes this signature late.
    let step_copy = n.doc.slot == APPLICATION_SLOT || n.doc.slot == CONTRACT_SLOT;
    let sql = format!(
        "UPDATE application_files SET signing = signing WHERE tenant_id = $1 AND id = $2 AND signing = $3{}",
        if step_copy {
            format!(" AND signing_entry = ({})", entry_sql("$4"))
        } else {
            String::new()
        }
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&tenant.slug)
        .bind(n.doc.id)
        .bind(n.doc.asked.map(Asked::id).unwrap_or(""));
    if step_copy {
        q = q.bind(a.id);
    }
    if q.execute(&mut *tx).await?.rows_affected() != 1 {
        return Err(SignError::NotAsked);
    }
    let Some(id) = insert(&mut *tx, &tenant.slug, n).await? else {
        return Err(SignError::AlreadySigned);
    };
    let who = match n.side {
        Side::Applicant => "заявитель",
        Side::Utility => "организация",
    };
    let note = format!("{} ({who}), «{}»", n.name, n.doc.file_name);
    app::event(
        &mut *tx,
        &tenant.slug,
        a.id,
        app::EventKind::Signed,
        None,
        n.signer.actor().author(),
        Some(&note),
    )
    .await?;
    // The step's document signed by every side it asks: the application
    // moves on by itself.
    let step = tenant.config.signature.step(&a.status);
    let step_doc = step.map(|s| step_slot(s.document));
    let completes = step_doc == Some(n.doc.slot.as_str())
        && match n.doc.asked {
            Some(Asked::Both) => {
                let other = match n.side {
                    Side::Applicant => Side::Utility,
                    Side::Utility => Side::Applicant,
                };
                signed_in_tx(&mut *tx, &tenant.slug, n.doc, other).await?
            }
            Some(_) => true,
            None => false,
        };
    let then = step.and_then(|s| s.then());
    match (completes, then) {
        (true, Some(to)) => {
            workflow::change(&mut *tx, tenant, a, to, Actor::System, None, recipient)
                .await
                .map_err(SignError::Workflow)?;
        }
        _ if n.side == Side::Utility && n.doc.asked == Some(Asked::Both) => {
            workflow::notify_text(
                &mut *tx,
                tenant,
                a,
                &format!(
                    "Организация подписала документ «{}»: подпишите его и вы",
                    n.doc.file_name
                ),
                recipient,
            )
            .await
            .map_err(SignError::Workflow)?;
        }
        _ => {}
    }
    Ok(id)
}

async fn signed_in_tx(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    doc: &Document,
    side: Side,
) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM signatures WHERE tenant_id = $1 AND file_id = $2 AND side = $3 AND valid = 1 \
         AND scheme <> 'file' AND sha256 = $4",
    )
    .bind(tenant)
    .bind(doc.id)
    .bind(side.id())
    .bind(&doc.sha256)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.is_some())
}

/// The history event by which the application last entered its current
/// status (a status change, a submission or a resubmission; a number or a
/// custom status given meanwhile is no new entry).
pub(crate) fn entry_sql(application_param: &str) -> String {
    format!(
        "SELECT MAX(e.id) FROM application_events e JOIN applications a \
         ON a.id = e.application_id AND a.tenant_id = e.tenant_id \
         WHERE e.tenant_id = $1 AND e.application_id = {application_param} AND e.status = a.status \
         AND e.kind IN ('status', 'submitted', 'resubmitted')"
    )
}

async fn status_entry(db: &Db, a: &Application) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(Option<i64>,)> = sqlx::query_as(sqlx::AssertSqlSafe(entry_sql("$2")))
        .bind(&a.tenant_id)
        .bind(a.id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.and_then(|(e,)| e))
}

/// Whether `doc` may be signed now: a step's document only while the
/// application is in its step's status and only the copy made for this
/// entry into it (a page left open after a return signs nothing); other
/// documents whenever they are asked.
pub async fn open_now(
    db: &Db,
    tenant: &Tenant,
    a: &Application,
    doc: &Document,
) -> Result<bool, sqlx::Error> {
    if doc.slot != APPLICATION_SLOT && doc.slot != CONTRACT_SLOT {
        return Ok(true);
    }
    let in_step = tenant
        .config
        .signature
        .step(&a.status)
        .is_some_and(|s| step_slot(s.document) == doc.slot);
    Ok(in_step && doc.entry.is_some() && doc.entry == status_entry(db, a).await?)
}

fn step_slot(d: StepDocument) -> &'static str {
    match d {
        StepDocument::Application => APPLICATION_SLOT,
        StepDocument::Contract => CONTRACT_SLOT,
    }
}

/// [`turn`] with [`open_now`]: what the pages offer.
pub async fn turn_now(
    db: &Db,
    tenant: &Tenant,
    a: &Application,
    doc: &Document,
    side: Side,
    signatures: &[Signature],
) -> Result<Turn, sqlx::Error> {
    let t = turn(doc, side, signatures);
    if t == Turn::Signed || open_now(db, tenant, a, doc).await? {
        Ok(t)
    } else {
        Ok(Turn::NotAsked)
    }
}

/// What a step's document is named and which Word file it is.
fn step_file(a: &Application, which: StepDocument) -> (app::word::Which, String) {
    let number = a.number.clone().unwrap_or_else(|| a.id.to_string());
    let safe = crate::document::safe_name(&number);
    match which {
        StepDocument::Application => (app::word::Which::Application, format!("Заявка {safe}.docx")),
        StepDocument::Contract => (app::word::Which::Contract, format!("Договор {safe}.docx")),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FreezeError {
    #[error(transparent)]
    Word(#[from] app::word::WordError),
    #[error("storing: {0}")]
    Store(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The document the applicant signs in the application's current status
/// (the application as sent, or the contract), made on first sight after
/// the status was entered and kept: the bytes under a signature never
/// change. None when the status asks for no signature.
pub async fn step_document(
    db: &Db,
    files: &FileStore,
    plugins: &crate::plugin::Plugins,
    tenant: &Tenant,
    acc: &Account,
    a: &Application,
) -> Result<Option<Document>, FreezeError> {
    let Some(step) = tenant.config.signature.step(&a.status) else {
        return Ok(None);
    };
    let Some(entry) = status_entry(db, a).await? else {
        return Ok(None);
    };
    let slot = step_slot(step.document);
    let (which, name) = step_file(a, step.document);
    if let Some(d) = step_copy(db, &tenant.slug, a.id, slot, entry).await? {
        return Ok(Some(d));
    }
    let bytes = app::word::render(db, plugins, tenant, acc, a, which).await?;
    let stored = files
        .put(
            db,
            futures_util::stream::iter([Ok::<_, std::convert::Infallible>(bytes::Bytes::from(
                bytes,
            ))]),
            u64::MAX,
        )
        .await
        .map_err(|e| FreezeError::Store(e.to_string()))?;
    let asked = if step.utility_first {
        Asked::Both
    } else {
        Asked::Applicant
    };
    let mut tx = db.begin().await?;
    // Two first sights at once: the unique index keeps one copy per entry.
    let inserted: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO application_files (tenant_id, application_id, slot, doc_type, file_name, size, sha256, \
         content_type, created_at, signing, signing_entry) VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(&tenant.slug)
    .bind(a.id)
    .bind(slot)
    .bind(&name)
    .bind(stored.size as i64)
    .bind(&stored.sha256)
    .bind(crate::document::FileType::Docx.mime())
    .bind(now_ts())
    .bind(asked.id())
    .bind(entry)
    .fetch_optional(&mut *tx)
    .await?;
    if inserted.is_some() {
        // Copies made for earlier entries are not signed any more: the
        // application may have changed since.
        sqlx::query(
            "UPDATE application_files SET signing = NULL WHERE tenant_id = $1 AND application_id = $2 \
             AND slot = $3 AND signing_entry <> $4",
        )
        .bind(&tenant.slug)
        .bind(a.id)
        .bind(slot)
        .bind(entry)
        .execute(&mut *tx)
        .await?;
        app::event(
            &mut tx,
            &tenant.slug,
            a.id,
            app::EventKind::SigningAsked,
            None,
            Actor::System.author(),
            Some(&name),
        )
        .await?;
    }
    tx.commit().await?;
    crate::document::release(db, &stored).await;
    Ok(step_copy(db, &tenant.slug, a.id, slot, entry).await?)
}

/// Staff ask for signatures on a document of the application (setevaya:
/// documents both sides sign). Once a signature arrived, what is asked
/// stays as it was.
pub async fn ask(
    db: &Db,
    tenant: &Tenant,
    staff: &crate::office::Staff,
    a: &Application,
    file: i64,
    asked: Asked,
    recipient: &Recipient<'_>,
) -> Result<(), SignError> {
    let doc = document(db, &tenant.slug, a.id, file)
        .await?
        .ok_or(SignError::NotAsked)?;
    let mut tx = db.begin().await?;
    let changed = sqlx::query(
        "UPDATE application_files SET signing = $1 WHERE tenant_id = $2 AND application_id = $3 AND id = $4 \
         AND (signing IS NULL OR signing <> $1) \
         AND NOT EXISTS (SELECT 1 FROM signatures WHERE tenant_id = $2 AND file_id = $4 AND valid = 1 AND scheme <> 'file')",
    )
    .bind(asked.id())
    .bind(&tenant.slug)
    .bind(a.id)
    .bind(file)
    .execute(&mut *tx)
    .await?;
    if changed.rows_affected() == 0 {
        drop(tx);
        // Asked already, by this press's twin: nothing to do, nobody told twice.
        let now = document(db, &tenant.slug, a.id, file).await?;
        return match now.and_then(|d| d.asked) {
            Some(x) if x == asked => Ok(()),
            _ => Err(SignError::AlreadySigned),
        };
    }
    app::event(
        &mut tx,
        &tenant.slug,
        a.id,
        app::EventKind::SigningAsked,
        None,
        Signer::Staff(staff).actor().author(),
        Some(&doc.file_name),
    )
    .await?;
    if asked == Asked::Applicant {
        workflow::notify_text(
            &mut tx,
            tenant,
            a,
            &format!("Подпишите документ «{}»", doc.file_name),
            recipient,
        )
        .await
        .map_err(SignError::Workflow)?;
    }
    tx.commit().await?;
    Ok(())
}

/// A signature file made outside the portal (seed 002: legal entities
/// sign with their own programs and attach `.sig` files), checked on
/// arrival against the document it sits beside. A refused one is kept
/// with its reason, to show beside the document too.
pub async fn attach_signature_file(
    db: &Db,
    files: &FileStore,
    tenant: &Tenant,
    acc: &Account,
    a: &Application,
    file: i64,
    sig: &[u8],
) -> Result<Signature, SignError> {
    if !tenant.config.signature.upload {
        return Err(SignError::NotAsked);
    }
    let doc = document(db, &tenant.slug, a.id, file)
        .await?
        .ok_or(SignError::NotAsked)?;
    // Each file is kept, refused ones too: an hour's share per account.
    let claim = format!("signature-file:{}:{}", tenant.slug, acc.id);
    if crate::security::reserve(db, &claim, std::time::Duration::from_secs(3600), 30)
        .await?
        .is_none()
    {
        return Err(SignError::TooManyFiles);
    }
    let content = read_document(files, &doc).await?;
    let at = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    let checked = check_cms(tenant, &content, sig, Purpose::Sign, at).await;
    let (n_valid, reason, checked) = match checked {
        Ok(c) => {
            let id = c.verdict.signer.clone().unwrap_or_default();
            let bound = applicant_of(tenant, acc).is_some_and(|p| identity::matches(&id, &p));
            if bound {
                (true, None, Some(c))
            } else {
                let whose = signer_line(&id);
                (
                    false,
                    Some(format!(
                        "Подпись сделана сертификатом другого владельца: {whose}."
                    )),
                    Some(c),
                )
            }
        }
        Err(r) => (false, Some(r.message), None),
    };
    let id = checked
        .as_ref()
        .and_then(|c| c.verdict.signer.clone())
        .unwrap_or_default();
    // A refused file is kept to show and to check again only while it is
    // the size of a signature; a larger one is told and dropped.
    let cms = match &checked {
        Some(c) => Some(base64_of(&c.der)),
        None => decode_cms(sig)
            .ok()
            .filter(|d| d.len() <= 64 << 10)
            .map(|d| base64_of(&d)),
    };
    let n = NewSignature {
        doc: &doc,
        side: Side::Applicant,
        scheme: "file",
        signer: Signer::Applicant(acc),
        name: if checked.is_some() {
            signer_line(&id)
        } else {
            String::new()
        },
        ids: signer_ids(&id),
        serial: checked.as_ref().and_then(|c| c.verdict.serial.clone()),
        issuer: checked.as_ref().and_then(|c| c.verdict.issuer.clone()),
        cms,
        verdict: checked
            .as_ref()
            .map(|c| c.verdict_json.clone())
            .unwrap_or_else(|| {
                serde_json::json!({ "valid": false, "message": &reason }).to_string()
            }),
        evidence: checked.as_ref().map(|c| c.evidence_json.clone()),
        valid: n_valid,
        reason: reason.clone(),
    };
    let mut tx = db.begin().await?;
    let Some(sid) = insert(&mut tx, &tenant.slug, &n).await? else {
        return Err(SignError::AlreadySigned);
    };
    tx.commit().await?;
    tracing::info!(tenant = %tenant.slug, application = a.id, file = doc.id, valid = n_valid, "signature file attached");
    signatures_of(db, &tenant.slug, a.id)
        .await?
        .into_iter()
        .find(|s| s.id == sid)
        .ok_or(SignError::Db(sqlx::Error::RowNotFound))
}
