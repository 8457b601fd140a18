//! GOST R 34.10-2012 signature verification over the standard curves.
//!
//! The equation is the standard's (and OpenSSL's GOST engine's): with the
//! digest read as a little-endian integer e (mod q, 0 taken as 1),
//! v = e⁻¹, z1 = s·v and z2 = −r·v (mod q), the signature is valid when
//! x(z1·P + z2·Q) mod q = r. Everything here works on public data, so
//! variable-time arithmetic is fine; what matters is refusing every
//! malformed input before it reaches the arithmetic, and never panicking.

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{NonZero, Odd, U256, U512, Uint};
use std::cmp::Ordering;
use std::sync::LazyLock;

/// A named curve. GOST R 34.10-2001's CryptoPro sets are the 2012
/// standard's 256-bit sets under other names, so several identifiers map
/// to one curve (see [`ParamSet::from_oid`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamSet {
    /// CryptoPro-A = XchA = tc26-256-B.
    CryptoProA,
    /// CryptoPro-B = tc26-256-C.
    CryptoProB,
    /// CryptoPro-C = XchB = tc26-256-D.
    CryptoProC,
    /// tc26-256-A, a twisted Edwards curve given in Weierstrass form.
    Tc26_256A,
    Tc26_512A,
    Tc26_512B,
    /// tc26-512-C, a twisted Edwards curve given in Weierstrass form.
    Tc26_512C,
}

impl ParamSet {
    /// The curve a certificate's `publicKeyParamSet` names.
    pub fn from_oid(oid: &str) -> Option<ParamSet> {
        Some(match oid {
            "1.2.643.2.2.35.1" | "1.2.643.2.2.36.0" | "1.2.643.7.1.2.1.1.2" => ParamSet::CryptoProA,
            "1.2.643.2.2.35.2" | "1.2.643.7.1.2.1.1.3" => ParamSet::CryptoProB,
            "1.2.643.2.2.35.3" | "1.2.643.2.2.36.1" | "1.2.643.7.1.2.1.1.4" => ParamSet::CryptoProC,
            "1.2.643.7.1.2.1.1.1" => ParamSet::Tc26_256A,
            "1.2.643.7.1.2.1.2.1" => ParamSet::Tc26_512A,
            "1.2.643.7.1.2.1.2.2" => ParamSet::Tc26_512B,
            "1.2.643.7.1.2.1.2.3" => ParamSet::Tc26_512C,
            _ => return None,
        })
    }

    /// The size of the curve's numbers in bytes: 32 or 64. A digest, each
    /// half of a signature and each coordinate of a key have this length.
    pub fn size(self) -> usize {
        match self {
            ParamSet::Tc26_512A | ParamSet::Tc26_512B | ParamSet::Tc26_512C => 64,
            _ => 32,
        }
    }
}

/// Why a GOST signature did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The digest, signature or key is not as long as the curve requires.
    Length,
    /// r or s is not in (0, q).
    OutOfRange,
    /// The public key is not a point of the curve.
    KeyNotOnCurve,
    /// The equation does not hold: the content or the signature changed,
    /// or the key is not the signer's.
    Mismatch,
}

/// Verifies a signature as CMS and X.509 carry it in Russia: `signature`
/// is s‖r big-endian, `public_key` is X‖Y with each coordinate
/// little-endian (the contents of the key's OCTET STRING), and `digest` is
/// the hash exactly as the hash function output it.
pub fn verify(
    set: ParamSet,
    digest: &[u8],
    signature: &[u8],
    public_key: &[u8],
) -> Result<(), Failure> {
    // Each curve checks the lengths against its own size.
    match set {
        ParamSet::CryptoProA => CRYPTOPRO_A.verify(digest, signature, public_key),
        ParamSet::CryptoProB => CRYPTOPRO_B.verify(digest, signature, public_key),
        ParamSet::CryptoProC => CRYPTOPRO_C.verify(digest, signature, public_key),
        ParamSet::Tc26_256A => TC26_256_A.verify(digest, signature, public_key),
        ParamSet::Tc26_512A => TC26_512_A.verify(digest, signature, public_key),
        ParamSet::Tc26_512B => TC26_512_B.verify(digest, signature, public_key),
        ParamSet::Tc26_512C => TC26_512_C.verify(digest, signature, public_key),
    }
}

