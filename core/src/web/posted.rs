//! A multipart form with text fields and at most one file, as the
//! correspondence forms send it (staff and applicant documents): the CSRF
//! token is checked before any byte of the file is stored, text fields are
//! capped, and the file streams to the object store under the tenant's
//! size limit with its type read from its content. Also the draft's
//! slot upload: a token, then one file.

use super::{AppState, Ctx};
use crate::document::{FileType, PutError, Stored};
use std::collections::BTreeMap;

/// Longest text field a correspondence form may carry.
const TEXT_MAX: usize = 64 * 1024;
/// All text fields of one form together, and how many there may be.
const TEXT_TOTAL: usize = 160 * 1024;
const MAX_FIELDS: usize = 16;

/// A text part of at most `max` bytes, or `None` when it is longer (or the
/// body breaks off).
pub async fn small_text(
    mut field: axum::extract::multipart::Field<'_>,
    max: usize,
) -> Option<String> {
    let mut text = Vec::new();
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                if text.len() + chunk.len() > max {
                    return None;
                }
                text.extend_from_slice(&chunk);
            }
            Ok(None) => {
                // As in urlencoded forms (`form_map`): PostgreSQL refuses NUL.
                let text = String::from_utf8_lossy(&text).into_owned();
                return Some(super::nul_taken_out(text));
            }
            Err(_) => return None,
        }
    }
}

pub struct Posted {
    pub fields: BTreeMap<String, String>,
    /// The file's safe name, the stored bytes and their type.
    pub file: Option<(String, Stored, FileType)>,
}

/// A refused form: why, and the text fields read before it went wrong, so
/// the page can show what was typed again.
#[derive(Debug)]
pub struct Refused {
    pub error: PostedError,
    pub typed: BTreeMap<String, String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum PostedError {
    Csrf,
    TooLarge,
    Empty,
    /// Not a type correspondence may carry (PDF, images, Word, Excel, ZIP).
    Type,
    Failed,
}

impl PostedError {
    pub fn message(&self, max_mb: u64) -> String {
        match self {
            PostedError::Csrf => "Форма устарела. Обновите страницу и повторите.".into(),
            PostedError::TooLarge => format!("Файл больше {max_mb} МБ."),
            PostedError::Empty => "Файл пустой.".into(),
            PostedError::Type => {
                "Этот тип файла не принимается: приложите PDF, JPEG, PNG, TIFF, Word, Excel или ZIP.".into()
            }
            PostedError::Failed => "Файл не загрузился. Попробуйте ещё раз.".into(),
        }
    }
}

pub async fn read(
    ctx: &Ctx,
    st: &AppState,
    multipart: axum::extract::Multipart,
    max_mb: u64,
) -> Result<Posted, Refused> {
    let mut file = None;
    let mut fields = BTreeMap::new();
    let res = read_into(ctx, st, multipart, max_mb, &mut file, &mut fields).await;
    match res {
        Ok(()) => Ok(Posted { fields, file }),
        Err(error) => {
            // Whatever went wrong after a file was stored, its bytes go
            // unless another row names them.
            if let Some((_, stored, _)) = &file {
                crate::document::forget_upload(&st.db, &st.files, stored).await;
            }
            fields.remove("csrf_token");
            Err(Refused {
                error,
                typed: fields,
            })
        }
    }
}

async fn read_into(
    ctx: &Ctx,
    st: &AppState,
    mut multipart: axum::extract::Multipart,
    max_mb: u64,
    file: &mut Option<(String, Stored, FileType)>,
    fields: &mut BTreeMap<String, String>,
) -> Result<(), PostedError> {
    let mut csrf_ok = false;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                tracing::info!(error = %e, "form upload interrupted");
                return Err(PostedError::Failed);
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            if !csrf_ok {
                return Err(PostedError::Csrf);
            }
            if file.is_some() {
                // One file per form.
                return Err(PostedError::Failed);
            }
            *file = file_part(st, field, max_mb).await?;
            continue;
        }
        // The forms carry a handful of fields: a body of endless small
        // fields must not grow memory any more than one large field may.
        if fields.len() >= MAX_FIELDS {
            return Err(PostedError::Failed);
        }
        let room = TEXT_TOTAL.saturating_sub(fields.values().map(String::len).sum());
        let Some(text) = small_text(field, TEXT_MAX.min(room)).await else {
            return Err(PostedError::TooLarge);
        };
        if name == "csrf_token" {
            csrf_ok = ctx
                .check_csrf(st, &[("csrf_token".to_string(), text.clone())].into())
                .is_ok();
        }
        fields.insert(name, text);
    }
    if !csrf_ok {
        return Err(PostedError::Csrf);
    }
    Ok(())
}

