//! The host's side of the data a plugin sees, independent of any WIT
//! version: the web layer builds these, each bindings module converts them.
//! They are also the JSON `tapline plugin run` reads and prints.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub applicant_type: String,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub kind: String,
    #[serde(default = "draft")]
    pub status: String,
    #[serde(default)]
    pub number: Option<String>,
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    #[serde(default)]
    pub applicant: Profile,
    #[serde(default)]
    pub created_at: String,
}

fn draft() -> String {
    "draft".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    pub application: Application,
    pub from: String,
    pub to: String,
    pub actor: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub event: String,
    pub application: Application,
    /// The host's default JSON payload.
    pub payload: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FieldError {
    /// A field id of the form, or empty for a message above the form.
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FeeLine {
    pub title: String,
    /// Minor units (kopecks, tiyn).
    pub amount: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Fee {
    pub currency: String,
    pub lines: Vec<FeeLine>,
    pub total: i64,
}

/// One hook call with its input.
#[derive(Debug, Clone)]
pub enum Hook {
    ValidateProfile(Profile),
    ValidateApplication(Application),
    CheckTransition(Transition),
    RegistrationNumber(Application),
    DocumentContext(Application, String),
    CalculateFee(Application),
    ShapeWebhook(Webhook),
}

/// What a hook returned, checked by the host (see [`Hook::check`]).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum HookOutput {
    Errors(Vec<FieldError>),
    Refusal(Option<String>),
    Number(Option<String>),
    Context(BTreeMap<String, String>),
    Fee(Option<Fee>),
    Payload(Option<String>),
}

/// Hook names as the WIT spells them (and `tapline plugin run` takes them).
pub const HOOK_NAMES: &[&str] = &[
    "validate-profile",
    "validate-application",
    "check-transition",
    "registration-number",
    "document-context",
    "calculate-fee",
    "shape-webhook",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentContextInput {
    application: Application,
    template: String,
}

impl Hook {
    pub fn name(&self) -> &'static str {
        match self {
            Hook::ValidateProfile(_) => "validate-profile",
            Hook::ValidateApplication(_) => "validate-application",
            Hook::CheckTransition(_) => "check-transition",
            Hook::RegistrationNumber(_) => "registration-number",
            Hook::DocumentContext(..) => "document-context",
            Hook::CalculateFee(_) => "calculate-fee",
            Hook::ShapeWebhook(_) => "shape-webhook",
        }
    }

    /// The input of hook `name` from JSON: a profile for validate-profile,
    /// a transition for check-transition, a webhook for shape-webhook,
    /// `{application, template}` for document-context, an application otherwise.
    pub fn from_json(name: &str, json: &str) -> Result<Hook, String> {
        let e = |e: serde_json::Error| format!("input for {name}: {e}");
        Ok(match name {
            "validate-profile" => Hook::ValidateProfile(serde_json::from_str(json).map_err(e)?),
            "validate-application" => {
                Hook::ValidateApplication(serde_json::from_str(json).map_err(e)?)
            }
            "check-transition" => Hook::CheckTransition(serde_json::from_str(json).map_err(e)?),
            "registration-number" => {
                Hook::RegistrationNumber(serde_json::from_str(json).map_err(e)?)
            }
            "document-context" => {
                let i: DocumentContextInput = serde_json::from_str(json).map_err(e)?;
                Hook::DocumentContext(i.application, i.template)
            }
            "calculate-fee" => Hook::CalculateFee(serde_json::from_str(json).map_err(e)?),
            "shape-webhook" => Hook::ShapeWebhook(serde_json::from_str(json).map_err(e)?),
            other => {
                return Err(format!(
                    "unknown hook `{other}`; hooks: {}",
                    HOOK_NAMES.join(", ")
                ));
            }
        })
    }

    /// Check a plugin's answer before anyone relies on it. A plugin is code
    /// from outside the core: what it returns must fit where it goes.
    pub fn check(&self, out: &HookOutput) -> Result<(), String> {
        fn text(what: &str, s: &str, max: usize) -> Result<(), String> {
            if s.trim().is_empty() {
                return Err(format!("{what} is empty"));
            }
            if s.chars().count() > max {
                return Err(format!("{what} is longer than {max} characters"));
            }
            if s.chars().any(|c| c.is_control() && c != '\n') {
                return Err(format!("{what} contains control characters"));
            }
            Ok(())
        }
        let known = |field: &str| -> bool {
            field.is_empty()
                || match self {
                    Hook::ValidateProfile(p) => p.fields.contains_key(field),
                    Hook::ValidateApplication(a) => a.values.contains_key(field),
                    _ => false,
                }
        };
        match out {
            HookOutput::Errors(errors) => {
                if errors.len() > 200 {
                    return Err("more than 200 errors".into());
                }
                for e in errors {
                    if !known(&e.field) {
                        return Err(format!(
                            "an error for `{}`, which is not a field of the form",
                            e.field
                        ));
                    }
                    text(&format!("the message for `{}`", e.field), &e.message, 1000)?;
                }
            }
            HookOutput::Refusal(Some(r)) => text("the refusal reason", r, 1000)?,
            HookOutput::Number(Some(n)) => {
                text("the registration number", n, 64)?;
                if n.contains('\n') {
                    return Err("the registration number spans lines".into());
                }
            }
            HookOutput::Context(map) => {
                if map.len() > 500 {
                    return Err("more than 500 document values".into());
                }
                for (k, v) in map {
                    let ok = !k.is_empty()
                        && k.len() <= 64
                        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !k.starts_with(|c: char| c.is_ascii_digit());
                    if !ok {
                        return Err(format!("document value name {k:?} is not an identifier"));
                    }
                    if v.chars().count() > 10_000 {
                        return Err(format!(
                            "document value `{k}` is longer than 10000 characters"
                        ));
                    }
                }
            }
            HookOutput::Fee(Some(fee)) => {
                if fee.currency.len() != 3 || !fee.currency.chars().all(|c| c.is_ascii_uppercase())
                {
                    return Err(format!(
                        "fee currency {:?} is not an ISO 4217 code",
                        fee.currency
                    ));
                }
                if fee.lines.is_empty() || fee.lines.len() > 50 {
                    return Err("a fee needs 1 to 50 lines".into());
                }
                let mut sum: i64 = 0;
                for l in &fee.lines {
                    text("a fee line title", &l.title, 300)?;
                    if l.amount < 0 {
                        return Err(format!("fee line {:?} is negative", l.title));
                    }
                    sum = sum.checked_add(l.amount).ok_or("fee lines overflow")?;
                }
                if sum != fee.total {
                    return Err(format!(
                        "fee total {} is not the sum of its lines ({sum})",
                        fee.total
                    ));
                }
            }
            HookOutput::Payload(Some(p)) => {
                serde_json::from_str::<serde_json::Value>(p)
                    .map_err(|e| format!("the webhook payload is not JSON: {e}"))?;
            }
            HookOutput::Refusal(None)
            | HookOutput::Number(None)
            | HookOutput::Fee(None)
            | HookOutput::Payload(None) => {}
        }
        Ok(())
    }
}
