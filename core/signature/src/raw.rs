//! DER as received: the exact bytes a signature covers (tbsCertificate,
//! tbsCertList, tbsResponseData) are taken from the input, never from a
//! re-encoding of what was decoded, which could differ from what the
//! issuer signed.

use crate::cms;
use der::Encode;
use x509_cert::Certificate;

pub(crate) use cms::tlv;

/// The whole elements (header and contents) one after another in `body`.
pub(crate) fn elements(mut body: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let (_, _, rest) = tlv(body)?;
        out.push(&body[..body.len() - rest.len()]);
        body = rest;
    }
    Some(out)
}

/// The elements of the SEQUENCE `der` (nothing may follow it).
pub(crate) fn sequence_elements(der: &[u8]) -> Option<Vec<&[u8]>> {
    let (tag, body, rest) = tlv(der)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    elements(body)
}

/// The signed part (the first element) of a signed SEQUENCE: a
/// certificate, a CRL, a BasicOCSPResponse.
pub(crate) fn signed_part(der: &[u8]) -> Option<&[u8]> {
    sequence_elements(der)?.first().copied()
}

/// Whether `issuer` signed `cert`, whose DER as received is `der`.
pub(crate) fn issued(der: &[u8], cert: &Certificate, issuer: &Certificate) -> bool {
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject
        || cert.signature_algorithm != cert.tbs_certificate.signature
    {
        return false;
    }
    let (Some(tbs), Some(sig)) = (signed_part(der), cert.signature.as_bytes()) else {
        return false;
    };
    cms::signed_by(
        &issuer.tbs_certificate.subject_public_key_info,
        &cert.signature_algorithm.oid,
        tbs,
        sig,
    )
    .is_ok()
}

/// A certificate with the DER it came in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cert {
    pub cert: Certificate,
    pub der: Vec<u8>,
}

impl Cert {
    /// From DER as received.
    pub fn from_der(der: &[u8]) -> Result<Cert, der::Error> {
        use der::Decode;
        Ok(Cert {
            cert: Certificate::from_der(der)?,
            der: der.to_vec(),
        })
    }

    /// From a decoded certificate (an anchor): its DER re-encoded, which
    /// only matters if its own signature is ever checked.
    pub fn from_decoded(cert: &Certificate) -> Cert {
        Cert {
            der: cert.to_der().unwrap_or_default(),
            cert: cert.clone(),
        }
    }
}

/// The certificates a CMS SignedData carries, each with its DER as in the
/// message. Other certificate choices are skipped.
pub fn cms_certificates(der: &[u8]) -> Option<Vec<Cert>> {
    let (_, content_info, _) = tlv(der)?;
    let (_, _oid, rest) = tlv(content_info)?;
    let (_, explicit, _) = tlv(rest)?;
    let (_, signed_data, _) = tlv(explicit)?;
    for part in elements(signed_data)? {
        let (tag, body, _) = tlv(part)?;
        if tag == 0xa0 {
            return elements(body)?
                .into_iter()
                .filter(|c| c.first() == Some(&0x30))
                .take(cms::MAX_CERTIFICATES)
                .map(|c| Cert::from_der(c).ok())
                .collect();
        }
    }
    Some(Vec::new())
}

/// Bytes as standard base64 in serde formats (stored evidence stays
/// compact in JSON).
pub(crate) mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}
