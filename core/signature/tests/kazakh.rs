//! Kazakhstan's GOST signatures through the whole verification: a Kazakh
//! root, an end-entity certificate in NCA RK's shape (IIN, BIN, roles), a
//! CRL and a detached CAdES-BES signature, all under Kazakh OIDs and in the
//! Kazakh byte order, judged by `policy::verify` like any signature.
//!
//! OpenSSL cannot make these: its GOST engine knows neither the Kazakh OIDs
//! nor the reversed byte order, nor GOST 34.311-95 (GOST R 34.11-94 with
//! the test S-box). So the test assembles every structure itself, hashes in
//! Rust, and has OpenSSL only make the keys and sign the hashes
//! (`pkeyutl -sign`), on the curves Kazakhstan uses: CryptoPro-A for GOST
//! 34.310-2004, tc26-256-A and tc26-512-A for GOST 34.10-2015.
//!
//! Each refusal is checked for its reason: changed content, a flipped
//! signature byte, the Russian byte order, a Russian hash OID, a revoked
//! signer, a Russian-order certificate or CRL signature, a key naming
//! another curve, and a few hundred changed copies of the good signature.
//!
//! Without the engine the test says so and returns; under CI (`CI` set)
//! that is a failure.

mod common;

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use der::asn1::{BitString, OctetString, SetOfVec, UtcTime};
use der::{Any, Decode, Encode};
use sha2::Digest;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;
use tapline_signature::cms::Refusal;
use tapline_signature::gost::{self, ParamSet};
use tapline_signature::identity::{self, Applicant, KzRole};
use tapline_signature::policy::{
    self, Crl, CrlSource, Distrust, Evidence, Policy, Reason, Verdict,
};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

/// `policy::verify` under the default policy (documents; OCSP if at hand,
/// else these CRLs as configured files).
fn verify_crls(
    sig: &[u8],
    content: Option<&[u8]>,
    anchors: &[Certificate],
    crls: &[CertificateList],
    at: u64,
) -> Verdict {
    let evidence = Evidence {
        crls: crls
            .iter()
            .map(|c| Crl::from_der(&c.to_der().unwrap(), CrlSource::File).unwrap())
            .collect(),
        ..Evidence::default()
    };
    policy::verify(sig, content, anchors, &Policy::default(), &evidence, at)
}

fn oid(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(s)
}

const IIN: &str = "880101300123";
const BIN: &str = "120540012345";

/// The Kazakh algorithms as the test builds them.
#[derive(Clone, Copy, Debug)]
enum Family {
    Gost2004,
    Gost2015_256,
    Gost2015_512,
}

