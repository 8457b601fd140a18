//! GOST R 34.10-2012 signature verification over the standard curves.
//!
//! The equation is the standard's (and OpenSSL's GOST engine's): with the
//! digest read as a little-endian integer e (mod q, 0 taken as 1),
//! v = e⁻¹, z1 = s·v and z2 = −r·v (mod q), the signature is valid when
//! x(z1·P + z2·Q) mod q = r. Everything here works on public data, so
//! variable-time arithmetic is fine; what matters is refusing every
//! malformed input before it reaches the arithmetic, and never panicking.

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{NonZero, Odd, U256, U512, Uint, WideWord, Word};
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

/// Width of the signed-window (wNAF) form of z1, the base point's scalar:
/// a table of 2^(w−2) affine odd multiples per curve, built once.
const BASE_WINDOW: u32 = 7;
/// Width of the wNAF form of z2, the public key's scalar: a table of
/// 2^(w−2) odd multiples built per verification.
const KEY_WINDOW: u32 = 5;

/// Arithmetic in F_p, word by word on the `Uint`'s limbs, for the hot
/// multiplication, addition and subtraction; conversions, inversion and
/// the curve checks stay crypto-bigint's (`FixedMontyForm`). Numbers are
/// kept either in Montgomery form (x·R mod p with R = 2^(bits of
/// Uint<L>), as `FixedMontyForm` keeps them) or, where p = 2^n − c with
/// a one-word c (CryptoPro-A, tc26-256-A, tc26-512-A and -C), as plain
/// residues reduced by folding the high half times c. Variable-time: all
/// of it is public data.
#[derive(Clone, Copy)]
struct Field<const L: usize> {
    p: Uint<L>,
    /// −p⁻¹ mod 2^(word bits), for Montgomery reduction.
    n0: Word,
    /// c where p = 2^n − c (plain residues); 0 for Montgomery form.
    c: Word,
    params: FixedMontyParams<L>,
}

const WORD_BITS: u32 = Word::BITS;

/// acc + a·b + carry as (low word, high word).
#[inline(always)]
fn mac(acc: Word, a: Word, b: Word, carry: Word) -> (Word, Word) {
    let v = acc as WideWord + (a as WideWord) * (b as WideWord) + carry as WideWord;
    (v as Word, (v >> WORD_BITS) as Word)
}

/// a + b + carry as (sum, carry 0 or 1).
#[inline(always)]
fn adc(a: Word, b: Word, carry: Word) -> (Word, Word) {
    let v = a as WideWord + b as WideWord + carry as WideWord;
    (v as Word, (v >> WORD_BITS) as Word)
}

/// a − b − borrow as (difference, borrow), the borrow in and out 0 or
/// all ones.
#[inline(always)]
fn sbb(a: Word, b: Word, borrow: Word) -> (Word, Word) {
    let v = (a as WideWord).wrapping_sub(b as WideWord + (borrow >> (WORD_BITS - 1)) as WideWord);
    (v as Word, (v >> WORD_BITS) as Word)
}

impl<const L: usize> Field<L> {
    fn new(params: FixedMontyParams<L>) -> Self {
        let p: Uint<L> = *params.modulus().as_ref();
        // 2^n − p, when it fits one word (and leaves room for the folds).
        let c = Uint::<L>::ZERO.wrapping_sub(&p);
        let c = if c.bit_width_vartime() <= WORD_BITS / 2 && L <= U512::LIMBS {
            c.as_words()[0]
        } else {
            0
        };
        Field {
            p,
            n0: params.mod_neg_inv().0,
            c,
            params,
        }
    }

    /// A number below p in this field's representation.
    fn encode(&self, v: &Uint<L>) -> Uint<L> {
        self.of(&Fe::new(v, &self.params))
    }

    /// crypto-bigint's form of one of ours.
    fn fe(&self, v: &Uint<L>) -> Fe<L> {
        if self.c != 0 {
            Fe::new(v, &self.params)
        } else {
            Fe::from_montgomery(*v, &self.params)
        }
    }

    /// Ours of one of crypto-bigint's.
    fn of(&self, v: &Fe<L>) -> Uint<L> {
        if self.c != 0 {
            v.retrieve()
        } else {
            *v.as_montgomery()
        }
    }

    fn one(&self) -> Uint<L> {
        if self.c != 0 {
            Uint::ONE
        } else {
            *self.params.one()
        }
    }

    /// The double-width product w (2L words, L ≤ U512::LIMBS) reduced
    /// mod p = 2^n − c: w = lo + hi·2^n ≡ lo + hi·c, folded twice, then
    /// one conditional subtraction.
    #[inline(always)]
    fn fold(&self, w: &[Word; 2 * U512::LIMBS]) -> Uint<L> {
        let c = self.c;
        let mut r = [0 as Word; L];
        let mut carry = 0;
        for i in 0..L {
            (r[i], carry) = mac(w[i], w[i + L], c, carry);
        }
        self.fold_top(r, carry)
    }

