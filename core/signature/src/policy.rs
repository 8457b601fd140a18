//! Whether to trust a cryptographically sound signature: the signer's
//! certificate chains to one of the tenant's anchors, every certificate is
//! valid at the time the server received the signature and fit for its
//! use (key usage, and extended key usage for the purpose at hand), and
//! none is revoked, by a fresh CRL signed by its issuer or an OCSP answer
//! from it, as the tenant's [`Revocation`] policy asks. Revocation data
//! that cannot be had is a refusal, never a pass.
//!
//! [`verify`] is a pure function of (signature, content, anchors, policy,
//! revocation evidence, time), so a stored verdict can be checked again
//! later from what is kept. Getting the evidence over the network is
//! [`crate::fetch`]'s business, before this.

use crate::cms::{self, Refusal};
use crate::identity::{self, Identity};
use crate::ocsp::{self, OcspEvidence};
use crate::raw::{self, Cert};
use const_oid::ObjectIdentifier;
use der::Decode;
use serde::{Deserialize, Serialize};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};

/// Why trust was refused, beyond the cryptographic refusals of [`cms`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distrust {
    /// No chain from the signer to any of the tenant's anchors.
    UntrustedChain,
    /// A certificate of the chain was not valid at the time.
    Expired,
    NotYetValid,
    /// The signer's certificate may not sign documents, or an issuer may
    /// not issue certificates.
    WrongKeyUsage,
    /// The signer's extended key usage does not allow this purpose
    /// (documents need emailProtection, a login clientAuth).
    WrongPurpose,
    /// No fresh CRL signed by the issuer, nor a usable OCSP answer, for a
    /// certificate of the chain (as the policy asks).
    RevocationUnavailable,
    Revoked,
    /// The issuer's OCSP responder answered that it does not know the
    /// certificate.
    StatusUnknown,
}

impl Distrust {
    pub fn code(self) -> &'static str {
        match self {
            Distrust::UntrustedChain => "untrusted_chain",
            Distrust::Expired => "certificate_expired",
            Distrust::NotYetValid => "certificate_not_yet_valid",
            Distrust::WrongKeyUsage => "wrong_key_usage",
            Distrust::WrongPurpose => "wrong_purpose",
            Distrust::RevocationUnavailable => "revocation_unavailable",
            Distrust::Revoked => "certificate_revoked",
            Distrust::StatusUnknown => "certificate_status_unknown",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Distrust::UntrustedChain => {
                "Сертификат выдан удостоверяющим центром, которому организация не доверяет."
            }
            Distrust::Expired => "Срок действия сертификата истёк.",
            Distrust::NotYetValid => "Срок действия сертификата ещё не начался.",
            Distrust::WrongKeyUsage => "Сертификат не предназначен для подписи документов.",
            Distrust::WrongPurpose => {
                "Сертификат не предназначен для этой цели: для подписи документов и для входа нужны разные ключи."
            }
            Distrust::RevocationUnavailable => {
                "Не удалось проверить, не отозван ли сертификат: нет актуального списка отозванных сертификатов или ответа службы OCSP."
            }
            Distrust::Revoked => "Сертификат отозван удостоверяющим центром.",
            Distrust::StatusUnknown => {
                "Служба OCSP удостоверяющего центра не знает этот сертификат."
            }
        }
    }
}

/// A refusal of either kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Crypto(Refusal),
    Trust(Distrust),
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::Crypto(r) => r.code(),
            Reason::Trust(d) => d.code(),
        }
    }
    pub fn message(self) -> &'static str {
        match self {
            Reason::Crypto(r) => r.message(),
            Reason::Trust(d) => d.message(),
        }
    }
}

/// How a tenant has revocation checked (tenant.toml: `"crl"`, `"ocsp"`,
/// `"either"`, `"both"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Revocation {
    /// A fresh CRL signed by the issuer, for every certificate.
    Crl,
    /// A current OCSP answer from the issuer (or its responder).
    Ocsp,
    /// OCSP when a usable answer is at hand, a CRL otherwise. A definite
    /// OCSP "revoked" or "unknown" is final. The default, as the host's
    /// tenant.toml has it.
    #[default]
    Either,
    /// Both must say "not revoked".
    Both,
}

/// A tenant's revocation settings: what counts, and whether the server
/// may go and get CRLs and OCSP answers from the URLs the certificates
/// name (otherwise only the configured CRL files count).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RevocationPolicy {
    pub method: Revocation,
    pub fetch: bool,
}

