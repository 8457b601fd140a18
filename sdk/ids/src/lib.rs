//! Validators for Russian and Kazakh identifiers of people and organisations.
//!
//! This crate owns the rules for INN (10 and 12 digits), OGRN, OGRNIP, KPP and
//! SNILS (Russia) and IIN / BIN (Kazakhstan): which characters are allowed,
//! the expected length, structural checks (leading digits, dates, entity
//! type) and the official check-digit algorithms. It also owns the wording of
//! the error messages shown to Russian-speaking users under form fields, so
//! the web host and WASM plugins report the same problem in the same words.
//!
//! Everything here is a pure function with no dependencies and no I/O.
//!
//! Input may contain spaces (including non-breaking spaces) and dashes, as
//! people type `112-233-445 95`; those are stripped, any other character is
//! rejected. On success [`validate`] returns the canonical form: digits only,
//! except SNILS (`XXX-XXX-XXX YY`) and KPP (digits and capital Latin letters).

use std::fmt;

/// Which identifier to validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// Russian INN of any type: 10 digits (organisation) or 12 digits (person).
    Inn,
    /// Russian INN of an organisation: 10 digits.
    InnLegal,
    /// Russian INN of a person or sole proprietor: 12 digits.
    InnPerson,
    /// Russian OGRN of an organisation: 13 digits.
    Ogrn,
    /// Russian OGRNIP of a sole proprietor: 15 digits.
    Ogrnip,
    /// Russian KPP: 9 characters, format check only.
    Kpp,
    /// Russian SNILS (individual insurance account number): 11 digits.
    Snils,
    /// Kazakh IIN of a person: 12 digits.
    Iin,
    /// Kazakh BIN of an organisation: 12 digits.
    Bin,
    /// Kazakh IIN or BIN, whichever the number is.
    IinOrBin,
}

impl IdKind {
    /// Every kind, in declaration order.
    pub const ALL: [IdKind; 10] = [
        IdKind::Inn,
        IdKind::InnLegal,
        IdKind::InnPerson,
        IdKind::Ogrn,
        IdKind::Ogrnip,
        IdKind::Kpp,
        IdKind::Snils,
        IdKind::Iin,
        IdKind::Bin,
        IdKind::IinOrBin,
    ];

    /// Parses the name used in configuration: `inn`, `inn_legal`,
    /// `inn_person`, `ogrn`, `ogrnip`, `kpp`, `snils`, `iin`, `bin`,
    /// `iin_or_bin`. The earlier short names `inn10`, `inn12` and `iin_bin`
    /// still parse, so configurations written with them keep loading.
    /// Names are exact (lower case); anything else gives `None`.
    pub fn from_name(name: &str) -> Option<IdKind> {
        Some(match name {
            "inn" => IdKind::Inn,
            "inn_legal" | "inn10" => IdKind::InnLegal,
            "inn_person" | "inn12" => IdKind::InnPerson,
            "ogrn" => IdKind::Ogrn,
            "ogrnip" => IdKind::Ogrnip,
            "kpp" => IdKind::Kpp,
            "snils" => IdKind::Snils,
            "iin" => IdKind::Iin,
            "bin" => IdKind::Bin,
            "iin_or_bin" | "iin_bin" => IdKind::IinOrBin,
            _ => return None,
        })
    }

    /// The configuration name; the inverse of [`IdKind::from_name`].
    pub fn name(self) -> &'static str {
        match self {
            IdKind::Inn => "inn",
            IdKind::InnLegal => "inn_legal",
            IdKind::InnPerson => "inn_person",
            IdKind::Ogrn => "ogrn",
            IdKind::Ogrnip => "ogrnip",
            IdKind::Kpp => "kpp",
            IdKind::Snils => "snils",
            IdKind::Iin => "iin",
            IdKind::Bin => "bin",
            IdKind::IinOrBin => "iin_or_bin",
        }
    }

    /// The Russian abbreviation shown to users, e.g. `ИНН`.
    pub fn label_ru(self) -> &'static str {
        match self {
            IdKind::Inn | IdKind::InnLegal | IdKind::InnPerson => "ИНН",
            IdKind::Ogrn => "ОГРН",
            IdKind::Ogrnip => "ОГРНИП",
            IdKind::Kpp => "КПП",
            IdKind::Snils => "СНИЛС",
            IdKind::Iin => "ИИН",
            IdKind::Bin => "БИН",
            IdKind::IinOrBin => "ИИН/БИН",
        }
    }
}

