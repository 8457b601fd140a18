//! What the fuzz target does with one input, in one place: the target
//! (`fuzz_targets/signature.rs`) calls [`fuzz_one`], and so does
//! `core/signature/tests/fuzz_corpus.rs`, which includes this file as a
//! module and replays the committed corpus on stable Rust in CI. The two
//! cannot drift.
//!
//! One input is a file a user could upload or a tenant could configure: a
//! signature (DER, base64 or PEM), certificates or CRLs. It goes through
//! every entry point that reads such bytes:
//!
//! - `cms::decode_input` and `cms::check`, attached (no content given) and
//!   detached (the fixture's content, and an empty one);
//! - `policy::certificates_from` with `Identity::of`, `serial_hex` and
//!   `name_line` on each certificate; `policy::crl_files_from`;
//! - `ocsp::check` of the input as an OCSP answer about each fixture root;
//! - `policy::verify` of the input as a signature against the fixed anchors
//!   and CRLs below (the three test PKIs of `tests/pki/mkpki.sh`: GOST-256
//!   paramset A, GOST-512 paramset A, RSA-2048), at a fixed time;
//! - certificates read from the input as the only anchors, and CRLs read
//!   from it beside the fixed ones, for a real signature of each PKI: chain
//!   building and CRL checks on hostile certificates and CRLs.
//!
//! The property is that nothing panics, and that each input is quick.

use std::sync::OnceLock;
use tapline_signature::identity::{self, Identity};
use tapline_signature::policy::{Evidence, Policy, Revocation};
use tapline_signature::{cms, ocsp, policy};

/// When the fixtures are judged: 2026-12-02 00:00:00 UTC, a few hours
/// after they were made. Every certificate and CRL of the fixtures is
/// valid then (the end-entity certificates until 2029).
pub const AT: u64 = 1_796_169_600;

/// What every fixture signature signs (mkpki.sh's `data.txt`).
pub const CONTENT: &[u8] = include_bytes!("../fixtures/data.txt");

const KINDS: [Pki; 3] = [
    Pki {
        root: include_bytes!("../fixtures/gost256-root.pem"),
        root_crl: include_bytes!("../fixtures/gost256-root.crl"),
        inter_crl: include_bytes!("../fixtures/gost256-inter.crl"),
        signature: include_bytes!("../seeds/valid-gost256-detached.p7s"),
    },
    Pki {
        root: include_bytes!("../fixtures/gost512-root.pem"),
        root_crl: include_bytes!("../fixtures/gost512-root.crl"),
        inter_crl: include_bytes!("../fixtures/gost512-inter.crl"),
        signature: include_bytes!("../seeds/valid-gost512-detached.p7s"),
    },
    Pki {
        root: include_bytes!("../fixtures/rsa-root.pem"),
        root_crl: include_bytes!("../fixtures/rsa-root.crl"),
        inter_crl: include_bytes!("../fixtures/rsa-inter.crl"),
        signature: include_bytes!("../seeds/valid-rsa-detached.p7s"),
    },
];

struct Pki {
    root: &'static [u8],
    root_crl: &'static [u8],
    inter_crl: &'static [u8],
    /// A valid detached signature of `CONTENT` by this PKI's end entity.
    signature: &'static [u8],
}

/// The tenant's trust as the fuzz target sees it: all three roots and
/// all six CRLs.
pub struct Trust {
    pub anchors: Vec<x509_cert::Certificate>,
    /// The six CRLs, as a tenant's CRL files.
    pub evidence: Evidence,
}

/// CRLs decide: the fixtures name no OCSP responder.
const POLICY: Policy = Policy {
    revocation: Revocation::Crl,
    purpose: policy::Purpose::Sign,
};

pub fn trust() -> &'static Trust {
    static TRUST: OnceLock<Trust> = OnceLock::new();
    TRUST.get_or_init(|| {
        let mut anchors = Vec::new();
        let mut crls = Vec::new();
        for pki in &KINDS {
            anchors.extend(policy::certificates_from(pki.root).expect("fixture root"));
            crls.extend(policy::crl_files_from(pki.root_crl).expect("fixture root CRL"));
            crls.extend(policy::crl_files_from(pki.inter_crl).expect("fixture CRL"));
        }
        Trust {
            anchors,
            evidence: Evidence {
                crls,
                ..Evidence::default()
            },
        }
    })
}