impl Default for RevocationPolicy {
    fn default() -> Self {
        RevocationPolicy {
            method: Revocation::default(),
            fetch: true,
        }
    }
}

/// What the signature is for: the signer's extended key usage, when the
/// certificate has one, must allow it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// A document: emailProtection (or anyExtendedKeyUsage).
    #[default]
    Sign,
    /// A login (signing a server's nonce): clientAuth (or any).
    Authenticate,
}

/// What [`verify`] is asked to hold the signature to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub revocation: Revocation,
    pub purpose: Purpose,
}

/// Where a CRL came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CrlSource {
    /// Configured by the tenant.
    File,
    /// Downloaded from a certificate's distribution point.
    Url { url: String, fetched_at: u64 },
}

/// A CRL with the DER it came in (its signature is checked over those
/// bytes) and where it came from. Stored as its DER (base64) and source,
/// and parsed again when read back.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "StoredCrl", into = "StoredCrl")]
pub struct Crl {
    pub der: Vec<u8>,
    pub list: CertificateList,
    pub source: CrlSource,
}

impl Crl {
    pub fn from_der(der: &[u8], source: CrlSource) -> Result<Crl, der::Error> {
        Ok(Crl {
            list: CertificateList::from_der(der)?,
            der: der.to_vec(),
            source,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct StoredCrl {
    #[serde(with = "crate::raw::base64_bytes")]
    der: Vec<u8>,
    source: CrlSource,
}

impl From<Crl> for StoredCrl {
    fn from(c: Crl) -> Self {
        StoredCrl {
            der: c.der,
            source: c.source,
        }
    }
}

impl TryFrom<StoredCrl> for Crl {
    type Error = der::Error;
    fn try_from(s: StoredCrl) -> Result<Self, Self::Error> {
        Crl::from_der(&s.der, s.source)
    }
}

/// A URL that gave nothing usable while gathering evidence, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchFailure {
    pub url: String,
    pub error: String,
}

/// Everything [`verify`] may use to decide revocation: configured CRL
/// files plus what [`crate::fetch::gather`] got. Storable beside the raw
/// signature (serde: CRLs and answers as base64 DER), so the verdict can
/// be re-run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Evidence {
    pub crls: Vec<Crl>,
    pub ocsp: Vec<OcspEvidence>,
    /// Informational: what could not be fetched.
    pub failures: Vec<FetchFailure>,
}

/// The kind of revocation source that vouched for a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    CrlFile,
    CrlUrl,
    OcspUrl,
}

/// How revocation was checked for one certificate of the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationCheck {
    /// The certificate checked: its subject and serial (hex).
    pub subject: String,
    pub serial: String,
    pub kind: SourceKind,
    /// The CRL distribution point or OCSP responder, when fetched.
    pub url: Option<String>,
    /// The CRL's issuer (CRLs only).
    pub crl_issuer: Option<String>,
    /// CRL thisUpdate, or the OCSP SingleResponse's thisUpdate.
    pub this_update: u64,
    pub next_update: Option<u64>,
    /// OCSP producedAt.
    pub produced_at: Option<u64>,
    /// When the evidence was fetched (not for CRL files).
    pub fetched_at: Option<u64>,
}

impl std::fmt::Display for RevocationCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let date = |t: u64| {
            der::DateTime::from_unix_duration(std::time::Duration::from_secs(t))
                .map(|d| d.to_string())
                .unwrap_or_default()
        };
        let kind = match self.kind {
            SourceKind::CrlFile => "CRL (файл)",
            SourceKind::CrlUrl => "CRL",
            SourceKind::OcspUrl => "OCSP",
        };
        write!(f, "{kind}")?;
        if let Some(i) = &self.crl_issuer {
            write!(f, " {i}")?;
        }
        if let Some(u) = &self.url {
            write!(f, " {u}")?;
        }
        write!(f, " от {}", date(self.this_update))?;
        if let Some(n) = self.next_update {
            write!(f, " (до {})", date(n))?;
        }
        Ok(())
    }
}

/// What is known of a signature after the check, valid or not.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub valid: bool,
    pub reason: Option<Reason>,
    pub algorithm: Option<String>,
    pub signer: Option<Identity>,
    pub serial: Option<String>,
    pub issuer: Option<String>,
    /// Subject lines from the signer up to the anchor.
    pub chain: Vec<String>,
    /// How revocation was checked, per certificate below the anchor (two
    /// entries per certificate under [`Revocation::Both`]).
    pub revocation: Vec<RevocationCheck>,
    pub policy: Policy,
    pub signing_time: Option<String>,
    /// The time everything was judged at (seconds since the Unix epoch):
    /// the time the server received the signature.
    pub at: u64,
}