impl Family {
    /// OpenSSL's algorithm and paramset for a key on the family's curve:
    /// paramset A of 2012-256 is CryptoPro-A, TCA is tc26-256-A.
    fn genpkey(self) -> (&'static str, &'static str) {
        match self {
            Family::Gost2004 => ("gost2012_256", "A"),
            Family::Gost2015_256 => ("gost2012_256", "TCA"),
            Family::Gost2015_512 => ("gost2012_512", "A"),
        }
    }
    fn curve(self) -> ParamSet {
        match self {
            Family::Gost2004 => ParamSet::CryptoProA,
            Family::Gost2015_256 => ParamSet::Tc26_256A,
            Family::Gost2015_512 => ParamSet::Tc26_512A,
        }
    }
    fn key_oid(self) -> ObjectIdentifier {
        oid(match self {
            Family::Gost2004 => "1.2.398.3.10.1.1.1.1",
            Family::Gost2015_256 => "1.2.398.3.10.1.1.2.1",
            Family::Gost2015_512 => "1.2.398.3.10.1.1.2.2",
        })
    }
    fn sig_oid(self) -> ObjectIdentifier {
        oid(match self {
            Family::Gost2004 => "1.2.398.3.10.1.1.1.2",
            Family::Gost2015_256 => "1.2.398.3.10.1.1.2.3.1",
            Family::Gost2015_512 => "1.2.398.3.10.1.1.2.3.2",
        })
    }
    fn hash_oid(self) -> ObjectIdentifier {
        oid(match self {
            Family::Gost2004 => "1.2.398.3.10.1.3.1.1.0",
            Family::Gost2015_256 => "1.2.398.3.10.1.3.2",
            Family::Gost2015_512 => "1.2.398.3.10.1.3.3",
        })
    }
    /// The Russian Streebog OID of the family's size: the same function
    /// for 2015, another (and a Russian identifier) for 2004.
    fn russian_hash_oid(self) -> ObjectIdentifier {
        oid(match self {
            Family::Gost2004 | Family::Gost2015_256 => "1.2.643.7.1.1.2.2",
            Family::Gost2015_512 => "1.2.643.7.1.1.2.3",
        })
    }
    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Family::Gost2004 => gost94::Gost94Test::digest(data).to_vec(),
            Family::Gost2015_256 => streebog::Streebog256::digest(data).to_vec(),
            Family::Gost2015_512 => streebog::Streebog512::digest(data).to_vec(),
        }
    }
    /// The key's parameters: left out for 2004, the curve named for 2015,
    /// the two forms Kazakh certificates use.
    fn key_parameters(self) -> Option<Any> {
        let curve = match self {
            Family::Gost2004 => return None,
            Family::Gost2015_256 => "1.2.643.7.1.2.1.1.1",
            Family::Gost2015_512 => "1.2.643.7.1.2.1.2.1",
        };
        Some(Any::encode_from(&vec![oid(curve)]).unwrap())
    }
}

/// A GOST key made by OpenSSL, its public key under a Kazakh OID.
struct Key {
    family: Family,
    dir: PathBuf,
    pem: String,
    /// The OCTET STRING (X‖Y, little-endian) that the BIT STRING holds.
    public: Vec<u8>,
    spki: SubjectPublicKeyInfoOwned,
}

/// A counter for file names inside one test's folder.
struct Files(Cell<u32>);

impl Files {
    fn next(&self, what: &str) -> String {
        self.0.set(self.0.get() + 1);
        format!("{what}{}", self.0.get())
    }
}

fn run(dir: &Path, args: &[&str]) -> Option<()> {
    let out = common::openssl(dir, args, &[]);
    if out.status.success() {
        return Some(());
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI needs openssl with the GOST engine: openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("openssl without the GOST engine: not run");
    None
}

impl Key {
    fn new(family: Family, dir: &Path, files: &Files) -> Option<Key> {
        let (alg, paramset) = family.genpkey();
        let pem = files.next("key") + ".pem";
        let public = files.next("pub") + ".der";
        run(
            dir,
            &[
                "genpkey",
                "-algorithm",
                alg,
                "-pkeyopt",
                &format!("paramset:{paramset}"),
                "-out",
                &pem,
            ],
        )?;
        run(
            dir,
            &[
                "pkey", "-in", &pem, "-pubout", "-outform", "DER", "-out", &public,
            ],
        )?;
        let russian =
            SubjectPublicKeyInfoOwned::from_der(&std::fs::read(dir.join(&public)).unwrap())
                .unwrap();
        let bits = russian.subject_public_key.raw_bytes().to_vec();
        let xy = OctetString::from_der(&bits).unwrap().as_bytes().to_vec();
        assert_eq!(xy.len(), 2 * family.curve().size(), "X‖Y");
        let spki = SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: family.key_oid(),
                parameters: family.key_parameters(),
            },
            subject_public_key: BitString::from_bytes(&bits).unwrap(),
        };
        Some(Key {
            family,
            dir: dir.to_path_buf(),
            pem,
            public: xy,
            spki,
        })
    }

    /// OpenSSL's signature of `digest`, as it writes it: s‖r big-endian,
    /// the Russian layout (checked here against our Russian verify, so a
    /// change in OpenSSL's output shows as this failure, not as a Kazakh
    /// one).
    fn sign_digest(&self, digest: &[u8], files: &Files) -> Vec<u8> {
        let input = files.next("hash") + ".bin";
        let output = files.next("sig") + ".bin";
        std::fs::write(self.dir.join(&input), digest).unwrap();
        run(
            &self.dir,
            &[
                "pkeyutl", "-sign", "-inkey", &self.pem, "-in", &input, "-out", &output,
            ],
        )
        .expect("openssl signs");
        let raw = std::fs::read(self.dir.join(&output)).unwrap();
        assert_eq!(
            gost::verify(self.family.curve(), digest, &raw, &self.public),
            Ok(()),
            "OpenSSL's raw signature is s‖r big-endian"
        );
        raw
    }

    /// A Kazakh signature of `message`: hashed with the family's hash,
    /// OpenSSL's s‖r with every byte reversed.
    fn sign(&self, message: &[u8], files: &Files) -> Vec<u8> {
        let mut sig = self.sign_digest(&self.family.hash(message), files);
        sig.reverse();
        sig
    }
}

