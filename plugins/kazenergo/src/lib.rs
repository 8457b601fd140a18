//! АО «Казэнерго» (seed 000), connection to the heat networks of Kazan.
//!
//! Rules:
//! - `validate_application`: the connection city (`city`) must be one of the
//!   cities in setting `cities`; the heat load (`load_gcal_h`, Гкал/ч), when
//!   given, must be a number above 0 and at most 50.
//! - `registration_number`: `КЭ-<00001>/<yy>` from the tenant's sequence
//!   `applications` and the current year.
//! - `calculate_fee`: load × `rate_per_gcal_h` as one line plus VAT 20 % as
//!   a second, in kopecks (RUB). No fee without a valid load or the rate.
//! - `document_context`: `load_kw`, the load in kW (1 Гкал/ч = 1163 kW),
//!   rounded to a whole kW.
//!
//! Settings (`[plugin.settings]` in tenant.toml):
//! - `cities`: comma-separated list of accepted cities, e.g. `"Казань"`;
//!   when missing or empty the city is not checked;
//! - `rate_per_gcal_h`: connection rate, roubles per Гкал/ч.
//!
//! Application fields: `city`, `load_gcal_h`.
//!
//! An error about a field the form did not send goes above the form.

use tapline_sdk::{Application, Fee, FeeLine, Field, FieldError, Level, Plugin, host};

pub struct Kazenergo;

/// Largest heat load accepted through the portal, Гкал/ч.
pub const MAX_LOAD_GCAL_H: f64 = 50.0;

/// 1 Гкал/ч in kW (1 Гкал = 1.163 МВт·ч).
pub const KW_PER_GCAL_H: f64 = 1163.0;

/// The items of a comma-separated setting, trimmed, without empty ones.
pub fn split_list(list: &str) -> Vec<&str> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether `city` is in `accepted`, ignoring case and surrounding spaces.
pub fn city_accepted(city: &str, accepted: &[&str]) -> bool {
    let city = city.trim().to_lowercase();
    accepted.iter().any(|c| c.to_lowercase() == city)
}

/// Checks the heat load; `Err` holds the message for the user.
pub fn check_load(load: Option<f64>) -> Result<f64, &'static str> {
    match load {
        None => Err("Укажите тепловую нагрузку числом, например 0,25"),
        Some(l) if l <= 0.0 => Err("Тепловая нагрузка должна быть больше нуля"),
        Some(l) if l > MAX_LOAD_GCAL_H => Err("Тепловая нагрузка — не более 50 Гкал/ч"),
        Some(l) => Ok(l),
    }
}

/// The connection fee and its VAT (20 %), both in kopecks.
pub fn heat_fee_kopecks(load_gcal_h: f64, rate_per_gcal_h: f64) -> (i64, i64) {
    // Rate to whole kopecks first: 0.5 × 1 234 567.89 ₽ must give
    // 61 728 394.5 → 61 728 395 kopecks, not a float's 61 728 394.4999….
    let rate_kopecks = (rate_per_gcal_h * 100.0).round();
    let base = (load_gcal_h * rate_kopecks).round() as i64;
    // Integer VAT, rounded half up, so lines always add up to whole kopecks.
    let vat = (base * 2 + 5) / 10;
    (base, vat)
}

/// The load in whole kW.
pub fn load_kw(load_gcal_h: f64) -> i64 {
    (load_gcal_h * KW_PER_GCAL_H).round() as i64
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

/// A number the way Russian documents write it: decimal comma.
fn ru(n: f64) -> String {
    n.to_string().replace('.', ",")
}

impl Plugin for Kazenergo {
    fn validate_application(a: &Application) -> Vec<FieldError> {
        let mut errors = Vec::new();

        let cities = host::setting("cities").unwrap_or_default();
        let accepted = split_list(&cities);
        // Without the setting there is nothing to compare with: the form's own
        // list still limits the choice, so don't block applicants.
        if !accepted.is_empty() && !a.get("city").is_some_and(|c| city_accepted(c, &accepted)) {
            let message = match accepted.as_slice() {
                [one] => format!("Подключение возможно только в городе {one}"),
                many => format!("Подключение возможно только в городах: {}", many.join(", ")),
            };
            errors.push(FieldError::new(target(a, "city"), message));
        }

        if a.get("load_gcal_h").is_some()
            && let Err(message) = check_load(a.number("load_gcal_h"))
        {
            errors.push(FieldError::new("load_gcal_h", message));
        }
        errors
    }

    fn registration_number(_a: &Application) -> Option<String> {
        let now = host::now();
        let yy = now.get(2..4).unwrap_or("00");
        Some(format!(
            "КЭ-{:05}/{yy}",
            host::next_sequence("applications")
        ))
    }

    fn document_context(a: &Application, _template: &str) -> Vec<Field> {
        match a.number("load_gcal_h") {
            Some(load) => vec![Field::new("load_kw", load_kw(load).to_string())],
            None => Vec::new(),
        }
    }

    fn calculate_fee(a: &Application) -> Option<Fee> {
        let load = check_load(a.number("load_gcal_h")).ok()?;
        let Some(rate) = host::setting_f64("rate_per_gcal_h").filter(|r| *r > 0.0) else {
            // A fee of zero would look like a free connection: show none instead.
            host::log(
                Level::Warn,
                "setting rate_per_gcal_h is missing or not a positive number",
            );
            return None;
        };
        let (base, vat) = heat_fee_kopecks(load, rate);
        Some(Fee::from_lines(
            "RUB",
            vec![
                FeeLine::new(format!("Плата за подключение, {} Гкал/ч", ru(load)), base),
                FeeLine::new("НДС 20 %", vat),
            ],
        ))
    }
}

tapline_sdk::register!(Kazenergo);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_trimmed_and_skip_empty_items() {
        assert_eq!(
            split_list(" Казань, Зеленодольск ,,"),
            ["Казань", "Зеленодольск"]
        );
        assert!(split_list(" , ").is_empty());
    }

    #[test]
    fn cities_match_ignoring_case_and_spaces() {
        assert!(city_accepted(" казань ", &["Казань"]));
        assert!(!city_accepted("Москва", &["Казань"]));
    }

    #[test]
    fn load_must_be_positive_and_at_most_50() {
        assert!(check_load(None).is_err());
        assert!(check_load(Some(0.0)).is_err());
        assert!(check_load(Some(-1.0)).is_err());
        assert_eq!(check_load(Some(50.0)), Ok(50.0));
        assert!(check_load(Some(50.01)).is_err());
    }

    #[test]
    fn fee_and_vat_are_in_kopecks() {
        assert_eq!(heat_fee_kopecks(0.5, 1_000_000.0), (50_000_000, 10_000_000));
        // 0.33 × 1 000.01 ₽ = 330.0033 ₽ → 33 000 kopecks; VAT 6 600.
        assert_eq!(heat_fee_kopecks(0.33, 1_000.01), (33_000, 6_600));
        assert_eq!(
            heat_fee_kopecks(0.5, 1_234_567.89),
            (61_728_395, 12_345_679)
        );
        // VAT of 0.03 ₽ is 0.006 ₽ → rounds to 1 kopeck.
        assert_eq!(heat_fee_kopecks(1.0, 0.03), (3, 1));
    }

    #[test]
    fn load_converts_to_whole_kw() {
        assert_eq!(load_kw(1.0), 1163);
        assert_eq!(load_kw(0.25), 291); // 290.75
    }
}