/// Checks `signature` over `content` at `at` (Unix seconds) against the
/// tenant's `anchors`, `policy` and the revocation `evidence` at hand.
pub fn verify(
    signature: &[u8],
    content: Option<&[u8]>,
    anchors: &[Certificate],
    policy: &Policy,
    evidence: &Evidence,
    at: u64,
) -> Verdict {
    let mut v = Verdict {
        valid: false,
        reason: None,
        algorithm: None,
        signer: None,
        serial: None,
        issuer: None,
        chain: Vec::new(),
        revocation: Vec::new(),
        policy: *policy,
        signing_time: None,
        at,
    };
    let (der, signed) = match cms::decode_input(signature)
        .and_then(|der| cms::check(&der, content).map(|s| (der, s)))
    {
        Ok(s) => s,
        Err(r) => {
            v.reason = Some(Reason::Crypto(r));
            return v;
        }
    };
    v.algorithm = Some(signed.algorithm.clone());
    v.signer = Some(Identity::of(&signed.signer));
    v.serial = Some(identity::serial_hex(&signed.signer));
    v.issuer = Some(identity::name_line(&signed.signer.tbs_certificate.issuer));
    v.signing_time = signed.signing_time.clone();
    let pool = raw::cms_certificates(&der).unwrap_or_default();
    let signer = pool
        .iter()
        .find(|c| c.cert == signed.signer)
        .cloned()
        .unwrap_or_else(|| Cert::from_decoded(&signed.signer));
    let judge = Judge {
        anchors,
        policy,
        evidence,
        at,
    };
    match judge.best_chain(signer, &pool) {
        Ok((chain, checks)) => {
            v.chain = chain
                .iter()
                .map(|c| identity::name_line(&c.cert.tbs_certificate.subject))
                .collect();
            v.revocation = checks;
            v.valid = true;
        }
        Err((chain, r)) => {
            v.chain = chain
                .iter()
                .map(|c| identity::name_line(&c.cert.tbs_certificate.subject))
                .collect();
            v.reason = Some(r);
        }
    }
    v
}

/// Eight links are more than any real hierarchy has; the bound stops a
/// crafted loop.
const MAX_DEPTH: usize = 8;
/// Issuer signature checks one chain search may spend.
const MAX_LINK_CHECKS: usize = 64;

struct Judge<'a> {
    anchors: &'a [Certificate],
    policy: &'a Policy,
    evidence: &'a Evidence,
    at: u64,
}

type Found = (Vec<Cert>, Vec<RevocationCheck>);
type Failed = (Vec<Cert>, Reason);

