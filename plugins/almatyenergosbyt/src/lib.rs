//! ТОО «АлматыЭнергоСбыт» (seed 004), electricity supply contracts, Almaty
//! (Kazakhstan, currency KZT).
//!
//! Rules:
//! - `validate_profile`: an individual's or sole proprietor's IIN (`iin`)
//!   and a legal entity's BIN (`bin`) must be valid (structure and check
//!   digit), with the same Russian messages as the host's checks. A form
//!   without the field (another step) is not checked.
//! - `validate_application`: the same check of the applicant's profile (the
//!   message goes above the form: the application has no `iin`/`bin` field),
//!   and the requested power `power_kw`, when given, must be above 0.
//! - `registration_number`: `AES-<year>-<000001>`, numbered anew each year
//!   (sequence `applications-<year>`).
//! - No fee: the supply contract has no connection fee.
//!
//! No settings. Profile fields: `iin`, `bin`. Application fields: `power_kw`.

use tapline_sdk::{Application, FieldError, Plugin, Profile, host, ids};

pub struct AlmatyEnergoSbyt;

/// The identifier field this applicant type must fill and its validator.
type IdCheck = fn(&str) -> Result<String, ids::IdError>;

/// Which identifier an applicant type has: IIN for people, BIN for
/// organisations; `None` for a type this tenant does not know.
pub fn id_field(applicant_type: &str) -> Option<(&'static str, IdCheck)> {
    match applicant_type {
        "individual" | "entrepreneur" => Some(("iin", ids::iin)),
        "legal" => Some(("bin", ids::bin)),
        _ => None,
    }
}

/// The profile's identifier error: (field id, Russian message).
fn id_error(p: &Profile) -> Option<(&'static str, String)> {
    let (field, check) = id_field(&p.applicant_type)?;
    // Only a field the host sent can be checked (and have an error: the host
    // rejects errors for others). An empty one fails as "Введите БИН".
    let value = &p.fields.iter().find(|f| f.id == field)?.value;
    check(value).err().map(|e| (field, e.to_string()))
}

impl Plugin for AlmatyEnergoSbyt {
    fn validate_profile(p: &Profile) -> Vec<FieldError> {
        id_error(p)
            .map(|(field, message)| FieldError::new(field, message))
            .into_iter()
            .collect()
    }

    fn validate_application(a: &Application) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Some((_, message)) = id_error(&a.applicant) {
            errors.push(FieldError::new(
                "",
                format!("Исправьте профиль заявителя. {message}"),
            ));
        }
        if a.get("power_kw").is_some() && !a.number("power_kw").is_some_and(|p| p > 0.0) {
            errors.push(FieldError::new(
                "power_kw",
                "Укажите мощность числом больше нуля, например 15 или 7,5",
            ));
        }
        errors
    }

    fn registration_number(_a: &Application) -> Option<String> {
        let now = host::now();
        let year = now.get(..4).unwrap_or("0000");
        let seq = host::next_sequence(&format!("applications-{year}"));
        Some(format!("AES-{year}-{seq:06}"))
    }
}

tapline_sdk::register!(AlmatyEnergoSbyt);

#[cfg(test)]
mod tests {
    use super::id_field;

    #[test]
    fn people_have_an_iin_and_organisations_a_bin() {
        assert_eq!(id_field("individual").map(|(f, _)| f), Some("iin"));
        assert_eq!(id_field("entrepreneur").map(|(f, _)| f), Some("iin"));
        assert_eq!(id_field("legal").map(|(f, _)| f), Some("bin"));
        assert!(id_field("alien").is_none());
    }

    #[test]
    fn the_validator_matches_the_field() {
        let (_, check) = id_field("legal").unwrap();
        assert!(check("940140000385").is_ok());
        assert!(check("900101300017").is_err()); // an IIN
        assert_eq!(check("").unwrap_err().to_string(), "Введите БИН");
        let (_, check) = id_field("entrepreneur").unwrap();
        assert!(check("900101300017").is_ok());
        assert!(check("940140000385").is_err()); // a BIN
        assert_eq!(check("").unwrap_err().to_string(), "Введите ИИН");
    }
}
