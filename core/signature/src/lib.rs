//! Signature verification, kept apart from the host so it can be tested,
//! fuzzed and benchmarked on its own: every signature the portal accepts
//! goes through here.
//!
//! This first part holds the GOST R 34.10-2012 elliptic-curve check (the
//! 2001 curves are its 256-bit paramsets). No maintained crate verifies
//! GOST R 34.10, so it is written here, verify only, on `crypto-bigint`'s
//! Montgomery arithmetic; everything else (ASN.1, CMS, X.509, hashes, RSA)
//! is to come from RustCrypto's crates.

pub mod cms;
pub mod gost;