impl Judge<'_> {
    /// Tries every path from the signer to an anchor (several issuers may
    /// fit: cross-certificates, re-keyed CAs) until one passes every
    /// check; otherwise the failure of the first complete path, or
    /// untrusted_chain when none reaches an anchor.
    fn best_chain(&self, signer: Cert, pool: &[Cert]) -> Result<Found, Failed> {
        let mut path = vec![signer];
        let mut first_failure = None;
        let mut budget = MAX_LINK_CHECKS;
        if let Some(found) = self.search(&mut path, pool, &mut budget, &mut first_failure) {
            return Ok(found);
        }
        Err(first_failure.unwrap_or((Vec::new(), Reason::Trust(Distrust::UntrustedChain))))
    }

    fn search(
        &self,
        path: &mut Vec<Cert>,
        pool: &[Cert],
        budget: &mut usize,
        first_failure: &mut Option<Failed>,
    ) -> Option<Found> {
        let last = path.last()?.clone();
        if self.anchors.contains(&last.cert) {
            return self.complete(path, first_failure);
        }
        if path.len() >= MAX_DEPTH {
            return None;
        }
        let link = |issuer: &Certificate, budget: &mut usize| {
            if *budget == 0 || last.cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
                return false;
            }
            *budget -= 1;
            raw::issued(&last.der, &last.cert, issuer)
        };
        for anchor in self.anchors {
            if link(anchor, budget) {
                path.push(Cert::from_decoded(anchor));
                let found = self.complete(path, first_failure);
                path.pop();
                if found.is_some() {
                    return found;
                }
            }
        }
        for next in pool {
            if path.iter().any(|c| c.cert == next.cert) || !link(&next.cert, budget) {
                continue;
            }
            path.push(next.clone());
            let found = self.search(path, pool, budget, first_failure);
            path.pop();
            if found.is_some() {
                return found;
            }
        }
        None
    }

    fn complete(&self, path: &[Cert], first_failure: &mut Option<Failed>) -> Option<Found> {
        match self.judge(path) {
            Ok(checks) => Some((path.to_vec(), checks)),
            Err(r) => {
                first_failure.get_or_insert((path.to_vec(), r));
                None
            }
        }
    }

    /// Every check of one complete path, signer first, anchor last.
    fn judge(&self, chain: &[Cert]) -> Result<Vec<RevocationCheck>, Reason> {
        let at = self.at;
        for (i, c) in chain.iter().enumerate() {
            let validity = &c.cert.tbs_certificate.validity;
            if at < validity.not_before.to_unix_duration().as_secs() {
                return Err(Reason::Trust(Distrust::NotYetValid));
            }
            if at > validity.not_after.to_unix_duration().as_secs() {
                return Err(Reason::Trust(Distrust::Expired));
            }
            fit_for_place(&c.cert, i, self.policy.purpose)?;
        }
        // Every certificate below the anchor needs its issuer's word that
        // it is not revoked; the anchor is trusted as configured.
        let mut checks = Vec::new();
        for pair in chain.windows(2) {
            let (cert, issuer) = (&pair[0], &pair[1]);
            match self.policy.revocation {
                Revocation::Crl => checks.push(self.by_crl(cert, issuer)?),
                Revocation::Ocsp => checks.push(self.by_ocsp(cert, issuer)?),
                Revocation::Both => {
                    checks.push(self.by_ocsp(cert, issuer)?);
                    checks.push(self.by_crl(cert, issuer)?);
                }
                Revocation::Either => match self.by_ocsp(cert, issuer) {
                    Err(Reason::Trust(Distrust::RevocationUnavailable)) => {
                        checks.push(self.by_crl(cert, issuer)?)
                    }
                    other => checks.push(other?),
                },
            }
        }
        Ok(checks)
    }

    fn by_crl(&self, cert: &Cert, issuer: &Cert) -> Result<RevocationCheck, Reason> {
        // Every usable CRL is read: an older one that is still fresh must
        // not hide a revocation a newer one lists.
        let usable: Vec<&Crl> = self
            .evidence
            .crls
            .iter()
            .filter(|crl| crl_usable(crl, &issuer.cert, self.at))
            .collect();
        let newest = usable
            .iter()
            .max_by_key(|crl| crl.list.tbs_cert_list.this_update.to_unix_duration())
            .ok_or(Reason::Trust(Distrust::RevocationUnavailable))?;
        let serial = &cert.cert.tbs_certificate.serial_number;
        // A listed certificate is revoked, whatever date its entry gives.
        let revoked = usable.iter().any(|crl| {
            crl.list
                .tbs_cert_list
                .revoked_certificates
                .as_ref()
                .is_some_and(|list| list.iter().any(|r| &r.serial_number == serial))
        });
        if revoked {
            return Err(Reason::Trust(Distrust::Revoked));
        }
        let tbs = &newest.list.tbs_cert_list;
        let (kind, url, fetched_at) = match &newest.source {
            CrlSource::File => (SourceKind::CrlFile, None, None),
            CrlSource::Url { url, fetched_at } => {
                (SourceKind::CrlUrl, Some(url.clone()), Some(*fetched_at))
            }
        };
        Ok(RevocationCheck {
            subject: identity::name_line(&cert.cert.tbs_certificate.subject),
            serial: identity::serial_hex(&cert.cert),
            kind,
            url,
            crl_issuer: Some(identity::name_line(&tbs.issuer)),
            this_update: tbs.this_update.to_unix_duration().as_secs(),
            next_update: tbs.next_update.map(|t| t.to_unix_duration().as_secs()),
            produced_at: None,
            fetched_at,
        })
    }

    /// The OCSP word on `cert`: any usable answer saying revoked or
    /// unknown wins over one saying good.
    fn by_ocsp(&self, cert: &Cert, issuer: &Cert) -> Result<RevocationCheck, Reason> {
        let mut good = None;
        for e in &self.evidence.ocsp {
            let Ok(answer) = ocsp::check(e, &cert.cert, &issuer.cert, self.at) else {
                continue;
            };
            match answer.status {
                ocsp::Status::Revoked => return Err(Reason::Trust(Distrust::Revoked)),
                ocsp::Status::Unknown => return Err(Reason::Trust(Distrust::StatusUnknown)),
                ocsp::Status::Good => {
                    good.get_or_insert((e, answer));
                }
            }
        }
        let (e, answer) = good.ok_or(Reason::Trust(Distrust::RevocationUnavailable))?;
        Ok(RevocationCheck {
            subject: identity::name_line(&cert.cert.tbs_certificate.subject),
            serial: identity::serial_hex(&cert.cert),
            kind: SourceKind::OcspUrl,
            url: Some(e.url.clone()),
            crl_issuer: None,
            this_update: answer.this_update,
            next_update: answer.next_update,
            produced_at: Some(answer.produced_at),
            fetched_at: Some(e.fetched_at),
        })
    }
}