    /// r + top·2^n (any one-word top) reduced mod p = 2^n − c.
    #[inline(always)]
    fn fold_top(&self, mut r: [Word; L], top: Word) -> Uint<L> {
        let c = self.c;
        // r + top·2^n ≡ r + top·c.
        let mut carry;
        (r[0], carry) = mac(r[0], top, c, 0);
        for x in r.iter_mut().skip(1) {
            (*x, carry) = adc(*x, 0, carry);
        }
        // Past 2^n once more: the rest is small, add c again.
        (r[0], carry) = mac(r[0], carry, c, 0);
        for x in r.iter_mut().skip(1) {
            (*x, carry) = adc(*x, 0, carry);
        }
        // r < 2^n; r ≥ p exactly when r + c carries out of n bits.
        let mut d = [0 as Word; L];
        (d[0], carry) = adc(r[0], c, 0);
        for i in 1..L {
            (d[i], carry) = adc(r[i], 0, carry);
        }
        let take = carry.wrapping_neg();
        for i in 0..L {
            r[i] ^= (r[i] ^ d[i]) & take;
        }
        Uint::from_words(r)
    }

    /// t + hi·R, known to be below 2p, reduced below p (branch-free
    /// select: the branch would be taken at random).
    #[inline(always)]
    fn reduce_once(&self, t: [Word; L], hi: Word) -> Uint<L> {
        let p = self.p.as_words();
        let mut d = [0; L];
        let mut borrow = 0;
        for i in 0..L {
            (d[i], borrow) = sbb(t[i], p[i], borrow);
        }
        // Keep t only when t − p borrowed and nothing was carried out.
        let (_, keep) = sbb(hi, 0, borrow);
        for i in 0..L {
            d[i] ^= (d[i] ^ t[i]) & keep;
        }
        Uint::from_words(d)
    }

    /// a·b (in this field's representation).
    #[inline(always)]
    fn mul(&self, a: &Uint<L>, b: &Uint<L>) -> Uint<L> {
        if self.c != 0 {
            let (a, b) = (a.as_words(), b.as_words());
            let mut w = [0 as Word; 2 * U512::LIMBS];
            for i in 0..L {
                let mut carry = 0;
                for j in 0..L {
                    (w[i + j], carry) = mac(w[i + j], a[j], b[i], carry);
                }
                w[i + L] = carry;
            }
            return self.fold(&w);
        }
        self.monty_mul(a, b)
    }

    /// a·b·R⁻¹ mod p (CIOS Montgomery multiplication).
    #[inline(always)]
    fn monty_mul(&self, a: &Uint<L>, b: &Uint<L>) -> Uint<L> {
        let (a, b, p) = (a.as_words(), b.as_words(), self.p.as_words());
        let mut t = [0 as Word; L];
        let mut hi: Word = 0;
        for &bi in b.iter() {
            let mut c: Word = 0;
            for j in 0..L {
                (t[j], c) = mac(t[j], a[j], bi, c);
            }
            let (h, top) = adc(hi, c, 0);
            let m = t[0].wrapping_mul(self.n0);
            let (_, mut c) = mac(t[0], m, p[0], 0);
            for j in 1..L {
                (t[j - 1], c) = mac(t[j], m, p[j], c);
            }
            let (v, carry) = adc(h, c, 0);
            t[L - 1] = v;
            hi = top + carry;
        }
        self.reduce_once(t, hi)
    }

    /// a² (in this field's representation).
    #[inline(always)]
    fn sqr(&self, a: &Uint<L>) -> Uint<L> {
        if self.c != 0 {
            let a = a.as_words();
            let mut w = [0 as Word; 2 * U512::LIMBS];
            // The products a[i]·a[j] with i < j, once ...
            for i in 0..L {
                let mut carry = 0;
                for j in i + 1..L {
                    (w[i + j], carry) = mac(w[i + j], a[i], a[j], carry);
                }
                w[i + L] = carry;
            }
            // ... doubled ...
            let mut high = 0;
            for x in w.iter_mut().take(2 * L) {
                let next = *x >> (WORD_BITS - 1);
                *x = (*x << 1) | high;
                high = next;
            }
            // ... plus the squares a[i]².
            let mut carry = 0;
            for i in 0..L {
                let (lo, hi) = mac(0, a[i], a[i], 0);
                (w[2 * i], carry) = adc(w[2 * i], lo, carry);
                (w[2 * i + 1], carry) = adc(w[2 * i + 1], hi, carry);
            }
            return self.fold(&w);
        }
        self.monty_mul(a, a)
    }

