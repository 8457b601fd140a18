//! Notifications through a transactional outbox.
//!
//! A handler renders the message from the tenant's templates and inserts
//! it into `outbox` inside the same transaction as the change that caused
//! it; the [`worker`] leases due rows, delivers them (SMTP, an SMS gateway,
//! or the local dev outbox) and retries with backoff. A crash between
//! commit and delivery loses nothing: the row is still pending.

pub mod sms;
pub mod worker;

use crate::store::now_ts;
use crate::tenant::Tenant;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("template {name}: {source}")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

fn render(tenant: &Tenant, name: &str, ctx: &minijinja::Value) -> Result<String, NotifyError> {
    let full = minijinja::context! { tenant => crate::tenant::templates::tenant_view(tenant), ..ctx.clone() };
    tenant
        .templates
        .get_template(name)
        .and_then(|t| t.render(&full))
        .map(|s| s.trim().to_string())
        .map_err(|source| NotifyError::Template {
            name: name.to_string(),
            source,
        })
}

/// A message rendered from the tenant's templates, not queued yet: for a
/// caller that queues it with other statements in one command
/// ([`queue`]).
#[derive(Debug, Clone)]
pub struct Message {
    channel: &'static str,
    template: String,
    to: String,
    subject: Option<String>,
    body: String,
}

impl Message {
    /// An email from `templates/email/<template>/{subject,body}.txt`.
    pub fn email(
        tenant: &Tenant,
        to: &str,
        template: &str,
        ctx: &minijinja::Value,
    ) -> Result<Message, NotifyError> {
        Ok(Message {
            channel: "email",
            template: template.to_string(),
            to: to.to_string(),
            subject: Some(render(
                tenant,
                &format!("email/{template}/subject.txt"),
                ctx,
            )?),
            body: render(tenant, &format!("email/{template}/body.txt"), ctx)?,
        })
    }

    /// An SMS from `templates/sms/<template>.txt`.
    pub fn sms(
        tenant: &Tenant,
        to: &str,
        template: &str,
        ctx: &minijinja::Value,
    ) -> Result<Message, NotifyError> {
        Ok(Message::sms_text(
            to,
            template,
            render(tenant, &format!("sms/{template}.txt"), ctx)?,
        ))
    }

    fn sms_text(to: &str, template: &str, body: String) -> Message {
        Message {
            channel: "sms",
            template: template.to_string(),
            to: to.to_string(),
            subject: None,
            body,
        }
    }
}

/// Queue an email rendered from `templates/email/<template>/{subject,body}.txt`.
pub async fn email(
    tx: &mut sqlx::AnyConnection,
    tenant: &Tenant,
    to: &str,
    template: &str,
    ctx: minijinja::Value,
) -> Result<(), NotifyError> {
    let m = Message::email(tenant, to, template, &ctx)?;
    enqueue(&mut *tx, &tenant.slug, &[m]).await
}

/// Queue an SMS rendered from `templates/sms/<template>.txt`.
pub async fn sms(
    tx: &mut sqlx::AnyConnection,
    tenant: &Tenant,
    to: &str,
    template: &str,
    ctx: minijinja::Value,
) -> Result<(), NotifyError> {
    let m = Message::sms(tenant, to, template, &ctx)?;
    enqueue(&mut *tx, &tenant.slug, &[m]).await
}

/// An SMS's text from `templates/sms/<template>.txt`, for a caller that
/// keeps what it sent (a signature's record) and queues it with
/// [`sms_text`].
pub fn render_sms(
    tenant: &Tenant,
    template: &str,
    ctx: minijinja::Value,
) -> Result<String, NotifyError> {
    render(tenant, &format!("sms/{template}.txt"), &ctx)
}

/// Queue an SMS already rendered by [`render_sms`].
pub async fn sms_text(
    tx: &mut sqlx::AnyConnection,
    tenant: &Tenant,
    to: &str,
    template: &str,
    body: &str,
) -> Result<(), NotifyError> {
    let m = Message::sms_text(to, template, body.to_string());
    enqueue(&mut *tx, &tenant.slug, &[m]).await
}

/// Queues `messages` (in this order) as one statement of `batch`.
pub fn queue(batch: &mut crate::store::Batch, tenant: &str, messages: &[Message]) {
    use std::fmt::Write;
    if messages.is_empty() {
        return;
    }
    let mut sql = String::from(
        "INSERT INTO outbox (tenant_id, channel, template, recipient, subject, body_text, status, \
         attempts, next_attempt_at, created_at) VALUES ",
    );
    let mut params = vec![tenant.into(), now_ts().into()];
    for (i, m) in messages.iter().enumerate() {
        let k = 3 + 5 * i;
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(
            sql,
            "{sep}($1, ${k}, ${}, ${}, ${}, ${}, 'pending', 0, $2, $2)",
            k + 1,
            k + 2,
            k + 3,
            k + 4
        );
        params.extend([
            m.channel.into(),
            (&m.template).into(),
            (&m.to).into(),
            m.subject.as_deref().into(),
            (&m.body).into(),
        ]);
    }
    batch.push(sql, params);
}

