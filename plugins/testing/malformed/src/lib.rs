//! Hostile test plugin: well-typed but malformed results in every hook, for
//! the host's checks of plugin output.
//!
//! - `validate_profile`, `validate_application`: an error under a field that
//!   does not exist (`no_such_field`) and one with an empty message (and an
//!   empty field id: above the form);
//! - `check_transition`: refuses every transition with an empty reason;
//! - `registration_number`: 500 characters with a newline in them;
//! - `document_context`: a value whose id has spaces and quotes;
//! - `calculate_fee`: a negative line and a total that is not the sum of
//!   the lines;
//! - `shape_webhook`: a payload that is not JSON.

use tapline_sdk::{
    Application, Fee, FeeLine, Field, FieldError, Plugin, Profile, Transition, Webhook,
};

pub struct Malformed;

fn errors() -> Vec<FieldError> {
    vec![
        FieldError::new("no_such_field", "Ошибка поля, которого нет в форме"),
        FieldError::new("", ""),
    ]
}

impl Plugin for Malformed {
    fn validate_profile(_p: &Profile) -> Vec<FieldError> {
        errors()
    }

    fn validate_application(_a: &Application) -> Vec<FieldError> {
        errors()
    }

    fn check_transition(_t: &Transition) -> Option<String> {
        Some(String::new())
    }

    fn registration_number(_a: &Application) -> Option<String> {
        // "MAL-1\n" is 6 characters; 494 more make 500.
        Some(format!("MAL-1\n{}", "9".repeat(494)))
    }

    fn document_context(_a: &Application, _template: &str) -> Vec<Field> {
        vec![Field::new(
            "bad id with \"double\" and 'single' quotes",
            "value",
        )]
    }

    fn calculate_fee(_a: &Application) -> Option<Fee> {
        Some(Fee {
            currency: "RUB".into(),
            lines: vec![
                FeeLine::new("Плата", 100_000),
                FeeLine::new("Отрицательная строка", -50_000),
            ],
            // The lines add up to 50 000.
            total: 123_456,
        })
    }

    fn shape_webhook(_w: &Webhook) -> Option<String> {
        Some("this is not JSON {".into())
    }
}

tapline_sdk::register!(Malformed);
