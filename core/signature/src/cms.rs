//! The cryptographic check of a CMS SignedData (CAdES-BES as CryptoPro and
//! OpenSSL make it): the signed content's digest equals the signed
//! `messageDigest`, and the signer's key signed the exact `signedAttrs`
//! bytes. Who the signer is and whether to trust them (chain, validity,
//! revocation) is the policy's business, on top of this.
//!
//! Algorithms: Russian GOST R 34.10-2012 (256, 512) with Streebog;
//! Kazakhstan's GOST 34.310-2004 (GOST 34.311-95 hash) and GOST 34.10-2015
//! (256, 512) with Streebog, under Kazakh OIDs and byte order (see
//! `KzGost`); RSA PKCS#1 v1.5 with SHA-2. The same table checks
//! certificate and CRL signatures (`signed_by`).
//!
//! Anything this does not know is a refusal: an algorithm, a paramset, a
//! missing attribute, a digest that does not fit the key.

use crate::gost::{self, ParamSet};
use base64::Engine;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use const_oid::ObjectIdentifier;
use der::{Decode, Encode, Tagged};
use sha2::Digest;
use x509_cert::Certificate;

/// The largest signature file taken, in any encoding.
pub const MAX_INPUT: usize = 4 << 20;

/// Why a signature was refused, as a stable code (stored with a verdict)
/// and words a person can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a CMS signature in DER, base64 or PEM.
    Malformed,
    TooLarge,
    /// The CMS holds no signer, or more than one.
    SignerCount,
    /// An algorithm, curve or digest this engine does not verify.
    UnsupportedAlgorithm,
    /// The signer's certificate is not inside the signature.
    NoSignerCertificate,
    /// No signed attributes or no `messageDigest` among them.
    NoSignedAttributes,
    /// The digest algorithm is not the one the key's algorithm requires.
    DigestDoesNotFitKey,
    /// The content is not what was signed.
    ContentChanged,
    /// The attached content and the given content differ, or there is none.
    ContentMissing,
    /// The signature value does not verify with the signer's key.
    BadSignature,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::TooLarge => "too_large",
            Refusal::SignerCount => "signer_count",
            Refusal::UnsupportedAlgorithm => "unsupported_algorithm",
            Refusal::NoSignerCertificate => "no_signer_certificate",
            Refusal::NoSignedAttributes => "no_signed_attributes",
            Refusal::DigestDoesNotFitKey => "digest_does_not_fit_key",
            Refusal::ContentChanged => "content_changed",
            Refusal::ContentMissing => "content_missing",
            Refusal::BadSignature => "bad_signature",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::Malformed => "Файл не является электронной подписью (CMS/PKCS#7).",
            Refusal::TooLarge => "Файл подписи слишком большой.",
            Refusal::SignerCount => "В файле должна быть ровно одна подпись.",
            Refusal::UnsupportedAlgorithm => "Алгоритм подписи не поддерживается.",
            Refusal::NoSignerCertificate => "В подписи нет сертификата подписавшего.",
            Refusal::NoSignedAttributes => {
                "В подписи нет подписанных атрибутов (нужна подпись CAdES-BES)."
            }
            Refusal::DigestDoesNotFitKey => "Алгоритм хэширования не соответствует ключу подписи.",
            Refusal::ContentChanged => "Документ изменён после подписания.",
            Refusal::ContentMissing => "Подпись относится к другому документу.",
            Refusal::BadSignature => "Подпись не сходится с ключом сертификата.",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Refusal {}

/// What a cryptographically sound signature says of itself.
#[derive(Debug)]
pub struct Signed {
    /// A name for the algorithm, e.g. "ГОСТ Р 34.10-2012 256 (CryptoPro-A)".
    pub algorithm: String,
    pub signer: Certificate,
    /// Every certificate the CMS carries (the chain's candidates).
    pub certificates: Vec<Certificate>,
    /// The signer's claim from `signingTime`, RFC 3339 (CAdES-BES carries no
    /// trusted time).
    pub signing_time: Option<String>,
}

