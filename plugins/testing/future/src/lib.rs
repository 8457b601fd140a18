//! Test plugin built against interface version 9.0.0 (`wit/plugin.wit`, a
//! copy of v1 with only the version changed), for the host's refusal of
//! unknown versions. It does not use tapline-sdk, which would embed 1.0.0;
//! it embeds the `tapline-api` section itself, as `register!` does.

wit_bindgen::generate!({
    path: "wit",
    world: "plugin",
});

use exports::tapline::plugin::hooks::{
    Application, Fee, Field, FieldError, Guest, Profile, Transition, Webhook,
};

struct Future;

impl Guest for Future {
    fn validate_profile(_p: Profile) -> Vec<FieldError> {
        Vec::new()
    }
    fn validate_application(_a: Application) -> Vec<FieldError> {
        Vec::new()
    }
    fn check_transition(_t: Transition) -> Option<String> {
        None
    }
    fn registration_number(_a: Application) -> Option<String> {
        None
    }
    fn document_context(_a: Application, _template: String) -> Vec<Field> {
        Vec::new()
    }
    fn calculate_fee(_a: Application) -> Option<Fee> {
        None
    }
    fn shape_webhook(_w: Webhook) -> Option<String> {
        None
    }
}

export!(Future);

#[used]
#[unsafe(link_section = "tapline-api")]
static V: [u8; 5] = *b"9.0.0";
