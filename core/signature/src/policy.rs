//! Whether to trust a cryptographically sound signature: the signer's
//! certificate chains to one of the tenant's anchors, every certificate is
//! valid at the time the server received the signature and fit for its
//! use, and none is revoked by a fresh CRL signed by its issuer. Revocation
//! data that cannot be had is a refusal, never a pass.
//!
//! [`verify`] is a pure function of (signature, content, anchors, CRLs,
//! time), so a stored verdict can be checked again later from what is kept.

use crate::cms::{self, Refusal};
use crate::identity::{self, Identity};
use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};

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
    /// No fresh CRL signed by the issuer for a certificate of the chain.
    RevocationUnavailable,
    Revoked,
}

impl Distrust {
    pub fn code(self) -> &'static str {
        match self {
            Distrust::UntrustedChain => "untrusted_chain",
            Distrust::Expired => "certificate_expired",
            Distrust::NotYetValid => "certificate_not_yet_valid",
            Distrust::WrongKeyUsage => "wrong_key_usage",
            Distrust::RevocationUnavailable => "revocation_unavailable",
            Distrust::Revoked => "certificate_revoked",
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
            Distrust::RevocationUnavailable => {
                "Не удалось проверить, не отозван ли сертификат: нет актуального списка отозванных сертификатов."
            }
            Distrust::Revoked => "Сертификат отозван удостоверяющим центром.",
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
    /// How revocation was checked, per certificate below the anchor.
    pub revocation: Vec<String>,
    pub signing_time: Option<String>,
    /// The time everything was judged at (seconds since the Unix epoch).
    pub at: u64,
}

/// Checks `signature` over `content` at `at` (Unix seconds) against the
/// tenant's `anchors` and the CRLs at hand.
pub fn verify(
    signature: &[u8],
    content: Option<&[u8]>,
    anchors: &[Certificate],
    crls: &[CertificateList],
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
        signing_time: None,
        at,
    };
    let signed = match cms::decode_input(signature).and_then(|der| cms::check(&der, content)) {
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
    match trust(&signed, anchors, crls, at, &mut v) {
        Ok(()) => v.valid = true,
        Err(r) => v.reason = Some(r),
    }
    v
}

fn trust(
    signed: &cms::Signed,
    anchors: &[Certificate],
    crls: &[CertificateList],
    at: u64,
    v: &mut Verdict,
) -> Result<(), Reason> {
    let chain = build_chain(&signed.signer, &signed.certificates, anchors)
        .ok_or(Reason::Trust(Distrust::UntrustedChain))?;
    v.chain = chain
        .iter()
        .map(|c| identity::name_line(&c.tbs_certificate.subject))
        .collect();
    for (i, cert) in chain.iter().enumerate() {
        let validity = &cert.tbs_certificate.validity;
        if at < validity.not_before.to_unix_duration().as_secs() {
            return Err(Reason::Trust(Distrust::NotYetValid));
        }
        if at > validity.not_after.to_unix_duration().as_secs() {
            return Err(Reason::Trust(Distrust::Expired));
        }
        fit_for_place(cert, i)?;
    }
    // Every certificate below the anchor needs its issuer's word that it
    // is not revoked; the anchor is trusted as configured.
    for pair in chain.windows(2) {
        let (cert, issuer) = (&pair[0], &pair[1]);
        // Every usable CRL is read: an older one that is still fresh must
        // not hide a revocation a newer one lists.
        let usable: Vec<&CertificateList> = crls
            .iter()
            .filter(|crl| crl_usable(crl, issuer, at))
            .collect();
        let newest = usable
            .iter()
            .max_by_key(|crl| crl.tbs_cert_list.this_update.to_unix_duration())
            .ok_or(Reason::Trust(Distrust::RevocationUnavailable))?;
        let serial = &cert.tbs_certificate.serial_number;
        // A listed certificate is revoked, whatever date its entry gives.
        let revoked = usable.iter().any(|crl| {
            crl.tbs_cert_list
                .revoked_certificates
                .as_ref()
                .is_some_and(|list| list.iter().any(|r| &r.serial_number == serial))
        });
        if revoked {
            return Err(Reason::Trust(Distrust::Revoked));
        }
        v.revocation.push(format!(
            "CRL {} от {} (до {})",
            identity::name_line(&newest.tbs_cert_list.issuer),
            newest.tbs_cert_list.this_update.to_date_time(),
            newest
                .tbs_cert_list
                .next_update
                .map(|t| t.to_date_time().to_string())
                .unwrap_or_default()
        ));
    }
    Ok(())
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

/// Key usage, CA constraints and critical extensions for a certificate at
/// `place` in the chain (0 the signer). An extension that is there but
/// does not decode is a refusal, not an absence.
fn fit_for_place(cert: &Certificate, place: usize) -> Result<(), Reason> {
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
        if let Some(k) = usage
            && !k.0.contains(KeyUsages::DigitalSignature)
            && !k.0.contains(KeyUsages::NonRepudiation)
        {
            return Err(wrong);
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
fn crl_usable(crl: &CertificateList, issuer: &Certificate, at: u64) -> bool {
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
    let Ok(bytes) = tbs.to_der() else {
        return false;
    };
    let Some(sig) = crl.signature.as_bytes() else {
        return false;
    };
    cms::signed_by(
        &issuer.tbs_certificate.subject_public_key_info,
        &crl.signature_algorithm.oid,
        &bytes,
        sig,
    )
    .is_ok()
}

/// Whether `issuer` signed `cert`.
fn issued(cert: &Certificate, issuer: &Certificate) -> bool {
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject
        || cert.signature_algorithm != cert.tbs_certificate.signature
    {
        return false;
    }
    let Ok(tbs) = cert.tbs_certificate.to_der() else {
        return false;
    };
    let Some(sig) = cert.signature.as_bytes() else {
        return false;
    };
    cms::signed_by(
        &issuer.tbs_certificate.subject_public_key_info,
        &cert.signature_algorithm.oid,
        &tbs,
        sig,
    )
    .is_ok()
}

/// From the signer up to an anchor, through the certificates the
/// signature carries; None when no anchor is reached.
fn build_chain(
    signer: &Certificate,
    pool: &[Certificate],
    anchors: &[Certificate],
) -> Option<Vec<Certificate>> {
    let mut chain = vec![signer.clone()];
    // Eight links are more than any real hierarchy has; the bound stops a
    // crafted loop.
    for _ in 0..8 {
        let last = chain.last()?;
        if anchors.iter().any(|a| a == last) {
            return Some(chain);
        }
        if let Some(anchor) = anchors.iter().find(|a| issued(last, a)) {
            chain.push(anchor.clone());
            return Some(chain);
        }
        let next = pool
            .iter()
            .find(|c| !chain.contains(c) && issued(last, c))?;
        chain.push(next.clone());
    }
    None
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

/// CRLs from PEM (any number) or one DER file.
pub fn crls_from(bytes: &[u8]) -> Result<Vec<CertificateList>, der::Error> {
    if bytes.first() == Some(&0x30) {
        return Ok(vec![CertificateList::from_der(bytes)?]);
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
        out.push(CertificateList::from_der(&der)?);
        rest = &rest[start + end + end_marker.len()..];
    }
    Ok(out)
}