    #[inline(always)]
    fn add(&self, a: &Uint<L>, b: &Uint<L>) -> Uint<L> {
        let (a, b) = (a.as_words(), b.as_words());
        let mut t = [0; L];
        let mut carry = 0;
        for i in 0..L {
            (t[i], carry) = adc(a[i], b[i], carry);
        }
        self.reduce_once(t, carry)
    }

    #[inline(always)]
    fn sub(&self, a: &Uint<L>, b: &Uint<L>) -> Uint<L> {
        let (a, b, p) = (a.as_words(), b.as_words(), self.p.as_words());
        let mut t = [0; L];
        let mut borrow = 0;
        for i in 0..L {
            (t[i], borrow) = sbb(a[i], b[i], borrow);
        }
        // On a borrow add p back (borrow is then all ones, a mask).
        let mut carry = 0;
        for i in 0..L {
            (t[i], carry) = adc(t[i], p[i] & borrow, carry);
        }
        Uint::from_words(t)
    }

    /// k·a for a small k (1 ≤ k ≤ 8): one pass where p = 2^n − c,
    /// repeated additions otherwise.
    #[inline(always)]
    fn small(&self, a: &Uint<L>, k: Word) -> Uint<L> {
        if self.c != 0 {
            let a = a.as_words();
            let mut r = [0 as Word; L];
            let mut carry = 0;
            for i in 0..L {
                (r[i], carry) = mac(0, a[i], k, carry);
            }
            return self.fold_top(r, carry);
        }
        let mut acc = *a;
        for _ in 1..k {
            acc = self.add(&acc, a);
        }
        acc
    }

    fn neg(&self, a: &Uint<L>) -> Uint<L> {
        self.sub(&Uint::ZERO, a)
    }
}

/// A short Weierstrass curve y² = x³ + ax + b over F_p with a base point
/// of prime order q.
pub(crate) struct Curve<const L: usize> {
    f: Field<L>,
    p: Uint<L>,
    /// a and b in Montgomery form.
    a: Uint<L>,
    b: Uint<L>,
    /// a = p − 3: doubling takes the cheaper a = −3 formula.
    a_is_minus_3: bool,
    q: NonZero<Uint<L>>,
    scalars: FixedMontyParams<L>,
    base: Affine<L>,
    /// P, 3P, 5P, …, (2^(BASE_WINDOW−1) − 1)P.
    base_table: Vec<Affine<L>>,
    /// 4 on the twisted Edwards curves (tc26-256-A, tc26-512-C), 1 elsewhere.
    cofactor: u8,
}

/// Jacobian coordinates (X/Z², Y/Z³) in Montgomery form; Z = 0 is the
/// point at infinity.
#[derive(Clone, Copy)]
struct Point<const L: usize> {
    x: Uint<L>,
    y: Uint<L>,
    z: Uint<L>,
}

/// An affine point (never the point at infinity), Montgomery form.
#[derive(Clone, Copy)]
struct Affine<const L: usize> {
    x: Uint<L>,
    y: Uint<L>,
}

/// A constant from the tables above, left-padded to the curve's width.
fn uint<const L: usize>(hex: &str) -> Uint<L> {
    let width = Uint::<L>::BYTES * 2;
    let padded = format!("{hex:0>width$}");
    Uint::from_be_hex(&padded)
}

fn is_zero<const L: usize>(v: &Uint<L>) -> bool {
    v.is_zero_vartime()
}

fn same<const L: usize>(a: &Uint<L>, b: &Uint<L>) -> bool {
    a.cmp_vartime(b) == Ordering::Equal
}

/// The width-w non-adjacent form of k, least significant digit first:
/// every digit is 0 or odd in (−2^(w−1), 2^(w−1)), and any nonzero digit
/// is followed by at least w−1 zeros.
fn wnaf<const L: usize>(k: &Uint<L>, w: u32) -> Vec<i8> {
    // One spare word: adding back a negative digit may carry past the top.
    let mut n: Vec<Word> = k.as_words().to_vec();
    n.push(0);
    let full: i32 = 1 << w;
    let mask: Word = (1 << w) - 1;
    let mut digits = Vec::with_capacity(L * WORD_BITS as usize + 1);
    while n.iter().any(|&x| x != 0) {
        // A run of zero digits at once (at most a word less one bit).
        let zeros = if n[0] == 0 {
            WORD_BITS - 1
        } else {
            n[0].trailing_zeros()
        };
        if zeros > 0 {
            digits.resize(digits.len() + zeros as usize, 0);
            shift_right(&mut n, zeros);
            continue;
        }
        let mut d = (n[0] & mask) as i32;
        if d >= full / 2 {
            d -= full;
        }
        if d > 0 {
            // Only the low word changes: d is the value of its low bits.
            n[0] -= d as Word;
        } else {
            let mut carry = (-d) as Word;
            for x in n.iter_mut() {
                let (v, c) = x.overflowing_add(carry);
                *x = v;
                carry = c as Word;
                if carry == 0 {
                    break;
                }
            }
        }
        digits.push(d as i8);
        shift_right(&mut n, 1);
    }
    digits
}