/// Why an identifier was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Nothing but spaces and dashes (or nothing at all) was entered.
    Empty,
    /// A character other than a digit, space or dash was entered (for KPP:
    /// other than a digit, capital Latin letter, space or dash).
    NotDigits {
        /// The first offending character.
        found: char,
    },
    /// Wrong number of characters after spaces and dashes were removed.
    Length {
        /// What was expected, as a Russian phrase with its unit,
        /// e.g. `"10 или 12 цифр"` or `"9 символов"`.
        expected: &'static str,
        /// How many characters were entered (spaces and dashes not counted).
        got: usize,
    },
    /// The check digit(s) do not match: most likely a typo.
    Checksum,
    /// A structural rule is broken; the text (in Russian, without the
    /// identifier's name) says which, e.g. `"первая цифра должна быть 3"`.
    Format(&'static str),
}

/// A rejected identifier: which kind was being validated and why.
///
/// `Display` gives a complete Russian sentence naming the identifier, fit to
/// show under a form field as is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdError {
    /// The kind that was being validated (as requested, e.g. `Inn` or `IinOrBin`).
    pub kind: IdKind,
    /// What is wrong.
    pub reason: Reason,
}

impl IdError {
    /// Creates an error for `kind`.
    pub fn new(kind: IdKind, reason: Reason) -> IdError {
        IdError { kind, reason }
    }
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = self.kind.label_ru();
        match &self.reason {
            Reason::Empty => write!(f, "Введите {label}"),
            Reason::NotDigits { found } => {
                if self.kind == IdKind::Kpp {
                    write!(
                        f,
                        "{label} может содержать только цифры и заглавные латинские буквы, а введён символ "
                    )?;
                } else {
                    write!(f, "{label} должен содержать только цифры, а введён символ ")?;
                }
                if found.is_control() {
                    write!(f, "с кодом U+{:04X}", u32::from(*found))
                } else {
                    write!(f, "«{found}»")
                }
            }
            Reason::Length { expected, got } => {
                write!(f, "{label} должен состоять из {expected}, введено {got}")
            }
            Reason::Checksum => write!(
                f,
                "Неверная контрольная сумма {label}: проверьте, правильно ли введены цифры"
            ),
            Reason::Format(detail) => write!(f, "{label}: {detail}"),
        }
    }
}

impl std::error::Error for IdError {}

/// Validates `input` as `kind` and returns its canonical form.
///
/// Spaces (any Unicode whitespace) and dashes (`-`, `‐`…`―`, `−`) are
/// stripped; any other non-digit is rejected (KPP also allows capital Latin
/// letters in its 5th and 6th positions). The canonical form is digits only,
/// except SNILS, which is returned as `XXX-XXX-XXX YY`.
pub fn validate(kind: IdKind, input: &str) -> Result<String, IdError> {
    match kind {
        IdKind::Inn => inn(input),
        IdKind::InnLegal => inn_of(kind, input, &[10], "10 цифр"),
        IdKind::InnPerson => inn_of(kind, input, &[12], "12 цифр"),
        IdKind::Ogrn => ogrn(input),
        IdKind::Ogrnip => ogrnip(input),
        IdKind::Kpp => kpp(input),
        IdKind::Snils => snils(input),
        IdKind::Iin => iin(input),
        IdKind::Bin => bin(input),
        IdKind::IinOrBin => iin_or_bin(input),
    }
}

/// Whether `input` is a valid identifier of `kind` (see [`validate`]).
pub fn is_valid(kind: IdKind, input: &str) -> bool {
    validate(kind, input).is_ok()
}

/// Russian INN: 10 digits (organisation) or 12 digits (person, sole proprietor).
pub fn inn(input: &str) -> Result<String, IdError> {
    inn_of(IdKind::Inn, input, &[10, 12], "10 или 12 цифр")
}

/// Russian OGRN: 13 digits, starting with 1 or 5.
pub fn ogrn(input: &str) -> Result<String, IdError> {
    let kind = IdKind::Ogrn;
    let d = digits(kind, input, &[13], "13 цифр")?;
    if d[0] != 1 && d[0] != 5 {
        return Err(format_err(kind, "первая цифра должна быть 1 или 5"));
    }
    if mod_of(&d[..12], 11) % 10 != u64::from(d[12]) {
        return Err(IdError::new(kind, Reason::Checksum));
    }
    Ok(to_string(&d))
}

/// Russian OGRNIP: 15 digits, starting with 3.
pub fn ogrnip(input: &str) -> Result<String, IdError> {
    let kind = IdKind::Ogrnip;
    let d = digits(kind, input, &[15], "15 цифр")?;
    if d[0] != 3 {
        return Err(format_err(kind, "первая цифра должна быть 3"));
    }
    if mod_of(&d[..14], 13) % 10 != u64::from(d[14]) {
        return Err(IdError::new(kind, Reason::Checksum));
    }
    Ok(to_string(&d))
}

