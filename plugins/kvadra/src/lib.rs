//! ПАО «Квадра» (seed 001), connection to the heat networks of several cities;
//! each application goes to the branch of its city.
//!
//! Rules:
//! - `validate_application`: the city (`city`) is required; the heat load
//!   (`load_gcal_h`, Гкал/ч), when given, must be a number above 0.
//! - `check_transition`: an application can't be submitted without the
//!   object's address (`object_address`).
//! - `registration_number`: `<prefix>-<year>-<0001>`, numbered per city
//!   (sequence `city:<city>`), the prefix from setting `prefix.<city>`.
//!   A city without its own prefix gets `prefix.default` (or `КВ`) and the
//!   shared sequence `city:default`, so two such cities never give the same
//!   number.
//!
//! Settings (`[plugin.settings]` in tenant.toml):
//! - `prefix.<city>`, e.g. `"prefix.Белгород" = "БЛГ"`;
//! - `prefix.default`: prefix for cities without their own (default `КВ`).
//!
//! Application fields: `city`, `load_gcal_h`, `object_address`. This tenant
//! also has `city` in the applicant's profile; it is used when the
//! application has none.
//!
//! An error about a field the form did not send goes above the form.

use tapline_sdk::{Application, FieldError, Plugin, Transition, host};

pub struct Kvadra;

/// Prefix when neither `prefix.<city>` nor `prefix.default` is set.
pub const FALLBACK_PREFIX: &str = "КВ";

/// The application's city, or the applicant's when the application has none.
fn city(a: &Application) -> Option<&str> {
    a.get("city")
        .or_else(|| a.applicant.get("city"))
        .map(str::trim)
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

/// A prefix setting; an empty value counts as not set.
fn prefix(key: &str) -> Option<String> {
    host::setting(key)
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
}

/// The registration number from its parts: `<prefix>-<year>-<0001>`.
pub fn format_number(prefix: &str, year: &str, seq: u64) -> String {
    format!("{prefix}-{year}-{seq:04}")
}

impl Plugin for Kvadra {
    fn validate_application(a: &Application) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if city(a).is_none() {
            errors.push(FieldError::new(
                target(a, "city"),
                "Выберите город: заявку рассмотрит филиал этого города",
            ));
        }
        if a.get("load_gcal_h").is_some() && !a.number("load_gcal_h").is_some_and(|l| l > 0.0) {
            errors.push(FieldError::new(
                "load_gcal_h",
                "Укажите тепловую нагрузку числом больше нуля, например 0,25",
            ));
        }
        errors
    }

    fn check_transition(t: &Transition) -> Option<String> {
        if t.from == "draft" && t.application.get("object_address").is_none() {
            return Some("Укажите адрес подключаемого объекта, затем отправьте заявку.".into());
        }
        None
    }

    fn registration_number(a: &Application) -> Option<String> {
        let city_prefix = city(a).and_then(|c| prefix(&format!("prefix.{c}")).map(|p| (c, p)));
        let (sequence, prefix) = match city_prefix {
            Some((c, p)) => (format!("city:{c}"), p),
            None => (
                "city:default".to_string(),
                prefix("prefix.default").unwrap_or_else(|| FALLBACK_PREFIX.into()),
            ),
        };
        let now = host::now();
        let year = now.get(..4).unwrap_or("0000");
        Some(format_number(&prefix, year, host::next_sequence(&sequence)))
    }
}

tapline_sdk::register!(Kvadra);

#[cfg(test)]
mod tests {
    use super::format_number;

    #[test]
    fn numbers_pad_the_sequence_to_four_digits() {
        assert_eq!(format_number("БЛГ", "2025", 7), "БЛГ-2025-0007");
        assert_eq!(format_number("КВ", "2025", 12345), "КВ-2025-12345");
    }
}