// Curve constants as published in R 1323565.1.024-2019 (the 2001
// CryptoPro sets are its 256-bit B, C and D): p, a, b, q, x(P), y(P).
static CRYPTOPRO_A: LazyLock<Curve<{ U256::LIMBS }>> = LazyLock::new(|| {
    Curve::new(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFD97",
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFD94",
        "A6",
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF6C611070995AD10045841B09B761B893",
        "1",
        "8D91E471E0989CDA27DF505A453F2B7635294F2DDF23E3B122ACC99C9E9F1E14",
    )
});
static CRYPTOPRO_B: LazyLock<Curve<{ U256::LIMBS }>> = LazyLock::new(|| {
    Curve::new(
        "8000000000000000000000000000000000000000000000000000000000000C99",
        "8000000000000000000000000000000000000000000000000000000000000C96",
        "3E1AF419A269A5F866A7D3C25C3DF80AE979259373FF2B182F49D4CE7E1BBC8B",
        "800000000000000000000000000000015F700CFFF1A624E5E497161BCC8A198F",
        "1",
        "3FA8124359F96680B83D1C3EB2C070E5C545C9858D03ECFB744BF8D717717EFC",
    )
});
static CRYPTOPRO_C: LazyLock<Curve<{ U256::LIMBS }>> = LazyLock::new(|| {
    Curve::new(
        "9B9F605F5A858107AB1EC85E6B41C8AACF846E86789051D37998F7B9022D759B",
        "9B9F605F5A858107AB1EC85E6B41C8AACF846E86789051D37998F7B9022D7598",
        "805A",
        "9B9F605F5A858107AB1EC85E6B41C8AA582CA3511EDDFB74F02F3A6598980BB9",
        "0",
        "41ECE55743711A8C3CBF3783CD08C0EE4D4DC440D4641A8F366E550DFDB3BB67",
    )
});
static TC26_256_A: LazyLock<Curve<{ U256::LIMBS }>> = LazyLock::new(|| {
    Curve::new(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFD97",
        "C2173F1513981673AF4892C23035A27CE25E2013BF95AA33B22C656F277E7335",
        "295F9BAE7428ED9CCC20E7C359A9D41A22FCCD9108E17BF7BA9337A6F8AE9513",
        "400000000000000000000000000000000FD8CDDFC87B6635C115AF556C360C67",
        "91E38443A5E82C0D880923425712B2BB658B9196932E02C78B2582FE742DAA28",
        "32879423AB1A0375895786C4BB46E9565FDE0B5344766740AF268ADB32322E5C",
    )
    .with_cofactor(4)
});
static TC26_512_A: LazyLock<Curve<{ U512::LIMBS }>> = LazyLock::new(|| {
    Curve::new(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFDC7",
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFDC4",
        "E8C2505DEDFC86DDC1BD0B2B6667F1DA34B82574761CB0E879BD081CFD0B6265EE3CB090F30D27614CB4574010DA90DD862EF9D4EBEE4761503190785A71C760",
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF27E69532F48D89116FF22B8D4E0560609B4B38ABFAD2B85DCACDB1411F10B275",
        "3",
        "7503CFE87A836AE3A61B8816E25450E6CE5E1C93ACF1ABC1778064FDCBEFA921DF1626BE4FD036E93D75E6A50E3A41E98028FE5FC235F5B889A589CB5215F2A4",
    )
});
static TC26_512_B: LazyLock<Curve<{ U512::LIMBS }>> = LazyLock::new(|| {
    Curve::new(
        "8000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000006F",
        "8000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000006C",
        "687D1B459DC841457E3E06CF6F5E2517B97C7D614AF138BCBF85DC806C4B289F3E965D2DB1416D217F8B276FAD1AB69C50F78BEE1FA3106EFB8CCBC7C5140116",
        "800000000000000000000000000000000000000000000000000000000000000149A1EC142565A545ACFDB77BD9D40CFA8B996712101BEA0EC6346C54374F25BD",
        "2",
        "1A8F7EDA389B094C2C071E3647A8940F3C123B697578C213BE6DD9E6C8EC7335DCB228FD1EDF4A39152CBCAAF8C0398828041055F94CEEEC7E21340780FE41BD",
    )
});
static TC26_512_C: LazyLock<Curve<{ U512::LIMBS }>> = LazyLock::new(|| {
    Curve::new(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFDC7",
        "DC9203E514A721875485A529D2C722FB187BC8980EB866644DE41C68E143064546E861C0E2C9EDD92ADE71F46FCF50FF2AD97F951FDA9F2A2EB6546F39689BD3",
        "B4C4EE28CEBC6C2C8AC12952CF37F16AC7EFB6A9F69F4B57FFDA2E4F0DE5ADE038CBC2FFF719D2C18DE0284B8BFEF3B52B8CC7A5F5BF0A3C8D2319A5312557E1",
        "3FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC98CDBA46506AB004C33A9FF5147502CC8EDA9E7A769A12694623CEF47F023ED",
        "E2E31EDFC23DE7BDEBE241CE593EF5DE2295B7A9CBAEF021D385F7074CEA043AA27272A7AE602BF2A7B9033DB9ED3610C6FB85487EAE97AAC5BC7928C1950148",
        "F5CE40D95B5EB899ABBCCFF5911CB8577939804D6527378B8C108C3D2090FF9BE18E2D33E3021ED2EF32D85822423B6304F726AA854BAE07D0396E9A9ADDC40F",
    )
    .with_cofactor(4)
});

