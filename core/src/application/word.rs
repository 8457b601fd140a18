//! The Word files of an application: the application as sent and the
//! contract, filled from the tenant's templates (or the built-in ones)
//! with the values, the applicant, the plugin's extra values and the fee.

use super::Application;
use crate::account::{self, Account};
use crate::plugin::Plugins;
use crate::plugin::types::{self as pt, Hook, HookOutput};
use crate::tenant::Tenant;
use crate::tenant::config::{FieldDef, FieldKind};
use minijinja::context;
use std::collections::BTreeMap;

/// The plugin's fee for an application (`calculate-fee`), as the page, the
/// card and the Word file show it. A plugin that fails or has no price for
/// these values gives none: the price is information, never a reason to
/// refuse the page.
pub async fn fee_view(
    plugins: &Plugins,
    tenant: &str,
    app_view: pt::Application,
) -> Option<minijinja::Value> {
    match plugins.call(tenant, Hook::CalculateFee(app_view)).await {
        Ok(Some(HookOutput::Fee(Some(f)))) => {
            let sign = match f.currency.as_str() {
                "RUB" => "₽",
                "KZT" => "₸",
                other => other,
            }
            .to_string();
            Some(context! {
                currency => f.currency,
                sign => sign,
                lines => f.lines.iter().map(|l| context! { title => &l.title, amount => money(l.amount) }).collect::<Vec<_>>(),
                total => money(f.total),
            })
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(tenant, error = %e, "calculate-fee failed; the page shows no fee");
            None
        }
    }
}

/// Fields with their values as people read them, for the application's
/// page, the office card and the Word file.
pub fn shown_fields<'a>(
    fields: impl IntoIterator<Item = &'a FieldDef>,
    values: &BTreeMap<String, String>,
) -> Vec<minijinja::Value> {
    fields
        .into_iter()
        .map(|f| {
            let id = f.id();
            let value = values
                .get(id)
                .map(|v| account::shown_value(f, v))
                .unwrap_or_default();
            context! { id => id, label => &f.label, value => value, unit => &f.unit }
        })
        .collect()
}

pub fn money(minor: i64) -> String {
    let whole = (minor / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    format!("{grouped},{:02}", (minor % 100).abs())
}

/// Which Word file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Application,
    Contract,
}

#[derive(Debug, thiserror::Error)]
pub enum WordError {
    #[error("the application kind is gone from the tenant's config")]
    UnknownKind,
    #[error("reading the tenant's template: {0}")]
    Template(std::io::Error),
    #[error("rendering: {0}")]
    Render(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The Word file of `a`, filled for its applicant `acc`.
pub async fn render(
    db: &crate::store::Db,
    plugins: &Plugins,
    tenant: &Tenant,
    acc: &Account,
    a: &Application,
    which: Which,
) -> Result<Vec<u8>, WordError> {
    let k = tenant
        .application_kind(&a.kind)
        .ok_or(WordError::UnknownKind)?;
    let fields = shown_fields(
        super::form_fields(tenant, k, acc)
            .into_iter()
            .filter(|f| f.kind != FieldKind::File),
        &a.values,
    );
    let plugin_app = super::plugin_view(a, acc, &a.values);
    let purpose = match which {
        Which::Application => "application",
        Which::Contract => "contract",
    };
    // A plugin that fails here costs the document its extra values, not the document.
    let plugin_values = match plugins
        .call(
            &tenant.slug,
            Hook::DocumentContext(plugin_app.clone(), purpose.into()),
        )
        .await
    {
        Ok(Some(HookOutput::Context(m))) => m,
        _ => BTreeMap::new(),
    };
    let fee = fee_view(plugins, &tenant.slug, plugin_app).await;
    let badge = account::badge(tenant, acc);
    let files: Vec<_> = crate::document::files_of(db, &tenant.slug, a.id)
        .await?
        .into_iter()
        // The platform's own signing copies are not the applicant's attachments.
        .filter(|f| !f.slot.starts_with("_application") && !f.slot.starts_with("_contract"))
        .collect();
    let doc_ctx = context! {
        tenant => tenant.name(),
        kind => &k.title,
        number => a.number.clone().unwrap_or_else(|| format!("черновик от {}", tenant.local_time(&a.created_at))),
        status => crate::workflow::status_title(tenant, &a.status),
        submitted_at => a.submitted_at.as_deref().map(|t| tenant.local_time(t)).unwrap_or_default(),
        today => tenant.today().to_string(),
        applicant => context! { name => &badge.name, type => &badge.type_title, ids => &badge.ids },
        fields => fields,
        values => a.values.clone(),
        plugin => plugin_values,
        fee => fee,
        files => files.iter().map(|f| context! { name => &f.file_name, slot => &f.slot, doc_type => &f.doc_type, sha256 => &f.sha256 }).collect::<Vec<_>>(),
    };
    let own = match which {
        Which::Application => tenant.config.applications.docx(),
        Which::Contract => tenant.config.signature.contract(),
    };
    let template = match own {
        Some(p) => tokio::fs::read(tenant.dir.join(p))
            .await
            .map_err(WordError::Template)?,
        None => match which {
            Which::Application => crate::document::docx::builtin_template(),
            Which::Contract => crate::document::docx::builtin_contract(),
        },
    };
    tokio::task::spawn_blocking(move || crate::document::docx::render(&template, &doc_ctx))
        .await
        .map_err(|e| WordError::Render(e.to_string()))?
        .map_err(|e| WordError::Render(e.to_string()))
}
