//! A self-hosted captcha with two ways to pass it. Each challenge is a
//! database row (so any process can check it), lives ten minutes and is
//! spent by the first attempt, right or wrong.
//!
//! - With JavaScript the browser proves work instead of reading a picture
//!   (WCAG 2.1 1.1.1: nothing to see, so a screen reader user passes as
//!   anyone else): it finds a nonce such that SHA-256(`token:nonce`) starts
//!   with [`PROOF_BITS`] zero bits, about a million hashes, which the server
//!   checks with one. The token is random and known only from the row, so
//!   a proof cannot be made in advance or reused.
//! - Without JavaScript: five digits drawn as distorted strokes in SVG with
//!   noise lines, typed by the person.

use crate::store::{Db, now, now_ts, sha256_hex, ts};
use rand::Rng;
use std::fmt::Write;

/// Where answers come from. Tests pick a known answer so they can pass the
/// registration form; a deployment always draws at random.
#[derive(Debug, Clone, Default)]
pub enum AnswerSource {
    #[default]
    Random,
    Fixed(String),
}

impl AnswerSource {
    fn next(&self) -> String {
        match self {
            Self::Random => {
                let mut rng = rand::rng();
                (0..5)
                    .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                    .collect()
            }
            Self::Fixed(s) => s.clone(),
        }
    }
}

const LIFETIME: time::Duration = time::Duration::minutes(10);

/// Create a challenge and return its token (the picture's URL part).
pub async fn issue(db: &Db, tenant: &str, source: &AnswerSource) -> Result<String, sqlx::Error> {
    let token = super::random_token();
    sqlx::query(
        "INSERT INTO captchas (tenant_id, token_hash, answer, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(tenant)
    .bind(sha256_hex(&token))
    .bind(source.next())
    .bind(now_ts())
    .bind(ts(now() + LIFETIME))
    .execute(&db.pool)
    .await?;
    Ok(token)
}

/// The SVG of a live challenge, or None when it is unknown or spent.
pub async fn picture(db: &Db, tenant: &str, token: &str) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT answer FROM captchas WHERE tenant_id = $1 AND token_hash = $2 \
         AND used_at IS NULL AND expires_at > $3",
    )
    .bind(tenant)
    .bind(sha256_hex(token))
    .bind(now_ts())
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|(a,)| render(&a, &mut rand::rng())))
}

/// Zero bits a proof of work must start with by default: about a million
/// SHA-256 in the browser (a second or two on a phone), each registration
/// attempt a bot makes costs the same, and checking costs the server one hash.
pub const PROOF_BITS: u32 = 20;

/// Whether `nonce` proves `bits` of work on `token`.
pub fn proof_ok(token: &str, nonce: &str, bits: u32) -> bool {
    use sha2::{Digest, Sha256};
    if nonce.is_empty() || nonce.len() > 16 || !nonce.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let digest = Sha256::digest(format!("{token}:{nonce}").as_bytes());
    leading_zero_bits(&digest) >= bits
}

fn leading_zero_bits(bytes: &[u8]) -> u32 {
    let mut n = 0;
    for b in bytes {
        if *b == 0 {
            n += 8;
        } else {
            return n + b.leading_zeros();
        }
    }
    n
}

/// Find a proof the way the browser's script does (for tests and tools).
pub fn solve(token: &str, bits: u32) -> String {
    (0u64..)
        .map(|n| n.to_string())
        .find(|n| proof_ok(token, n, bits))
        .expect("some nonce works")
}

/// Spend the challenge and say whether it was passed: by `proof` (the
/// browser's nonce, `bits` of work) when one is given, else by the typed
/// digits `input`.
pub async fn check(
    db: &Db,
    tenant: &str,
    token: &str,
    input: &str,
    proof: (&str, u32),
) -> Result<bool, sqlx::Error> {
    let now = now_ts();
    let row: Option<(String,)> = sqlx::query_as(
        "UPDATE captchas SET used_at = $1 WHERE tenant_id = $2 AND token_hash = $3 \
         AND used_at IS NULL AND expires_at > $1 RETURNING answer",
    )
    .bind(&now)
    .bind(tenant)
    .bind(sha256_hex(token))
    .fetch_optional(&db.pool)
    .await?;
    if row.is_none() {
        return Ok(false);
    }
    let (nonce, bits) = proof;
    if !nonce.trim().is_empty() {
        return Ok(proof_ok(token, nonce.trim(), bits));
    }
    let input: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    Ok(row.is_some_and(|(a,)| a == input))
}