type Fe<const L: usize> = FixedMontyForm<L>;

/// A short Weierstrass curve y² = x³ + ax + b over F_p with a base point
/// of prime order q.
pub(crate) struct Curve<const L: usize> {
    field: FixedMontyParams<L>,
    p: Uint<L>,
    a: Fe<L>,
    b: Fe<L>,
    q: NonZero<Uint<L>>,
    scalars: FixedMontyParams<L>,
    base: Point<L>,
    /// 4 on the twisted Edwards curves (tc26-256-A, tc26-512-C), 1 elsewhere.
    cofactor: u8,
}

/// Jacobian coordinates (X/Z², Y/Z³); Z = 0 is the point at infinity.
#[derive(Clone, Copy)]
struct Point<const L: usize> {
    x: Fe<L>,
    y: Fe<L>,
    z: Fe<L>,
}

/// A constant from the tables above, left-padded to the curve's width.
fn uint<const L: usize>(hex: &str) -> Uint<L> {
    let width = Uint::<L>::BYTES * 2;
    let padded = format!("{hex:0>width$}");
    Uint::from_be_hex(&padded)
}

fn is_zero<const L: usize>(v: &Fe<L>) -> bool {
    v.as_montgomery().is_zero_vartime()
}

fn same<const L: usize>(a: &Fe<L>, b: &Fe<L>) -> bool {
    a.as_montgomery().cmp_vartime(b.as_montgomery()) == Ordering::Equal
}

impl<const L: usize> Curve<L> {
    pub(crate) fn new(p: &str, a: &str, b: &str, q: &str, x: &str, y: &str) -> Self {
        let p = uint::<L>(p);
        let q = uint::<L>(q);
        let field = FixedMontyParams::new_vartime(Odd::new(p).expect("p is an odd prime"));
        let scalars = FixedMontyParams::new_vartime(Odd::new(q).expect("q is an odd prime"));
        let one = Fe::one(&field);
        Curve {
            a: Fe::new(&uint(a), &field),
            b: Fe::new(&uint(b), &field),
            base: Point {
                x: Fe::new(&uint(x), &field),
                y: Fe::new(&uint(y), &field),
                z: one,
            },
            q: NonZero::new(q).expect("q is not zero"),
            p,
            field,
            scalars,
            cofactor: 1,
        }
    }

    fn with_cofactor(mut self, h: u8) -> Self {
        self.cofactor = h;
        self
    }