/// The form's file part stored, its name made safe and ending in the type
/// its bytes show; None for an empty file input (a part with no name and
/// no bytes).
async fn file_part(
    st: &AppState,
    mut field: axum::extract::multipart::Field<'_>,
    max_mb: u64,
) -> Result<Option<(String, Stored, FileType)>, PostedError> {
    let file_name = crate::document::safe_name(field.file_name().unwrap_or("file"));
    if file_name.is_empty() || field.file_name().is_none_or(str::is_empty) {
        while let Ok(Some(_)) = field.chunk().await {}
        return Ok(None);
    }
    let stored = match st.files.put(&st.db, field, max_mb << 20).await {
        Ok(s) => s,
        Err(PutError::TooLarge(_)) => return Err(PostedError::TooLarge),
        Err(PutError::Empty) => return Err(PostedError::Empty),
        Err(e) => {
            tracing::warn!(error = %e, "form upload failed");
            return Err(PostedError::Failed);
        }
    };
    let Some(t) = FileType::sniff(&stored.head) else {
        crate::document::forget_upload(&st.db, &st.files, &stored).await;
        return Err(PostedError::Type);
    };
    Ok(Some((t.name_file(&file_name), stored, t)))
}

/// Why a slot upload stored nothing: forged (a file before a valid token),
/// or a code the draft's page explains (`no_file`, `too_large`, `empty`,
/// `failed`).
pub enum SlotRefused {
    Forged,
    Code(&'static str),
}

/// The one file of a draft slot's upload form, which sends its CSRF token
/// first: the file streams to the store under `max_mb`, named safely.
/// Parts after the file are not read.
pub async fn slot_file(
    ctx: &Ctx,
    st: &AppState,
    mut multipart: axum::extract::Multipart,
    max_mb: u64,
) -> Result<(String, Stored), SlotRefused> {
    let mut csrf_ok = false;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Err(SlotRefused::Code("no_file")),
            Err(e) => {
                tracing::info!(error = %e, "upload interrupted");
                return Err(SlotRefused::Code("failed"));
            }
        };
        match field.name() {
            Some("csrf_token") => {
                // A token is short: a longer part is not read into memory.
                let token = small_text(field, 256).await.unwrap_or_default();
                csrf_ok = ctx
                    .check_csrf(st, &[("csrf_token".to_string(), token)].into())
                    .is_ok();
            }
            Some("file") if csrf_ok => {
                let name = crate::document::safe_name(field.file_name().unwrap_or("file"));
                return match st.files.put(&st.db, field, max_mb << 20).await {
                    Ok(stored) => Ok((name, stored)),
                    Err(PutError::TooLarge(_)) => Err(SlotRefused::Code("too_large")),
                    Err(PutError::Empty) => Err(SlotRefused::Code("empty")),
                    Err(e) => {
                        tracing::warn!(error = %e, "upload failed");
                        Err(SlotRefused::Code("failed"))
                    }
                };
            }
            Some("file") => return Err(SlotRefused::Forged),
            _ => {}
        }
    }
}
