//! Who a certificate names: the Russian identifiers (INN, INNLE, OGRN,
//! OGRNIP, SNILS) and names, the Kazakh IIN, BIN and role, and whether a
//! verified signer is the applicant whose profile the portal holds.

use const_oid::ObjectIdentifier;
use der::{Encode, Tagged};
use x509_cert::Certificate;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    pub common_name: Option<String>,
    pub surname: Option<String>,
    pub given_names: Option<String>,
    pub organisation: Option<String>,
    pub title: Option<String>,
    /// A person's INN (12 digits); some CAs also write an organisation's
    /// here, padded with two zeros.
    pub inn: Option<String>,
    /// An organisation's INN (10 digits).
    pub inn_le: Option<String>,
    pub ogrn: Option<String>,
    pub ogrnip: Option<String>,
    pub snils: Option<String>,
    pub iin: Option<String>,
    pub bin: Option<String>,
    /// Kazakhstan: the role the extended key usage gives.
    pub kz_role: Option<&'static str>,
}

const CN: &str = "2.5.4.3";
const SURNAME: &str = "2.5.4.4";
const SERIAL_NUMBER: &str = "2.5.4.5";
const ORGANISATION: &str = "2.5.4.10";
const ORG_UNIT: &str = "2.5.4.11";
const TITLE: &str = "2.5.4.12";
const GIVEN_NAME: &str = "2.5.4.42";
const INN: &str = "1.2.643.3.131.1.1";
const INN_LE: &str = "1.2.643.100.4";
const OGRN: &str = "1.2.643.100.1";
const OGRNIP: &str = "1.2.643.100.5";
const SNILS: &str = "1.2.643.100.3";