const DELTA_CRL_INDICATOR: &str = "2.5.29.27";
const ISSUING_DISTRIBUTION_POINT: &str = "2.5.29.28";
/// cRLNumber and authorityKeyIdentifier: read by nobody here, harmless.
const KNOWN_CRL_EXTENSIONS: &[&str] = &["2.5.29.20", "2.5.29.35"];
/// Certificate extensions this policy understands when marked critical.
const KNOWN_CRITICAL: &[&str] = &[
    "2.5.29.15", // keyUsage
    "2.5.29.19", // basicConstraints
    "2.5.29.37", // extKeyUsage
    "2.5.29.32", // certificatePolicies
    "2.5.29.17", // subjectAltName
    "2.5.29.14", // subjectKeyIdentifier
    "2.5.29.35", // authorityKeyIdentifier
];

const EMAIL_PROTECTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.4");
const CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");
const ANY_EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37.0");

/// Key usage, extended key usage for the `purpose`, CA constraints and critical extensions for a certificate at
/// `place` in the chain (0 the signer). An extension that is there but
/// does not decode is a refusal, not an absence.
fn fit_for_place(cert: &Certificate, place: usize, purpose: Purpose) -> Result<(), Reason> {
    let wrong = Reason::Trust(Distrust::WrongKeyUsage);
    let unknown_critical = cert
        .tbs_certificate
        .extensions
        .as_ref()
        .is_some_and(|exts| {
            exts.iter()
                .any(|e| e.critical && !KNOWN_CRITICAL.contains(&e.extn_id.to_string().as_str()))
        });
    if unknown_critical {
        return Err(wrong);
    }
    let usage = cert
        .tbs_certificate
        .get::<KeyUsage>()
        .map_err(|_| wrong)?
        .map(|(_, k)| k);
    if place == 0 {
        // A login proves possession of the key there and then: a
        // digitalSignature key; a document may also be signed with a
        // nonRepudiation one.
        if let Some(k) = usage
            && !k.0.contains(KeyUsages::DigitalSignature)
            && (purpose == Purpose::Authenticate || !k.0.contains(KeyUsages::NonRepudiation))
        {
            return Err(wrong);
        }
        let eku = cert
            .tbs_certificate
            .get::<ExtendedKeyUsage>()
            .map_err(|_| wrong)?;
        if let Some((_, eku)) = eku {
            let want = match purpose {
                Purpose::Sign => EMAIL_PROTECTION,
                Purpose::Authenticate => CLIENT_AUTH,
            };
            if !eku
                .0
                .iter()
                .any(|o| *o == want || *o == ANY_EXTENDED_KEY_USAGE)
            {
                return Err(Reason::Trust(Distrust::WrongPurpose));
            }
        }
        return Ok(());
    }
    let bc = cert
        .tbs_certificate
        .get::<BasicConstraints>()
        .map_err(|_| wrong)?
        .map(|(_, b)| b);
    let Some(bc) = bc.filter(|b| b.ca) else {
        return Err(wrong);
    };
    // Issuers between this one and the signer: place − 1.
    if bc
        .path_len_constraint
        .is_some_and(|n| (n as usize) < place - 1)
    {
        return Err(wrong);
    }
    if usage.is_some_and(|k| !k.0.contains(KeyUsages::KeyCertSign)) {
        return Err(wrong);
    }
    Ok(())
}

