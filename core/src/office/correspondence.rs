//! Correspondence on an application, written once for both sides: a
//! message or a document from the applicant, or a message, a request for
//! documents, a stage note or a document from staff. Each letter is the
//! attached file (if any), the message in the thread and the history
//! event; the applicant's answer restarts a clock a request stopped, and a
//! letter from staff notifies the applicant (a request stops the clock).

use super::{NewMessage, Staff};
use crate::account::FieldErrors;
use crate::application::{self as app, Application};
use crate::document::{self, FileStore, FileType, Stored};
use crate::notify::NotifyError;
use crate::store::{Author, Db};
use crate::tenant::Tenant;
use crate::workflow::{self, Recipient, WorkflowError};

/// Who writes.
#[derive(Clone, Copy)]
pub enum Side<'a> {
    Applicant,
    /// A staff member, and where the applicant's notice goes.
    Staff(&'a Staff, &'a Recipient<'a>),
}

/// What kind of letter staff write; the applicant writes messages and
/// documents only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Message,
    Request,
    Stage,
    Document,
}

impl Kind {
    /// What the letter's history entry records.
    pub fn event(self) -> app::EventKind {
        match self {
            Kind::Message => app::EventKind::Message,
            Kind::Request => app::EventKind::Request,
            Kind::Stage => app::EventKind::Stage,
            Kind::Document => app::EventKind::Document,
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Request => "request",
            Kind::Stage => "stage",
            Kind::Document => "document",
        }
    }
}

/// A file a letter carries: as uploaded, with its type.
pub struct Attachment<'a> {
    pub name: &'a str,
    pub stored: &'a Stored,
    pub mime: &'a str,
}

/// One letter.
pub struct Letter<'a> {
    pub kind: Kind,
    /// A stage's name or a staff document's title.
    pub title: Option<&'a str>,
    /// The text as typed (a comment, for a document); may be empty.
    pub text: &'a str,
    pub file: Option<Attachment<'a>>,
}

#[derive(Debug, thiserror::Error)]
pub enum LetterError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
}

/// The thread's HTML for a letter's text. Staff messages take the office's
/// rich text; everything else is plain text made safe.
fn html_of(side: Side<'_>, letter: &Letter<'_>) -> String {
    match (side, letter.kind) {
        (_, Kind::Stage) => String::new(),
        (Side::Staff(..), Kind::Message | Kind::Request) => super::rich_text(letter.text),
        _ if letter.text.is_empty() => String::new(),
        _ => super::sanitize(&super::text_to_html(letter.text)),
    }
}

/// Writes `letter` on `a` inside `tx`.
pub async fn write(
    tx: &mut sqlx::AnyConnection,
    tenant: &Tenant,
    a: &Application,
    side: Side<'_>,
    letter: &Letter<'_>,
) -> Result<(), LetterError> {
    let slug = tenant.slug.as_str();
    let html = html_of(side, letter);
    let (side_id, author) = match side {
        Side::Applicant => ("applicant", Author::Applicant),
        Side::Staff(s, _) => ("utility", Author::Staff(s.id)),
    };
    let file_id = match &letter.file {
        Some(f) => {
            let slot = match side {
                Side::Applicant => "_applicant",
                Side::Staff(..) => "_utility",
            };
            // A staff document is filed under its title; the applicant's
            // under its file name.
            let doc_type = match side {
                Side::Applicant => None,
                Side::Staff(..) => letter.title,
            };
            Some(
                document::attach(
                    &mut *tx, slug, a.id, slot, doc_type, f.name, f.stored, f.mime,
                )
                .await?,
            )
        }
        None => None,
    };
    // The thread shows a document by its title, or by its name from the
    // applicant.
    let title = match (side, &letter.file) {
        (Side::Applicant, Some(f)) => Some(f.name),
        _ => letter.title,
    };
    super::add_message(
        &mut *tx,
        slug,
        a.id,
        NewMessage {
            side: side_id,
            kind: letter.kind.id(),
            author,
            title,
            body: &html,
            file_id,
        },
    )
    .await?;
    match side {
        Side::Applicant => {
            app::event(
                &mut *tx,
                slug,
                a.id,
                app::EventKind::Answer,
                Some(&a.status),
                Author::Applicant,
                title,
            )
            .await?;
            super::resume_clock(&mut *tx, tenant, a.id).await?;
        }
        Side::Staff(_, to) => {
            app::event(
                &mut *tx,
                slug,
                a.id,
                letter.kind.event(),
                Some(&a.status),
                author,
                title,
            )
            .await?;
            if letter.kind == Kind::Request {
                super::stop_clock(&mut *tx, tenant, a.id).await?;
            }
            let subject = match letter.kind {
                Kind::Request => "Запрос недостающих документов или сведений".to_string(),
                Kind::Stage => format!("Новый этап: {}", title.unwrap_or_default()),
                Kind::Document => format!("Новый документ: {}", title.unwrap_or_default()),
                Kind::Message => "Новое сообщение от организации".to_string(),
            };
            // The text travels with the notice.
            workflow::notify_message(
                &mut *tx,
                tenant,
                a,
                &subject,
                &super::html_to_text(&html),
                to,
            )
            .await?;
        }
    }
    Ok(())
}