/// What one input turned out to be, for the corpus test's checks on the
/// seeds; the fuzz target ignores it.
#[derive(Debug)]
pub struct Outcome {
    /// The input as a signature of `CONTENT` under the fixed trust.
    pub verdict: policy::Verdict,
    /// How many certificates and CRLs the input parsed as.
    pub certificates: usize,
    pub crls: usize,
    /// For each PKI whose real signature was judged with the input's
    /// certificates as anchors: whether it was valid.
    pub as_anchors: Vec<bool>,
}

/// Runs one input through everything (see the module's documentation).
pub fn fuzz_one(data: &[u8]) -> Outcome {
    let trust = trust();

    // The CMS check alone, with no content, the real one and an empty one.
    if let Ok(der) = cms::decode_input(data) {
        for content in [None, Some(&b""[..])] {
            if let Ok(signed) = cms::check(&der, content) {
                read(&signed.signer);
                signed.certificates.iter().for_each(read);
            }
        }
    }

    // Certificates and CRLs, as a tenant's trust folder holds them.
    let certificates = policy::certificates_from(data).unwrap_or_default();
    certificates.iter().for_each(read);
    let crls = policy::crl_files_from(data).unwrap_or_default();
    for crl in &crls {
        identity::name_line(&crl.list.tbs_cert_list.issuer);
    }

    // The input as an OCSP answer about each fixture root (the parser and
    // every check before the signature's).
    let answer = ocsp::OcspEvidence {
        url: "http://127.0.0.1/ocsp".into(),
        nonce: vec![7; 16],
        response: data.to_vec(),
        fetched_at: AT,
    };
    for root in &trust.anchors {
        let _ = ocsp::check(&answer, root, root, AT);
    }

    // The whole verification of the input as a signature (this is the
    // detached check with the real content).
    let verdict = policy::verify(
        data,
        Some(CONTENT),
        &trust.anchors,
        &POLICY,
        &trust.evidence,
        AT,
    );
    read_verdict(&verdict);

    // The input's certificates as the anchors, and its CRLs among the
    // fixed ones, for real signatures.
    let mut as_anchors = Vec::new();
    if !certificates.is_empty() || !crls.is_empty() {
        let mut all = Evidence {
            crls: crls.clone(),
            ..Evidence::default()
        };
        all.crls.extend(trust.evidence.crls.iter().cloned());
        for pki in &KINDS {
            if !certificates.is_empty() {
                let v = policy::verify(
                    pki.signature,
                    Some(CONTENT),
                    &certificates,
                    &POLICY,
                    &all,
                    AT,
                );
                read_verdict(&v);
                as_anchors.push(v.valid);
            }
            if !crls.is_empty() {
                let v = policy::verify(
                    pki.signature,
                    Some(CONTENT),
                    &trust.anchors,
                    &POLICY,
                    &all,
                    AT,
                );
                read_verdict(&v);
            }
        }
    }

    Outcome {
        verdict,
        certificates: certificates.len(),
        crls: crls.len(),
        as_anchors,
    }
}

/// Everything the portal reads of a certificate.
fn read(cert: &x509_cert::Certificate) {
    let id = Identity::of(cert);
    let _ = id.person_name();
    for applicant in [
        identity::Applicant::Individual {
            snils: Some("123-456-789 64"),
            inn: Some("770312345678"),
        },
        identity::Applicant::Legal {
            inn: "7703123457",
            ogrn: "1027700123450",
        },
        identity::Applicant::KzPerson {
            iin: "123456789012",
        },
    ] {
        identity::matches(&id, &applicant);
    }
    identity::serial_hex(cert);
    identity::name_line(&cert.tbs_certificate.subject);
    identity::name_line(&cert.tbs_certificate.issuer);
}

/// What is shown and stored of a verdict.
fn read_verdict(v: &policy::Verdict) {
    if let Some(r) = v.reason {
        let _ = (r.code(), r.message());
    }
    if let Some(id) = &v.signer {
        let _ = id.person_name();
    }
}