/// Russian KPP: 4 digits (tax office), 2 digits or capital Latin letters
/// (reason code), 3 digits. There is no check digit, only the format.
pub fn kpp(input: &str) -> Result<String, IdError> {
    let kind = IdKind::Kpp;
    let mut out = String::with_capacity(9);
    for c in input.chars().filter(|c| !is_separator(*c)) {
        if c.is_ascii_digit() || c.is_ascii_uppercase() {
            out.push(c);
        } else if c.is_ascii_lowercase() {
            return Err(format_err(
                kind,
                "буквы должны быть заглавными латинскими (A–Z)",
            ));
        } else if c.is_alphabetic() {
            return Err(format_err(
                kind,
                "допустимы только латинские буквы A–Z, проверьте раскладку клавиатуры",
            ));
        } else {
            return Err(IdError::new(kind, Reason::NotDigits { found: c }));
        }
    }
    if out.is_empty() {
        return Err(IdError::new(kind, Reason::Empty));
    }
    if out.len() != 9 {
        return Err(IdError::new(
            kind,
            Reason::Length {
                expected: "9 символов",
                got: out.len(),
            },
        ));
    }
    let b = out.as_bytes();
    if !b[..4].iter().chain(&b[6..]).all(u8::is_ascii_digit) {
        return Err(format_err(
            kind,
            "буквы допустимы только в 5-м и 6-м знаках (код причины постановки на учёт)",
        ));
    }
    Ok(out)
}

/// Russian SNILS: 11 digits; canonical form `XXX-XXX-XXX YY`.
///
/// The check number is verified only for numbers above `001-001-998`, as the
/// algorithm prescribes; smaller numbers are accepted as they are.
pub fn snils(input: &str) -> Result<String, IdError> {
    let kind = IdKind::Snils;
    let d = digits(kind, input, &[11], "11 цифр")?;
    if mod_of(&d[..9], u64::MAX) > 1_001_998 {
        let sum: u32 = d[..9]
            .iter()
            .zip((1..=9).rev())
            .map(|(&x, w)| u32::from(x) * w)
            .sum();
        let check = match sum {
            0..=99 => sum,
            100 | 101 => 0,
            _ => match sum % 101 {
                100 => 0,
                r => r,
            },
        };
        if check != u32::from(d[9]) * 10 + u32::from(d[10]) {
            return Err(IdError::new(kind, Reason::Checksum));
        }
    }
    let s = to_string(&d);
    Ok(format!(
        "{}-{}-{} {}",
        &s[0..3],
        &s[3..6],
        &s[6..9],
        &s[9..11]
    ))
}

/// Kazakh IIN (person): 12 digits, `YYMMDD`, century/sex digit 0–6, serial,
/// check digit.
pub fn iin(input: &str) -> Result<String, IdError> {
    let kind = IdKind::Iin;
    let d = digits(kind, input, &[12], "12 цифр")?;
    check_iin_structure(kind, &d)?;
    check_kz_checksum(kind, &d)?;
    Ok(to_string(&d))
}

/// Kazakh BIN (organisation): 12 digits, `YYMM`, entity type 4–6, attribute,
/// serial, check digit.
pub fn bin(input: &str) -> Result<String, IdError> {
    let kind = IdKind::Bin;
    let d = digits(kind, input, &[12], "12 цифр")?;
    check_bin_structure(kind, &d)?;
    check_kz_checksum(kind, &d)?;
    Ok(to_string(&d))
}

/// Kazakh IIN or BIN: the 5th digit tells them apart (0–3 is the tens of the
/// birth day in an IIN, 4–6 is the entity type in a BIN).
pub fn iin_or_bin(input: &str) -> Result<String, IdError> {
    let kind = IdKind::IinOrBin;
    let d = digits(kind, input, &[12], "12 цифр")?;
    match d[4] {
        0..=3 => check_iin_structure(kind, &d)?,
        4..=6 => check_bin_structure(kind, &d)?,
        _ => {
            return Err(format_err(
                kind,
                "5-я цифра должна быть от 0 до 3 (ИИН) или от 4 до 6 (БИН)",
            ));
        }
    }
    check_kz_checksum(kind, &d)?;
    Ok(to_string(&d))
}