/// n >>= by, for 0 < by < WORD_BITS.
fn shift_right(n: &mut [Word], by: u32) {
    for i in 0..n.len() {
        let high = n.get(i + 1).map_or(0, |&x| x << (WORD_BITS - by));
        n[i] = (n[i] >> by) | high;
    }
}

impl<const L: usize> Curve<L> {
    pub(crate) fn new(p: &str, a: &str, b: &str, q: &str, x: &str, y: &str) -> Self {
        let p = uint::<L>(p);
        let q = uint::<L>(q);
        let field = FixedMontyParams::new_vartime(Odd::new(p).expect("p is an odd prime"));
        let scalars = FixedMontyParams::new_vartime(Odd::new(q).expect("q is an odd prime"));
        let f = Field::new(field);
        let a_plain = uint::<L>(a);
        let mut curve = Curve {
            a: f.encode(&a_plain),
            b: f.encode(&uint(b)),
            a_is_minus_3: same(&a_plain.wrapping_add(&Uint::from_u8(3)), &p),
            base: Affine {
                x: f.encode(&uint(x)),
                y: f.encode(&uint(y)),
            },
            base_table: Vec::new(),
            q: NonZero::new(q).expect("q is not zero"),
            p,
            f,
            scalars,
            cofactor: 1,
        };
        curve.base_table = curve.odd_multiples(&curve.base, BASE_WINDOW);
        curve
    }

    fn with_cofactor(mut self, h: u8) -> Self {
        self.cofactor = h;
        self
    }

    fn infinity(&self) -> Point<L> {
        Point {
            x: self.f.one(),
            y: self.f.one(),
            z: Uint::ZERO,
        }
    }

    fn jacobian(&self, a: &Affine<L>) -> Point<L> {
        Point {
            x: a.x,
            y: a.y,
            z: self.f.one(),
        }
    }

    /// The affine form of a point, None for the point at infinity.
    fn to_affine(&self, p: &Point<L>) -> Option<Affine<L>> {
        let zinv = self.f.fe(&p.z).invert_vartime().into_option()?;
        let zinv = self.f.of(&zinv);
        let zinv2 = self.f.sqr(&zinv);
        Some(Affine {
            x: self.f.mul(&p.x, &zinv2),
            y: self.f.mul(&p.y, &self.f.mul(&zinv2, &zinv)),
        })
    }

    /// The affine forms of points with one inversion (Montgomery's
    /// trick); None if any is the point at infinity.
    fn batch_affine(&self, points: &[Point<L>]) -> Option<Vec<Affine<L>>> {
        let f = &self.f;
        // prefix[i] = z0·z1·…·zi
        let mut prefix = Vec::with_capacity(points.len());
        let mut acc = f.one();
        for p in points {
            acc = f.mul(&acc, &p.z);
            prefix.push(acc);
        }
        let mut inv = f.of(&f.fe(&acc).invert_vartime().into_option()?);
        let mut out = vec![
            Affine {
                x: Uint::ZERO,
                y: Uint::ZERO
            };
            points.len()
        ];
        for i in (0..points.len()).rev() {
            // inv = (z0·…·zi)⁻¹ here.
            let zinv = if i == 0 {
                inv
            } else {
                f.mul(&inv, &prefix[i - 1])
            };
            inv = f.mul(&inv, &points[i].z);
            let zinv2 = f.sqr(&zinv);
            out[i] = Affine {
                x: f.mul(&points[i].x, &zinv2),
                y: f.mul(&points[i].y, &f.mul(&zinv2, &zinv)),
            };
        }
        Some(out)
    }

    /// a, 3a, 5a, …, (2^(w−1) − 1)a in affine form: built with one
    /// inversion per point, so only for the base point's table. A multiple
    /// that is the point at infinity (a of small order) ends the table,
    /// and `twin_mul` never looks past it.
    fn odd_multiples(&self, a: &Affine<L>, w: u32) -> Vec<Affine<L>> {
        let n = 1usize << (w - 2);
        let twice = self.double(&self.jacobian(a));
        let mut acc = self.jacobian(a);
        let mut out = vec![*a];
        while out.len() < n {
            acc = self.add(&acc, &twice);
            match self.to_affine(&acc) {
                Some(v) => out.push(v),
                None => break,
            }
        }
        out
    }