/// [`queue`] for messages rendered before a value they show was known:
/// `placeholder` in their subject and text becomes `value` (an SQL
/// expression of one parameter, `$1`, bound to `arg`) as they are inserted,
/// and they are inserted only where `when` holds (an SQL condition and its
/// values, numbered from the first it is given). SQLite only (its
/// `replace`); a statement each.
pub fn queue_numbered(
    batch: &mut crate::store::Batch,
    tenant: &str,
    messages: &[Message],
    placeholder: &str,
    value: &str,
    arg: i64,
    when: &dyn Fn(usize) -> (String, Vec<crate::store::Param>),
) {
    for m in messages {
        let (cond, more) = when(10);
        let mut params = vec![
            arg.into(),
            tenant.into(),
            m.channel.into(),
            (&m.template).into(),
            (&m.to).into(),
            m.subject.as_deref().into(),
            (&m.body).into(),
            placeholder.into(),
            now_ts().into(),
        ];
        params.extend(more);
        batch.push(
            format!(
                "INSERT INTO outbox (tenant_id, channel, template, recipient, subject, body_text, status, \
                 attempts, next_attempt_at, created_at) \
                 SELECT $2, $3, $4, $5, replace($6, $8, v.n), replace($7, $8, v.n), 'pending', 0, $9, $9 \
                 FROM (SELECT {value} AS n) v WHERE {cond}"
            ),
            params,
        );
    }
}

/// Queues `messages` (in this order) in one statement.
pub async fn enqueue(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    messages: &[Message],
) -> Result<(), NotifyError> {
    let mut b = crate::store::Batch::new();
    queue(&mut b, tenant, messages);
    b.run(tx).await?;
    Ok(())
}

/// One outbox row as `tapline outbox` and tests read it.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub tenant_id: String,
    pub channel: String,
    pub template: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub body_text: String,
    pub status: String,
    pub attempts: i64,
    pub created_at: String,
    pub last_error: Option<String>,
}

/// Messages not delivered to a real recipient: pending, failed, or
/// delivered to the dev outbox. Oldest first.
pub async fn undelivered(
    db: &crate::store::Db,
    tenant: Option<&str>,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    type R = (
        i64,
        String,
        String,
        String,
        String,
        Option<String>,
        String,
        String,
        i64,
        String,
        Option<String>,
    );
    let rows: Vec<R> = sqlx::query_as(
        "SELECT id, tenant_id, channel, template, recipient, subject, body_text, status, attempts, \
         created_at, last_error FROM outbox WHERE status <> 'sent' AND ($1 = '' OR tenant_id = $1) ORDER BY id",
    )
    .bind(tenant.unwrap_or(""))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| OutboxRow {
            id: r.0,
            tenant_id: r.1,
            channel: r.2,
            template: r.3,
            recipient: r.4,
            subject: r.5,
            body_text: r.6,
            status: r.7,
            attempts: r.8,
            created_at: r.9,
            last_error: r.10,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tenant's name is whatever its charter says («Газораспределительная
    /// организация «Газсети»», «ПАО «Квадра»», «МУП «Водоканал»»): it cannot
    /// be declined or agreed with, so a message may only set it apart — a
    /// signature line, an `Организация:` line, a `Name:` prefix or a
    /// `— Name` suffix — never inside a sentence.
    #[test]
    fn every_message_reads_right_whatever_the_tenant_is_called() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenants/vodokanal");
        let mut t = crate::tenant::load_tenant(&dir).expect("the demo tenant loads");
        let full = "Газораспределительная организация «Газсети»";
        let short = "Газсети";
        t.config.tenant.name = full.into();
        t.config.tenant.short_name = Some(short.into());
        let ctx = minijinja::context! {
            number => "ГС-000001", kind => "Подключение к сети", status => "Принята к рассмотрению",
            link => "https://lk.example/applications/1", topic => "Счёт", answer => "Счёт исправлен.",
            new => "new@example.ru", type_title => "Физическое лицо", name => "Иванов Иван",
            ids => vec![("ИНН", "7707083893")], email => "a@example.ru", phone => "+79001112233",
            day => "01.12.2026", count => 1, code => "123456",
            items => vec![minijinja::context! { number => "ГС-000001", status => "Принята", due => "30.11.2026", link => "https://lk.example/office/applications/1" }],
        };
        let mut seen = 0;
        for (file, _) in crate::store::TEMPLATES
            .iter()
            .filter(|(n, _)| n.starts_with("email/") || n.starts_with("sms/"))
        {
            let text = render(&t, file, &ctx).unwrap_or_else(|e| panic!("{file}: {e}"));
            for line in text.lines() {
                if line.contains(full) {
                    assert!(
                        line == full || line == format!("Организация: {full}"),
                        "{file}: the tenant's name inside a sentence: `{line}`"
                    );
                } else if line.contains(short) {
                    assert!(
                        line.starts_with(&format!("{short}: "))
                            || line.ends_with(&format!(" — {short}")),
                        "{file}: the tenant's short name inside a sentence: `{line}`"
                    );
                }
            }
            seen += 1;
        }
        assert!(seen >= 20, "only {seen} message templates");
        let status = render(&t, "email/application_status/body.txt", &ctx).unwrap();
        assert!(
            status.contains(
                "Новый статус заявки № ГС-000001 (Подключение к сети): Принята к рассмотрению."
            ) && status.ends_with(&format!("С уважением,\n{full}")),
            "{status}"
        );
    }
}
