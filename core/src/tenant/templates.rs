//! Template environments: the core templates are compiled into the binary
//! (`templates/`), and a tenant overrides any of them by placing a file of
//! the same name under `tenants/<slug>/templates/`. Every template a tenant
//! will use is compiled at load time, so a syntax error stops `check`.

use crate::store::TEMPLATES;
use crate::tenant::{Problem, Tenant};
use minijinja::{Environment, Value};
use std::path::Path;

/// Names of templates (not static files) shipped with the core.
fn template_names() -> impl Iterator<Item = &'static str> {
    TEMPLATES
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| n.ends_with(".html") || n.ends_with(".txt"))
}

pub fn embedded(name: &str) -> Option<&'static str> {
    TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Build a tenant's environment and compile every template it can render.
pub fn environment(
    tenant_dir: &Path,
    offset: time::UtcOffset,
) -> Result<Environment<'static>, Vec<Problem>> {
    let mut problems = Vec::new();
    let over = tenant_dir.join("templates");
    let mut overrides = Vec::new();
    collect(&over, &over, &mut overrides);
    for name in &overrides {
        if embedded(name).is_none() || !(name.ends_with(".html") || name.ends_with(".txt")) {
            problems.push(Problem {
                file: over.join(name),
                line: 1,
                message: format!(
                    "`{name}` does not override any core template (see templates/ for the names)"
                ),
            });
        }
    }
    let mut env = Environment::new();
    let dir = over.clone();
    env.set_loader(move |name| {
        if let Some(rel) = crate::tenant::safe_relative(name) {
            let p = dir.join(rel);
            if p.is_file() {
                return std::fs::read_to_string(&p).map(Some).map_err(|e| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        "cannot read template",
                    )
                    .with_source(e)
                });
            }
        }
        Ok(embedded(name).map(str::to_string))
    });
    env.add_filter("paragraphs", paragraphs);
    env.add_filter("phone", |p: String| shown_phone(&p));
    // A stored UTC timestamp on the tenant's clock.
    env.add_filter("local_time", move |ts: String| {
        crate::tenant::local_time(&ts, offset)
    });
    for name in template_names() {
        if let Err(e) = env.get_template(name) {
            let file = if overrides.iter().any(|o| o == name) {
                over.join(name)
            } else {
                Path::new("templates").join(name)
            };
            problems.push(Problem {
                file,
                line: e.line().unwrap_or(1),
                message: format!(
                    "template error: {}",
                    e.detail().unwrap_or("cannot be compiled")
                ),
            });
        }
    }
    for name in overrides.iter().filter(|n| embedded(n).is_some()) {
        problems.extend(unknown_variables(&env, name, &over.join(name)));
    }
    if problems.is_empty() {
        Ok(env)
    } else {
        Err(problems)
    }
}

/// Names every page is rendered with (`Ctx::render`), besides its own.
const PAGE_NAMES: &[&str] = &[
    "tenant",
    "base",
    "path",
    "csrf_token",
    "user",
    "request_id",
    "page_texts",
];
/// Names minijinja itself provides.
const SYNTAX_NAMES: &[&str] = &[
    "loop",
    "range",
    "dict",
    "namespace",
    "debug",
    "self",
    "super",
];

/// Variables a tenant's override uses that the core template it replaces is
/// never given. minijinja renders an unknown name as empty, so a typo would
/// only show as a blank in a live page or a sent letter; `tapline check`
/// names it instead. What the core template (and, for a page, the layouts
/// and partials it builds on) uses is what its handler passes.
fn unknown_variables(env: &Environment<'static>, name: &str, file: &Path) -> Vec<Problem> {
    let (Ok(mine), Some(core_src)) = (env.get_template(name), embedded(name)) else {
        return Vec::new();
    };
    let core_env = Environment::new();
    let used = |src: &str| {
        core_env
            .template_from_str(src)
            .map(|t| t.undeclared_variables(false))
            .unwrap_or_default()
    };
    let mut known: std::collections::HashSet<String> =
        SYNTAX_NAMES.iter().map(|n| n.to_string()).collect();
    known.insert("tenant".into());
    known.extend(used(core_src));
    if name.ends_with(".html") {
        known.extend(PAGE_NAMES.iter().map(|n| n.to_string()));
        // A page is drawn inside its area's layout and with its partials,
        // from the same context.
        let area = name.split('/').next().unwrap_or_default();
        for (n, src) in TEMPLATES.iter() {
            let file_name = n.rsplit('/').next().unwrap_or_default();
            if n.starts_with(&format!("{area}/"))
                && (file_name == "base.html" || file_name.starts_with('_'))
            {
                known.extend(used(src));
            }
        }
    }
    let src = std::fs::read_to_string(file).unwrap_or_default();
    let mut given: Vec<&str> = known
        .iter()
        .map(String::as_str)
        .filter(|n| !SYNTAX_NAMES.contains(n))
        .collect();
    given.sort_unstable();
    let given = given.join(", ");
    let mut unknown: Vec<String> = mine
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !known.contains(v))
        .collect();
    unknown.sort();
    unknown
        .into_iter()
        .map(|v| Problem {
            file: file.to_path_buf(),
            line: line_of_name(&src, &v),
            message: format!(
                "`{v}` is not given to `{name}` and would show as empty (it is given {given})"
            ),
        })
        .collect()
}