/// A directory string of any of the types CAs use.
fn text(value: &der::Any) -> Option<String> {
    let bytes = value.value();
    match value.tag().octet() {
        // UTF8String, PrintableString, NumericString, IA5String, TeletexString
        0x0c | 0x13 | 0x12 | 0x16 | 0x14 => String::from_utf8(bytes.to_vec()).ok(),
        // BMPString: UTF-16BE.
        0x1e => {
            if !bytes.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
    .map(|s| s.trim().to_string())
}

/// The digits after a Kazakh prefix such as "IIN" or "BIN".
fn kz_number(value: &str, prefix: &str) -> Option<String> {
    let rest = value.strip_prefix(prefix)?;
    (rest.len() == 12 && rest.bytes().all(|b| b.is_ascii_digit())).then(|| rest.to_string())
}

impl Identity {
    pub fn of(cert: &Certificate) -> Identity {
        let mut id = Identity::default();
        for rdn in cert.tbs_certificate.subject.0.iter() {
            for atv in rdn.0.iter() {
                let Some(v) = text(&atv.value) else { continue };
                let slot = match atv.oid.to_string().as_str() {
                    CN => &mut id.common_name,
                    SURNAME => &mut id.surname,
                    GIVEN_NAME => &mut id.given_names,
                    ORGANISATION => &mut id.organisation,
                    TITLE => &mut id.title,
                    INN => &mut id.inn,
                    INN_LE => &mut id.inn_le,
                    OGRN => &mut id.ogrn,
                    OGRNIP => &mut id.ogrnip,
                    SNILS => &mut id.snils,
                    SERIAL_NUMBER => {
                        if let Some(iin) = kz_number(&v, "IIN") {
                            id.iin = Some(iin);
                        }
                        continue;
                    }
                    ORG_UNIT => {
                        if let Some(bin) = kz_number(&v, "BIN") {
                            id.bin = Some(bin);
                        }
                        continue;
                    }
                    _ => continue,
                };
                *slot = Some(v);
            }
        }
        id.kz_role = kz_role(cert);
        id
    }

    /// The person's full name as Russian documents write it.
    pub fn person_name(&self) -> Option<String> {
        match (&self.surname, &self.given_names) {
            (Some(s), Some(g)) => Some(format!("{s} {g}")),
            _ => self.common_name.clone(),
        }
    }

    /// An organisation's INN whichever attribute carries it.
    fn organisation_inn(&self) -> Option<&str> {
        self.inn_le.as_deref().or_else(|| {
            self.inn
                .as_deref()
                .and_then(|i| i.strip_prefix("00"))
                .filter(|i| i.len() == 10)
        })
    }
}

fn kz_role(cert: &Certificate) -> Option<&'static str> {
    let eku = cert
        .tbs_certificate
        .get::<x509_cert::ext::pkix::ExtendedKeyUsage>()
        .ok()
        .flatten()?
        .1;
    let has = |oid: &str| {
        ObjectIdentifier::new(oid)
            .ok()
            .is_some_and(|o| eku.0.contains(&o))
    };
    // The most specific role first.
    for (oid, role) in [
        ("1.2.398.3.3.4.1.2.1", "первый руководитель организации"),
        ("1.2.398.3.3.4.1.2.2", "лицо с правом подписи"),
        ("1.2.398.3.3.4.1.2.5", "сотрудник организации"),
        ("1.2.398.3.3.4.1.2", "организация"),
        ("1.2.398.3.3.4.1.1", "физическое лицо"),
    ] {
        if has(oid) {
            return Some(role);
        }
    }
    None
}

/// Who the portal believes the applicant is, from the profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applicant<'a> {
    /// A person: SNILS or INN (12 digits).
    Individual {
        snils: Option<&'a str>,
        inn: Option<&'a str>,
    },
    /// An organisation: INN (10 digits) and OGRN.
    Legal { inn: &'a str, ogrn: &'a str },
    /// A sole proprietor: INN (12 digits) and OGRNIP.
    Entrepreneur { inn: &'a str, ogrnip: &'a str },
    /// Kazakhstan: a person by IIN.
    KzPerson { iin: &'a str },
    /// Kazakhstan: an organisation by BIN (the signer's IIN is theirs).
    KzOrganisation { bin: &'a str },
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn same(cert: Option<&str>, profile: &str) -> bool {
    let p = digits(profile);
    !p.is_empty() && cert.is_some_and(|c| digits(c) == p)
}

/// Whether a verified signer is the applicant. The identifiers are
/// compared as digits, so "123-456-789 64" and "12345678964" agree.
pub fn matches(id: &Identity, applicant: &Applicant) -> bool {
    match applicant {
        Applicant::Individual { snils, inn } => {
            snils.is_some_and(|s| same(id.snils.as_deref(), s))
                || inn.is_some_and(|i| same(id.inn.as_deref(), i))
        }
        Applicant::Legal { inn, ogrn } => {
            same(id.organisation_inn(), inn) && same(id.ogrn.as_deref(), ogrn)
        }
        Applicant::Entrepreneur { inn, ogrnip } => {
            same(id.inn.as_deref(), inn) && same(id.ogrnip.as_deref(), ogrnip)
        }
        Applicant::KzPerson { iin } => same(id.iin.as_deref(), iin),
        Applicant::KzOrganisation { bin } => same(id.bin.as_deref(), bin),
    }
}

/// The certificate's serial number in hex, as people compare it.
pub fn serial_hex(cert: &Certificate) -> String {
    cert.tbs_certificate
        .serial_number
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// A one-line name for an issuer or subject.
pub fn name_line(name: &x509_cert::name::Name) -> String {
    let mut parts = Vec::new();
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            if let Some(v) = text(&atv.value) {
                let key = match atv.oid.to_string().as_str() {
                    CN => "CN",
                    ORGANISATION => "O",
                    "2.5.4.6" => "C",
                    _ => continue,
                };
                parts.push(format!("{key}={v}"));
            }
        }
    }
    if parts.is_empty() {
        // Nothing readable: the DER in hex still tells two names apart.
        return name
            .to_der()
            .map(|d| d.iter().map(|b| format!("{b:02x}")).collect())
            .unwrap_or_default();
    }
    parts.join(", ")
}
