//! The manager's dashboard: applications by status, received per month,
//! median days from submission to each status, and the share of open
//! applications past their deadline; drawn as SVG on the server so the
//! office needs no charting script.

use super::escape_markup as esc;
use crate::store::Db;
use crate::tenant::Tenant;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub by_status: Vec<(String, i64)>,
    pub per_month: Vec<(String, i64)>,
    /// Status title, median days from submission, how many reached it.
    pub milestones: Vec<(String, f64, i64)>,
    pub open: i64,
    pub overdue: i64,
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    }
}

fn days_between(a: &str, b: &str) -> Option<f64> {
    let (a, b) = (crate::store::parse_ts(a)?, crate::store::parse_ts(b)?);
    Some((b - a).as_seconds_f64() / 86_400.0)
}

pub async fn dashboard(db: &Db, tenant: &Tenant) -> Result<Dashboard, sqlx::Error> {
    let wf = &tenant.config.workflow;
    let by_status: Vec<(String, i64)> = super::queue::counts(db, &tenant.slug)
        .await?
        .into_iter()
        .map(|(s, n)| (crate::workflow::status_title(tenant, &s), n))
        .collect();

    // The last twelve months, empty months included.
    let today = tenant.today();
    let mut months: Vec<String> = Vec::new();
    let (mut y, mut m) = (today.year(), u8::from(today.month()) as i32);
    for _ in 0..12 {
        months.push(format!("{y:04}-{m:02}"));
        m -= 1;
        if m == 0 {
            m = 12;
            y -= 1;
        }
    }
    months.reverse();
    // Months on the tenant's clock: its first day begins before UTC's.
    let since = crate::store::day_bounds(&format!("{}-01", months[0]), tenant.offset)
        .map(|(start, _)| start)
        .unwrap_or_default();
    let submitted: Vec<(String,)> = sqlx::query_as(
        "SELECT submitted_at FROM applications WHERE tenant_id = $1 AND submitted_at >= $2",
    )
    .bind(&tenant.slug)
    .bind(&since)
    .fetch_all(&db.pool)
    .await?;
    let mut counts: BTreeMap<String, i64> = months.iter().map(|m| (m.clone(), 0)).collect();
    for (t,) in submitted {
        let month = crate::store::parse_ts(&t)
            .map(|t| t.to_offset(tenant.offset))
            .map(|t| format!("{:04}-{:02}", t.year(), u8::from(t.month())));
        if let Some(c) = month.and_then(|k| counts.get_mut(&k)) {
            *c += 1;
        }
    }
    let per_month = counts.into_iter().collect();

    // Days from submission to the first time each status was entered.
    let events: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT e.application_id, e.status, e.created_at, a.submitted_at FROM application_events e \
         JOIN applications a ON a.id = e.application_id AND a.tenant_id = e.tenant_id \
         WHERE e.tenant_id = $1 AND e.kind = 'status' AND e.status IS NOT NULL \
         AND a.submitted_at IS NOT NULL AND a.submitted_at >= $2 ORDER BY e.id",
    )
    .bind(&tenant.slug)
    .bind(&since)
    .fetch_all(&db.pool)
    .await?;
    let mut first: BTreeMap<(String, i64), f64> = BTreeMap::new();
    for (app, status, at, submitted) in events {
        if let Some(d) = days_between(&submitted, &at) {
            first.entry((status, app)).or_insert(d);
        }
    }
    let mut per_status: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for ((status, _), d) in first {
        per_status.entry(status).or_default().push(d);
    }
    let milestones = wf
        .statuses
        .iter()
        .filter_map(|s| {
            let id = s.id();
            let mut v = per_status.remove(id)?;
            let n = v.len() as i64;
            Some((s.title.clone(), (median(&mut v) * 10.0).round() / 10.0, n))
        })
        .collect();

    let finals: Vec<&str> = wf
        .statuses
        .iter()
        .filter(|s| s.is_final)
        .map(|s| s.id())
        .collect();
    let open_rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT status, due_on, clock_stopped_on FROM applications WHERE tenant_id = $1 AND status <> 'draft'",
    )
    .bind(&tenant.slug)
    .fetch_all(&db.pool)
    .await?;
    let open: Vec<_> = open_rows
        .iter()
        .filter(|(s, _, _)| !finals.contains(&s.as_str()))
        .collect();
    let overdue = open
        .iter()
        .filter(|(s, due, stopped)| {
            stopped.is_none() && crate::workflow::is_overdue(tenant, s, due.as_deref(), today)
        })
        .count() as i64;
    Ok(Dashboard {
        by_status,
        per_month,
        milestones,
        open: open.len() as i64,
        overdue,
    })
}

/// Horizontal bars, one per labelled value; labels are escaped.
pub fn bars_svg(title: &str, items: &[(String, f64)], unit: &str) -> String {
    let row = 28;
    let label_w = 300;
    let bar_w = 320.0;
    let h = 30 + row * items.len().max(1);
    let max = items.iter().map(|i| i.1).fold(0.0, f64::max).max(1e-9);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {h}\" role=\"img\" aria-label=\"{}\" class=\"chart\">\
         <title>{}</title>",
        label_w + 400,
        esc(title),
        esc(title)
    );
    for (i, (label, v)) in items.iter().enumerate() {
        let y = 20 + i * row;
        let w = (v / max * bar_w).max(1.0);
        let shown = if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        };
        out.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"13\">{}</text>\
             <rect x=\"{}\" y=\"{}\" width=\"{w:.1}\" height=\"18\" fill=\"var(--primary, #0a5)\"><title>{}: {shown} {}</title></rect>\
             <text x=\"{}\" y=\"{}\" font-size=\"13\">{shown}{}</text>",
            label_w - 8,
            y + 13,
            esc(label),
            label_w,
            y,
            esc(label),
            esc(unit),
            label_w as f64 + w + 6.0,
            y + 13,
            if unit.is_empty() { String::new() } else { format!(" {}", esc(unit)) },
        ));
    }
    out.push_str("</svg>");
    out
}

/// Columns per month.
pub fn columns_svg(title: &str, items: &[(String, i64)]) -> String {
    let col = 50;
    let h = 200;
    let w = 20 + col * items.len().max(1);
    let max = items.iter().map(|i| i.1).max().unwrap_or(0).max(1) as f64;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {}\" role=\"img\" aria-label=\"{}\" class=\"chart\">\
         <title>{}</title>",
        h + 40,
        esc(title),
        esc(title)
    );
    for (i, (label, v)) in items.iter().enumerate() {
        let bh = (*v as f64 / max * h as f64).round() as i64;
        let x = 20 + i * col;
        out.push_str(&format!(
            "<rect x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{bh}\" fill=\"var(--primary, #0a5)\"><title>{}: {v}</title></rect>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">{v}</text>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            h - bh + 10,
            col - 10,
            esc(label),
            x + (col - 10) / 2,
            h - bh + 4,
            x + (col - 10) / 2,
            h + 28,
            esc(label.get(2..).unwrap_or(label)),
        ));
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_escaped_labels() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
        let svg = bars_svg("t", &[("<script>".into(), 2.0), ("b".into(), 1.0)], "дн.");
        assert!(svg.contains("&lt;script&gt;") && !svg.contains("<script>"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        let cols = columns_svg("m", &[("2026-10".into(), 3), ("2026-11".into(), 0)]);
        assert_eq!(cols.matches("<rect").count(), 2);
    }
}