fn inn_of(
    kind: IdKind,
    input: &str,
    lengths: &[usize],
    expected: &'static str,
) -> Result<String, IdError> {
    const W10: [u32; 9] = [2, 4, 10, 3, 5, 9, 4, 6, 8];
    const W11: [u32; 10] = [7, 2, 4, 10, 3, 5, 9, 4, 6, 8];
    const W12: [u32; 11] = [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8];
    let d = digits(kind, input, lengths, expected)?;
    let ok = if d.len() == 10 {
        weighted_mod(&d, &W10, 11) % 10 == u32::from(d[9])
    } else {
        weighted_mod(&d, &W11, 11) % 10 == u32::from(d[10])
            && weighted_mod(&d, &W12, 11) % 10 == u32::from(d[11])
    };
    if !ok {
        return Err(IdError::new(kind, Reason::Checksum));
    }
    Ok(to_string(&d))
}

fn check_iin_structure(kind: IdKind, d: &[u8]) -> Result<(), IdError> {
    let month = d[2] * 10 + d[3];
    let day = d[4] * 10 + d[5];
    if !(1..=12).contains(&month) {
        return Err(format_err(
            kind,
            "месяц рождения (3-я и 4-я цифры) должен быть от 01 до 12",
        ));
    }
    if d[6] > 6 {
        return Err(format_err(
            kind,
            "7-я цифра (век и пол) должна быть от 0 до 6",
        ));
    }
    // 1–2: born in the 19th century, 3–4: 20th, 5–6: 21st; 0: not encoded.
    let century = match d[6] {
        1 | 2 => Some(1800),
        3 | 4 => Some(1900),
        5 | 6 => Some(2000),
        _ => None,
    };
    let year = century.map(|c| c + u32::from(d[0] * 10 + d[1]));
    let max_day = match month {
        2 => match year {
            Some(y) if !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) => 28,
            _ => 29,
        },
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day == 0 || day > max_day {
        return Err(format_err(
            kind,
            "день рождения (5-я и 6-я цифры) не существует в указанном месяце",
        ));
    }
    Ok(())
}

fn check_bin_structure(kind: IdKind, d: &[u8]) -> Result<(), IdError> {
    if !(4..=6).contains(&d[4]) {
        return Err(format_err(
            kind,
            "5-я цифра (тип организации) должна быть 4, 5 или 6",
        ));
    }
    Ok(())
}

fn check_kz_checksum(kind: IdKind, d: &[u8]) -> Result<(), IdError> {
    const W1: [u32; 11] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const W2: [u32; 11] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2];
    let mut check = weighted_mod(d, &W1, 11);
    if check == 10 {
        check = weighted_mod(d, &W2, 11);
    }
    if check == 10 || check != u32::from(d[11]) {
        return Err(IdError::new(kind, Reason::Checksum));
    }
    Ok(())
}

fn format_err(kind: IdKind, detail: &'static str) -> IdError {
    IdError::new(kind, Reason::Format(detail))
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '\u{2010}'..='\u{2015}' | '\u{2212}')
}

/// Strips separators and returns the digit values, checking the length.
fn digits(
    kind: IdKind,
    input: &str,
    lengths: &[usize],
    expected: &'static str,
) -> Result<Vec<u8>, IdError> {
    let mut d = Vec::with_capacity(16);
    for c in input.chars().filter(|c| !is_separator(*c)) {
        match c.to_digit(10) {
            // `to_digit(10)` accepts ASCII digits only, so this fits in u8.
            Some(v) => d.push(v as u8),
            None => return Err(IdError::new(kind, Reason::NotDigits { found: c })),
        }
    }
    if d.is_empty() {
        return Err(IdError::new(kind, Reason::Empty));
    }
    if !lengths.contains(&d.len()) {
        return Err(IdError::new(
            kind,
            Reason::Length {
                expected,
                got: d.len(),
            },
        ));
    }
    Ok(d)
}

/// `sum(d[i] * w[i]) mod m`, over the first `w.len()` digits.
fn weighted_mod(d: &[u8], weights: &[u32], m: u32) -> u32 {
    d.iter()
        .zip(weights)
        .map(|(&x, &w)| u32::from(x) * w)
        .sum::<u32>()
        % m
}

/// The decimal number formed by `d`, modulo `m` (`u64::MAX` gives the number
/// itself for up to 19 digits).
fn mod_of(d: &[u8], m: u64) -> u64 {
    d.iter().fold(0u64, |acc, &x| (acc * 10 + u64::from(x)) % m)
}

