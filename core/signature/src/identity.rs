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
    /// Kazakhstan: the role the extended key usage gives, the most
    /// specific one, in words.
    pub kz_role: Option<&'static str>,
    /// Kazakhstan: every role the extended key usage names.
    pub kz_roles: Vec<KzRole>,
}

/// A Kazakh certificate's role, from its extended key usage (pki.gov.kz).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KzRole {
    /// 1.2.398.3.3.4.1.1: a person on their own behalf.
    Individual,
    /// 1.2.398.3.3.4.1.2: issued for an organisation (with one of the
    /// specific roles below).
    Organisation,
    /// 1.2.398.3.3.4.1.2.1: the organisation's head.
    Head,
    /// 1.2.398.3.3.4.1.2.2: a person with the right to sign for it.
    RightToSign,
    /// 1.2.398.3.3.4.1.2.5: an employee, who may not sign for it.
    Employee,
}

/// The roles with their OIDs and words, the most specific first.
const KZ_ROLES: [(&str, KzRole, &str); 5] = [
    (
        "1.2.398.3.3.4.1.2.1",
        KzRole::Head,
        "первый руководитель организации",
    ),
    (
        "1.2.398.3.3.4.1.2.2",
        KzRole::RightToSign,
        "лицо с правом подписи",
    ),
    (
        "1.2.398.3.3.4.1.2.5",
        KzRole::Employee,
        "сотрудник организации",
    ),
    ("1.2.398.3.3.4.1.2", KzRole::Organisation, "организация"),
    ("1.2.398.3.3.4.1.1", KzRole::Individual, "физическое лицо"),
];

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
        id.kz_roles = kz_roles(cert);
        id.kz_role = KZ_ROLES
            .iter()
            .find(|(_, role, _)| id.kz_roles.contains(role))
            .map(|(_, _, words)| *words);
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

fn kz_roles(cert: &Certificate) -> Vec<KzRole> {
    let Some((_, eku)) = cert
        .tbs_certificate
        .get::<x509_cert::ext::pkix::ExtendedKeyUsage>()
        .ok()
        .flatten()
    else {
        return Vec::new();
    };
    KZ_ROLES
        .iter()
        .filter(|(oid, _, _)| {
            ObjectIdentifier::new(oid)
                .ok()
                .is_some_and(|o| eku.0.contains(&o))
        })
        .map(|(_, role, _)| *role)
        .collect()
}