fn time(secs: u64) -> Time {
    Time::UtcTime(UtcTime::from_unix_duration(Duration::from_secs(secs)).unwrap())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn extension<T: Encode>(id: &str, critical: bool, value: &T) -> Extension {
    Extension {
        extn_id: oid(id),
        critical,
        extn_value: OctetString::new(value.to_der().unwrap()).unwrap(),
    }
}

fn sig_alg(family: Family) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: family.sig_oid(),
        parameters: None,
    }
}

/// A certificate of `subject_key` signed by `issuer_key`.
#[allow(clippy::too_many_arguments)]
fn certificate(
    issuer: &Name,
    issuer_key: &Key,
    subject: &Name,
    subject_key: &Key,
    serial: u8,
    extensions: Vec<Extension>,
    at: u64,
    files: &Files,
) -> Certificate {
    let tbs = x509_cert::TbsCertificate {
        version: x509_cert::Version::V3,
        serial_number: SerialNumber::new(&[serial]).unwrap(),
        signature: sig_alg(issuer_key.family),
        issuer: issuer.clone(),
        validity: Validity {
            not_before: time(at - 3600),
            not_after: time(at + 365 * 86400),
        },
        subject: subject.clone(),
        subject_public_key_info: subject_key.spki.clone(),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let signature = issuer_key.sign(&tbs.to_der().unwrap(), files);
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: sig_alg(issuer_key.family),
        signature: BitString::from_bytes(&signature).unwrap(),
    }
}

fn crl(issuer: &Name, key: &Key, revoked: &[u8], at: u64, files: &Files) -> CertificateList {
    let tbs = TbsCertList {
        version: x509_cert::Version::V2,
        signature: sig_alg(key.family),
        issuer: issuer.clone(),
        this_update: time(at - 60),
        next_update: Some(time(at + 86400)),
        revoked_certificates: Some(
            revoked
                .iter()
                .map(|s| RevokedCert {
                    serial_number: SerialNumber::new(&[*s]).unwrap(),
                    revocation_date: time(at - 60),
                    crl_entry_extensions: None,
                })
                .collect(),
        ),
        crl_extensions: None,
    };
    let signature = key.sign(&tbs.to_der().unwrap(), files);
    CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: sig_alg(key.family),
        signature: BitString::from_bytes(&signature).unwrap(),
    }
}

/// How to spoil a signature on purpose.
#[derive(Clone, Copy, Default)]
struct Spoil {
    /// The SignerInfo's digest algorithm (and the outer list's) is the
    /// Russian Streebog OID.
    russian_hash_oid: bool,
    /// The signature value left in OpenSSL's (Russian) order.
    russian_order: bool,
    /// One bit of the signature value flipped.
    flip: bool,
}

fn attribute(id: &str, value: Any) -> Attribute {
    Attribute {
        oid: oid(id),
        values: SetOfVec::try_from(vec![value]).unwrap(),
    }
}

