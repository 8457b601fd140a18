//! Well-behaved test plugin for the host's imports and for benchmarks.
//!
//! - `validate_profile`: one error "bad value" under each field whose value
//!   is exactly `bad`;
//! - `validate_application`: logs "echo called" (info), no errors;
//! - `registration_number`: `N-<setting prefix>-<sequence n>`;
//! - `document_context`: `now` = host time, `setting` = setting `greeting`
//!   (empty when missing);
//! - `calculate_fee`: one RUB line per numeric application field, titled by
//!   the field id, amount = value × 100; none without numeric fields (the
//!   host rejects a fee with no lines);
//! - `shape_webhook`: `{"event":"<event>","wrapped":<host payload verbatim>}`;
//! - `check_transition`: default (no objection).

use tapline_sdk::{
    Application, Fee, FeeLine, Field, FieldError, Level, Plugin, Profile, Webhook, host,
};

pub struct Echo;

impl Plugin for Echo {
    fn validate_profile(p: &Profile) -> Vec<FieldError> {
        p.fields
            .iter()
            .filter(|f| f.value == "bad")
            .map(|f| FieldError::new(&f.id, "bad value"))
            .collect()
    }

    fn validate_application(_a: &Application) -> Vec<FieldError> {
        host::log(Level::Info, "echo called");
        Vec::new()
    }

    fn registration_number(_a: &Application) -> Option<String> {
        Some(format!(
            "N-{}-{}",
            host::setting("prefix").unwrap_or_default(),
            host::next_sequence("n")
        ))
    }

    fn document_context(_a: &Application, _template: &str) -> Vec<Field> {
        vec![
            Field::new("now", host::now()),
            Field::new("setting", host::setting("greeting").unwrap_or_default()),
        ]
    }

    fn calculate_fee(a: &Application) -> Option<Fee> {
        let lines = a
            .values
            .iter()
            .filter_map(|f| {
                let value = tapline_sdk::parse_number(&f.value)?;
                Some(FeeLine::new(f.id.clone(), (value * 100.0).round() as i64))
            })
            .collect::<Vec<_>>();
        (!lines.is_empty()).then(|| Fee::from_lines("RUB", lines))
    }

    fn shape_webhook(w: &Webhook) -> Option<String> {
        Some(format!(
            "{{\"event\":\"{}\",\"wrapped\":{}}}",
            w.event, w.payload
        ))
    }
}

tapline_sdk::register!(Echo);
