//! Tapline plugin SDK: write a utility's rules in Rust and build them into
//! one WebAssembly component the Tapline host runs.
//!
//! Implement [`Plugin`] (every hook has a default), then call
//! [`register!`] once:
//!
//! ```ignore
//! use tapline_sdk::{Plugin, Profile, FieldError};
//!
//! struct Rules;
//! impl Plugin for Rules {
//!     fn validate_profile(p: &Profile) -> Vec<FieldError> {
//!         match p.get("city") {
//!             Some("Казань") | None => vec![],
//!             Some(_) => vec![FieldError::new("city", "Мы работаем только в Казани")],
//!         }
//!     }
//! }
//! tapline_sdk::register!(Rules);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2` and try it with
//! `tapline plugin run plugin.wasm validate-profile input.json`.
#![deny(missing_docs)]

/// Generated bindings of the WIT interface; use the re-exports instead.
#[doc(hidden)]
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/v1",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "export_plugin",
        default_bindings_module: "tapline_sdk::bindings",
    });
}

pub use bindings::tapline::plugin::types::{
    Application, Fee, FeeLine, Field, FieldError, Level, Profile, Transition, Webhook,
};
/// Russian and Kazakh identifier checks (INN, OGRN, OGRNIP, KPP, SNILS, IIN, BIN),
/// the same code the host runs.
pub use tapline_ids as ids;

/// The WIT interface version this SDK builds against.
pub const API_VERSION: &str = "1.0.0";

/// [`API_VERSION`] as the bytes [`register!`] embeds in the module's
/// `tapline-api` custom section, which the host reads before instantiating.
#[doc(hidden)]
pub const API_VERSION_BYTES: [u8; 5] = *b"1.0.0";

/// A utility's rules. Every hook has a default, so implement only what the
/// utility needs.
pub trait Plugin {
    /// Extra checks of a profile at registration and on the profile page.
    /// Each error is shown under its field.
    fn validate_profile(_profile: &Profile) -> Vec<FieldError> {
        Vec::new()
    }

    /// Extra checks of an application when a draft is saved (advice shown
    /// under filled-in fields; the draft is kept) and when it is submitted
    /// (any error blocks sending).
    fn validate_application(_application: &Application) -> Vec<FieldError> {
        Vec::new()
    }

    /// Return `Some(reason)` to refuse a status change; the reason is shown
    /// to whoever asked for it.
    fn check_transition(_transition: &Transition) -> Option<String> {
        None
    }

    /// The registration number of a submitted application; `None` lets the
    /// host number it. Use [`host::next_sequence`] for a running number.
    fn registration_number(_application: &Application) -> Option<String> {
        None
    }

    /// Extra values for the DOCX template `template`.
    fn document_context(_application: &Application, _template: &str) -> Vec<Field> {
        Vec::new()
    }

    /// The connection fee with its breakdown, in minor units.
    fn calculate_fee(_application: &Application) -> Option<Fee> {
        None
    }

    /// A JSON payload to send instead of the host's default `webhook.payload`.
    fn shape_webhook(_webhook: &Webhook) -> Option<String> {
        None
    }
}

/// What the host offers a plugin.
pub mod host {
    pub use super::Level;
    use super::bindings::tapline::plugin::host as raw;

    /// Write to the host's log (tagged with the tenant).
    pub fn log(level: Level, message: &str) {
        raw::log(level, message);
    }

    /// The current time, RFC 3339 in UTC.
    pub fn now() -> String {
        raw::now()
    }

    /// A value from the tenant's `[plugin.settings]`.
    pub fn setting(key: &str) -> Option<String> {
        raw::setting(key)
    }

    /// A numeric setting; `None` when missing or not a number.
    pub fn setting_f64(key: &str) -> Option<f64> {
        setting(key).and_then(|v| v.trim().parse().ok())
    }

    /// The next value of the tenant's sequence `name` (1, 2, 3, …).
    pub fn next_sequence(name: &str) -> u64 {
        raw::next_sequence(name)
    }
}

fn lookup<'a>(fields: &'a [Field], id: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|f| f.id == id)
        .map(|f| f.value.as_str())
        .filter(|v| !v.trim().is_empty())
}