/// A detached CAdES-BES SignedData over `content` by `cert`'s `key`, with
/// the signed attributes the engine requires.
fn signed_data(
    cert: &Certificate,
    chain: &[Certificate],
    key: &Key,
    content: &[u8],
    spoil: Spoil,
    at: u64,
    files: &Files,
) -> Vec<u8> {
    let family = key.family;
    let digest_alg = AlgorithmIdentifierOwned {
        oid: if spoil.russian_hash_oid {
            family.russian_hash_oid()
        } else {
            family.hash_oid()
        },
        parameters: None,
    };
    // SigningCertificateV2 { certs SEQUENCE OF ESSCertIDv2 { certHash } },
    // SHA-256 by default.
    let cert_hash = sha2::Sha256::digest(cert.to_der().unwrap()).to_vec();
    let ess_cert_id = vec![OctetString::new(cert_hash).unwrap()];
    let signing_certificate = vec![vec![ess_cert_id]];
    let signed_attrs = SetOfVec::try_from(vec![
        attribute(
            "1.2.840.113549.1.9.3",
            Any::encode_from(&oid("1.2.840.113549.1.7.1")).unwrap(),
        ),
        attribute(
            "1.2.840.113549.1.9.4",
            Any::encode_from(&OctetString::new(family.hash(content)).unwrap()).unwrap(),
        ),
        attribute(
            "1.2.840.113549.1.9.5",
            Any::encode_from(&UtcTime::from_unix_duration(Duration::from_secs(at)).unwrap())
                .unwrap(),
        ),
        attribute(
            "1.2.840.113549.1.9.16.2.47",
            Any::encode_from(&signing_certificate).unwrap(),
        ),
    ])
    .unwrap();
    // What the signature covers: the attributes' DER with the SET tag.
    let mut signature = if spoil.russian_order {
        key.sign_digest(&family.hash(&signed_attrs.to_der().unwrap()), files)
    } else {
        key.sign(&signed_attrs.to_der().unwrap(), files)
    };
    if spoil.flip {
        signature[10] ^= 0x01;
    }
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate.issuer.clone(),
            serial_number: cert.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: digest_alg.clone(),
        signed_attrs: Some(signed_attrs),
        // The key's OID for 2015-512 (as OpenSSL writes it for Russian
        // keys), the signature's for the others: both are accepted.
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: match family {
                Family::Gost2015_512 => family.key_oid(),
                _ => family.sig_oid(),
            },
            parameters: None,
        },
        signature: OctetString::new(signature).unwrap(),
        unsigned_attrs: None,
    };
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![digest_alg]).unwrap(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oid("1.2.840.113549.1.7.1"),
            econtent: None,
        },
        certificates: Some(
            SetOfVec::try_from(
                std::iter::once(cert)
                    .chain(chain)
                    .map(|c| CertificateChoices::Certificate(c.clone()))
                    .collect::<Vec<_>>(),
            )
            .map(CertificateSet)
            .unwrap(),
        ),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info]).unwrap()),
    };
    ContentInfo {
        content_type: oid("1.2.840.113549.1.7.2"),
        content: Any::encode_from(&sd).unwrap(),
    }
    .to_der()
    .unwrap()
}

/// Everything of one family: a root, its CRL, a valid and a revoked
/// signer.
struct Pki {
    root: Certificate,
    crl: CertificateList,
    ee: Certificate,
    ee_key: Key,
    revoked: Certificate,
}

const REVOKED_SERIAL: u8 = 3;

fn ee_extensions(roles: &[&str]) -> Vec<Extension> {
    let eku = ExtendedKeyUsage(
        std::iter::once("1.3.6.1.5.5.7.3.4")
            .chain(roles.iter().copied())
            .map(oid)
            .collect(),
    );
    vec![
        extension(
            "2.5.29.15",
            true,
            &KeyUsage(KeyUsages::DigitalSignature | KeyUsages::NonRepudiation),
        ),
        extension("2.5.29.37", false, &eku),
    ]
}