/// Who the portal believes the applicant is, from the profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applicant<'a> {
    /// A person: SNILS or INN (12 digits).
    Individual {
        snils: Option<&'a str>,
        inn: Option<&'a str>,
    },
    /// An organisation: INN (10 digits) and OGRN; an empty OGRN is one the
    /// portal does not ask for (seed 002), and only the INN binds.
    Legal { inn: &'a str, ogrn: &'a str },
    /// A sole proprietor: INN (12 digits) and OGRNIP.
    Entrepreneur { inn: &'a str, ogrnip: &'a str },
    /// Kazakhstan: a person by IIN, signing with a personal certificate.
    KzPerson { iin: &'a str },
    /// Kazakhstan: an organisation by BIN, signed for by its head or a
    /// person with the right to sign (the certificate's IIN is that
    /// person's).
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
            same(id.organisation_inn(), inn)
                && (digits(ogrn).is_empty() || same(id.ogrn.as_deref(), ogrn))
        }
        Applicant::Entrepreneur { inn, ogrnip } => {
            same(id.inn.as_deref(), inn) && same(id.ogrnip.as_deref(), ogrnip)
        }
        // An organisation's certificate carries its holder's IIN too, but
        // it speaks for the organisation: only a personal one (the
        // individual role and no organisation role) is the person's own.
        Applicant::KzPerson { iin } => {
            same(id.iin.as_deref(), iin) && id.kz_roles == [KzRole::Individual]
        }
        // Every employee's certificate carries the BIN; only the head and
        // those with the right to sign may bind the organisation.
        Applicant::KzOrganisation { bin } => {
            same(id.bin.as_deref(), bin)
                && id
                    .kz_roles
                    .iter()
                    .any(|r| matches!(r, KzRole::Head | KzRole::RightToSign))
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use der::asn1::BitString;
    use der::{Decode, Encode};
    use std::str::FromStr;
    use x509_cert::ext::Extension;
    use x509_cert::ext::pkix::ExtendedKeyUsage;
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::time::Validity;

    const IIN: &str = "880101300123";
    const BIN: &str = "120540012345";

    /// A Kazakh certificate's shape as NCA RK issues it: IIN in the subject's
    /// serialNumber, BIN in OU, the roles as extended key usages. Nothing
    /// here is signed; only what Identity reads matters.
    fn kz_cert(bin: bool, roles: &[&str]) -> Certificate {
        let mut subject = format!("CN=ТЕСТОВ ТЕСТ,serialNumber=IIN{IIN},C=KZ");
        if bin {
            subject = format!("CN=ТЕСТОВ ТЕСТ,serialNumber=IIN{IIN},OU=BIN{BIN},O=ТОО Тест,C=KZ");
        }
        let eku = ExtendedKeyUsage(
            std::iter::once("1.3.6.1.5.5.7.3.4")
                .chain(roles.iter().copied())
                .map(ObjectIdentifier::new_unwrap)
                .collect(),
        );
        let tbs = x509_cert::TbsCertificate {
            version: x509_cert::Version::V3,
            serial_number: SerialNumber::new(&[1]).unwrap(),
            signature: spki::AlgorithmIdentifierOwned {
                oid: ObjectIdentifier::new_unwrap("1.2.398.3.10.1.1.2.3.2"),
                parameters: None,
            },
            issuer: Name::from_str("CN=ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (GOST) TEST 2022,C=KZ").unwrap(),
            validity: Validity {
                not_before: at(1_700_000_000),
                not_after: at(1_900_000_000),
            },
            subject: Name::from_str(&subject).unwrap(),
            subject_public_key_info: spki::SubjectPublicKeyInfoOwned {
                algorithm: spki::AlgorithmIdentifierOwned {
                    oid: ObjectIdentifier::new_unwrap("1.2.398.3.10.1.1.2.2"),
                    parameters: None,
                },
                subject_public_key: BitString::from_bytes(&[0; 4]).unwrap(),
            },
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(vec![Extension {
                extn_id: ObjectIdentifier::new_unwrap("2.5.29.37"),
                critical: false,
                extn_value: der::asn1::OctetString::new(eku.to_der().unwrap()).unwrap(),
            }]),
        };
        let cert = Certificate {
            signature_algorithm: tbs.signature.clone(),
            tbs_certificate: tbs,
            signature: BitString::from_bytes(&[0; 4]).unwrap(),
        };
        // Through DER, as a certificate from a signature arrives.
        Certificate::from_der(&cert.to_der().unwrap()).unwrap()
    }

    fn at(secs: u64) -> x509_cert::time::Time {
        x509_cert::time::Time::UtcTime(
            der::asn1::UtcTime::from_unix_duration(std::time::Duration::from_secs(secs)).unwrap(),
        )
    }

    const INDIVIDUAL: &str = "1.2.398.3.3.4.1.1";
    const ORGANISATION: &str = "1.2.398.3.3.4.1.2";
    const HEAD: &str = "1.2.398.3.3.4.1.2.1";
    const RIGHT_TO_SIGN: &str = "1.2.398.3.3.4.1.2.2";
    const EMPLOYEE: &str = "1.2.398.3.3.4.1.2.5";

    fn organisation() -> Applicant<'static> {
        Applicant::KzOrganisation { bin: BIN }
    }
    fn person() -> Applicant<'static> {
        Applicant::KzPerson { iin: IIN }
    }

    #[test]
    fn kazakh_identity_is_read_from_subject_and_roles() {
        let id = Identity::of(&kz_cert(true, &[ORGANISATION, HEAD]));
        assert_eq!(id.iin.as_deref(), Some(IIN));
        assert_eq!(id.bin.as_deref(), Some(BIN));
        assert_eq!(id.kz_roles, vec![KzRole::Head, KzRole::Organisation]);
        assert_eq!(id.kz_role, Some("первый руководитель организации"));
    }

    #[test]
    fn an_organisation_is_bound_by_its_head_or_a_person_with_the_right_to_sign() {
        for role in [HEAD, RIGHT_TO_SIGN] {
            let id = Identity::of(&kz_cert(true, &[ORGANISATION, role]));
            assert!(matches(&id, &organisation()), "{role}");
            assert!(!matches(
                &id,
                &Applicant::KzOrganisation {
                    bin: "120540012346"
                }
            ));
            // The same certificate is not the person's own signature.
            assert!(!matches(&id, &person()), "{role}");
        }
    }

    #[test]
    fn an_employee_or_a_personal_certificate_does_not_bind_the_organisation() {
        // An employee's certificate carries the BIN but no right to sign.
        let employee = Identity::of(&kz_cert(true, &[ORGANISATION, EMPLOYEE]));
        assert_eq!(employee.bin.as_deref(), Some(BIN));
        assert!(!matches(&employee, &organisation()));
        // The organisation role alone names no right either.
        let bare = Identity::of(&kz_cert(true, &[ORGANISATION]));
        assert!(!matches(&bare, &organisation()));
        // A personal certificate that somehow carries the BIN.
        let personal = Identity::of(&kz_cert(true, &[INDIVIDUAL]));
        assert!(!matches(&personal, &organisation()));
        // No roles at all.
        let none = Identity::of(&kz_cert(true, &[]));
        assert!(!matches(&none, &organisation()));
    }

    #[test]
    fn a_person_is_matched_by_iin_with_the_individual_role() {
        let id = Identity::of(&kz_cert(false, &[INDIVIDUAL]));
        assert!(matches(&id, &person()));
        assert!(!matches(
            &id,
            &Applicant::KzPerson {
                iin: "880101300124"
            }
        ));
        // The IIN without the role: not known to be a personal certificate.
        let bare = Identity::of(&kz_cert(false, &[]));
        assert_eq!(bare.iin.as_deref(), Some(IIN));
        assert!(!matches(&bare, &person()));
        // An employee's certificate names the person but speaks for the
        // organisation.
        let employee = Identity::of(&kz_cert(true, &[ORGANISATION, EMPLOYEE]));
        assert!(!matches(&employee, &person()));
    }
}
