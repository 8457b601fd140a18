//! Signature verification, kept apart from the host so it can be tested,
//! fuzzed and benchmarked on its own: every signature the portal accepts
//! goes through here.
//!
//! - [`gost`]: the GOST R 34.10-2012 elliptic-curve check. No maintained
//!   crate verifies GOST R 34.10, so it is written here, verify only, on
//!   `crypto-bigint`'s Montgomery arithmetic.
//! - [`cms`]: the cryptographic check of a CMS SignedData (CAdES-BES),
//!   Russian and Kazakh GOST and RSA.
//! - [`policy`]: trust: the chain to the tenant's anchors (every path tried
//!   when several issuers fit), validity at the time of receipt, key usage
//!   and purpose, revocation by CRL and/or OCSP as the tenant's policy
//!   says; the verdict. Pure: re-run from stored evidence.
//! - [`fetch`]: the async step before it that gets CRLs and OCSP answers
//!   over HTTP from the URLs the certificates name, kept raw as evidence.
//! - [`ocsp`]: the OCSP request and the pure check of an answer.
//! - [`raw`]: DER as received, for signatures over the exact signed bytes.
//! - [`anchors`]: what makes a configured trust anchor unusable.
//! - [`identity`]: who the certificate names, and whether that is the
//!   applicant.
//!
//! ASN.1, X.509, CMS, the hashes and RSA come from RustCrypto's crates.

pub mod anchors;
pub mod cms;
pub mod fetch;
pub mod gost;
pub mod identity;
pub mod ocsp;
pub mod policy;
pub mod raw;

/// The certificate types the host keeps for a tenant, so it needs no
/// X.509 crate of its own.
pub use x509_cert::Certificate;
pub use x509_cert::crl::CertificateList;
