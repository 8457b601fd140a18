//! Gathering revocation evidence before [`crate::policy::verify`]: CRLs
//! from each certificate's distribution points and OCSP answers from the
//! responders its AIA names, over plain HTTP (what CAs publish; the data
//! is signed, so TLS adds nothing the checks do not), with a size cap, a
//! timeout and no redirect to another scheme. Everything fetched is kept
//! raw with its URL, time and (OCSP) the nonce sent, so the host can store
//! it and the verdict can be re-run from it. Nothing fetched is trusted
//! here: whatever failed is only noted, and verification refuses what it
//! lacks.

use crate::cms;
use crate::ocsp::{self, OcspEvidence};
use crate::policy::{CrlSource, Evidence, FetchFailure, Revocation, RevocationPolicy, crls_from};
use crate::raw::{self, Cert};
use std::time::Duration;
use x509_cert::Certificate;
use x509_cert::ext::pkix::CrlDistributionPoints;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};

/// The largest CRL or OCSP answer taken.
pub const MAX_BODY: usize = 4 << 20;
/// Per request, connecting included.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Distribution points and responders tried per certificate.
const MAX_URLS: usize = 2;
/// No new request starts after this much time in one gathering: a
/// signature's check must not hang on a slow CA for minutes.
pub const TOTAL_BUDGET: Duration = Duration::from_secs(15);

/// An HTTP client set up for revocation data; reuse one.
#[derive(Clone, Debug)]
pub struct Fetcher {
    client: reqwest::Client,
}

impl Fetcher {
    pub fn new() -> Result<Fetcher, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::custom(|a| {
                if a.previous().len() >= 3 || a.url().scheme() != "http" {
                    a.stop()
                } else {
                    a.follow()
                }
            }))
            .build()?;
        Ok(Fetcher { client })
    }

    /// Evidence for every certificate `signature` carries (CMS in DER,
    /// base64 or PEM), as `policy` asks, judged at `at` where it must
    /// choose (under [`Revocation::Either`] a CRL is fetched only when no
    /// usable OCSP answer came). Never fails: what could not be had is
    /// listed in [`Evidence::failures`].
    pub async fn gather(
        &self,
        signature: &[u8],
        anchors: &[Certificate],
        policy: &RevocationPolicy,
        at: u64,
    ) -> Evidence {
        let mut evidence = Evidence::default();
        if !policy.fetch {
            return evidence;
        }
        let Some(pool) = cms::decode_input(signature)
            .ok()
            .and_then(|der| raw::cms_certificates(&der))
        else {
            return evidence;
        };
        let issuers: Vec<Cert> = pool
            .iter()
            .cloned()
            .chain(anchors.iter().map(Cert::from_decoded))
            .collect();
        let mut crl_urls_done: Vec<String> = Vec::new();
        let deadline = std::time::Instant::now() + TOTAL_BUDGET;
        let out_of_time = |url: &str| FetchFailure {
            url: url.to_string(),
            error: "not tried: the time for fetching was spent".into(),
        };
        for cert in &pool {
            if anchors.contains(&cert.cert) {
                continue;
            }
            let candidates = issuers.iter().filter(|i| {
                i.cert != cert.cert
                    && i.cert.tbs_certificate.subject == cert.cert.tbs_certificate.issuer
            });
            let mut answered = false;
            if policy.method != Revocation::Crl {
                for issuer in candidates.take(MAX_URLS) {
                    for url in ocsp::responder_urls(&cert.cert).into_iter().take(MAX_URLS) {
                        if std::time::Instant::now() > deadline {
                            evidence.failures.push(out_of_time(&url));
                            continue;
                        }
                        match self.ocsp(&url, &cert.cert, &issuer.cert).await {
                            Ok(e) => {
                                answered |= ocsp::check(&e, &cert.cert, &issuer.cert, at).is_ok();
                                evidence.ocsp.push(e);
                            }
                            Err(error) => evidence.failures.push(FetchFailure { url, error }),
                        }
                        if answered {
                            break;
                        }
                    }
                }
            }
            let want_crl = match policy.method {
                Revocation::Crl | Revocation::Both => true,
                Revocation::Either => !answered,
                Revocation::Ocsp => false,
            };
            if !want_crl {
                continue;
            }
            for url in distribution_points(&cert.cert).into_iter().take(MAX_URLS) {
                if crl_urls_done.contains(&url) {
                    continue;
                }
                crl_urls_done.push(url.clone());
                if std::time::Instant::now() > deadline {
                    evidence.failures.push(out_of_time(&url));
                    continue;
                }
                match self.crl(&url).await {
                    Ok(crls) => evidence.crls.extend(crls),
                    Err(error) => evidence.failures.push(FetchFailure { url, error }),
                }
            }
        }
        evidence
    }

    /// One OCSP request with a fresh nonce, POSTed.
    pub async fn ocsp(
        &self,
        url: &str,
        cert: &Certificate,
        issuer: &Certificate,
    ) -> Result<OcspEvidence, String> {
        let nonce: [u8; ocsp::NONCE_LEN] = rand::random();
        let request = ocsp::request(cert, issuer, &nonce).map_err(|e| e.to_string())?;
        let response = self
            .body(
                self.client
                    .post(url)
                    .header("Content-Type", "application/ocsp-request")
                    .body(request),
            )
            .await?;
        Ok(OcspEvidence {
            url: url.to_string(),
            nonce: nonce.to_vec(),
            response,
            fetched_at: now(),
        })
    }

    /// The CRLs at `url` (DER or PEM).
    pub async fn crl(&self, url: &str) -> Result<Vec<crate::policy::Crl>, String> {
        let bytes = self.body(self.client.get(url)).await?;
        crls_from(
            &bytes,
            CrlSource::Url {
                url: url.to_string(),
                fetched_at: now(),
            },
        )
        .map_err(|e| format!("not a CRL: {e}"))
    }

    async fn body(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>, String> {
        let mut resp = request.send().await.map_err(|e| chain(&e))?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err("too large".into());
        }
        let mut out = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| chain(&e))? {
            if out.len() + chunk.len() > MAX_BODY {
                return Err("too large".into());
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

/// [`Fetcher::gather`] with a client made for the occasion.
pub async fn gather(
    signature: &[u8],
    anchors: &[Certificate],
    policy: &RevocationPolicy,
    at: u64,
) -> Evidence {
    match Fetcher::new() {
        Ok(f) => f.gather(signature, anchors, policy, at).await,
        Err(e) => Evidence {
            failures: vec![FetchFailure {
                url: String::new(),
                error: e.to_string(),
            }],
            ..Evidence::default()
        },
    }
}

/// An error with its causes, which reqwest keeps apart.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The http:// URLs of a certificate's CRL distribution points.
pub fn distribution_points(cert: &Certificate) -> Vec<String> {
    let Ok(Some((_, dps))) = cert.tbs_certificate.get::<CrlDistributionPoints>() else {
        return Vec::new();
    };
    dps.0
        .iter()
        .filter_map(|dp: &DistributionPoint| match &dp.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(names),
            _ => None,
        })
        .flatten()
        .filter_map(|n| match n {
            GeneralName::UniformResourceIdentifier(u) => Some(u.as_str().to_string()),
            _ => None,
        })
        .filter(|u| u.starts_with("http://"))
        .collect()
}
