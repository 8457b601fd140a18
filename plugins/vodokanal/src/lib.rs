//! МУП «Водоканал» (seed 002), connection to water supply and sewage.
//!
//! Rules:
//! - `validate_profile`: a legal entity's name (`org_name`) can't be digits
//!   only (people type the INN there by mistake).
//! - `validate_application`: `supply_types` is a comma-separated list of
//!   `cold_water`, `hot_water`, `sewage`. With `cold_water` the water
//!   consumption `water_m3_day` (м³/сут) is required and above 0; with
//!   `sewage` the discharge `sewage_m3_day` is required and above 0, and may
//!   not exceed the water consumption + setting `sewage_tolerance`. The last
//!   check is made only when the water consumption is given: a building on
//!   its own well discharges without taking water from the utility.
//! - `registration_number`: `ВК-<000001>` from the tenant's sequence
//!   `applications`.
//! - `document_context`: `total_m3_day`, the requested water consumption plus
//!   discharge of the selected supply types, м³/сут with a decimal comma.
//!
//! Settings (`[plugin.settings]` in tenant.toml):
//! - `sewage_tolerance`: how much the discharge may exceed the consumption,
//!   м³/сут (default 0).
//!
//! Profile fields: `org_name`. Application fields: `supply_types`,
//! `water_m3_day`, `sewage_m3_day`.
//!
//! An error about a field the form did not send goes above the form.

use tapline_sdk::{Application, Field, FieldError, Plugin, Profile, host};

pub struct Vodokanal;

/// What an application asks to connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Supply {
    ColdWater,
    HotWater,
    Sewage,
}

impl Supply {
    /// An id, or the title the tenant's `supply_types` list shows users.
    pub fn from_id(id: &str) -> Option<Supply> {
        match id {
            "cold_water" | "Холодное водоснабжение" => Some(Supply::ColdWater),
            "hot_water" | "Горячее водоснабжение" => Some(Supply::HotWater),
            "sewage" | "Водоотведение" => Some(Supply::Sewage),
            _ => None,
        }
    }
}

/// Parses `supply_types`; `Err` holds the first unknown id.
pub fn parse_supply_types(list: &str) -> Result<Vec<Supply>, &str> {
    list.split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| Supply::from_id(id).ok_or(id))
        .collect()
}

/// Whether `name` has no characters other than digits and spaces.
pub fn digits_only(name: &str) -> bool {
    name.chars()
        .filter(|c| !c.is_whitespace())
        .all(|c| c.is_ascii_digit())
}

/// Cubic metres for a document: up to 3 decimals, decimal comma.
pub fn format_m3(m3: f64) -> String {
    let text = format!("{m3:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.replace('.', ",")
}

/// Where an error about `id` goes: under the field when the form sent it,
/// else above the form (the host rejects errors for fields it did not send).
fn target<'a>(a: &Application, id: &'a str) -> &'a str {
    if a.values.iter().any(|f| f.id == id) {
        id
    } else {
        ""
    }
}

/// Checks a required positive volume; returns it when valid. `what` names
/// it in the genitive, as the message may show above the form.
fn volume(a: &Application, id: &str, what: &str, errors: &mut Vec<FieldError>) -> Option<f64> {
    let message = match (a.get(id), a.number(id)) {
        (None, _) => format!("Укажите объём {what}, м³/сут"),
        (Some(_), None) => format!("Укажите объём {what} числом, например 1,5"),
        (Some(_), Some(v)) if v <= 0.0 => format!("Объём {what} должен быть больше нуля"),
        (Some(_), Some(v)) => return Some(v),
    };
    errors.push(FieldError::new(target(a, id), message));
    None
}

impl Plugin for Vodokanal {
    fn validate_profile(p: &Profile) -> Vec<FieldError> {
        match p.get("org_name") {
            Some(name) if p.applicant_type == "legal" && digits_only(name) => {
                vec![FieldError::new(
                    "org_name",
                    "Укажите наименование организации словами; ИНН вводится в отдельное поле",
                )]
            }
            _ => Vec::new(),
        }
    }

    fn validate_application(a: &Application) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let supply = match parse_supply_types(a.get("supply_types").unwrap_or_default()) {
            Ok(supply) => supply,
            Err(unknown) => {
                errors.push(FieldError::new(
                    "supply_types",
                    format!("Неизвестный вид подключения «{unknown}»: выберите из списка"),
                ));
                return errors;
            }
        };

        let water = if supply.contains(&Supply::ColdWater) {
            volume(a, "water_m3_day", "водопотребления", &mut errors)
        } else {
            None
        };
        if supply.contains(&Supply::Sewage)
            && let Some(sewage) = volume(a, "sewage_m3_day", "водоотведения", &mut errors)
            && let Some(water) = water
        {
            let tolerance = host::setting_f64("sewage_tolerance").unwrap_or(0.0);
            // A little slack so that 0,1 + 0,2 м³ still allows 0,3 м³.
            if sewage > water + tolerance + 1e-9 {
                errors.push(FieldError::new(
                    "sewage_m3_day",
                    format!(
                        "Водоотведение не может превышать водопотребление: не более {} м³/сут",
                        format_m3(water + tolerance)
                    ),
                ));
            }
        }
        errors
    }

    fn registration_number(_a: &Application) -> Option<String> {
        Some(format!("ВК-{:06}", host::next_sequence("applications")))
    }

    fn document_context(a: &Application, _template: &str) -> Vec<Field> {
        // Count only the volumes of the selected supply types: a value left
        // over from an unticked type is not part of the request.
        let supply =
            parse_supply_types(a.get("supply_types").unwrap_or_default()).unwrap_or_default();
        let mut total = 0.0;
        if supply.contains(&Supply::ColdWater) {
            total += a.number("water_m3_day").unwrap_or(0.0).max(0.0);
        }
        if supply.contains(&Supply::Sewage) {
            total += a.number("sewage_m3_day").unwrap_or(0.0).max(0.0);
        }
        vec![Field::new("total_m3_day", format_m3(total))]
    }
}

tapline_sdk::register!(Vodokanal);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supply_types_parse_known_ids_only() {
        assert_eq!(
            parse_supply_types(" cold_water,sewage ,"),
            Ok(vec![Supply::ColdWater, Supply::Sewage])
        );
        assert_eq!(parse_supply_types(""), Ok(vec![]));
        assert_eq!(parse_supply_types("cold_water, heat"), Err("heat"));
    }

    #[test]
    fn names_of_digits_only_are_caught() {
        assert!(digits_only("7707 083893"));
        assert!(!digits_only("ООО «Ромашка»"));
        assert!(!digits_only("Завод № 5"));
    }

    #[test]
    fn volumes_print_with_a_decimal_comma() {
        assert_eq!(format_m3(1.5), "1,5");
        assert_eq!(format_m3(2.0), "2");
        assert_eq!(format_m3(0.1 + 0.2), "0,3");
        assert_eq!(format_m3(0.0), "0");
    }
}