/// DER from DER, base64 (any line breaks, as CryptoPro splits them) or PEM.
pub fn decode_input(input: &[u8]) -> Result<Vec<u8>, Refusal> {
    if input.len() > MAX_INPUT {
        return Err(Refusal::TooLarge);
    }
    if input.first() == Some(&0x30) {
        return Ok(input.to_vec());
    }
    let text = std::str::from_utf8(input).map_err(|_| Refusal::Malformed)?;
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|_| Refusal::Malformed)?;
    if der.first() != Some(&0x30) {
        return Err(Refusal::Malformed);
    }
    Ok(der)
}

const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
/// More certificates than any real chain needs, each a signature check.
pub const MAX_CERTIFICATES: usize = 16;
const SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const GOST_256_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.643.7.1.1.1.1");
const GOST_512_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.643.7.1.1.1.2");
const GOST_256_SIG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.643.7.1.1.3.2");
const GOST_512_SIG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.643.7.1.1.3.3");
const STREEBOG_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.643.7.1.1.2.2");
const STREEBOG_512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.643.7.1.1.2.3");
// Kazakhstan (pki.gov.kz): GOST 34.310-2004 and GOST 34.10-2015, each with a
// key OID and a signature OID, and hash OIDs of their own.
const KZ_2004_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.398.3.10.1.1.1.1");
const KZ_2004_SIG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.398.3.10.1.1.1.2");
const KZ_2015_256_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.398.3.10.1.1.2.1");
const KZ_2015_512_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.398.3.10.1.1.2.2");
// The 256-bit signature and hash OIDs are not in our notes (no 256-bit
// sample was seen); these are the ones Kalkan-based software names for
// "GOST 34.10-2015 256 with GOST 34.11-2015 256", the 512-bit ones' siblings.
const KZ_2015_256_SIG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.398.3.10.1.1.2.3.1");
const KZ_2015_512_SIG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.398.3.10.1.1.2.3.2");
/// GOST 34.311-95, i.e. GOST R 34.11-94 with the test S-box.
const KZ_GOST94: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.398.3.10.1.3.1.1.0");
const KZ_STREEBOG_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.398.3.10.1.3.2");
const KZ_STREEBOG_512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.398.3.10.1.3.3");
const RSA_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Hash {
    Streebog256,
    Streebog512,
    /// GOST R 34.11-94 with the test S-box (Kazakhstan's GOST 34.311-95).
    Gost94Test,
    /// Streebog under Kazakhstan's OIDs. The same function as the Russian
    /// one, kept apart so that a digest OID of one country does not pass
    /// with a key of the other (see [`Algorithm::of`]).
    KzStreebog256,
    KzStreebog512,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_oid(oid: &ObjectIdentifier) -> Option<Hash> {
        Some(match *oid {
            STREEBOG_256 => Hash::Streebog256,
            STREEBOG_512 => Hash::Streebog512,
            KZ_GOST94 => Hash::Gost94Test,
            KZ_STREEBOG_256 => Hash::KzStreebog256,
            KZ_STREEBOG_512 => Hash::KzStreebog512,
            SHA256 => Hash::Sha256,
            SHA384 => Hash::Sha384,
            SHA512 => Hash::Sha512,
            _ => return None,
        })
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Streebog256 | Hash::KzStreebog256 => streebog::Streebog256::digest(data).to_vec(),
            Hash::Streebog512 | Hash::KzStreebog512 => streebog::Streebog512::digest(data).to_vec(),
            Hash::Gost94Test => gost94::Gost94Test::digest(data).to_vec(),
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

/// Checks `der` (a ContentInfo with SignedData) over `content` (None for
/// an attached signature). Pure: the same bytes give the same answer.
pub fn check(der: &[u8], content: Option<&[u8]>) -> Result<Signed, Refusal> {
    let info = ContentInfo::from_der(der).map_err(|_| Refusal::Malformed)?;
    if info.content_type != SIGNED_DATA {
        return Err(Refusal::Malformed);
    }
    let inner = info.content.to_der().map_err(|_| Refusal::Malformed)?;
    let sd = SignedData::from_der(&inner).map_err(|_| Refusal::Malformed)?;
    let signers: Vec<&SignerInfo> = sd.signer_infos.0.iter().collect();
    let [si] = signers.as_slice() else {
        return Err(Refusal::SignerCount);
    };

    // A document signature signs data; a SignedData made for something
    // else (a time-stamp token, a receipt) is not one.
    if sd.encap_content_info.econtent_type != ID_DATA {
        return Err(Refusal::Malformed);
    }
    let attached = match sd.encap_content_info.econtent.as_ref() {
        Some(any) if any.tag() != der::Tag::OctetString => return Err(Refusal::Malformed),
        Some(any) => Some(any.value().to_vec()),
        None => None,
    };
    let content: Vec<u8> = match (attached, content) {
        (Some(a), Some(c)) if a != c => return Err(Refusal::ContentMissing),
        (Some(a), _) => a,
        (None, Some(c)) => c.to_vec(),
        (None, None) => return Err(Refusal::ContentMissing),
    };

    let certificates: Vec<Certificate> = sd
        .certificates
        .as_ref()
        .map(|set| {
            set.0
                .iter()
                .filter_map(|c| match c {
                    cms::cert::CertificateChoices::Certificate(c) => Some(c.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    // Each certificate may cost a signature check while the chain is built;
    // real signatures carry a handful.
    if certificates.len() > MAX_CERTIFICATES {
        return Err(Refusal::Malformed);
    }
    let mut named = certificates.iter().filter(|c| names_signer(c, &si.sid));
    let signer = named.next().cloned().ok_or(Refusal::NoSignerCertificate)?;
    if named.next().is_some() {
        return Err(Refusal::NoSignerCertificate);
    }

    let hash = Hash::from_oid(&si.digest_alg.oid).ok_or(Refusal::UnsupportedAlgorithm)?;
    // No hash here takes parameters: anything but none or NULL is not what
    // a signer wrote (the field is outside the signature).
    if si
        .digest_alg
        .parameters
        .as_ref()
        .is_some_and(|p| p.tag() != der::Tag::Null || !p.value().is_empty())
    {
        return Err(Refusal::Malformed);
    }
    let spki = &signer.tbs_certificate.subject_public_key_info;
    let sig_oid = si.signature_algorithm.oid;
    // The algorithms first: a digest that does not fit the key says more
    // than whatever else it breaks.
    let algorithm = Algorithm::of(spki, &sig_oid, hash)?;
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or(Refusal::NoSignedAttributes)?;
    let mut message_digest = None;
    let mut signing_time = None;
    let mut content_type = None;
    let mut signing_certificate = None;
    let mut seen = Vec::new();
    for a in attrs.iter() {
        // RFC 5652 §11: each of these appears once; a second copy could say
        // something other than what a reader of the first believes.
        if seen.contains(&a.oid) {
            return Err(Refusal::Malformed);
        }
        seen.push(a.oid);
        if a.oid == CONTENT_TYPE {
            let [v] = a.values.as_slice() else {
                return Err(Refusal::NoSignedAttributes);
            };
            content_type = Some(
                v.decode_as::<ObjectIdentifier>()
                    .map_err(|_| Refusal::Malformed)?,
            );
        } else if a.oid == SIGNING_CERTIFICATE_V2 {
            let [v] = a.values.as_slice() else {
                return Err(Refusal::NoSignedAttributes);
            };
            signing_certificate = Some(v.to_der().map_err(|_| Refusal::Malformed)?);
        } else if a.oid == MESSAGE_DIGEST {
            let [v] = a.values.as_slice() else {
                return Err(Refusal::NoSignedAttributes);
            };
            let os = v
                .decode_as::<der::asn1::OctetString>()
                .map_err(|_| Refusal::Malformed)?;
            message_digest = Some(os.as_bytes().to_vec());
        } else if a.oid == SIGNING_TIME {
            signing_time = a
                .values
                .get(0)
                .and_then(|v| v.to_der().ok())
                .and_then(|d| x509_cert::time::Time::from_der(&d).ok())
                .map(|t| t.to_date_time().to_string());
        }
    }
    let message_digest = message_digest.ok_or(Refusal::NoSignedAttributes)?;
    if content_type != Some(ID_DATA) {
        return Err(Refusal::NoSignedAttributes);
    }
    // The sid and the certificate set are outside the signature: CAdES-BES
    // binds the signer's certificate by its hash in a signed attribute, so a
    // certificate swapped for another of the same key is refused.
    let binding = signing_certificate.ok_or(Refusal::NoSignedAttributes)?;
    // Hashed as the signer's program had it: the DER in the message.
    let signer_der = crate::raw::cms_certificates(der)
        .and_then(|all| all.into_iter().find(|c| c.cert == signer))
        .map(|c| c.der)
        .ok_or(Refusal::NoSignerCertificate)?;
    if !binds(&binding, &signer_der) {
        return Err(Refusal::NoSignerCertificate);
    }

    let signed_attrs = signed_attrs_bytes(der).ok_or(Refusal::Malformed)?;
    let signature = si.signature.as_bytes();

    if hash.digest(&content) != message_digest {
        return Err(Refusal::ContentChanged);
    }
    algorithm.verify(spki, hash, &signed_attrs, signature)?;

    Ok(Signed {
        algorithm: algorithm.name(hash),
        signer,
        certificates,
        signing_time,
    })
}

/// The curve from a GOST key's parameters: SEQUENCE { publicKeyParamSet,
/// digestParamSet OPTIONAL }.
fn gost_paramset(spki: &spki::SubjectPublicKeyInfoOwned) -> Option<ParamSet> {
    let params = spki.algorithm.parameters.as_ref()?;
    let seq = params.to_der().ok()?;
    let (tag, body, _) = tlv(&seq)?;
    if tag != 0x30 {
        return None;
    }
    let (otag, oid_body, _) = tlv(body)?;
    if otag != 0x06 {
        return None;
    }
    let oid = ObjectIdentifier::from_bytes(oid_body).ok()?;
    ParamSet::from_oid(&oid.to_string())
}

fn names_signer(cert: &Certificate, sid: &SignerIdentifier) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(is) => {
            cert.tbs_certificate.issuer == is.issuer
                && cert.tbs_certificate.serial_number == is.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => cert
            .tbs_certificate
            .get::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .is_some_and(|(_, own)| own.0 == ski.0),
    }
}

/// One DER element: (tag, contents, the rest after it). Short tags only,
/// definite lengths of up to four bytes; anything else is None.
pub(crate) fn tlv(buf: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *buf.first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let first = *buf.get(1)? as usize;
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *buf.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    let body = buf.get(header..end)?;
    Some((tag, body, &buf[end..]))
}

/// The signer's `signedAttrs` exactly as the message carries them, with
/// their [0] tag turned into the SET tag the signature covers. A re-encoding
/// could reorder or re-length what the signer hashed.
fn signed_attrs_bytes(der: &[u8]) -> Option<Vec<u8>> {
    let (_, content_info, _) = tlv(der)?;
    let (_, _oid, rest) = tlv(content_info)?;
    let (_, explicit, _) = tlv(rest)?;
    let (_, signed_data, _) = tlv(explicit)?;
    // version, digestAlgorithms, encapContentInfo, [0] certs?, [1] crls?, signerInfos
    let mut rest = signed_data;
    let mut signer_infos = None;
    while !rest.is_empty() {
        let (tag, body, next) = tlv(rest)?;
        if tag == 0x31 && next.is_empty() {
            signer_infos = Some(body);
        }
        rest = next;
    }
    let (_, signer_info, _) = tlv(signer_infos?)?;
    let mut rest = signer_info;
    while !rest.is_empty() {
        let start = rest;
        let (tag, _, next) = tlv(rest)?;
        if tag == 0xa0 {
            let mut bytes = start[..start.len() - next.len()].to_vec();
            bytes[0] = 0x31;
            return Some(bytes);
        }
        rest = next;
    }
    None
}

/// A key's algorithm as checked against its signature algorithm and
/// digest: what [`Algorithm::verify`] then uses without parsing again.
enum Algorithm {
    Gost(ParamSet),
    /// Kazakhstan's GOST: the Russian equation on a fixed curve, with the
    /// signature value's bytes in the opposite order.
    KzGost(KzGost),
    Rsa,
}

/// Kazakhstan's GOST algorithms (pki.gov.kz), each tied to one curve and
/// one hash.
///
/// Assumed layouts, as for Russian GOST unless said: the public key is an
/// OCTET STRING inside the BIT STRING holding X‖Y, each coordinate
/// little-endian; the signature value, in a SignerInfo as in a
/// certificate or CRL, is the Russian s‖r (big-endian) with all its bytes
/// reversed, i.e. r‖s little-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KzGost {
    /// GOST 34.310-2004 on CryptoPro-A with GOST 34.311-95.
    Gost2004,
    /// GOST 34.10-2015 256 on tc26-256-A with Streebog-256.
    Gost2015_256,
    /// GOST 34.10-2015 512 on tc26-512-A with Streebog-512.
    Gost2015_512,
}

impl KzGost {
    fn of_key(oid: &ObjectIdentifier) -> Option<KzGost> {
        Some(match *oid {
            KZ_2004_KEY => KzGost::Gost2004,
            KZ_2015_256_KEY => KzGost::Gost2015_256,
            KZ_2015_512_KEY => KzGost::Gost2015_512,
            _ => return None,
        })
    }

    /// (signature OID, hash, curve).
    fn spec(self) -> (ObjectIdentifier, Hash, ParamSet) {
        match self {
            KzGost::Gost2004 => (KZ_2004_SIG, Hash::Gost94Test, ParamSet::CryptoProA),
            KzGost::Gost2015_256 => (KZ_2015_256_SIG, Hash::KzStreebog256, ParamSet::Tc26_256A),
            KzGost::Gost2015_512 => (KZ_2015_512_SIG, Hash::KzStreebog512, ParamSet::Tc26_512A),
        }
    }

    fn curve(self) -> ParamSet {
        self.spec().2
    }

    /// The curve a Kazakh key may use. Kazakh certificates either leave
    /// the parameters out (or NULL), the algorithm then fixing the curve,
    /// or name the curve as a Russian key does. A named curve other than
    /// the algorithm's is refused: nothing here says Kazakh software signs
    /// on it, and a verifier that follows the key's word could be steered
    /// to any curve.
    fn accepts_parameters(self, spki: &spki::SubjectPublicKeyInfoOwned) -> bool {
        match spki.algorithm.parameters.as_ref() {
            None => true,
            Some(p) if p.tag() == der::Tag::Null => p.value().is_empty(),
            Some(_) => gost_paramset(spki) == Some(self.curve()),
        }
    }
}

impl Algorithm {
    /// The key's algorithm, if the signature algorithm and the digest fit it.
    fn of(
        spki: &spki::SubjectPublicKeyInfoOwned,
        sig_oid: &ObjectIdentifier,
        hash: Hash,
    ) -> Result<Algorithm, Refusal> {
        let key_oid = spki.algorithm.oid;
        if let Some(kz) = KzGost::of_key(&key_oid) {
            let (want_sig, want_hash, _) = kz.spec();
            // As for Russian GOST, the key's OID or the signature's.
            if *sig_oid != key_oid && *sig_oid != want_sig {
                return Err(Refusal::UnsupportedAlgorithm);
            }
            // Only the Kazakh hash OID. A Russian Streebog OID with a Kazakh
            // 2015 key (or a Kazakh one with a Russian key) would compute the
            // same digest, but no signature seen so far mixes the two, and
            // a mix says the message was put together by something other
            // than a signer of either country: refused until a real one
            // shows otherwise (accepting it would be a change here only).
            if hash != want_hash {
                return Err(Refusal::DigestDoesNotFitKey);
            }
            if !kz.accepts_parameters(spki) {
                return Err(Refusal::UnsupportedAlgorithm);
            }
            Ok(Algorithm::KzGost(kz))
        } else if key_oid == GOST_256_KEY || key_oid == GOST_512_KEY {
            let (want_hash, want_sig, size) = if key_oid == GOST_256_KEY {
                (Hash::Streebog256, GOST_256_SIG, 32)
            } else {
                (Hash::Streebog512, GOST_512_SIG, 64)
            };
            // OpenSSL names the key's OID as the signature algorithm, others
            // the signature's: both mean the same here.
            if *sig_oid != key_oid && *sig_oid != want_sig {
                return Err(Refusal::UnsupportedAlgorithm);
            }
            if hash != want_hash {
                return Err(Refusal::DigestDoesNotFitKey);
            }
            let set = gost_paramset(spki).ok_or(Refusal::UnsupportedAlgorithm)?;
            if set.size() != size {
                return Err(Refusal::UnsupportedAlgorithm);
            }
            Ok(Algorithm::Gost(set))
        } else if key_oid == RSA_KEY {
            let want = match *sig_oid {
                RSA_KEY => hash,
                SHA256_RSA => Hash::Sha256,
                SHA384_RSA => Hash::Sha384,
                SHA512_RSA => Hash::Sha512,
                _ => return Err(Refusal::UnsupportedAlgorithm),
            };
            if hash != want || !matches!(hash, Hash::Sha256 | Hash::Sha384 | Hash::Sha512) {
                return Err(Refusal::DigestDoesNotFitKey);
            }
            Ok(Algorithm::Rsa)
        } else {
            Err(Refusal::UnsupportedAlgorithm)
        }
    }

    fn name(&self, hash: Hash) -> String {
        match self {
            Algorithm::Gost(set) => format!("ГОСТ Р 34.10-2012 {} ({set:?})", set.size() * 8),
            Algorithm::KzGost(kz) => match kz {
                KzGost::Gost2004 => "ГОСТ 34.310-2004 (Казахстан, CryptoPro-A)".to_string(),
                KzGost::Gost2015_256 => "ГОСТ 34.10-2015 256 (Казахстан, Tc26_256A)".to_string(),
                KzGost::Gost2015_512 => "ГОСТ 34.10-2015 512 (Казахстан, Tc26_512A)".to_string(),
            },
            Algorithm::Rsa => format!("RSA PKCS#1 v1.5, {hash:?}"),
        }
    }

    /// Verifies `signature` over `message` (hashed here with `hash`) with
    /// the key in `spki`.
    fn verify(
        &self,
        spki: &spki::SubjectPublicKeyInfoOwned,
        hash: Hash,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), Refusal> {
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or(Refusal::Malformed)?;
        match self {
            Algorithm::Gost(set) => {
                let key = der::asn1::OctetString::from_der(bits).map_err(|_| Refusal::Malformed)?;
                gost::verify(*set, &hash.digest(message), signature, key.as_bytes())
                    .map_err(|_| Refusal::BadSignature)
            }
            Algorithm::KzGost(kz) => {
                let key = der::asn1::OctetString::from_der(bits).map_err(|_| Refusal::Malformed)?;
                // Back into the Russian s‖r order the arithmetic reads.
                let mut russian = signature.to_vec();
                russian.reverse();
                gost::verify(kz.curve(), &hash.digest(message), &russian, key.as_bytes())
                    .map_err(|_| Refusal::BadSignature)
            }
            Algorithm::Rsa => {
                use rsa::pkcs1::DecodeRsaPublicKey;
                let key =
                    rsa::RsaPublicKey::from_pkcs1_der(bits).map_err(|_| Refusal::Malformed)?;
                if rsa::traits::PublicKeyParts::size(&key) < 256 {
                    // Under 2048 bits: no qualified certificate has such a key.
                    return Err(Refusal::UnsupportedAlgorithm);
                }
                let scheme = match hash {
                    Hash::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                    Hash::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                    _ => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
                };
                key.verify(scheme, &hash.digest(message), signature)
                    .map_err(|_| Refusal::BadSignature)
            }
        }
    }
}

/// A certificate's or CRL's signature by an issuer's key: the digest is
/// the one the signature algorithm names.
pub(crate) fn signed_by(
    issuer: &spki::SubjectPublicKeyInfoOwned,
    sig_oid: &ObjectIdentifier,
    tbs: &[u8],
    signature: &[u8],
) -> Result<(), Refusal> {
    let hash = match *sig_oid {
        GOST_256_SIG => Hash::Streebog256,
        GOST_512_SIG => Hash::Streebog512,
        // Kazakh certificates and CRLs are signed as Kazakh SignerInfos are,
        // byte order included.
        KZ_2004_SIG => Hash::Gost94Test,
        KZ_2015_256_SIG => Hash::KzStreebog256,
        KZ_2015_512_SIG => Hash::KzStreebog512,
        SHA256_RSA => Hash::Sha256,
        SHA384_RSA => Hash::Sha384,
        SHA512_RSA => Hash::Sha512,
        _ => return Err(Refusal::UnsupportedAlgorithm),
    };
    Algorithm::of(issuer, sig_oid, hash)?.verify(issuer, hash, tbs, signature)
}

/// Whether a SigningCertificateV2 attribute value names the certificate
/// whose DER (as the message carries it) is `cert_der`: the first
/// ESSCertIDv2's hash (SHA-256 unless it says otherwise) of the
/// certificate's DER.
fn binds(value: &[u8], cert_der: &[u8]) -> bool {
    // SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, … }
    let Some((0x30, outer, _)) = tlv(value) else {
        return false;
    };
    let Some((0x30, certs, _)) = tlv(outer) else {
        return false;
    };
    let Some((0x30, first, _)) = tlv(certs) else {
        return false;
    };
    let Some((tag, body, rest)) = tlv(first) else {
        return false;
    };
    let (hash, cert_hash) = if tag == 0x30 {
        // hashAlgorithm present: its OID picks the hash.
        let Some((0x06, oid, _)) = tlv(body) else {
            return false;
        };
        let Ok(oid) = ObjectIdentifier::from_bytes(oid) else {
            return false;
        };
        let Some(hash) = Hash::from_oid(&oid) else {
            return false;
        };
        let Some((0x04, h, _)) = tlv(rest) else {
            return false;
        };
        (hash, h)
    } else if tag == 0x04 {
        (Hash::Sha256, body)
    } else {
        return false;
    };
    hash.digest(cert_der) == cert_hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(oid: ObjectIdentifier, parameters: Option<der::Any>) -> spki::SubjectPublicKeyInfoOwned {
        spki::SubjectPublicKeyInfoOwned {
            algorithm: spki::AlgorithmIdentifierOwned { oid, parameters },
            subject_public_key: der::asn1::BitString::from_bytes(&[0x04, 0x00]).unwrap(),
        }
    }

    fn curve(oids: &[&str]) -> Option<der::Any> {
        let seq: Vec<ObjectIdentifier> = oids
            .iter()
            .map(|o| ObjectIdentifier::new_unwrap(o))
            .collect();
        Some(der::Any::encode_from(&seq).unwrap())
    }

    fn of(
        spki: &spki::SubjectPublicKeyInfoOwned,
        sig: ObjectIdentifier,
        hash: Hash,
    ) -> Result<KzGost, Refusal> {
        match Algorithm::of(spki, &sig, hash)? {
            Algorithm::KzGost(kz) => Ok(kz),
            _ => panic!("not a Kazakh algorithm"),
        }
    }

    /// GOST 34.311-95 is GOST R 34.11-94 with the test S-box, not
    /// CryptoPro's: the published test-parameter digests (RFC 5831 §7.3.1
    /// and the empty message's).
    #[test]
    fn kazakh_gost94_uses_the_test_sbox() {
        let hex = |b: Vec<u8>| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(Hash::Gost94Test.digest(b"")),
            "ce85b99cc46752fffee35cab9a7b0278abb4c2d2055cff685af4912c49490f8d"
        );
        assert_eq!(
            hex(Hash::Gost94Test.digest(b"This is message, length=32 bytes")),
            "b1c466d37519b82e8319819ff32595e047a28cb6f83eff1c6916a815a637fffa"
        );
        assert_eq!(Hash::from_oid(&KZ_GOST94), Some(Hash::Gost94Test));
    }

    /// Each Kazakh algorithm with its own signature or key OID and hash.
    #[test]
    fn kazakh_algorithms_are_known_by_key_or_signature_oid() {
        for (key_oid, sig, hash, want) in [
            (KZ_2004_KEY, KZ_2004_SIG, Hash::Gost94Test, KzGost::Gost2004),
            (
                KZ_2015_256_KEY,
                KZ_2015_256_SIG,
                Hash::KzStreebog256,
                KzGost::Gost2015_256,
            ),
            (
                KZ_2015_512_KEY,
                KZ_2015_512_SIG,
                Hash::KzStreebog512,
                KzGost::Gost2015_512,
            ),
        ] {
            let k = key(key_oid, None);
            assert_eq!(of(&k, sig, hash), Ok(want));
            assert_eq!(of(&k, key_oid, hash), Ok(want));
            // Another family's signature OID, or a Russian one.
            for other in [KZ_2004_SIG, KZ_2015_256_SIG, KZ_2015_512_SIG, GOST_256_SIG] {
                if other != sig {
                    assert_eq!(of(&k, other, hash), Err(Refusal::UnsupportedAlgorithm));
                }
            }
        }
    }

    /// A digest OID of the other country, or of another size, does not fit.
    #[test]
    fn a_digest_of_another_country_or_size_does_not_fit() {
        let kz512 = key(KZ_2015_512_KEY, None);
        for hash in [
            Hash::Streebog512,
            Hash::KzStreebog256,
            Hash::Gost94Test,
            Hash::Sha512,
        ] {
            assert_eq!(
                of(&kz512, KZ_2015_512_SIG, hash),
                Err(Refusal::DigestDoesNotFitKey),
                "{hash:?}"
            );
        }
        let kz2004 = key(KZ_2004_KEY, None);
        for hash in [Hash::Streebog256, Hash::KzStreebog256, Hash::Sha256] {
            assert_eq!(
                of(&kz2004, KZ_2004_SIG, hash),
                Err(Refusal::DigestDoesNotFitKey),
                "{hash:?}"
            );
        }
        // A Russian key with Kazakhstan's Streebog OID.
        let ru = key(GOST_256_KEY, curve(&["1.2.643.2.2.35.1"]));
        assert!(matches!(
            Algorithm::of(&ru, &GOST_256_SIG, Hash::KzStreebog256),
            Err(Refusal::DigestDoesNotFitKey)
        ));
        assert!(matches!(
            Algorithm::of(&ru, &GOST_256_SIG, Hash::Streebog256),
            Ok(Algorithm::Gost(ParamSet::CryptoProA))
        ));
    }

    /// Parameters absent, NULL or naming the algorithm's own curve (by any
    /// of its OIDs) are taken; another curve or anything else is not.
    #[test]
    fn a_kazakh_key_takes_no_curve_but_its_own() {
        let null = Some(der::Any::new(der::Tag::Null, Vec::<u8>::new()).unwrap());
        let cases = [
            (
                KZ_2004_KEY,
                KZ_2004_SIG,
                Hash::Gost94Test,
                "1.2.643.2.2.35.1",
                "1.2.643.2.2.35.2",
            ),
            (
                KZ_2004_KEY,
                KZ_2004_SIG,
                Hash::Gost94Test,
                "1.2.643.7.1.2.1.1.2",
                "1.2.643.7.1.2.1.1.1",
            ),
            (
                KZ_2015_256_KEY,
                KZ_2015_256_SIG,
                Hash::KzStreebog256,
                "1.2.643.7.1.2.1.1.1",
                "1.2.643.2.2.35.1",
            ),
            (
                KZ_2015_512_KEY,
                KZ_2015_512_SIG,
                Hash::KzStreebog512,
                "1.2.643.7.1.2.1.2.1",
                "1.2.643.7.1.2.1.2.3",
            ),
        ];
        for (key_oid, sig, hash, own, other) in cases {
            assert!(of(&key(key_oid, None), sig, hash).is_ok());
            assert!(of(&key(key_oid, null.clone()), sig, hash).is_ok());
            assert!(of(&key(key_oid, curve(&[own])), sig, hash).is_ok(), "{own}");
            // With a digest paramset after the curve, as Russian keys have.
            assert!(of(&key(key_oid, curve(&[own, "1.2.643.7.1.1.2.2"])), sig, hash).is_ok());
            for refused in [
                curve(&[other]),
                curve(&["1.2.398.3.10.1.1.1.1.1"]),
                curve(&[]),
                Some(der::Any::encode_from(&ObjectIdentifier::new_unwrap(own)).unwrap()),
                Some(der::Any::new(der::Tag::Null, vec![0u8]).unwrap()),
                Some(
                    der::Any::encode_from(&der::asn1::OctetString::new(vec![1u8]).unwrap())
                        .unwrap(),
                ),
            ] {
                assert_eq!(
                    of(&key(key_oid, refused.clone()), sig, hash),
                    Err(Refusal::UnsupportedAlgorithm),
                    "{key_oid} {refused:?}"
                );
            }
        }
    }
}
