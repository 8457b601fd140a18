//! `tapline signature verify`: one signature's verdict for an operator, by
//! the same engine the portal uses, against a tenant's trust as the tenant
//! loads it (`[signature]` of its tenant.toml; by default the certificates
//! and CRLs in `tenants/<slug>/trust/`) and anchors and CRLs given on the
//! command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tapline_signature::fetch;
use tapline_signature::policy::{self, Evidence, Policy, Purpose, Revocation, RevocationPolicy};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The signed file.
    #[arg(long)]
    pub content: PathBuf,
    /// The signature: CMS in DER, base64 or PEM.
    #[arg(long)]
    pub signature: PathBuf,
    /// Trust this tenant's anchors and CRLs (tenants/<slug>/trust/).
    #[arg(long, required_unless_present = "trust")]
    pub tenant: Option<String>,
    #[arg(long, env = "TAPLINE_TENANTS", default_value = "tenants")]
    pub tenants: PathBuf,
    /// Trusted root certificates (PEM or DER); repeatable.
    #[arg(long, num_args = 1..)]
    pub trust: Vec<PathBuf>,
    /// CRLs (PEM or DER); repeatable.
    #[arg(long, num_args = 1..)]
    pub crl: Vec<PathBuf>,
    /// Judge at this time (RFC 3339) instead of now.
    #[arg(long)]
    pub at: Option<String>,
    /// Print the verdict as JSON.
    #[arg(long)]
    pub json: bool,
    /// Which revocation evidence counts (default: the tenant's, else either).
    #[arg(long, value_parser = ["crl", "ocsp", "either", "both"])]
    pub revocation: Option<String>,
    /// Fetch nothing: only the CRL files given or configured count.
    #[arg(long)]
    pub offline: bool,
    /// What the signature is for: a document (sign) or a login (authenticate).
    #[arg(long, default_value = "sign", value_parser = ["sign", "authenticate"])]
    pub purpose: String,
    /// Judge with revocation evidence stored earlier (JSON from
    /// --save-evidence) instead of fetching: the same verdict again.
    #[arg(long, conflicts_with = "save_evidence")]
    pub evidence: Option<PathBuf>,
    /// Write the revocation evidence used (CRLs, OCSP answers) as JSON.
    #[arg(long)]
    pub save_evidence: Option<PathBuf>,
}

const USAGE: u8 = 2;

fn usage(msg: String) -> ExitCode {
    eprintln!("{msg}");
    ExitCode::from(USAGE)
}

pub async fn verify(args: VerifyArgs) -> ExitCode {
    let (trust, crl_files) = (args.trust, args.crl);
    let (mut anchors, mut crls) = (Vec::new(), Vec::new());
    let mut revocation = RevocationPolicy::default();
    if let Some(slug) = &args.tenant {
        if slug.is_empty() || slug.contains(['/', '\\']) || slug.starts_with('.') {
            return usage(format!("{slug}: not a tenant name"));
        }
        // The tenant loads as the server loads it, so the operator sees
        // the same trust the portal uses, and `tapline check`'s problems.
        match crate::tenant::load_tenant(&args.tenants.join(slug)) {
            Ok(t) => {
                anchors = t.trust.anchors;
                crls = t.trust.crls;
                revocation = t.trust.revocation;
            }
            Err(problems) => {
                let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
                return usage(format!(
                    "tenant {slug} does not load:\n{}",
                    lines.join("\n")
                ));
            }
        }
    }
    for p in &trust {
        match std::fs::read(p)
            .map_err(|e| e.to_string())
            .and_then(|b| policy::certificates_from(&b).map_err(|e| e.to_string()))
        {
            Ok(c) => anchors.extend(c),
            Err(e) => return usage(format!("{}: not a certificate: {e}", p.display())),
        }
    }
    for p in &crl_files {
        match std::fs::read(p)
            .map_err(|e| e.to_string())
            .and_then(|b| policy::crl_files_from(&b).map_err(|e| e.to_string()))
        {
            Ok(c) => crls.extend(c),
            Err(e) => return usage(format!("{}: not a CRL: {e}", p.display())),
        }
    }
    if anchors.is_empty() {
        return usage(
            "no trust anchors: give --tenant SLUG (with tenants/<slug>/trust/) or --trust PEM"
                .into(),
        );
    }
    let at = match &args.at {
        Some(s) => match OffsetDateTime::parse(s, &Rfc3339) {
            Ok(t) if t.unix_timestamp() >= 0 => t.unix_timestamp() as u64,
            _ => {
                return usage(format!(
                    "--at {s}: expected RFC 3339, e.g. 2026-03-13T10:00:00+03:00"
                ));
            }
        },
        None => OffsetDateTime::now_utc().unix_timestamp().max(0) as u64,
    };
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let content = match read(&args.content) {
        Ok(b) => b,
        Err(e) => return usage(e),
    };
    let signature = match read(&args.signature) {
        Ok(b) => b,
        Err(e) => return usage(e),
    };
    if let Some(m) = &args.revocation {
        revocation.method = match m.as_str() {
            "crl" => Revocation::Crl,
            "ocsp" => Revocation::Ocsp,
            "both" => Revocation::Both,
            _ => Revocation::Either,
        };
    }
    if args.offline {
        revocation.fetch = false;
    }
    let evidence = match &args.evidence {
        // Stored evidence is judged as it was: nothing is fetched or added.
        Some(p) => match read(p).and_then(|b| {
            serde_json::from_slice::<Evidence>(&b).map_err(|e| format!("{}: {e}", p.display()))
        }) {
            Ok(e) => e,
            Err(e) => return usage(e),
        },
        None => {
            let mut e = if revocation.fetch {
                fetch::gather(&signature, &anchors, &revocation, at).await
            } else {
                Evidence::default()
            };
            e.crls.extend(crls);
            e
        }
    };
    if let Some(p) = &args.save_evidence {
        let json = serde_json::to_vec_pretty(&evidence).unwrap_or_default();
        if let Err(e) = std::fs::write(p, json) {
            return usage(format!("{}: {e}", p.display()));
        }
    }
    let purpose = if args.purpose == "authenticate" {
        Purpose::Authenticate
    } else {
        Purpose::Sign
    };
    let policy = Policy {
        revocation: revocation.method,
        purpose,
    };
    let v = policy::verify(&signature, Some(&content), &anchors, &policy, &evidence, at);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&crate::signing::report::json(&v)).unwrap_or_default()
        );
    } else {
        print!("{}", crate::signing::report::human(&v));
    }
    if v.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
