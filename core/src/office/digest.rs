//! The daily digest: each operator gets one email a day listing their
//! overdue applications; managers and admins also get the overdue ones
//! nobody is assigned. A row per (staff, day) makes it once a day however
//! many processes run it.

use super::queue::{Assignee, QueueFilter, Sort, queue};
use crate::store::Db;
use crate::tenant::Tenant;
use minijinja::context;

/// Queue today's digests of `tenant`; how many emails were queued.
pub async fn run(db: &Db, tenant: &Tenant, public_url: &str) -> Result<usize, super::OfficeError> {
    let day = tenant.today().to_string();
    let staff = super::list_staff(db, &tenant.slug).await?;
    let office = format!("{}/office/applications", tenant.public_url(public_url));
    let mut sent = 0;
    for s in staff.iter().filter(|s| s.active) {
        let mut items = Vec::new();
        let mut wanted = vec![Assignee::Staff(s.id)];
        if s.role.is_manager() {
            wanted.push(Assignee::Nobody);
        }
        for who in wanted {
            let f = QueueFilter {
                overdue: true,
                assignee: Some(who),
                sort: Sort::Due,
                limit: 200,
                ..QueueFilter::default()
            };
            let (rows, _) = queue(db, tenant, &f).await?;
            items.extend(rows.into_iter().map(|r| {
                context! {
                    number => r.app.number.clone().unwrap_or_else(|| "без номера".into()),
                    due => r.app.due_on.as_deref().map(crate::tenant::ru_date).unwrap_or_default(),
                    status => crate::workflow::status_title(tenant, &r.app.status),
                    link => format!("{office}/{}", r.app.id),
                    unassigned => r.assignee_id.is_none(),
                }
            }));
        }
        if items.is_empty() {
            continue;
        }
        let mut tx = db.begin().await?;
        let claimed = sqlx::query(
            "INSERT INTO digests (tenant_id, staff_id, day) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(&tenant.slug)
        .bind(s.id)
        .bind(&day)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            continue;
        }
        let n = items.len();
        crate::notify::email(
            &mut tx,
            tenant,
            &s.email,
            "overdue_digest",
            context! { name => &s.name, items => items, count => n, day => &day },
        )
        .await?;
        tx.commit().await?;
        sent += 1;
    }
    Ok(sent)
}