/// A number as users type it: spaces allowed, comma or dot as decimal mark.
pub fn parse_number(value: &str) -> Option<f64> {
    let cleaned: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}')
        .map(|c| if c == ',' { '.' } else { c })
        .collect();
    cleaned.parse::<f64>().ok().filter(|n| n.is_finite())
}

impl Profile {
    /// A non-empty field value.
    pub fn get(&self, id: &str) -> Option<&str> {
        lookup(&self.fields, id)
    }

    /// A profile field read as a number (comma or dot decimal).
    pub fn number(&self, id: &str) -> Option<f64> {
        self.get(id).and_then(parse_number)
    }

    /// Whether the form has field `id` at all (filled or not). The host only
    /// accepts errors under fields the form has.
    pub fn has(&self, id: &str) -> bool {
        self.fields.iter().any(|f| f.id == id)
    }
}

impl Application {
    /// A non-empty application field value.
    pub fn get(&self, id: &str) -> Option<&str> {
        lookup(&self.values, id)
    }

    /// An application field read as a number (comma or dot decimal).
    pub fn number(&self, id: &str) -> Option<f64> {
        self.get(id).and_then(parse_number)
    }

    /// Whether the form has field `id` at all (filled or not). The host only
    /// accepts errors under fields the form has.
    pub fn has(&self, id: &str) -> bool {
        self.values.iter().any(|f| f.id == id)
    }
}

impl FieldError {
    /// An error under field `field`.
    pub fn new(field: &str, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl Field {
    /// A named value.
    pub fn new(id: &str, value: impl Into<String>) -> Field {
        Field {
            id: id.to_string(),
            value: value.into(),
        }
    }
}

impl Fee {
    /// A fee from its lines; the total is their sum. The host accepts 1 to
    /// 50 lines with non-empty titles and no negative amount.
    pub fn from_lines(currency: &str, lines: Vec<FeeLine>) -> Fee {
        let total = lines.iter().map(|l| l.amount).sum();
        Fee {
            currency: currency.to_string(),
            lines,
            total,
        }
    }
}

impl FeeLine {
    /// A line of `amount` minor units (kopecks, tiyn).
    pub fn new(title: impl Into<String>, amount: i64) -> FeeLine {
        FeeLine {
            title: title.into(),
            amount,
        }
    }
}

/// Export `$t` (a type implementing [`Plugin`]) as the component's hooks and
/// embed the API version the host checks before it instantiates the module.
#[macro_export]
macro_rules! register {
    ($t:ty) => {
        #[doc(hidden)]
        pub struct __TaplineExports;

        impl $crate::bindings::exports::tapline::plugin::hooks::Guest for __TaplineExports {
            fn validate_profile(p: $crate::Profile) -> Vec<$crate::FieldError> {
                <$t as $crate::Plugin>::validate_profile(&p)
            }
            fn validate_application(a: $crate::Application) -> Vec<$crate::FieldError> {
                <$t as $crate::Plugin>::validate_application(&a)
            }
            fn check_transition(t: $crate::Transition) -> Option<String> {
                <$t as $crate::Plugin>::check_transition(&t)
            }
            fn registration_number(a: $crate::Application) -> Option<String> {
                <$t as $crate::Plugin>::registration_number(&a)
            }
            fn document_context(a: $crate::Application, template: String) -> Vec<$crate::Field> {
                <$t as $crate::Plugin>::document_context(&a, &template)
            }
            fn calculate_fee(a: $crate::Application) -> Option<$crate::Fee> {
                <$t as $crate::Plugin>::calculate_fee(&a)
            }
            fn shape_webhook(w: $crate::Webhook) -> Option<String> {
                <$t as $crate::Plugin>::shape_webhook(&w)
            }
        }

        $crate::bindings::export_plugin!(__TaplineExports with_types_in $crate::bindings);

        #[doc(hidden)]
        #[used]
        #[unsafe(link_section = "tapline-api")]
        static __TAPLINE_API_VERSION: [u8; 5] = $crate::API_VERSION_BYTES;
    };
}