/// The line of the first `{{ … }}` or `{% … %}` that names `name` (1 when
/// none does, which cannot happen for a name the template uses).
fn line_of_name(src: &str, name: &str) -> usize {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut rest = src;
    let mut offset = 0;
    while let Some(open) = rest.find(['{']) {
        let after = &rest[open..];
        let close = if after.starts_with("{{") {
            "}}"
        } else if after.starts_with("{%") {
            "%}"
        } else {
            offset += open + 1;
            rest = &rest[open + 1..];
            continue;
        };
        let end = after.find(close).map_or(after.len(), |e| e + close.len());
        let tag = &after[..end];
        let named = tag.match_indices(name).any(|(i, _)| {
            let before = tag[..i].chars().next_back();
            let next = tag[i + name.len()..].chars().next();
            !before.is_some_and(|c| is_ident(c) || c == '.') && !next.is_some_and(is_ident)
        });
        if named {
            return src[..offset + open].matches('\n').count() + 1;
        }
        offset += open + end;
        rest = &rest[open + end..];
    }
    1
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(root, &p, out);
        } else if let Ok(rel) = p.strip_prefix(root) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// Plain tenant text → escaped HTML paragraphs (blank line separates).
fn paragraphs(text: String) -> Value {
    let mut out = String::new();
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        out.push_str("<p>");
        for (i, line) in para.lines().enumerate() {
            if i > 0 {
                out.push_str("<br>");
            }
            out.push_str(&html_escape(line));
        }
        out.push_str("</p>");
    }
    Value::from_safe_string(out)
}

/// A stored `+7XXXXXXXXXX` phone as people write it: `+7 900 111-22-33`.
/// Other numbers are shown as stored.
pub fn shown_phone(stored: &str) -> String {
    let digits = stored.strip_prefix("+7").unwrap_or("");
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return stored.to_string();
    }
    format!(
        "+7 {} {}-{}-{}",
        &digits[..3],
        &digits[3..6],
        &digits[6..8],
        &digits[8..]
    )
}

pub fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#x27;"),
            c => o.push(c),
        }
    }
    o
}

/// What templates see of the tenant.
pub fn tenant_view(t: &Tenant) -> Value {
    let c = &t.config;
    minijinja::context! {
        slug => &t.slug,
        name => &c.tenant.name,
        short_name => t.short_name(),
        tagline => &c.branding.tagline,
        has_logo => c.branding.logo.is_some(),
        has_appeals => !c.appeals.topics.is_empty(),
        blank_forms_url => &c.content.blank_forms_url,
        texts => minijinja::context! {
            welcome => &c.texts.welcome,
            consent => &c.texts.consent,
            consent_details => &c.texts.consent_details,
            footer => &c.texts.footer,
            home => &c.texts.home,
            support_phone => &c.texts.support_phone,
            support_email => &c.texts.support_email,
        },
    }
}

/// The per-tenant stylesheet: brand colours as CSS variables.
pub fn theme_css(t: &Tenant) -> String {
    let b = &t.config.branding;
    format!(
        ":root{{--primary:{};--primary-contrast:{};--accent:{};}}\n",
        b.primary_color.get_ref(),
        b.primary_contrast
            .as_ref()
            .map(|c| c.get_ref().as_str())
            .unwrap_or("#ffffff"),
        b.accent_color
            .as_ref()
            .map(|c| c.get_ref().as_str())
            .unwrap_or(b.primary_color.get_ref()),
    )
}

#[cfg(test)]
mod tests {
    use super::shown_phone;
    #[test]
    fn phones_read_in_groups() {
        assert_eq!(shown_phone("+79001112233"), "+7 900 111-22-33");
        assert_eq!(shown_phone("+77011234567"), "+7 701 123-45-67");
        // Not a number of ten digits after +7: as stored.
        assert_eq!(shown_phone("+4930123456"), "+4930123456");
        assert_eq!(shown_phone("+7900"), "+7900");
    }
}