    /// The affine point (x, y), if both are below p and it lies on the curve.
    fn point(&self, x: &Uint<L>, y: &Uint<L>) -> Option<Affine<L>> {
        if x.cmp_vartime(&self.p) != Ordering::Less || y.cmp_vartime(&self.p) != Ordering::Less {
            return None;
        }
        let params = &self.f.params;
        let fx = Fe::new(x, params);
        let fy = Fe::new(y, params);
        let a = self.f.fe(&self.a);
        let b = self.f.fe(&self.b);
        let rhs = fx.square() * fx + a * fx + b;
        same(fy.square().as_montgomery(), rhs.as_montgomery()).then_some(Affine {
            x: self.f.of(&fx),
            y: self.f.of(&fy),
        })
    }

    /// 2·P: dbl-2001-b where a = −3, dbl-2007-bl for any other a.
    fn double(&self, p: &Point<L>) -> Point<L> {
        let f = &self.f;
        if is_zero(&p.z) || is_zero(&p.y) {
            return self.infinity();
        }
        if self.a_is_minus_3 {
            let delta = f.sqr(&p.z);
            let gamma = f.sqr(&p.y);
            let beta = f.mul(&p.x, &gamma);
            let t = f.mul(&f.sub(&p.x, &delta), &f.add(&p.x, &delta));
            let alpha = f.small(&t, 3);
            let beta4 = f.small(&beta, 4);
            let beta8 = f.add(&beta4, &beta4);
            let x3 = f.sub(&f.sqr(&alpha), &beta8);
            let z3 = f.sub(&f.sub(&f.sqr(&f.add(&p.y, &p.z)), &gamma), &delta);
            let gg8 = f.small(&f.sqr(&gamma), 8);
            let y3 = f.sub(&f.mul(&alpha, &f.sub(&beta4, &x3)), &gg8);
            return Point {
                x: x3,
                y: y3,
                z: z3,
            };
        }
        let xx = f.sqr(&p.x);
        let yy = f.sqr(&p.y);
        let yyyy = f.sqr(&yy);
        let zz = f.sqr(&p.z);
        let t = f.sub(&f.sub(&f.sqr(&f.add(&p.x, &yy)), &xx), &yyyy);
        let s = f.add(&t, &t);
        let m = f.add(&f.add(&f.add(&xx, &xx), &xx), &f.mul(&self.a, &f.sqr(&zz)));
        let x3 = f.sub(&f.sub(&f.sqr(&m), &s), &s);
        let y2 = f.add(&yyyy, &yyyy);
        let y4 = f.add(&y2, &y2);
        let y8 = f.add(&y4, &y4);
        let y3 = f.sub(&f.mul(&m, &f.sub(&s, &x3)), &y8);
        let z3 = f.sub(&f.sub(&f.sqr(&f.add(&p.y, &p.z)), &yy), &zz);
        Point {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// add-2007-bl, falling back to doubling for equal points.
    fn add(&self, p: &Point<L>, q: &Point<L>) -> Point<L> {
        let f = &self.f;
        if is_zero(&p.z) {
            return *q;
        }
        if is_zero(&q.z) {
            return *p;
        }
        let z1z1 = f.sqr(&p.z);
        let z2z2 = f.sqr(&q.z);
        let u1 = f.mul(&p.x, &z2z2);
        let u2 = f.mul(&q.x, &z1z1);
        let s1 = f.mul(&f.mul(&p.y, &q.z), &z2z2);
        let s2 = f.mul(&f.mul(&q.y, &p.z), &z1z1);
        let h = f.sub(&u2, &u1);
        let d = f.sub(&s2, &s1);
        if is_zero(&h) {
            return if is_zero(&d) {
                self.double(p)
            } else {
                self.infinity()
            };
        }
        let r = f.add(&d, &d);
        let i = f.sqr(&f.add(&h, &h));
        let j = f.mul(&h, &i);
        let v = f.mul(&u1, &i);
        let x3 = f.sub(&f.sub(&f.sub(&f.sqr(&r), &j), &v), &v);
        let s1j = f.mul(&s1, &j);
        let y3 = f.sub(&f.sub(&f.mul(&r, &f.sub(&v, &x3)), &s1j), &s1j);
        let z3 = f.mul(&f.sub(&f.sub(&f.sqr(&f.add(&p.z, &q.z)), &z1z1), &z2z2), &h);
        Point {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// P + Q with Q affine (madd-2007-bl), falling back to doubling for
    /// equal points.
    fn add_affine(&self, p: &Point<L>, q: &Affine<L>) -> Point<L> {
        let f = &self.f;
        if is_zero(&p.z) {
            return self.jacobian(q);
        }
        let z1z1 = f.sqr(&p.z);
        let u2 = f.mul(&q.x, &z1z1);
        let s2 = f.mul(&f.mul(&q.y, &p.z), &z1z1);
        let h = f.sub(&u2, &p.x);
        let d = f.sub(&s2, &p.y);
        if is_zero(&h) {
            return if is_zero(&d) {
                self.double(p)
            } else {
                self.infinity()
            };
        }
        let hh = f.sqr(&h);
        let i = f.small(&hh, 4);
        let j = f.mul(&h, &i);
        let r = f.add(&d, &d);
        let v = f.mul(&p.x, &i);
        let x3 = f.sub(&f.sub(&f.sub(&f.sqr(&r), &j), &v), &v);
        let y1j = f.mul(&p.y, &j);
        let y3 = f.sub(&f.sub(&f.mul(&r, &f.sub(&v, &x3)), &y1j), &y1j);
        let z3 = f.sub(&f.sub(&f.sqr(&f.add(&p.z, &h)), &z1z1), &hh);
        Point {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    fn negate(&self, p: &Point<L>) -> Point<L> {
        Point {
            y: self.f.neg(&p.y),
            ..*p
        }
    }

    /// z1·P + z2·Q (P the base point) by Straus' method: one shared chain
    /// of doublings over the wNAF digits of both scalars, adding odd
    /// multiples from P's precomputed affine table and from a small
    /// Jacobian table of Q's made here.
    fn twin_mul(&self, z1: &Uint<L>, q: &Affine<L>, z2: &Uint<L>) -> Point<L> {
        let n1 = wnaf(z1, BASE_WINDOW);
        let n2 = wnaf(z2, KEY_WINDOW);
        let key_table = if n2.is_empty() {
            Vec::new()
        } else {
            let one = self.jacobian(q);
            let twice = self.double(&one);
            let mut t = Vec::with_capacity(1 << (KEY_WINDOW - 2));
            t.push(one);
            for i in 1..1 << (KEY_WINDOW - 2) {
                t.push(self.add(&t[i - 1], &twice));
            }
            t
        };
        // The same table in affine form for cheaper (mixed) additions, at
        // the price of one inversion; None if a multiple is the point at
        // infinity (Q of small order), then the Jacobian table serves.
        let key_affine = self.batch_affine(&key_table);
        let mut acc = self.infinity();
        for i in (0..n1.len().max(n2.len())).rev() {
            acc = self.double(&acc);
            if let Some(&d) = n1.get(i).filter(|&&d| d != 0) {
                // The table stops early only for a point of small order,
                // never the base point; a missing entry is skipped, not
                // indexed past.
                if let Some(m) = self.base_table.get((d.unsigned_abs() / 2) as usize) {
                    let m = if d > 0 {
                        *m
                    } else {
                        Affine {
                            x: m.x,
                            y: self.f.neg(&m.y),
                        }
                    };
                    acc = self.add_affine(&acc, &m);
                }
            }
            if let Some(&d) = n2.get(i).filter(|&&d| d != 0) {
                let at = (d.unsigned_abs() / 2) as usize;
                acc = match key_affine.as_ref().and_then(|t| t.get(at)) {
                    Some(m) if d > 0 => self.add_affine(&acc, m),
                    Some(m) => self.add_affine(
                        &acc,
                        &Affine {
                            x: m.x,
                            y: self.f.neg(&m.y),
                        },
                    ),
                    None => {
                        let m = &key_table[at];
                        if d > 0 {
                            self.add(&acc, m)
                        } else {
                            self.add(&acc, &self.negate(m))
                        }
                    }
                };
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
            if !is_zero(&self.add_affine(&almost, &key).z) {
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
        let x = self.to_affine(&c).ok_or(Failure::Mismatch)?.x;
        let x = self.f.fe(&x).retrieve().rem_vartime(&self.q);
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
            let (x, y) = (c.f.fe(&g.x).retrieve(), c.f.fe(&g.y).retrieve());
            assert!(c.point(&x, &y).is_some(), "base point off the curve");
            // q·P = O: (q−1)·P + P.
            let q_minus_1 = c.q.get().wrapping_sub(&Uint::ONE);
            let almost = c.twin_mul(&q_minus_1, g, &Uint::ZERO);
            assert!(is_zero(&c.add_affine(&almost, g).z), "q·P is not infinity");
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
            let fx = Fe::new(&x, &c.f.params);
            let rhs = fx.square() * fx + c.f.fe(&c.a) * fx + c.f.fe(&c.b);
            let y = rhs.pow_vartime(&exp);
            if same(y.square().as_montgomery(), rhs.as_montgomery()) {
                let r = Affine {
                    x: c.f.of(&fx),
                    y: c.f.of(&y),
                };
                // q·R has an order dividing 4; a point of the q-group gives O.
                let q_minus_1 = c.q.get().wrapping_sub(&Uint::ONE);
                let almost = c.twin_mul(&Uint::ZERO, &r, &q_minus_1);
                let t = c.add_affine(&almost, &r);
                if !is_zero(&t.z) {
                    break t;
                }
            }
            x = x.wrapping_add(&Uint::ONE);
        };
        // Multiples of the small-order point T itself: the additions'
        // exceptional cases (equal and opposite points, infinity) inside
        // twin_mul, against plain double-and-add.
        let t = c.to_affine(&torsion).unwrap();
        let t_plain = Some((c.f.fe(&t.x), c.f.fe(&t.y)));
        for k in 1u8..=9 {
            let k = Uint::from_u8(k);
            let fast = c
                .to_affine(&c.twin_mul(&Uint::ZERO, &t, &k))
                .map(|a| (a.x, a.y));
            let slow = plain_mul(c, &k, t_plain).map(|(x, y)| (c.f.of(&x), c.f.of(&y)));
            assert_eq!(fast, slow, "{k:?}·T");
        }
        let key = c.to_affine(&c.add_affine(&torsion, &c.base)).unwrap();
        let (kx, ky) = (c.f.fe(&key.x).retrieve(), c.f.fe(&key.y).retrieve());
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

    /// A small deterministic generator (splitmix64) for the differential
    /// tests below.
    struct Rng(u64);

    impl Rng {
        fn word(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below<const L: usize>(&mut self, m: &Uint<L>) -> Uint<L> {
            let mut bytes = vec![0u8; Uint::<L>::BYTES];
            for b in bytes.iter_mut() {
                *b = self.word() as u8;
            }
            Uint::<L>::from_le_slice(&bytes).rem_vartime(&NonZero::new(*m).unwrap())
        }
    }

    /// Every curve's field arithmetic here against crypto-bigint's
    /// `FixedMontyForm`, on random numbers and on the edges (0, 1, p−1,
    /// p−2, numbers near 2^(n−1)) where a carry or a final subtraction
    /// could go wrong.
    #[test]
    fn field_arithmetic_agrees_with_crypto_bigint() {
        fn check<const L: usize>(c: &Curve<L>, rng: &mut Rng) {
            let f = &c.f;
            let p = c.p;
            let half = Uint::<L>::ONE.shl_vartime(Uint::<L>::BITS - 1);
            let mut values = vec![
                Uint::ZERO,
                Uint::ONE,
                Uint::from_u8(2),
                p.wrapping_sub(&Uint::ONE),
                p.wrapping_sub(&Uint::from_u8(2)),
                half.rem_vartime(&NonZero::new(p).unwrap()),
                half.wrapping_sub(&Uint::ONE)
                    .rem_vartime(&NonZero::new(p).unwrap()),
            ];
            for _ in 0..40 {
                values.push(rng.below(&p));
            }
            for a in &values {
                for b in &values {
                    let (fa, fb) = (Fe::new(a, &f.params), Fe::new(b, &f.params));
                    let (ma, mb) = (f.of(&fa), f.of(&fb));
                    assert!(same(&f.mul(&ma, &mb), &f.of(&(fa * fb))), "mul");
                    assert!(same(&f.sqr(&ma), &f.of(&fa.square())), "sqr");
                    assert!(same(&f.add(&ma, &mb), &f.of(&(fa + fb))), "add");
                    assert!(same(&f.sub(&ma, &mb), &f.of(&(fa - fb))), "sub");
                    assert!(same(&f.neg(&ma), &f.of(&(-fa))), "neg");
                    let k = 1 + (b.as_words()[0] % 8);
                    let fk = Fe::new(&Uint::from_u64(k), &f.params);
                    assert!(same(&f.small(&ma, k), &f.of(&(fa * fk))), "small {k}");
                }
            }
        }
        let mut rng = Rng(1);
        check(&CRYPTOPRO_A, &mut rng);
        check(&CRYPTOPRO_B, &mut rng);
        check(&CRYPTOPRO_C, &mut rng);
        check(&TC26_256_A, &mut rng);
        check(&TC26_512_A, &mut rng);
        check(&TC26_512_B, &mut rng);
        check(&TC26_512_C, &mut rng);
    }

    /// The wNAF digits are odd and in range, nonzero ones are at least w
    /// apart, and they add back up to the scalar.
    #[test]
    fn wnaf_digits_rebuild_the_scalar() {
        let mut rng = Rng(2);
        let max = Uint::<{ U512::LIMBS }>::MAX;
        let mut scalars = vec![Uint::ZERO, Uint::ONE, max, max.shr_vartime(1)];
        for _ in 0..200 {
            scalars.push(rng.below(&max));
        }
        for w in [2, 4, 5, 7, 8] {
            for k in &scalars {
                let digits = wnaf(k, w);
                let mut back = Uint::<{ U512::LIMBS }>::ZERO;
                let mut last: Option<usize> = None;
                for (i, &d) in digits.iter().enumerate().rev() {
                    back = back.wrapping_add(&back);
                    if d != 0 {
                        assert!(d % 2 != 0 && i32::from(d).abs() < 1 << (w - 1), "{d}");
                        if let Some(j) = last {
                            assert!(j - i >= w as usize, "digits too close");
                        }
                        last = Some(i);
                        let m = Uint::from_u8(d.unsigned_abs());
                        back = if d > 0 {
                            back.wrapping_add(&m)
                        } else {
                            back.wrapping_sub(&m)
                        };
                    }
                }
                assert!(same(&back, k), "wNAF({w}) does not add up");
            }
        }
    }

    type Plain<const L: usize> = Option<(Fe<L>, Fe<L>)>;

    /// The textbook affine sum, one inversion per step, sharing nothing
    /// with the fast code but crypto-bigint.
    fn plain_add<const L: usize>(c: &Curve<L>, p: Plain<L>, q: Plain<L>) -> Plain<L> {
        let (Some((x1, y1)), Some((x2, y2))) = (p, q) else {
            return p.or(q);
        };
        let lambda = if same(x1.as_montgomery(), x2.as_montgomery()) {
            if (y1 + y2).as_montgomery().is_zero_vartime() {
                return None;
            }
            let three = Fe::new(&Uint::from_u8(3), &c.f.params);
            (three * x1.square() + c.f.fe(&c.a)) * (y1 + y1).invert_vartime().into_option().unwrap()
        } else {
            (y2 - y1) * (x2 - x1).invert_vartime().into_option().unwrap()
        };
        let x3 = lambda.square() - x1 - x2;
        Some((x3, lambda * (x1 - x3) - y1))
    }

    fn plain_mul<const L: usize>(c: &Curve<L>, k: &Uint<L>, p: Plain<L>) -> Plain<L> {
        let mut acc = None;
        for i in (0..k.bit_width_vartime()).rev() {
            acc = plain_add(c, acc, acc);
            if k.bit_vartime(i) {
                acc = plain_add(c, acc, p);
            }
        }
        acc
    }

    /// `twin_mul` (wNAF, Straus, base table, mixed addition, a = −3
    /// doubling) against plain double-and-add in affine coordinates, on
    /// random scalars and on the cases that hit the addition's exceptions
    /// (equal points, opposite points, zero scalars), for every curve.
    #[test]
    fn twin_mul_agrees_with_plain_double_and_add() {
        fn check<const L: usize>(c: &Curve<L>, rng: &mut Rng) {
            let q = c.q.get();
            let base: Plain<L> = Some((c.f.fe(&c.base.x), c.f.fe(&c.base.y)));
            let to_plain = |pt: &Point<L>| -> Plain<L> {
                c.to_affine(pt).map(|a| (c.f.fe(&a.x), c.f.fe(&a.y)))
            };
            let from_plain = |pt: Plain<L>| {
                let (x, y) = pt.unwrap();
                Affine {
                    x: c.f.of(&x),
                    y: c.f.of(&y),
                }
            };
            let key = plain_mul(c, &rng.below(&q), base);
            let k = rng.below(&q);
            let q_minus_1 = q.wrapping_sub(&Uint::ONE);
            let cases = [
                (rng.below(&q), key),
                (rng.below(&q), key),
                (Uint::ONE, base),
                (Uint::ONE, plain_mul(c, &q_minus_1, base)),
                (k, plain_mul(c, &k, base)),
                (k, plain_mul(c, &q.wrapping_sub(&k), base)),
                (Uint::ZERO, key),
                (q_minus_1, base),
            ];
            for (i, (z1, point)) in cases.into_iter().enumerate() {
                let z2 = if i == 1 { Uint::ZERO } else { rng.below(&q) };
                let z2 = if (2..6).contains(&i) { Uint::ONE } else { z2 };
                let fast = c.twin_mul(&z1, &from_plain(point), &z2);
                let slow = plain_add(c, plain_mul(c, &z1, base), plain_mul(c, &z2, point));
                let same_point = match (to_plain(&fast), slow) {
                    (None, None) => true,
                    (Some((x1, y1)), Some((x2, y2))) => {
                        same(x1.as_montgomery(), x2.as_montgomery())
                            && same(y1.as_montgomery(), y2.as_montgomery())
                    }
                    _ => false,
                };
                assert!(same_point, "case {i}");
            }
        }
        let mut rng = Rng(3);
        check(&CRYPTOPRO_A, &mut rng);
        check(&CRYPTOPRO_B, &mut rng);
        check(&CRYPTOPRO_C, &mut rng);
        check(&TC26_256_A, &mut rng);
        check(&TC26_512_A, &mut rng);
        check(&TC26_512_B, &mut rng);
        check(&TC26_512_C, &mut rng);
    }
}