    fn infinity(&self) -> Point<L> {
        let zero = Fe::zero(&self.field);
        Point {
            x: Fe::one(&self.field),
            y: Fe::one(&self.field),
            z: zero,
        }
    }

    /// The affine point (x, y), if both are below p and it lies on the curve.
    fn point(&self, x: &Uint<L>, y: &Uint<L>) -> Option<Point<L>> {
        if x.cmp_vartime(&self.p) != Ordering::Less || y.cmp_vartime(&self.p) != Ordering::Less {
            return None;
        }
        let x = Fe::new(x, &self.field);
        let y = Fe::new(y, &self.field);
        let rhs = x.square() * x + self.a * x + self.b;
        same(&y.square(), &rhs).then_some(Point {
            x,
            y,
            z: Fe::one(&self.field),
        })
    }

    // dbl-2007-bl (any a).
    fn double(&self, p: &Point<L>) -> Point<L> {
        if is_zero(&p.z) || is_zero(&p.y) {
            return self.infinity();
        }
        let xx = p.x.square();
        let yy = p.y.square();
        let yyyy = yy.square();
        let zz = p.z.square();
        let t = (p.x + yy).square() - xx - yyyy;
        let s = t + t;
        let m = xx + xx + xx + self.a * zz.square();
        let x3 = m.square() - s - s;
        let y8 = {
            let y2 = yyyy + yyyy;
            let y4 = y2 + y2;
            y4 + y4
        };
        let y3 = m * (s - x3) - y8;
        let z3 = (p.y + p.z).square() - yy - zz;
        Point {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    // add-2007-bl, falling back to doubling for equal points.
    fn add(&self, p: &Point<L>, q: &Point<L>) -> Point<L> {
        if is_zero(&p.z) {
            return *q;
        }
        if is_zero(&q.z) {
            return *p;
        }
        let z1z1 = p.z.square();
        let z2z2 = q.z.square();
        let u1 = p.x * z2z2;
        let u2 = q.x * z1z1;
        let s1 = p.y * q.z * z2z2;
        let s2 = q.y * p.z * z1z1;
        let h = u2 - u1;
        let d = s2 - s1;
        if is_zero(&h) {
            return if is_zero(&d) {
                self.double(p)
            } else {
                self.infinity()
            };
        }
        let r = d + d;
        let i = (h + h).square();
        let j = h * i;
        let v = u1 * i;
        let x3 = r.square() - j - v - v;
        let s1j = s1 * j;
        let y3 = r * (v - x3) - s1j - s1j;
        let z3 = ((p.z + q.z).square() - z1z1 - z2z2) * h;
        Point {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// z1·P + z2·Q by Shamir's trick: one pass over the bits of both.
    fn twin_mul(&self, z1: &Uint<L>, q: &Point<L>, z2: &Uint<L>) -> Point<L> {
        let both = self.add(&self.base, q);
        let top = z1.bit_width_vartime().max(z2.bit_width_vartime());
        let mut acc = self.infinity();
        for i in (0..top).rev() {
            acc = self.double(&acc);
            match (z1.bit_vartime(i), z2.bit_vartime(i)) {
                (true, true) => acc = self.add(&acc, &both),
                (true, false) => acc = self.add(&acc, &self.base),
                (false, true) => acc = self.add(&acc, q),
                (false, false) => {}
            }
        }
        acc
    }

    fn verify(&self, digest: &[u8], signature: &[u8], public_key: &[u8]) -> Result<(), Failure> {
        let n = Uint::<L>::BYTES;
        if digest.len() != n || signature.len() != 2 * n || public_key.len() != 2 * n {
            return Err(Failure::Length);
        }
        // s‖r, big-endian.
        let s = Uint::<L>::from_be_slice(&signature[..n]);
        let r = Uint::<L>::from_be_slice(&signature[n..]);
        let q = self.q.get();
        for v in [&r, &s] {
            if v.is_zero_vartime() || v.cmp_vartime(&q) != Ordering::Less {
                return Err(Failure::OutOfRange);
            }
        }
        let key = self
            .point(
                &Uint::from_le_slice(&public_key[..n]),
                &Uint::from_le_slice(&public_key[n..]),
            )
            .ok_or(Failure::KeyNotOnCurve)?;
        // Where the curve has points outside the order-q group, a key with
        // a small-order part would let z2·Q take only a few values: such a
        // key must satisfy q·Q = O.
        if self.cofactor != 1 {
            let q_minus_1 = q.wrapping_sub(&Uint::ONE);
            let almost = self.twin_mul(&Uint::ZERO, &key, &q_minus_1);
            if !is_zero(&self.add(&almost, &key).z) {
                return Err(Failure::KeyNotOnCurve);
            }
        }
        let mut e = Uint::<L>::from_le_slice(digest).rem_vartime(&self.q);
        if e.is_zero_vartime() {
            e = Uint::ONE;
        }
        let v = Fe::new(&e, &self.scalars)
            .invert_vartime()
            .into_option()
            .ok_or(Failure::Mismatch)?;
        let z1 = (Fe::new(&s, &self.scalars) * v).retrieve();
        let z2 = (Fe::zero(&self.scalars) - Fe::new(&r, &self.scalars) * v).retrieve();
        let c = self.twin_mul(&z1, &key, &z2);
        if is_zero(&c.z) {
            return Err(Failure::Mismatch);
        }
        let zinv =
            c.z.square()
                .invert_vartime()
                .into_option()
                .ok_or(Failure::Mismatch)?;
        let x = (c.x * zinv).retrieve().rem_vartime(&self.q);
        if x.cmp_vartime(&r) == Ordering::Equal {
            Ok(())
        } else {
            Err(Failure::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be(hex: &str) -> Vec<u8> {
        hex::decode(hex).unwrap()
    }
    fn le(hex: &str) -> Vec<u8> {
        let mut v = be(hex);
        v.reverse();
        v
    }

    /// RFC 7091 §7.1 (GOST R 34.10-2012, 256-bit test curve): the
    /// published e, r, s and public key verify, and changing any of them
    /// does not.
    #[test]
    fn rfc7091_example_256() {
        let curve = Curve::<4>::new(
            "8000000000000000000000000000000000000000000000000000000000000431",
            "7",
            "5FBFF498AA938CE739B8E022FBAFEF40563F6E6A3472FC2A514C0CE9DAE23B7E",
            "8000000000000000000000000000000150FE8A1892976154C59CFC193ACCF5B3",
            "2",
            "08E2A8A0E65147D4BD6316030E16D19C85C97F0A9CA267122B96ABBCEA7E8FC8",
        );
        // The RFC gives e as a number; a digest is its little-endian bytes.
        let digest = le("2DFBC1B372D89A1188C09C52E0EEC61FCE52032AB1022E8E67ECE6672B043EE5");
        let r = "41AA28D2F1AB148280CD9ED56FEDA41974053554A42767B83AD043FD39DC0493";
        let s = "01456C64BA4642A1653C235A98A60249BCD6D3F746B631DF928014F6C5BF9C40";
        let sig = be(&format!("{s}{r}"));
        let mut key = le("7F2B49E270DB6D90D8595BEC458B50C58585BA1D4E9B788F6689DBD8E56FD80B");
        key.extend(le(
            "26F1B489D6701DD185C8413A977B3CBBAF64D1C593D26627DFFB101A87FF77DA",
        ));
        assert_eq!(curve.verify(&digest, &sig, &key), Ok(()));

        let mut changed = digest.clone();
        changed[0] ^= 1;
        assert_eq!(curve.verify(&changed, &sig, &key), Err(Failure::Mismatch));
        let mut flipped = sig.clone();
        flipped[40] ^= 0x80;
        assert_eq!(
            curve.verify(&digest, &flipped, &key),
            Err(Failure::Mismatch)
        );
        let mut off = key.clone();
        off[0] ^= 1;
        assert_eq!(
            curve.verify(&digest, &sig, &off),
            Err(Failure::KeyNotOnCurve)
        );
        let zero_r = be(&format!("{s}{}", "0".repeat(64)));
        assert_eq!(
            curve.verify(&digest, &zero_r, &key),
            Err(Failure::OutOfRange)
        );
        let big_s = be(&format!("{}{r}", "F".repeat(64)));
        assert_eq!(
            curve.verify(&digest, &big_s, &key),
            Err(Failure::OutOfRange)
        );
    }

    #[test]
    fn every_base_point_is_on_its_curve_and_has_order_q() {
        fn check<const L: usize>(c: &Curve<L>) {
            let g = &c.base;
            let (x, y) = (g.x.retrieve(), g.y.retrieve());
            assert!(c.point(&x, &y).is_some(), "base point off the curve");
            // q·P = O: (q−1)·P + P, as twin_mul with the base as the second point.
            let q_minus_1 = c.q.get().wrapping_sub(&Uint::ONE);
            let almost = c.twin_mul(&q_minus_1, &c.infinity(), &Uint::ZERO);
            assert!(is_zero(&c.add(&almost, g).z), "q·P is not infinity");
        }
        check(&CRYPTOPRO_A);
        check(&CRYPTOPRO_B);
        check(&CRYPTOPRO_C);
        check(&TC26_256_A);
        check(&TC26_512_A);
        check(&TC26_512_B);
        check(&TC26_512_C);
    }

    #[test]
    fn wrong_lengths_are_refused_not_panicked_on() {
        for set in [ParamSet::CryptoProA, ParamSet::Tc26_512A] {
            let n = set.size();
            assert_eq!(
                verify(set, &[0; 5], &vec![1; 2 * n], &vec![1; 2 * n]),
                Err(Failure::Length)
            );
            assert_eq!(
                verify(set, &vec![0; n], &[1; 7], &vec![1; 2 * n]),
                Err(Failure::Length)
            );
            assert_eq!(
                verify(set, &vec![0; n], &vec![1; 2 * n], &[]),
                Err(Failure::Length)
            );
            // Well-formed lengths, garbage values: a refusal, never a panic.
            assert!(verify(set, &vec![0xff; n], &vec![0xff; 2 * n], &vec![0xff; 2 * n]).is_err());
            assert!(verify(set, &vec![0; n], &vec![0; 2 * n], &vec![0; 2 * n]).is_err());
        }
    }

    /// On tc26-256-A (cofactor 4) a key with a small-order part lies on
    /// the curve but outside the order-q group: refused before any
    /// signature is checked.
    #[test]
    fn a_key_outside_the_order_q_group_is_refused() {
        let c = &*TC26_256_A;
        // p ≡ 3 (mod 4): a square's root is its (p+1)/4-th power.
        let exp = c.p.wrapping_add(&Uint::ONE).shr_vartime(2);
        let mut x = Uint::<{ U256::LIMBS }>::ONE;
        let torsion = loop {
            let fx = Fe::new(&x, &c.field);
            let rhs = fx.square() * fx + c.a * fx + c.b;
            let y = rhs.pow_vartime(&exp);
            if same(&y.square(), &rhs) {
                let r = Point {
                    x: fx,
                    y,
                    z: Fe::one(&c.field),
                };
                // q·R has an order dividing 4; a point of the q-group gives O.
                let q_minus_1 = c.q.get().wrapping_sub(&Uint::ONE);
                let almost = c.twin_mul(&Uint::ZERO, &r, &q_minus_1);
                let t = c.add(&almost, &r);
                if !is_zero(&t.z) {
                    break t;
                }
            }
            x = x.wrapping_add(&Uint::ONE);
        };
        let key = c.add(&c.base, &torsion);
        let zinv = key.z.invert_vartime().into_option().unwrap();
        let (kx, ky) = (
            (key.x * zinv.square()).retrieve(),
            (key.y * zinv.square() * zinv).retrieve(),
        );
        assert!(c.point(&kx, &ky).is_some(), "G + T is on the curve");
        let mut public_key = kx.to_le_bytes().to_vec();
        public_key.extend(ky.to_le_bytes().iter());
        let one = {
            let mut v = vec![0u8; 64];
            v[31] = 1;
            v[63] = 1;
            v
        };
        assert_eq!(
            c.verify(&[1; 32], &one, &public_key),
            Err(Failure::KeyNotOnCurve)
        );
    }
}
