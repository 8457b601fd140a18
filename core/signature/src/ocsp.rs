//! OCSP (RFC 6960): the request the fetch step sends for one certificate,
//! and the pure check of the answer it got back. The answer counts only
//! when it is signed by the certificate's issuer (or by a responder the
//! issuer certified for OCSP signing), names this very certificate, carries
//! the nonce that was sent (an old answer replayed is not one) and is
//! current at the time of judgement.

use crate::cms;
use crate::raw;
use const_oid::ObjectIdentifier;
use der::asn1::{Null, OctetString};
use der::{Decode, Encode};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request,
    TbsRequest, Version,
};

/// Bytes of nonce sent with each request (RFC 8954 asks for 32 at most).
pub const NONCE_LEN: usize = 16;
/// Clock skew allowed between the responder and this server.
pub const SKEW: u64 = 5 * 60;
/// How old an answer without nextUpdate may be at the time of judgement.
pub const MAX_AGE_WITHOUT_NEXT_UPDATE: u64 = 60 * 60;

const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const STREEBOG_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.643.7.1.1.2.2");
const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const ID_PKIX_OCSP_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
/// id-kp-OCSPSigning.
pub const OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");

/// What the fetch step got from a responder, kept whole so the check can
/// be run again later from what was stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OcspEvidence {
    /// The responder's URL (from the certificate's AIA).
    pub url: String,
    /// The nonce this server sent: the answer must carry it back.
    #[serde(with = "crate::raw::base64_bytes")]
    pub nonce: Vec<u8>,
    /// The DER OCSPResponse as received.
    #[serde(with = "crate::raw::base64_bytes")]
    pub response: Vec<u8>,
    /// When it was received (Unix seconds).
    pub fetched_at: u64,
}

/// The certificate's status as a responder vouched for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Good,
    Revoked,
    Unknown,
}

/// A checked answer for one certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: Status,
    pub produced_at: u64,
    pub this_update: u64,
    pub next_update: Option<u64>,
}

/// Why an answer was not taken (all of them mean: no OCSP word on this
/// certificate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// Not a DER OCSPResponse with a BasicOCSPResponse.
    Malformed,
    /// The responder said something other than "successful".
    NotSuccessful,
    /// No SingleResponse for this certificate.
    NotForThisCertificate,
    /// No nonce, or another than the one sent: a replayed answer.
    NonceMismatch,
    /// thisUpdate in the future, nextUpdate past, or too old.
    NotCurrent,
    /// Neither the issuer nor a responder it certified for OCSP signed it.
    UnauthorisedResponder,
}

/// The CertID for `cert` issued by `issuer` with SHA-1, as OpenSSL and
/// RFC 5019 responders expect by default.
pub fn cert_id(cert: &Certificate, issuer: &Certificate) -> Result<CertId, der::Error> {
    let name = issuer.tbs_certificate.subject.to_der()?;
    let key = issuer
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: SHA1,
            parameters: Some(Null.into()),
        },
        issuer_name_hash: OctetString::new(sha1::Sha1::digest(&name).to_vec())?,
        issuer_key_hash: OctetString::new(sha1::Sha1::digest(key).to_vec())?,
        serial_number: cert.tbs_certificate.serial_number.clone(),
    })
}

/// A DER OCSPRequest for `cert` carrying `nonce`.
pub fn request(
    cert: &Certificate,
    issuer: &Certificate,
    nonce: &[u8],
) -> Result<Vec<u8>, der::Error> {
    let nonce_ext = Extension {
        extn_id: ID_PKIX_OCSP_NONCE,
        critical: false,
        extn_value: OctetString::new(OctetString::new(nonce)?.to_der()?)?,
    };
    OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: cert_id(cert, issuer)?,
                single_request_extensions: None,
            }],
            request_extensions: Some(vec![nonce_ext]),
        },
        optional_signature: None,
    }
    .to_der()
}

fn hash_matches(alg: &ObjectIdentifier, data: &[u8], want: &[u8]) -> bool {
    let got = match *alg {
        SHA1 => sha1::Sha1::digest(data).to_vec(),
        SHA256 => sha2::Sha256::digest(data).to_vec(),
        STREEBOG_256 => streebog::Streebog256::digest(data).to_vec(),
        _ => return false,
    };
    got == want
}

/// Whether a CertID from a response names `cert` issued by `issuer`.
fn names(id: &CertId, cert: &Certificate, issuer: &Certificate) -> bool {
    let Ok(name) = issuer.tbs_certificate.subject.to_der() else {
        return false;
    };
    let key = issuer
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    let alg = &id.hash_algorithm.oid;
    id.serial_number == cert.tbs_certificate.serial_number
        && hash_matches(alg, &name, id.issuer_name_hash.as_bytes())
        && hash_matches(alg, key, id.issuer_key_hash.as_bytes())
}

fn secs(t: &x509_ocsp::OcspGeneralizedTime) -> u64 {
    t.0.to_unix_duration().as_secs()
}