/// The applicant answers on their application: a message, or a document
/// with an optional comment. A stored upload is released once it is
/// attached.
pub async fn applicant_writes(
    db: &Db,
    tenant: &Tenant,
    a: &Application,
    letter: &Letter<'_>,
) -> Result<(), LetterError> {
    let mut tx = db.begin().await?;
    write(&mut tx, tenant, a, Side::Applicant, letter).await?;
    tx.commit().await?;
    if let Some(f) = &letter.file {
        document::release(db, f.stored).await;
    }
    Ok(())
}

/// What staff put into the card's document form, the file stored already.
pub struct StaffDocument<'a> {
    pub title: Option<&'a str>,
    /// A comment; may be empty.
    pub comment: &'a str,
    /// The file's safe name, its stored bytes and their type.
    pub file: Option<(&'a str, &'a Stored, FileType)>,
}

#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// Nothing sent and the stored file let go; the errors go beside the
    /// form's fields.
    #[error("the document form has errors")]
    Invalid(FieldErrors),
    #[error(transparent)]
    Letter(#[from] LetterError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Staff send the applicant a document from the card: a title of up to
/// 200 characters and a file. The letter and its audit entry commit
/// together.
#[allow(clippy::too_many_arguments)]
pub async fn staff_sends_document(
    db: &Db,
    files: &FileStore,
    tenant: &Tenant,
    a: &Application,
    staff: &Staff,
    to: &Recipient<'_>,
    doc: StaffDocument<'_>,
    ip: &str,
) -> Result<(), DocumentError> {
    let title = doc
        .title
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.chars().count() <= 200);
    let mut errors = FieldErrors::new();
    if title.is_none() {
        errors.insert(
            "doc_title".into(),
            "Назовите документ (до 200 символов)".into(),
        );
    }
    if doc.file.is_none() {
        errors.insert("file".into(), "Выберите файл".into());
    }
    let (Some(title), Some((name, stored, kind)), true) = (title, doc.file, errors.is_empty())
    else {
        if let Some((_, stored, _)) = doc.file {
            document::forget_upload(db, files, stored).await;
        }
        return Err(DocumentError::Invalid(errors));
    };
    let letter = Letter {
        kind: Kind::Document,
        title: Some(title),
        text: doc.comment.trim(),
        file: Some(Attachment {
            name,
            stored,
            mime: kind.mime(),
        }),
    };
    let detail = format!(
        "{title} ({name}, {})",
        document::human_size(stored.size as i64)
    );
    let mut tx = db.begin().await?;
    write(&mut tx, tenant, a, Side::Staff(staff, to), &letter).await?;
    super::audit(
        &mut *tx,
        &tenant.slug,
        Some(staff.id),
        super::AuditAction::Document,
        Some(super::Audited::Application(a.id)),
        &detail,
        ip,
    )
    .await?;
    tx.commit().await?;
    document::release(db, stored).await;
    Ok(())
}