fn to_string(d: &[u8]) -> String {
    d.iter().map(|&x| char::from(b'0' + x)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(kind: IdKind, input: &str) -> Reason {
        validate(kind, input).unwrap_err().reason
    }

    // ---------- IdKind ----------

    #[test]
    fn names_round_trip() {
        for kind in IdKind::ALL {
            assert_eq!(IdKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(IdKind::from_name("iin_bin"), Some(IdKind::IinOrBin));
        assert_eq!(IdKind::from_name("inn10"), Some(IdKind::InnLegal));
        assert_eq!(IdKind::from_name("INN"), None);
        assert_eq!(IdKind::from_name(""), None);
    }

    #[test]
    fn labels() {
        assert_eq!(IdKind::InnPerson.label_ru(), "ИНН");
        assert_eq!(IdKind::Ogrnip.label_ru(), "ОГРНИП");
        assert_eq!(IdKind::Snils.label_ru(), "СНИЛС");
        assert_eq!(IdKind::IinOrBin.label_ru(), "ИИН/БИН");
    }

    // ---------- INN ----------

    #[test]
    fn inn10_real_organisations() {
        // Sberbank: weights 2,4,10,3,5,9,4,6,8 over 770708389 give
        // 14+28+0+21+0+72+12+48+72 = 267; 267 mod 11 = 3; 3 mod 10 = 3 = last digit.
        assert_eq!(inn("7707083893").unwrap(), "7707083893");
        assert_eq!(inn("7736050003").unwrap(), "7736050003"); // Gazprom
        assert_eq!(inn("7736207543").unwrap(), "7736207543"); // Yandex
        assert_eq!(inn("7702070139").unwrap(), "7702070139"); // VTB
        assert!(validate(IdKind::InnLegal, "7707083893").is_ok());
        assert_eq!(
            reason(IdKind::InnPerson, "7707083893"),
            Reason::Length {
                expected: "12 цифр",
                got: 10
            }
        );
    }

    #[test]
    fn inn12_hand_checked() {
        // 500100732259, the standard documented example of a personal INN.
        // 11th digit: weights 7,2,4,10,3,5,9,4,6,8 over 5001007322:
        //   35+0+0+10+0+0+63+12+12+16 = 148; 148 mod 11 = 5; -> 5 (matches).
        // 12th digit: weights 3,7,2,4,10,3,5,9,4,6,8 over 50010073225:
        //   15+0+0+4+0+0+35+27+8+12+40 = 141; 141 mod 11 = 9; -> 9 (matches).
        assert_eq!(inn("5001 0073 2259").unwrap(), "500100732259");
        assert!(validate(IdKind::InnPerson, "500100732259").is_ok());
        assert_eq!(
            reason(IdKind::InnLegal, "500100732259"),
            Reason::Length {
                expected: "10 цифр",
                got: 12
            }
        );
    }

    #[test]
    fn inn_wrong_digit() {
        assert_eq!(reason(IdKind::Inn, "7707083894"), Reason::Checksum);
        assert_eq!(reason(IdKind::Inn, "7707038893"), Reason::Checksum); // swapped digits
        assert_eq!(reason(IdKind::Inn, "500100732258"), Reason::Checksum); // 12th
        assert_eq!(reason(IdKind::Inn, "500100732249"), Reason::Checksum); // 11th
    }

    #[test]
    fn inn_bad_input() {
        assert_eq!(
            reason(IdKind::Inn, "770708389"),
            Reason::Length {
                expected: "10 или 12 цифр",
                got: 9
            }
        );
        assert_eq!(
            reason(IdKind::Inn, "77070838O3"),
            Reason::NotDigits { found: 'O' }
        );
        assert_eq!(reason(IdKind::Inn, ""), Reason::Empty);
        assert_eq!(reason(IdKind::Inn, " - "), Reason::Empty);
        // Other punctuation is not silently dropped.
        assert_eq!(
            reason(IdKind::Inn, "7707.083893"),
            Reason::NotDigits { found: '.' }
        );
        // Non-ASCII digits are not digits here.
        assert_eq!(
            reason(IdKind::Inn, "٧707083893"),
            Reason::NotDigits { found: '٧' }
        );
    }

    // ---------- OGRN / OGRNIP ----------

    #[test]
    fn ogrn_real_organisations() {
        // Sberbank: 102770013219 mod 11 = 5; 5 mod 10 = 5 = last digit.
        assert_eq!(ogrn("1027700132195").unwrap(), "1027700132195");
        assert_eq!(ogrn("1027700070518").unwrap(), "1027700070518"); // Gazprom
        assert_eq!(ogrn("1027700229193").unwrap(), "1027700229193"); // Yandex
    }

    #[test]
    fn ogrn_negative() {
        assert_eq!(reason(IdKind::Ogrn, "1027700132196"), Reason::Checksum);
        assert_eq!(
            reason(IdKind::Ogrn, "102770013219"),
            Reason::Length {
                expected: "13 цифр",
                got: 12
            }
        );
        assert!(matches!(
            reason(IdKind::Ogrn, "2027700132195"),
            Reason::Format(_)
        ));
        assert_eq!(
            reason(IdKind::Ogrn, "1027700l32195"),
            Reason::NotDigits { found: 'l' }
        );
        assert_eq!(reason(IdKind::Ogrn, ""), Reason::Empty);
    }

    #[test]
    fn ogrnip_hand_checked() {
        // 304500116000157, a documented example OGRNIP:
        // 30450011600015 = 13 * 2342308584616 + 7, so mod 13 = 7; 7 mod 10 = 7
        // = last digit.
        assert_eq!(ogrnip("304500116000157").unwrap(), "304500116000157");
        assert_eq!(reason(IdKind::Ogrnip, "304500116000158"), Reason::Checksum);
        assert_eq!(reason(IdKind::Ogrnip, "304500116001157"), Reason::Checksum);
        assert!(matches!(
            reason(IdKind::Ogrnip, "104500116000157"),
            Reason::Format(_)
        ));
        assert_eq!(
            reason(IdKind::Ogrnip, "1027700132195"),
            Reason::Length {
                expected: "15 цифр",
                got: 13
            }
        );
    }

    // ---------- KPP ----------

    #[test]
    fn kpp_real_and_letters() {
        assert_eq!(kpp("773601001").unwrap(), "773601001"); // Sberbank
        assert_eq!(kpp("7736 01 001").unwrap(), "773601001");
        // Reason code with letters (allowed since 2019).
        assert_eq!(kpp("7736AB001").unwrap(), "7736AB001");
        assert_eq!(kpp("77360Z001").unwrap(), "77360Z001");
    }

    #[test]
    fn kpp_negative() {
        assert_eq!(
            reason(IdKind::Kpp, "77360100"),
            Reason::Length {
                expected: "9 символов",
                got: 8
            }
        );
        assert_eq!(
            reason(IdKind::Kpp, "7736010011"),
            Reason::Length {
                expected: "9 символов",
                got: 10
            }
        );
        // Letters outside the reason code.
        assert!(matches!(
            reason(IdKind::Kpp, "A73601001"),
            Reason::Format(_)
        ));
        assert!(matches!(
            reason(IdKind::Kpp, "77360100A"),
            Reason::Format(_)
        ));
        // Lower case and Cyrillic look-alikes are rejected with a hint.
        assert!(matches!(
            reason(IdKind::Kpp, "7736ab001"),
            Reason::Format(_)
        ));
        assert!(matches!(
            reason(IdKind::Kpp, "7736АВ001"),
            Reason::Format(_)
        ));
        assert_eq!(
            reason(IdKind::Kpp, "7736_1001"),
            Reason::NotDigits { found: '_' }
        );
        assert_eq!(reason(IdKind::Kpp, "  "), Reason::Empty);
    }

    // ---------- SNILS ----------

    #[test]
    fn snils_documented_example() {
        // 112-233-445 95: 1*9+1*8+2*7+2*6+3*5+3*4+4*3+4*2+5*1
        //   = 9+8+14+12+15+12+12+8+5 = 95 < 100, so the check number is 95.
        assert_eq!(snils("11223344595").unwrap(), "112-233-445 95");
        assert_eq!(snils("112-233-445 95").unwrap(), "112-233-445 95");
        assert_eq!(snils(" 112 233 445-95 ").unwrap(), "112-233-445 95");
        assert_eq!(snils("112–233–445\u{a0}95").unwrap(), "112-233-445 95");
    }

    #[test]
    fn snils_checksum_branches() {
        // 001-508-815: 0+0+7+30+0+32+24+2+5 = 100 -> 00.
        assert_eq!(snils("00150881500").unwrap(), "001-508-815 00");
        assert_eq!(reason(IdKind::Snils, "00150881501"), Reason::Checksum);
        // 001-437-544: 0+0+7+24+15+28+15+8+4 = 101 -> 00.
        assert_eq!(snils("00143754400").unwrap(), "001-437-544 00");
        assert_eq!(reason(IdKind::Snils, "00143754401"), Reason::Checksum);
        // 001-168-298: 0+0+7+6+30+32+6+18+8 = 107 > 101 -> 107 mod 101 = 06.
        assert_eq!(snils("00116829806").unwrap(), "001-168-298 06");
        assert_eq!(reason(IdKind::Snils, "00116829807"), Reason::Checksum);
        // 003-998-986: 0+0+21+54+45+32+27+16+6 = 201 -> 201 mod 101 = 100 -> 00.
        assert_eq!(snils("00399898600").unwrap(), "003-998-986 00");
        assert_eq!(reason(IdKind::Snils, "00399898699"), Reason::Checksum);
    }

    #[test]
    fn snils_small_numbers_unchecked() {
        // Up to and including 001-001-998 the check number is not verified.
        assert_eq!(snils("00100199837").unwrap(), "001-001-998 37");
        assert!(snils("000-000-001 99").is_ok());
        // 001-001-999 is checked: 0+0+7+0+0+4+27+18+9 = 65.
        assert_eq!(snils("00100199965").unwrap(), "001-001-999 65");
        assert_eq!(reason(IdKind::Snils, "00100199937"), Reason::Checksum);
    }

    #[test]
    fn snils_negative() {
        assert_eq!(reason(IdKind::Snils, "112-233-445 96"), Reason::Checksum);
        assert_eq!(reason(IdKind::Snils, "112-233-446 95"), Reason::Checksum);
        assert_eq!(
            reason(IdKind::Snils, "112-233-445 9"),
            Reason::Length {
                expected: "11 цифр",
                got: 10
            }
        );
        assert_eq!(
            reason(IdKind::Snils, "112/233/445 95"),
            Reason::NotDigits { found: '/' }
        );
        assert_eq!(reason(IdKind::Snils, ""), Reason::Empty);
    }

    // ---------- Kazakhstan: BIN ----------

    #[test]
    fn bin_real_banks() {
        // Halyk Bank 940140000385: weights 1..11 over 94014000038:
        //   9+8+0+4+20+0+0+0+0+30+88 = 159; 159 mod 11 = 5 = last digit.
        assert_eq!(bin("940140000385").unwrap(), "940140000385");
        // Kaspi Bank 971240001315: 9+14+3+8+20+0+0+0+9+30+11 = 104;
        //   104 mod 11 = 5 = last digit.
        assert_eq!(bin("971240001315").unwrap(), "971240001315");
        // ForteBank 990740000683: 9+18+0+28+20+0+0+0+0+60+88 = 223;
        //   223 mod 11 = 3 = last digit.
        assert_eq!(bin("990740000683").unwrap(), "990740000683");
        // Bank CenterCredit 920140000084: 9+4+0+4+20+0+0+0+0+0+88 = 125;
        //   125 mod 11 = 4 = last digit.
        assert_eq!(bin("920140000084").unwrap(), "920140000084");
        assert!(iin_or_bin("940140000385").is_ok());
    }

    #[test]
    fn bin_negative() {
        assert_eq!(reason(IdKind::Bin, "940140000386"), Reason::Checksum);
        assert_eq!(reason(IdKind::Bin, "971240002315"), Reason::Checksum);
        // 5th digit (entity type) must be 4..6; an IIN is not a BIN.
        assert!(matches!(
            reason(IdKind::Bin, "900101300017"),
            Reason::Format(_)
        ));
        assert_eq!(
            reason(IdKind::Bin, "94014000038"),
            Reason::Length {
                expected: "12 цифр",
                got: 11
            }
        );
        assert_eq!(
            reason(IdKind::Bin, "94014000038S"),
            Reason::NotDigits { found: 'S' }
        );
    }

    // ---------- Kazakhstan: IIN ----------

    #[test]
    fn iin_hand_checked() {
        // 900101300017: born 1990-01-01, 7th digit 3 (male, 20th century).
        //   First pass, weights 1..11 over 90010130001:
        //   9*1+0+0+1*4+0+1*6+3*7+0+0+0+1*11 = 9+4+6+21+11 = 51; 51 mod 11 = 7.
        assert_eq!(iin("900101300017").unwrap(), "900101300017");
        // 870412300054: born 1987-04-12, male. First pass over 87041230005:
        //   8+14+0+16+5+12+21+0+0+0+55 = 131; 131 mod 11 = 10 -> second pass,
        //   weights 3,4,5,6,7,8,9,10,11,1,2:
        //   24+28+0+24+7+16+27+0+0+0+10 = 136; 136 mod 11 = 4.
        assert_eq!(iin("870412 300054").unwrap(), "870412300054");
        // 050315600121: born 2005-03-15, 7th digit 6 (female, 21st century).
        //   First pass: 0+10+0+12+5+30+42+0+0+10+22 = 131 -> 10; second pass:
        //   0+20+0+18+7+40+54+0+0+1+4 = 144; 144 mod 11 = 1.
        assert_eq!(iin("050315600121").unwrap(), "050315600121");
        // 29 February 2000 (leap year): 0+0+0+8+10+54+35+0+0+0+11 = 118 -> 8.
        assert_eq!(iin("000229500018").unwrap(), "000229500018");
        assert!(iin_or_bin("870412300054").is_ok());
    }

    #[test]
    fn iin_negative() {
        assert_eq!(reason(IdKind::Iin, "900101300018"), Reason::Checksum);
        assert_eq!(reason(IdKind::Iin, "870412300064"), Reason::Checksum);
        // Both passes give 10 for 87041230008 (164 mod 11 = 10, 142 mod 11 =
        // 10), so no check digit can make it valid.
        for last in 0..=9 {
            let s = format!("87041230008{last}");
            assert_eq!(reason(IdKind::Iin, &s), Reason::Checksum, "{s}");
        }
        // Month 13.
        assert!(matches!(
            reason(IdKind::Iin, "901301300017"),
            Reason::Format(_)
        ));
        // Month 00, day 00, day 31 in a 30-day month.
        assert!(matches!(
            reason(IdKind::Iin, "900001300017"),
            Reason::Format(_)
        ));
        assert!(matches!(
            reason(IdKind::Iin, "900100300017"),
            Reason::Format(_)
        ));
        assert!(matches!(
            reason(IdKind::Iin, "900431300017"),
            Reason::Format(_)
        ));
        // 29 February 1900 (7th digit 3) and 2001 do not exist.
        assert!(matches!(
            reason(IdKind::Iin, "000229300015"),
            Reason::Format(_)
        ));
        assert!(matches!(
            reason(IdKind::Iin, "010229500016"),
            Reason::Format(_)
        ));
        // 7th digit 7 is not a century/sex code.
        assert!(matches!(
            reason(IdKind::Iin, "900101700017"),
            Reason::Format(_)
        ));
        // A BIN is not an IIN.
        assert!(matches!(
            reason(IdKind::Iin, "940140000385"),
            Reason::Format(_)
        ));
        assert_eq!(reason(IdKind::Iin, ""), Reason::Empty);
    }

    #[test]
    fn iin_or_bin_dispatch() {
        assert_eq!(
            validate(IdKind::IinOrBin, "9401 4000 0385").unwrap(),
            "940140000385"
        );
        assert_eq!(
            validate(IdKind::IinOrBin, "900101300017").unwrap(),
            "900101300017"
        );
        // 5th digit 7: neither a day nor an entity type.
        let err = validate(IdKind::IinOrBin, "940170000385").unwrap_err();
        assert_eq!(err.kind, IdKind::IinOrBin);
        assert!(matches!(err.reason, Reason::Format(_)));
        assert!(matches!(
            reason(IdKind::IinOrBin, "901301300017"),
            Reason::Format(_)
        ));
        assert_eq!(reason(IdKind::IinOrBin, "940140000386"), Reason::Checksum);
    }

    // ---------- messages ----------

    #[test]
    fn messages_name_the_identifier() {
        let msg = |kind, input| validate(kind, input).unwrap_err().to_string();
        assert_eq!(
            msg(IdKind::Inn, "770708389"),
            "ИНН должен состоять из 10 или 12 цифр, введено 9"
        );
        assert_eq!(
            msg(IdKind::Inn, "7707083894"),
            "Неверная контрольная сумма ИНН: проверьте, правильно ли введены цифры"
        );
        assert_eq!(msg(IdKind::Snils, ""), "Введите СНИЛС");
        assert_eq!(
            msg(IdKind::Ogrn, "10277OO132195"),
            "ОГРН должен содержать только цифры, а введён символ «O»"
        );
        assert_eq!(
            msg(IdKind::Ogrnip, "104500116000157"),
            "ОГРНИП: первая цифра должна быть 3"
        );
        assert!(msg(IdKind::Kpp, "7736_1001").starts_with("КПП может содержать"));
        assert!(msg(IdKind::Iin, "901301300017").starts_with("ИИН: месяц"));
        assert!(msg(IdKind::IinOrBin, "940140000386").contains("ИИН/БИН"));
        assert_eq!(
            msg(IdKind::Inn, "7707\u{0}083893"),
            "ИНН должен содержать только цифры, а введён символ с кодом U+0000"
        );
        // Error is a std error and comparable.
        let e: Box<dyn std::error::Error> = Box::new(inn("1").unwrap_err());
        assert!(e.to_string().contains("ИНН"));
    }

    #[test]
    fn is_valid_matches_validate() {
        assert!(is_valid(IdKind::Ogrn, "1027700132195"));
        assert!(!is_valid(IdKind::Ogrn, "1027700132194"));
    }
}