/// Strokes of each digit on a 10×16 grid.
const GLYPHS: [&[&[(f32, f32)]]; 10] = [
    &[&[
        (2., 1.),
        (8., 1.),
        (9., 4.),
        (9., 12.),
        (8., 15.),
        (2., 15.),
        (1., 12.),
        (1., 4.),
        (2., 1.),
    ]],
    &[&[(3., 4.), (6., 1.), (6., 15.)], &[(3., 15.), (9., 15.)]],
    &[&[
        (1., 4.),
        (3., 1.),
        (7., 1.),
        (9., 4.),
        (8., 8.),
        (1., 15.),
        (9., 15.),
    ]],
    &[
        &[(1., 2.), (4., 1.), (8., 2.), (9., 5.), (7., 8.), (4., 8.)],
        &[(7., 8.), (9., 11.), (8., 14.), (4., 15.), (1., 14.)],
    ],
    &[&[(7., 15.), (7., 1.), (1., 11.), (9., 11.)]],
    &[&[
        (9., 1.),
        (2., 1.),
        (1., 7.),
        (6., 6.),
        (9., 9.),
        (9., 12.),
        (7., 15.),
        (1., 14.),
    ]],
    &[&[
        (8., 1.),
        (4., 2.),
        (1., 7.),
        (1., 12.),
        (3., 15.),
        (7., 15.),
        (9., 12.),
        (8., 9.),
        (5., 8.),
        (1., 10.),
    ]],
    &[&[(1., 1.), (9., 1.), (4., 15.)]],
    &[&[
        (5., 8.),
        (2., 6.),
        (2., 3.),
        (5., 1.),
        (8., 3.),
        (8., 6.),
        (5., 8.),
        (1., 11.),
        (2., 14.),
        (5., 15.),
        (8., 14.),
        (9., 11.),
        (5., 8.),
    ]],
    &[&[
        (9., 6.),
        (5., 8.),
        (2., 7.),
        (1., 4.),
        (3., 1.),
        (7., 1.),
        (9., 4.),
        (9., 9.),
        (6., 14.),
        (2., 15.),
    ]],
];

/// Draw `answer` (digits) as an SVG picture, 200×70.
pub fn render(answer: &str, rng: &mut impl Rng) -> String {
    let mut svg = String::from(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"200\" height=\"70\" viewBox=\"0 0 200 70\">\
         <rect width=\"200\" height=\"70\" fill=\"#f4f4f0\"/>",
    );
    // Noise first so digits stay on top and readable for people.
    for _ in 0..6 {
        let _ = write!(
            svg,
            "<path d=\"M{:.1} {:.1} Q{:.1} {:.1} {:.1} {:.1}\" stroke=\"#{:02x}{:02x}{:02x}\" stroke-width=\"{:.1}\" fill=\"none\"/>",
            rng.random_range(0.0..40.0f32),
            rng.random_range(5.0..65.0f32),
            rng.random_range(60.0..140.0f32),
            rng.random_range(-20.0..90.0f32),
            rng.random_range(160.0..200.0f32),
            rng.random_range(5.0..65.0f32),
            rng.random_range(90..170u8),
            rng.random_range(90..170u8),
            rng.random_range(90..170u8),
            rng.random_range(1.0..2.5f32),
        );
    }
    for (i, ch) in answer.chars().enumerate() {
        let Some(d) = ch.to_digit(10) else { continue };
        let scale = rng.random_range(2.6..3.3f32);
        let angle = rng.random_range(-0.3..0.3f32);
        let (sin, cos) = angle.sin_cos();
        let cx = 22.0 + i as f32 * 38.0 + rng.random_range(-3.0..3.0f32);
        let cy = 35.0 + rng.random_range(-5.0..5.0f32);
        let colour = format!(
            "#{:02x}{:02x}{:02x}",
            rng.random_range(0..80u8),
            rng.random_range(0..80u8),
            rng.random_range(20..110u8)
        );
        for stroke in GLYPHS[d as usize] {
            let mut d_attr = String::new();
            for (k, (x, y)) in stroke.iter().enumerate() {
                let jx = (x - 5.0 + rng.random_range(-0.4..0.4f32)) * scale;
                let jy = (y - 8.0 + rng.random_range(-0.4..0.4f32)) * scale;
                let px = cx + jx * cos - jy * sin;
                let py = cy + jx * sin + jy * cos;
                let _ = write!(d_attr, "{}{px:.1} {py:.1}", if k == 0 { "M" } else { " L" });
            }
            let _ = write!(
                svg,
                "<path d=\"{d_attr}\" stroke=\"{colour}\" stroke-width=\"{:.1}\" fill=\"none\" stroke-linecap=\"round\" stroke-linejoin=\"round\"/>",
                rng.random_range(2.8..4.0f32)
            );
        }
    }
    for _ in 0..40 {
        let _ = write!(
            svg,
            "<circle cx=\"{:.0}\" cy=\"{:.0}\" r=\"1.2\" fill=\"#888\"/>",
            rng.random_range(0.0..200.0f32),
            rng.random_range(0.0..70.0f32)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picture_has_one_path_per_stroke_and_differs_each_time() {
        let mut rng = rand::rng();
        let a = render("18", &mut rng);
        let b = render("18", &mut rng);
        // "1" has two strokes, "8" one, plus six noise curves.
        assert_eq!(a.matches("<path").count(), 6 + 2 + 1);
        assert_ne!(a, b, "two drawings of the same answer must differ");
        assert!(a.starts_with("<svg") && a.ends_with("</svg>"));
    }

    #[test]
    fn a_proof_is_checked_against_its_token_and_difficulty() {
        let token = "tok";
        let nonce = solve(token, 12);
        assert!(proof_ok(token, &nonce, 12));
        // Exactly as much work as it proves, no more.
        use sha2::{Digest, Sha256};
        let zeros = leading_zero_bits(&Sha256::digest(format!("{token}:{nonce}").as_bytes()));
        assert!(zeros >= 12);
        assert!(!proof_ok(token, &nonce, zeros + 1));
        assert!(!proof_ok(token, "", 0));
        assert!(!proof_ok(token, "12a", 0));
        assert_eq!(leading_zero_bits(&[0, 0b0001_0000, 0xff]), 11);
    }

    #[test]
    fn random_answers_are_five_digits() {
        let s = AnswerSource::Random.next();
        assert_eq!(s.len(), 5);
        assert!(s.chars().all(|c| c.is_ascii_digit()));
    }
}