fn pki(family: Family, dir: &Path, files: &Files, at: u64) -> Option<Pki> {
    let root_key = Key::new(family, dir, files)?;
    let ee_key = Key::new(family, dir, files)?;
    let root_name =
        Name::from_str(&format!("CN=KZ TEST ROOT {family:?},O=Tapline Test,C=KZ")).unwrap();
    let root_ext = vec![
        extension(
            "2.5.29.19",
            true,
            &BasicConstraints {
                ca: true,
                path_len_constraint: None,
            },
        ),
        extension(
            "2.5.29.15",
            true,
            &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
        ),
    ];
    let root = certificate(
        &root_name, &root_key, &root_name, &root_key, 1, root_ext, at, files,
    );
    let subject = Name::from_str(&format!(
        "CN=ТЕСТОВ ТЕСТ,serialNumber=IIN{IIN},O=ТОО Тест,OU=BIN{BIN},C=KZ"
    ))
    .unwrap();
    // The head of the organisation: organisation and head roles.
    let roles = ["1.2.398.3.3.4.1.2", "1.2.398.3.3.4.1.2.1"];
    let ee = certificate(
        &root_name,
        &root_key,
        &subject,
        &ee_key,
        2,
        ee_extensions(&roles),
        at,
        files,
    );
    let revoked = certificate(
        &root_name,
        &root_key,
        &subject,
        &ee_key,
        REVOKED_SERIAL,
        ee_extensions(&roles),
        at,
        files,
    );
    let crl = crl(&root_name, &root_key, &[REVOKED_SERIAL], at, files);
    Some(Pki {
        root,
        crl,
        ee,
        ee_key,
        revoked,
    })
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tapline-kz-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn crypto(r: Refusal) -> Option<Reason> {
    Some(Reason::Crypto(r))
}

#[test]
fn kazakh_gost_signatures_verify_through_the_whole_chain() {
    for family in [Family::Gost2004, Family::Gost2015_256, Family::Gost2015_512] {
        let dir = temp_dir(&format!("{family:?}"));
        let files = Files(Cell::new(0));
        let at = now();
        let Some(pki) = pki(family, &dir, &files, at) else {
            return;
        };
        let anchors = [pki.root.clone()];
        let crls = [pki.crl.clone()];
        let content = "Заявление № 1: подписано ЭЦП НУЦ РК".as_bytes();
        let sign = |cert: &Certificate, spoil: Spoil| {
            signed_data(cert, &[], &pki.ee_key, content, spoil, at, &files)
        };
        let verify =
            |sig: &[u8], content: &[u8]| verify_crls(sig, Some(content), &anchors, &crls, at);

        // Valid: the chain of Kazakh certificates, the CRL, the identity.
        let good = sign(&pki.ee, Spoil::default());
        let v = verify(&good, content);
        assert!(v.valid, "{family:?}: {:?}", v.reason);
        assert_eq!(v.chain.len(), 2, "{family:?}: {:?}", v.chain);
        assert!(v.chain[1].contains("KZ TEST ROOT"), "{:?}", v.chain);
        assert_eq!(v.revocation.len(), 1, "{family:?}: checked by the CRL");
        let algorithm = v.algorithm.clone().unwrap();
        assert!(algorithm.contains("Казахстан"), "{algorithm}");
        let id = v.signer.clone().unwrap();
        assert_eq!(id.iin.as_deref(), Some(IIN));
        assert_eq!(id.bin.as_deref(), Some(BIN));
        assert!(id.kz_roles.contains(&KzRole::Head), "{:?}", id.kz_roles);
        assert_eq!(id.kz_role, Some("первый руководитель организации"));
        assert!(identity::matches(
            &id,
            &Applicant::KzOrganisation { bin: BIN }
        ));
        assert!(!identity::matches(&id, &Applicant::KzPerson { iin: IIN }));

        // The content changed after signing.
        let v = verify(&good, "Заявление № 2".as_bytes());
        assert_eq!(v.reason, crypto(Refusal::ContentChanged), "{family:?}");

        // One bit of the signature value.
        let v = verify(
            &sign(
                &pki.ee,
                Spoil {
                    flip: true,
                    ..Spoil::default()
                },
            ),
            content,
        );
        assert_eq!(v.reason, crypto(Refusal::BadSignature), "{family:?}");

        // A correct signature left in the Russian order is not a Kazakh one.
        let russian = sign(
            &pki.ee,
            Spoil {
                russian_order: true,
                ..Spoil::default()
            },
        );
        let v = verify(&russian, content);
        assert_eq!(v.reason, crypto(Refusal::BadSignature), "{family:?}");

        // The Russian hash OID with a Kazakh key.
        let v = verify(
            &sign(
                &pki.ee,
                Spoil {
                    russian_hash_oid: true,
                    ..Spoil::default()
                },
            ),
            content,
        );
        assert_eq!(v.reason, crypto(Refusal::DigestDoesNotFitKey), "{family:?}");

        // The same key in a certificate the CRL lists.
        let v = verify(&sign(&pki.revoked, Spoil::default()), content);
        assert_eq!(
            v.reason,
            Some(Reason::Trust(Distrust::Revoked)),
            "{family:?}"
        );

        // Without the CRL, or with another root, no pass.
        let v = verify_crls(&good, Some(content), &anchors, &[], at);
        assert_eq!(
            v.reason,
            Some(Reason::Trust(Distrust::RevocationUnavailable)),
            "{family:?}"
        );
        let v = verify_crls(&good, Some(content), &[], &crls, at);
        assert_eq!(
            v.reason,
            Some(Reason::Trust(Distrust::UntrustedChain)),
            "{family:?}"
        );
        // Certificate and CRL signatures are Kazakh too: the signer's
        // certificate with its signature in the Russian order does not
        // chain, and a CRL so signed is not the issuer's.
        let mut russian_cert = pki.ee.clone();
        let mut bytes = russian_cert.signature.raw_bytes().to_vec();
        bytes.reverse();
        russian_cert.signature = BitString::from_bytes(&bytes).unwrap();
        let v = verify(&sign(&russian_cert, Spoil::default()), content);
        assert_eq!(
            v.reason,
            Some(Reason::Trust(Distrust::UntrustedChain)),
            "{family:?}"
        );
        let mut russian_crl = pki.crl.clone();
        let mut bytes = russian_crl.signature.raw_bytes().to_vec();
        bytes.reverse();
        russian_crl.signature = BitString::from_bytes(&bytes).unwrap();
        let v = verify_crls(&good, Some(content), &anchors, &[russian_crl], at);
        assert_eq!(
            v.reason,
            Some(Reason::Trust(Distrust::RevocationUnavailable)),
            "{family:?}"
        );

        // Changed copies of the good signature: bit flips, changed bytes and
        // cuts never panic, and none passes unless it sits in the outer
        // digestAlgorithms list (informational per RFC 5652, within the
        // first hundred bytes).
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut passed = Vec::new();
        for round in 0..300 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut m = good.clone();
            let i = (seed as usize) % m.len();
            match round % 3 {
                0 => m[i] ^= 1 << ((seed >> 32) % 8),
                1 => m[i] = (seed >> 40) as u8,
                _ => m.truncate(i),
            }
            if m != good && verify(&m, content).valid {
                passed.push(i);
            }
        }
        assert!(
            passed.iter().all(|&i| i < 100),
            "{family:?}: changes that passed at {passed:?}"
        );

        // A Kazakh key whose parameters name another curve than its
        // algorithm's: refused before any arithmetic.
        let mut other_curve = pki.ee.clone();
        let other = match family {
            Family::Gost2015_512 => "1.2.643.7.1.2.1.2.2",
            _ => "1.2.643.2.2.35.2",
        };
        let seq = vec![oid(other)];
        other_curve
            .tbs_certificate
            .subject_public_key_info
            .algorithm
            .parameters = Some(Any::encode_from(&seq).unwrap());
        let v = verify(&sign(&other_curve, Spoil::default()), content);
        assert_eq!(
            v.reason,
            crypto(Refusal::UnsupportedAlgorithm),
            "{family:?}"
        );

        std::fs::remove_dir_all(&dir).ok();
    }
}