/// A CRL of this issuer, signed by its key, fresh at `at`.
fn crl_usable(crl: &Crl, issuer: &Certificate, at: u64) -> bool {
    let (der, crl) = (&crl.der, &crl.list);
    let tbs = &crl.tbs_cert_list;
    if tbs.issuer != issuer.tbs_certificate.subject {
        return false;
    }
    let Some(next) = tbs.next_update else {
        return false;
    };
    // A delta CRL lists only what changed, and one with an issuing
    // distribution point may cover only some certificates: neither says a
    // certificate is not revoked. Nor does one with a critical extension
    // this code does not know.
    let partial = tbs.crl_extensions.as_ref().is_some_and(|exts| {
        exts.iter().any(|e| {
            let oid = e.extn_id.to_string();
            oid == DELTA_CRL_INDICATOR
                || oid == ISSUING_DISTRIBUTION_POINT
                || (e.critical && !KNOWN_CRL_EXTENSIONS.contains(&oid.as_str()))
        })
    });
    if partial || crl.signature_algorithm != tbs.signature {
        return false;
    }
    match issuer.tbs_certificate.get::<KeyUsage>() {
        Ok(Some((_, k))) if !k.0.contains(KeyUsages::CRLSign) => return false,
        Ok(_) => {}
        Err(_) => return false,
    }
    if tbs.this_update.to_unix_duration().as_secs() > at || at >= next.to_unix_duration().as_secs()
    {
        return false;
    }
    // Over tbsCertList exactly as received.
    let (Some(bytes), Some(sig)) = (raw::signed_part(der), crl.signature.as_bytes()) else {
        return false;
    };
    cms::signed_by(
        &issuer.tbs_certificate.subject_public_key_info,
        &crl.signature_algorithm.oid,
        bytes,
        sig,
    )
    .is_ok()
}

/// Certificates from PEM (any number) or one DER file.
pub fn certificates_from(bytes: &[u8]) -> Result<Vec<Certificate>, der::Error> {
    if bytes.first() == Some(&0x30) {
        return Ok(vec![Certificate::from_der(bytes)?]);
    }
    // x509-cert 0.2.5's load_pem_chain takes one from the length of what
    // is left after trailing line breaks: with nothing left that overflows,
    // a panic where overflow is checked (found by the fuzz target). What a
    // release build answered there is the error below.
    if bytes.iter().all(|b| matches!(b, b'\r' | b'\n')) {
        return Err(der::pem::Error::PostEncapsulationBoundary.into());
    }
    Certificate::load_pem_chain(bytes)
}

/// A tenant's configured CRL file (PEM, any number, or one DER):
/// [`crls_from`] with [`CrlSource::File`].
pub fn crl_files_from(bytes: &[u8]) -> Result<Vec<Crl>, der::Error> {
    crls_from(bytes, CrlSource::File)
}

/// CRLs from PEM (any number) or one DER file, each keeping its DER.
pub fn crls_from(bytes: &[u8], source: CrlSource) -> Result<Vec<Crl>, der::Error> {
    if bytes.first() == Some(&0x30) {
        return Ok(vec![Crl::from_der(bytes, source)?]);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| der::Error::from(der::ErrorKind::Failed))?;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN X509 CRL-----") {
        let end_marker = "-----END X509 CRL-----";
        let Some(end) = rest[start..].find(end_marker) else {
            break;
        };
        let block = &rest[start..start + end + end_marker.len()];
        let der = cms::decode_input(block.as_bytes())
            .map_err(|_| der::Error::from(der::ErrorKind::Failed))?;
        out.push(Crl::from_der(&der, source.clone())?);
        rest = &rest[start + end + end_marker.len()..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names a tenant writes in tenant.toml.
    #[test]
    fn revocation_policy_reads_from_toml() {
        for (name, method) in [
            ("crl", Revocation::Crl),
            ("ocsp", Revocation::Ocsp),
            ("either", Revocation::Either),
            ("both", Revocation::Both),
        ] {
            let p: RevocationPolicy =
                toml::from_str(&format!("method = \"{name}\"\nfetch = false")).unwrap();
            assert_eq!(
                p,
                RevocationPolicy {
                    method,
                    fetch: false
                }
            );
        }
        let d: RevocationPolicy = toml::from_str("").unwrap();
        assert_eq!(d, RevocationPolicy::default());
        assert!(d.fetch && d.method == Revocation::Either);
        assert!(toml::from_str::<RevocationPolicy>("method = \"OCSP\"").is_err());
        assert!(toml::from_str::<RevocationPolicy>("methd = \"ocsp\"").is_err());
    }
}
