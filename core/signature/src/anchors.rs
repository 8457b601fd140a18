//! A tenant's trust anchors as an operator configures them: what makes a
//! certificate unusable as an anchor, so `tapline check` can say so
//! instead of every signature being refused later.

use der::Decode;
use x509_cert::Certificate;
use x509_cert::ext::pkix::BasicConstraints;

const BASIC_CONSTRAINTS: &str = "2.5.29.19";

/// Why `cert` can never anchor a chain, or None: an anchor must be a CA,
/// and an end-entity certificate there means the operator put the wrong
/// file in the folder.
pub fn not_an_anchor(cert: &Certificate) -> Option<String> {
    let is_ca = cert
        .tbs_certificate
        .extensions
        .as_ref()
        .and_then(|exts| {
            exts.iter()
                .find(|e| e.extn_id.to_string() == BASIC_CONSTRAINTS)
        })
        .and_then(|e| BasicConstraints::from_der(e.extn_value.as_bytes()).ok())
        .is_some_and(|bc| bc.ca);
    (!is_ca).then(|| "is not a CA certificate (basicConstraints cA is not set)".into())
}

/// Why `cert` anchors nothing at `at` (Unix seconds), or None: every
/// signature under an expired or not yet valid anchor is refused. This
/// changes with time, so it is a warning for a running server and a
/// problem for `tapline check`, never a reason to stop serving.
pub fn out_of_date(cert: &Certificate, at: u64) -> Option<String> {
    let validity = &cert.tbs_certificate.validity;
    if at > validity.not_after.to_unix_duration().as_secs() {
        return Some(format!("expired on {}", validity.not_after.to_date_time()));
    }
    if at < validity.not_before.to_unix_duration().as_secs() {
        return Some(format!(
            "is not valid before {}",
            validity.not_before.to_date_time()
        ));
    }
    None
}

/// The subject of a certificate as one line, for messages.
pub fn subject(cert: &Certificate) -> String {
    crate::identity::name_line(&cert.tbs_certificate.subject)
}