/// Kazakh RSA certificates are plain RSA with the Kazakh subject and
/// roles: OpenSSL makes the whole PKI (root, CRL, a signer with the right
/// to sign and an employee, CAdES-BES signatures), and the identity read
/// from them decides who may sign for the organisation.
#[test]
fn kazakh_rsa_certificates_carry_iin_bin_and_role() {
    let dir = temp_dir("rsa");
    let script = format!(
        r#"set -euo pipefail
export CADIR=$PWD/db MD=sha256
mkdir -p db/newcerts; : > db/index.txt; echo 1000 > db/serial; echo 01 > db/crlnumber
cat > kz.ext <<'X'
[signer]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = emailProtection,1.2.398.3.3.4.1.2,1.2.398.3.3.4.1.2.2
[employee]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = emailProtection,1.2.398.3.3.4.1.2,1.2.398.3.3.4.1.2.5
X
for k in root signer employee; do openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $k.key; done
openssl req -new -utf8 -key root.key -subj "/C=KZ/CN=KZ TEST ROOT RSA" -out root.csr
openssl ca -batch -selfsign -config {ca} -extensions v3_ca -keyfile root.key -in root.csr -days 3650 -notext -out root.pem 2>/dev/null
for e in signer employee; do
  openssl req -new -utf8 -key $e.key -subj "/C=KZ/O=ТОО Тест/OU=BIN{BIN}/serialNumber=IIN{IIN}/CN=ТЕСТОВ ТЕСТ" -out $e.csr
  openssl ca -batch -utf8 -preserveDN -config {ca} -extfile kz.ext -extensions $e -cert root.pem -keyfile root.key -days 365 -notext -in $e.csr -out $e.pem 2>/dev/null
  openssl cms -sign -binary -in data.txt -signer $e.pem -inkey $e.key -md sha256 -nosmimecap -cades -outform DER -out $e.p7s
done
openssl ca -config {ca} -cert root.pem -keyfile root.key -gencrl -out root.crl.pem 2>/dev/null
"#,
        ca = common::here().join("pki/ca.cnf").display(),
    );
    std::fs::write(dir.join("data.txt"), "Заявление № 1").unwrap();
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .current_dir(&dir)
        .env("OPENSSL_CONF", common::here().join("gost.cnf"))
        .output()
        .expect("bash runs");
    if !out.status.success() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs openssl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("could not make the RSA PKI: not run");
        return;
    }
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    let anchors = policy::certificates_from(&read("root.pem")).unwrap();
    let crls: Vec<CertificateList> = policy::crls_from(&read("root.crl.pem"), CrlSource::File)
        .unwrap()
        .into_iter()
        .map(|c| c.list)
        .collect();
    let data = read("data.txt");
    let at = now();

    let v = verify_crls(&read("signer.p7s"), Some(&data), &anchors, &crls, at);
    assert!(v.valid, "{:?}", v.reason);
    assert!(v.algorithm.as_deref().unwrap().starts_with("RSA"));
    let id = v.signer.unwrap();
    assert_eq!(id.iin.as_deref(), Some(IIN));
    assert_eq!(id.bin.as_deref(), Some(BIN));
    assert_eq!(id.kz_roles, vec![KzRole::RightToSign, KzRole::Organisation]);
    assert_eq!(id.kz_role, Some("лицо с правом подписи"));
    assert!(identity::matches(
        &id,
        &Applicant::KzOrganisation { bin: BIN }
    ));

    // An employee of the same organisation: a valid signature, the same
    // BIN, but not the organisation's.
    let v = verify_crls(&read("employee.p7s"), Some(&data), &anchors, &crls, at);
    assert!(v.valid, "{:?}", v.reason);
    let id = v.signer.unwrap();
    assert_eq!(id.bin.as_deref(), Some(BIN));
    assert_eq!(id.kz_roles, vec![KzRole::Employee, KzRole::Organisation]);
    assert!(!identity::matches(
        &id,
        &Applicant::KzOrganisation { bin: BIN }
    ));
    assert!(!identity::matches(&id, &Applicant::KzPerson { iin: IIN }));
    std::fs::remove_dir_all(&dir).ok();
}