/// Checks `evidence` as the answer for `cert` issued by `issuer` at `at`.
/// `issued` tells whether the issuer signed a responder certificate (its
/// raw DER given), the chain code's own signature check.
pub fn check(
    evidence: &OcspEvidence,
    cert: &Certificate,
    issuer: &Certificate,
    at: u64,
) -> Result<Answer, Unusable> {
    let resp = OcspResponse::from_der(&evidence.response).map_err(|_| Unusable::Malformed)?;
    if resp.response_status != OcspResponseStatus::Successful {
        return Err(Unusable::NotSuccessful);
    }
    let bytes = resp.response_bytes.ok_or(Unusable::Malformed)?;
    if bytes.response_type != ID_PKIX_OCSP_BASIC {
        return Err(Unusable::Malformed);
    }
    let basic_der = bytes.response.as_bytes();
    let basic = BasicOcspResponse::from_der(basic_der).map_err(|_| Unusable::Malformed)?;
    let data = &basic.tbs_response_data;

    // The signature over tbsResponseData exactly as received.
    let parts = raw::sequence_elements(basic_der).ok_or(Unusable::Malformed)?;
    let tbs = *parts.first().ok_or(Unusable::Malformed)?;
    let sig = basic.signature.as_bytes().ok_or(Unusable::Malformed)?;
    let alg = &basic.signature_algorithm.oid;
    let by_issuer = cms::signed_by(
        &issuer.tbs_certificate.subject_public_key_info,
        alg,
        tbs,
        sig,
    )
    .is_ok();
    if !by_issuer {
        // certs [0] EXPLICIT SEQUENCE OF Certificate, after the signature.
        let responders: Vec<&[u8]> = parts
            .iter()
            .skip(3)
            .find_map(|p| {
                let (tag, body, _) = raw::tlv(p)?;
                (tag == 0xa0).then_some(body)
            })
            .and_then(|body| {
                let (tag, seq, _) = raw::tlv(body)?;
                (tag == 0x30).then(|| raw::elements(seq))?
            })
            .unwrap_or_default();
        let authorised = responders.iter().take(4).any(|der| {
            let Ok(r) = Certificate::from_der(der) else {
                return false;
            };
            let validity = &r.tbs_certificate.validity;
            let current = validity.not_before.to_unix_duration().as_secs() <= at
                && at <= validity.not_after.to_unix_duration().as_secs();
            let for_ocsp = matches!(
                r.tbs_certificate.get::<ExtendedKeyUsage>(),
                Ok(Some((_, eku))) if eku.0.contains(&OCSP_SIGNING)
            );
            current
                && for_ocsp
                && raw::issued(der, &r, issuer)
                && cms::signed_by(&r.tbs_certificate.subject_public_key_info, alg, tbs, sig).is_ok()
        });
        if !authorised {
            return Err(Unusable::UnauthorisedResponder);
        }
    }

    let nonce = data
        .response_extensions
        .as_ref()
        .and_then(|exts| exts.iter().find(|e| e.extn_id == ID_PKIX_OCSP_NONCE))
        .and_then(|e| OctetString::from_der(e.extn_value.as_bytes()).ok());
    if nonce.as_ref().map(|n| n.as_bytes()) != Some(evidence.nonce.as_slice())
        || evidence.nonce.is_empty()
    {
        return Err(Unusable::NonceMismatch);
    }

    let single = data
        .responses
        .iter()
        .find(|s| names(&s.cert_id, cert, issuer))
        .ok_or(Unusable::NotForThisCertificate)?;
    let this_update = secs(&single.this_update);
    let next_update = single.next_update.as_ref().map(secs);
    if this_update > at + SKEW {
        return Err(Unusable::NotCurrent);
    }
    match next_update {
        Some(next) if at >= next => return Err(Unusable::NotCurrent),
        None if at > this_update + MAX_AGE_WITHOUT_NEXT_UPDATE => {
            return Err(Unusable::NotCurrent);
        }
        _ => {}
    }
    let status = match single.cert_status {
        CertStatus::Good(_) => Status::Good,
        CertStatus::Revoked(_) => Status::Revoked,
        CertStatus::Unknown(_) => Status::Unknown,
    };
    Ok(Answer {
        status,
        produced_at: secs(&data.produced_at),
        this_update,
        next_update,
    })
}

/// The OCSP responder URLs (http only) a certificate's AIA names.
pub fn responder_urls(cert: &Certificate) -> Vec<String> {
    const ID_AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
    let Ok(Some((_, aia))) = cert
        .tbs_certificate
        .get::<x509_cert::ext::pkix::AuthorityInfoAccessSyntax>()
    else {
        return Vec::new();
    };
    aia.0
        .iter()
        .filter(|d| d.access_method == ID_AD_OCSP)
        .filter_map(|d| match &d.access_location {
            x509_cert::ext::pkix::name::GeneralName::UniformResourceIdentifier(u) => {
                Some(u.as_str().to_string())
            }
            _ => None,
        })
        .filter(|u| u.starts_with("http://"))
        .collect()
}
