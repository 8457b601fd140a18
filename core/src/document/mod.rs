//! Files: a content-addressed store on local disk (SHA-256 names), file
//! types recognised by their content rather than their names, and the rows
//! that attach files to applications.
//!
//! A file is streamed to a temporary name in the store's own folder,
//! hashed on the way, synced, then renamed into place; only then does the
//! row naming it commit. An aborted or refused upload leaves neither.

pub mod docx;

use crate::store::{Db, now_ts};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// File types an application slot may accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Pdf,
    Jpeg,
    Png,
    Tiff,
    Docx,
    Xlsx,
    Zip,
}

impl FileType {
    pub fn from_name(s: &str) -> Option<FileType> {
        Some(match s {
            "pdf" => FileType::Pdf,
            "jpeg" | "jpg" => FileType::Jpeg,
            "png" => FileType::Png,
            "tiff" | "tif" => FileType::Tiff,
            "docx" => FileType::Docx,
            "xlsx" => FileType::Xlsx,
            "zip" => FileType::Zip,
            _ => return None,
        })
    }

    /// The extension a file of this type is opened by.
    pub fn ext(self) -> &'static str {
        match self {
            FileType::Pdf => "pdf",
            FileType::Jpeg => "jpg",
            FileType::Png => "png",
            FileType::Tiff => "tif",
            FileType::Docx => "docx",
            FileType::Xlsx => "xlsx",
            FileType::Zip => "zip",
        }
    }

    /// `name` with an extension that matches this type, so whoever
    /// downloads the file opens it as what its content is: "Акт.jar" whose
    /// bytes are a ZIP becomes "Акт.jar.zip", "Договор.docm" "Договор.docm.docx".
    pub fn name_file(self, name: &str) -> String {
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_lowercase())
            .unwrap_or_default();
        if FileType::from_name(&ext) == Some(self) {
            name.to_string()
        } else {
            format!("{name}.{}", self.ext())
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            FileType::Pdf => "application/pdf",
            FileType::Jpeg => "image/jpeg",
            FileType::Png => "image/png",
            FileType::Tiff => "image/tiff",
            FileType::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            FileType::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            FileType::Zip => "application/zip",
        }
    }

    /// What the first bytes of a file say it is. Office files are ZIP
    /// archives told apart by the part names near their start.
    pub fn sniff(head: &[u8]) -> Option<FileType> {
        if head.starts_with(b"%PDF-") {
            Some(FileType::Pdf)
        } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(FileType::Jpeg)
        } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(FileType::Png)
        } else if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
            Some(FileType::Tiff)
        } else if head.starts_with(b"PK\x03\x04") {
            // A part name starting with the folder: in a local file header
            // the byte before the name is the high byte of a short extra
            // field's length, zero, so "password/" or "x/word/" do not count.
            let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
            Some(if has(b"\0word/") {
                FileType::Docx
            } else if has(b"\0xl/") {
                FileType::Xlsx
            } else {
                FileType::Zip
            })
        } else {
            None
        }
    }
}

/// Is `found` acceptable where `accepted` is asked for? A DOCX or XLSX is
/// also a ZIP, but not the other way round.
pub fn accepts(accepted: &[FileType], found: FileType) -> bool {
    accepted.is_empty() || accepted.contains(&found)
}

#[derive(Debug, thiserror::Error)]
pub enum PutError {
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    #[error("the file is empty")]
    Empty,
    #[error("file store: {0}")]
    Io(#[from] std::io::Error),
    #[error("upload interrupted: {0}")]
    Interrupted(String),
}

/// A stored file.
#[derive(Debug, Clone)]
pub struct Stored {
    pub sha256: String,
    pub size: u64,
    /// The first bytes, for type sniffing.
    pub head: Vec<u8>,
    /// This upload's claim on the bytes.
    pub claim: String,
}

/// How long an upload's claim keeps its bytes from being forgotten: far
/// longer than the moment between storing a file and committing its row.
const CLAIM_LIFE: time::Duration = time::Duration::minutes(10);

async fn claim(db: &Db, sha256: &str) -> Result<String, sqlx::Error> {
    let token = crate::security::random_token();
    sqlx::query("INSERT INTO file_claims (token, sha256, created_at) VALUES ($1, $2, $3)")
        .bind(&token)
        .bind(sha256)
        .bind(now_ts())
        .execute(&db.pool)
        .await?;
    Ok(token)
}

/// Clear up after uploads that never reached their row: a process that died
/// between storing the bytes and committing the row leaves a lapsed claim,
/// or a half-written temporary file. The claim goes, and with it the bytes
/// unless a row names them; temporary files untouched for the life of a
/// claim go too (one still being written is touched with every chunk).
/// Returns how many stored files were removed.
pub async fn sweep(db: &Db, store: &FileStore) -> Result<usize, sqlx::Error> {
    let lapsed = crate::store::ts(crate::store::now() - CLAIM_LIFE);
    let claims: Vec<(String, String)> =
        sqlx::query_as("SELECT token, sha256 FROM file_claims WHERE created_at < $1")
            .bind(lapsed)
            .fetch_all(&db.pool)
            .await?;
    let mut removed = 0;
    for (token, sha256) in claims {
        sqlx::query("DELETE FROM file_claims WHERE token = $1")
            .bind(token)
            .execute(&db.pool)
            .await?;
        if forget_if_unused(db, store, &sha256).await {
            removed += 1;
        }
    }
    store.sweep_tmp(CLAIM_LIFE.unsigned_abs()).await;
    Ok(removed)
}

/// Content-addressed files on local disk.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    pub fn new(root: PathBuf) -> std::io::Result<FileStore> {
        std::fs::create_dir_all(root.join("tmp"))?;
        Ok(FileStore { root })
    }

    pub fn path(&self, sha256: &str) -> PathBuf {
        self.root.join(&sha256[..2]).join(sha256)
    }

    /// Stream chunks into the store, refusing beyond `limit` bytes. The
    /// temporary file is removed on every failure. The bytes are claimed
    /// in the database before they take their name (see [`forget_if_unused`]).
    pub async fn put<S, E>(&self, db: &Db, mut chunks: S, limit: u64) -> Result<Stored, PutError>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let tmp = self.root.join("tmp").join(crate::security::random_token());
        let res = self.write(&tmp, &mut chunks, limit).await;
        let res = match res {
            Ok(mut stored) => match claim(db, &stored.sha256).await {
                Ok(token) => {
                    stored.claim = token;
                    Ok(stored)
                }
                Err(e) => Err(PutError::Io(std::io::Error::other(e))),
            },
            Err(e) => Err(e),
        };
        match res {
            Ok(stored) => {
                let dest = self.path(&stored.sha256);
                if let Some(dir) = dest.parent() {
                    tokio::fs::create_dir_all(dir).await?;
                }
                tokio::fs::rename(&tmp, &dest).await?;
                Ok(stored)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    /// Remove temporary files not written to for `age`.
    async fn sweep_tmp(&self, age: std::time::Duration) {
        let Ok(mut dir) = tokio::fs::read_dir(self.root.join("tmp")).await else {
            return;
        };
        while let Ok(Some(entry)) = dir.next_entry().await {
            let idle = entry
                .metadata()
                .await
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok());
            if idle.is_some_and(|idle| idle > age) {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
    }

    async fn write<S, E>(&self, tmp: &Path, chunks: &mut S, limit: u64) -> Result<Stored, PutError>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        use futures_util::StreamExt;
        let mut f = tokio::fs::File::create(tmp).await?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut head = Vec::new();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| PutError::Interrupted(e.to_string()))?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(PutError::TooLarge(limit));
            }
            if head.len() < 4096 {
                head.extend_from_slice(&chunk[..chunk.len().min(4096 - head.len())]);
            }
            hasher.update(&chunk);
            f.write_all(&chunk).await?;
        }
        if size == 0 {
            return Err(PutError::Empty);
        }
        f.sync_all().await?;
        Ok(Stored {
            sha256: hex::encode(hasher.finalize()),
            size,
            head,
            claim: String::new(),
        })
    }
}

/// A file attached to an application.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attached {
    pub id: i64,
    pub slot: String,
    pub doc_type: Option<String>,
    pub file_name: String,
    pub size: i64,
    pub sha256: String,
    pub content_type: String,
    pub created_at: String,
}

/// Name stored bytes as a file of an application (correspondence: it may
/// arrive in any status).
#[allow(clippy::too_many_arguments)]
pub async fn attach(
    tx: &mut sqlx::AnyConnection,
    tenant: &str,
    application: i64,
    slot: &str,
    doc_type: Option<&str>,
    file_name: &str,
    stored: &Stored,
    content_type: &str,
) -> Result<i64, sqlx::Error> {
    attach_if(
        &mut *tx,
        tenant,
        application,
        None,
        slot,
        doc_type,
        file_name,
        stored,
        content_type,
    )
    .await?
    .ok_or(sqlx::Error::RowNotFound)
}

/// As [`attach`], but only while the application is still in `status`
/// (the form's files: an upload that finishes after the application was
/// sent must not slip into it); `None` when it moved on.
#[allow(clippy::too_many_arguments)]
pub async fn attach_if<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    ex: E,
    tenant: &str,
    application: i64,
    status: Option<&str>,
    slot: &str,
    doc_type: Option<&str>,
    file_name: &str,
    stored: &Stored,
    content_type: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let guard = if status.is_some() {
        " WHERE EXISTS (SELECT 1 FROM applications WHERE id = $2 AND tenant_id = $1 AND status = $10)"
    } else {
        ""
    };
    let sql = format!(
        "INSERT INTO application_files (tenant_id, application_id, slot, doc_type, file_name, size, sha256, content_type, created_at) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9{guard} RETURNING id"
    );
    let mut q = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(application)
        .bind(slot)
        .bind(doc_type)
        .bind(file_name)
        .bind(stored.size as i64)
        .bind(&stored.sha256)
        .bind(content_type)
        .bind(now_ts());
    if let Some(s) = status {
        q = q.bind(s);
    }
    Ok(q.fetch_optional(ex).await?.map(|(id,)| id))
}

pub async fn files_of(
    db: &Db,
    tenant: &str,
    application: i64,
) -> Result<Vec<Attached>, sqlx::Error> {
    type R = (
        i64,
        String,
        Option<String>,
        String,
        i64,
        String,
        String,
        String,
    );
    let rows: Vec<R> = sqlx::query_as(
        "SELECT id, slot, doc_type, file_name, size, sha256, content_type, created_at FROM application_files \
         WHERE tenant_id = $1 AND application_id = $2 ORDER BY id",
    )
    .bind(tenant)
    .bind(application)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Attached {
            id: r.0,
            slot: r.1,
            doc_type: r.2,
            file_name: r.3,
            size: r.4,
            sha256: r.5,
            content_type: r.6,
            created_at: r.7,
        })
        .collect())
}

/// Remove one file row of an application; returns the content's hash if
/// there was such a row.
/// Remove one of the form's files while the application is still in
/// `status` (the one it was read in).
pub async fn detach(
    db: &Db,
    tenant: &str,
    application: i64,
    status: &str,
    file: i64,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(
        // Correspondence files (slots `_utility`, `_applicant`) are part of
        // the record: only the form's own attachments can be removed, and
        // not one a signature was made of (its record would go with it).
        "DELETE FROM application_files WHERE id = $1 AND tenant_id = $2 AND application_id = $3 \
         AND slot NOT LIKE '\\_%' ESCAPE '\\' \
         AND EXISTS (SELECT 1 FROM applications WHERE id = $3 AND tenant_id = $2 AND status = $4) \
         AND NOT EXISTS (SELECT 1 FROM signatures WHERE tenant_id = $2 AND file_id = $1) RETURNING sha256",
    )
    .bind(file)
    .bind(tenant)
    .bind(application)
    .bind(status)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|(sha,)| sha))
}

/// Delete stored bytes no row names any more (rows of any tenant may share
/// the same content).
/// An upload's row committed (or it was refused): its claim is no longer
/// needed. Left behind by a crash, a claim lapses after ten minutes.
pub async fn release(db: &Db, stored: &Stored) {
    if let Err(e) = sqlx::query("DELETE FROM file_claims WHERE token = $1")
        .bind(&stored.claim)
        .execute(&db.pool)
        .await
    {
        tracing::warn!(error = %e, "releasing a file claim failed; it lapses by itself");
    }
}

/// A file size as people read it: "840 байт", "40 КБ", "1,2 МБ" (a
/// decimal comma, as Russian and Kazakh readers write it).
pub fn human_size(bytes: i64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} МБ", b as f64 / (1 << 20) as f64).replace('.', ","),
        b if b >= 1 << 10 => format!("{} КБ", b >> 10),
        b => format!("{b} байт"),
    }
}

/// Forget the bytes of an upload this request refused (wrong type, a bad
/// form): its own claim goes, anyone else's still counts.
pub async fn forget_upload(db: &Db, store: &FileStore, stored: &Stored) {
    release(db, stored).await;
    forget_if_unused(db, store, &stored.sha256).await;
}

/// Remove stored bytes nothing names any more: no row of any table, and no
/// upload that claimed them in the last ten minutes and has not finished.
/// Says whether the bytes went.
pub async fn forget_if_unused(db: &Db, store: &FileStore, sha256: &str) -> bool {
    let fresh = crate::store::ts(crate::store::now() - CLAIM_LIFE);
    let used: Result<(i64,), _> =
        // Every table that names stored bytes (attachments, appeal files,
        // normative documents) and every upload still on its way to a row.
        sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM application_files WHERE sha256 = $1) \
             + (SELECT COUNT(*) FROM appeals WHERE file_sha256 = $1) \
             + (SELECT COUNT(*) FROM normative_documents WHERE file_sha256 = $1) \
             + (SELECT COUNT(*) FROM file_claims WHERE sha256 = $1 AND created_at > $2)",
        )
        .bind(sha256)
        .bind(fresh)
        .fetch_one(&db.pool)
        .await;
    matches!(used, Ok((0,))) && tokio::fs::remove_file(store.path(sha256)).await.is_ok()
}

/// Invisible characters that change how a name is drawn rather than what it
/// says (Unicode's format characters, Cf): bidirectional overrides such as
/// U+202E make "счёт\u{202E}fdp.exe" read as "счётexe.pdf", zero-width ones make
/// two names that look alike differ. A file name needs none of them.
fn is_format_char(c: char) -> bool {
    matches!(c,
        '\u{00AD}'                    // soft hyphen
        | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}' | '\u{08E2}'
        | '\u{180E}'                  // Mongolian vowel separator
        | '\u{200B}'..='\u{200F}'      // zero-width space, joiners, LRM, RLM
        | '\u{202A}'..='\u{202E}'      // embeddings and overrides
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' // isolates and the rest
        | '\u{FEFF}'                  // zero-width no-break space (BOM)
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{110BD}' | '\u{110CD}' | '\u{13430}'..='\u{1343F}'
        | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0001}' | '\u{E0020}'..='\u{E007F}')
}

/// A name safe for any file system and archive, keeping the extension.
pub fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !is_format_char(*c))
        .map(|c| {
            if c.is_control() || "<>:\"|?*".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_string();
    // A long name is cut in its stem: the extension says how to open it.
    let cleaned: String = if cleaned.chars().count() <= 120 {
        cleaned
    } else {
        let ext = match cleaned.rfind('.') {
            Some(i) if cleaned[i..].chars().count() <= 10 => &cleaned[i..],
            _ => "",
        };
        let stem: String = cleaned.chars().take(120 - ext.chars().count()).collect();
        format!("{stem}{ext}")
    };
    if cleaned.is_empty() {
        "file".into()
    } else {
        cleaned
    }
}

/// Archive entry names for a set of files: `<folder>/<name>`, made safe and
/// unique ("a.pdf", "a (2).pdf", …) so no entry overwrites another.
pub fn archive_names(files: &[(String, String)]) -> Vec<String> {
    let mut used = std::collections::HashSet::new();
    files
        .iter()
        .map(|(folder, name)| {
            let folder = safe_name(folder);
            let name = safe_name(name);
            let (stem, ext) = match name.rfind('.') {
                Some(i) if i > 0 => (&name[..i], &name[i..]),
                _ => (name.as_str(), ""),
            };
            let mut candidate = format!("{folder}/{name}");
            let mut n = 2;
            while !used.insert(candidate.to_lowercase()) {
                candidate = format!("{folder}/{stem} ({n}){ext}");
                n += 1;
            }
            candidate
        })
        .collect()
}

/// ZIP archives being written at once. Each holds a blocking thread for as
/// long as its client reads, so a crowd of downloads cannot take the whole
/// blocking pool (password hashing and plugins run there too); its memory is
/// a chunk or two, whatever the size of the files.
static ZIP_BUILDS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(8);
/// Chunks of an archive that may wait for a slow client before the writer
/// waits too.
const ZIP_QUEUE: usize = 4;

/// Bytes handed to the response at a time.
const PIPE_CHUNK: usize = 64 * 1024;

/// A blocking writer whose bytes an async reader takes as a stream, a chunk
/// at a time, through a bounded channel: a download written on the
/// blocking pool (an archive, a spreadsheet) goes out while it is written,
/// holding a few chunks however large it grows. When the reader is gone
/// (the client left) the next chunk fails with `BrokenPipe`, which stops
/// the writer.
pub struct PipeWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
    buf: Vec<u8>,
}

/// A pipe holding at most `queue` chunks that the reader has not taken.
pub fn pipe(
    queue: usize,
) -> (
    PipeWriter,
    impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + use<>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(queue.max(1));
    let w = PipeWriter {
        tx,
        buf: Vec::with_capacity(PIPE_CHUNK),
    };
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (w, stream)
}

impl PipeWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(PIPE_CHUNK),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the reader left"))
    }

    /// Send what is buffered and end the stream: cleanly after `Ok`, with
    /// the error after `Err`, so the client sees a failed download rather
    /// than a short file that looks whole. A reader that left is not an
    /// error worth a log line.
    pub fn finish(mut self, res: std::io::Result<()>, what: &str) {
        match res.and_then(|()| self.send()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => {
                tracing::warn!(error = %e, "writing {what} failed midway");
                let _ = self.tx.blocking_send(Err(e));
            }
        }
    }
}

impl std::io::Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(PIPE_CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= PIPE_CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// A ZIP of the given stored files under the given names, written while it
/// is sent: a blocking task copies each file into the archive and the
/// archive into a bounded channel, and the stream returned reads that
/// channel. Nothing is built first, nothing sits in memory beyond a few
/// chunks, and a client that leaves stops the work at its next chunk.
/// Entries are stored, not compressed: scans and PDFs are compressed
/// already. A file missing from the store is an error before the first
/// byte, not a broken download.
pub async fn zip_stream(
    store: &FileStore,
    entries: Vec<(String, String)>,
) -> std::io::Result<impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + use<>>
{
    let paths: Vec<(String, PathBuf)> = entries
        .into_iter()
        .map(|(name, sha)| (name, store.path(&sha)))
        .collect();
    for (_, p) in &paths {
        tokio::fs::metadata(p).await?;
    }
    let permit = ZIP_BUILDS.acquire().await.map_err(std::io::Error::other)?;
    let (mut w, body) = pipe(ZIP_QUEUE);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let res = write_zip(&mut w, &paths);
        w.finish(res, "a ZIP");
    });
    Ok(body)
}

fn write_zip(w: &mut PipeWriter, paths: &[(String, PathBuf)]) -> std::io::Result<()> {
    let mut out = zip::ZipWriter::new_stream(w);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    for (name, path) in paths {
        out.start_file(name.as_str(), opts).map_err(zip_io)?;
        std::io::copy(&mut std::fs::File::open(path)?, &mut out)?;
    }
    out.finish().map_err(zip_io)?;
    Ok(())
}

/// The archive's own error as an I/O error, keeping a broken pipe a broken pipe.
pub(crate) fn zip_io(e: zip::result::ZipError) -> std::io::Error {
    match e {
        zip::result::ZipError::Io(e) => e,
        e => std::io::Error::other(e),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_long_name_keeps_its_extension() {
        let long = format!("{}.pdf", "Я".repeat(200));
        let safe = super::safe_name(&long);
        assert_eq!(safe.chars().count(), 120);
        assert!(safe.ends_with("ЯЯ.pdf"));
        let named =
            super::FileType::Pdf.name_file(&super::safe_name(&format!("{}.exe", "a".repeat(130))));
        let entry = &super::archive_names(&[("Папка".into(), named)])[0];
        assert!(
            entry.starts_with("Папка/") && entry.ends_with(".pdf"),
            "{entry}"
        );
    }

    #[test]
    fn a_file_is_named_as_what_its_content_is() {
        use super::FileType::*;
        assert_eq!(Pdf.name_file("скан.PDF"), "скан.PDF");
        assert_eq!(Jpeg.name_file("фото.jpeg"), "фото.jpeg");
        assert_eq!(Zip.name_file("Акт.jar"), "Акт.jar.zip");
        assert_eq!(Docx.name_file("Договор.docm"), "Договор.docm.docx");
        assert_eq!(Pdf.name_file("Скан.hta"), "Скан.hta.pdf");
        assert_eq!(Pdf.name_file("без расширения"), "без расширения.pdf");
    }

    /// Removing one row of some content while another upload of the same
    /// content is still on its way to its row keeps the bytes; the upload
    /// that refuses its own file removes them.
    #[tokio::test]
    async fn a_claimed_upload_survives_a_concurrent_forget() {
        let dir = std::env::temp_dir().join(format!(
            "tapline-claims-{}",
            crate::security::random_token()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.display()))
            .await
            .unwrap();
        let store = FileStore::new(dir.join("files")).unwrap();
        let bytes = || {
            futures_util::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from_static(
                b"%PDF-1.4 same content",
            ))])
        };
        let stored = store.put(&db, bytes(), 1 << 20).await.unwrap();
        let path = store.path(&stored.sha256);
        // Someone removes a row naming the same bytes: the claim keeps them.
        forget_if_unused(&db, &store, &stored.sha256).await;
        assert!(path.exists(), "an upload in flight keeps its bytes");
        // The upload refuses its own file: nothing else names the bytes.
        forget_upload(&db, &store, &stored).await;
        assert!(!path.exists(), "a refused upload leaves no orphan");
        // Two uploads of the same content at once: one refusing its file
        // does not take the other's.
        let first = store.put(&db, bytes(), 1 << 20).await.unwrap();
        let second = store.put(&db, bytes(), 1 << 20).await.unwrap();
        forget_upload(&db, &store, &first).await;
        assert!(path.exists(), "the other upload's claim keeps the bytes");
        forget_upload(&db, &store, &second).await;
        assert!(!path.exists(), "and once both refused, nothing is left");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A process that dies between storing an upload and committing its
    /// row leaves a claim and the bytes; once the claim has lapsed the
    /// sweep takes both, but never bytes a row names, a fresh claim's, or
    /// a temporary file still being written.
    #[tokio::test]
    async fn the_sweep_clears_what_a_crash_left_and_nothing_else() {
        let dir =
            std::env::temp_dir().join(format!("tapline-sweep-{}", crate::security::random_token()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.display()))
            .await
            .unwrap();
        let store = FileStore::new(dir.join("files")).unwrap();
        let put = |content: &'static [u8]| {
            let store = store.clone();
            let db = db.clone();
            async move {
                let chunks = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(
                    bytes::Bytes::from_static(content),
                )]);
                store.put(&db, chunks, 1 << 20).await.unwrap()
            }
        };
        let orphan = put(b"%PDF-1.4 the crash came before the row").await;
        let named = put(b"%PDF-1.4 a normative document names me").await;
        let fresh = put(b"%PDF-1.4 still on its way to a row").await;
        sqlx::query(
            "INSERT INTO normative_documents (tenant_id, city, title, file_name, file_sha256, \
             file_size, file_type, created_at) VALUES ('t', NULL, 'Правила', 'p.pdf', $1, 1, 'pdf', $2)",
        )
        .bind(&named.sha256)
        .bind(now_ts())
        .execute(&db.pool)
        .await
        .unwrap();
        // The first two claims were made long ago.
        let old = crate::store::ts(crate::store::now() - time::Duration::hours(1));
        for s in [&orphan, &named] {
            sqlx::query("UPDATE file_claims SET created_at = $1 WHERE token = $2")
                .bind(&old)
                .bind(&s.claim)
                .execute(&db.pool)
                .await
                .unwrap();
        }
        let tmp = dir.join("files/tmp");
        let stale = tmp.join("stale");
        std::fs::write(&stale, b"half").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
            .unwrap();
        let writing = tmp.join("writing");
        std::fs::write(&writing, b"half").unwrap();

        assert_eq!(sweep(&db, &store).await.unwrap(), 1);
        assert!(!store.path(&orphan.sha256).exists(), "the orphan went");
        assert!(
            store.path(&named.sha256).exists(),
            "a row names these bytes"
        );
        assert!(store.path(&fresh.sha256).exists(), "a fresh claim holds");
        assert!(!stale.exists(), "a stale temporary file went");
        assert!(writing.exists(), "one being written stays");
        let (claims,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM file_claims")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(claims, 1, "only the fresh claim is left");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A store with files of the given contents, without a database: the
    /// bytes go where `put` would put them.
    fn store_with(contents: &[&[u8]]) -> (PathBuf, FileStore, Vec<String>) {
        let dir =
            std::env::temp_dir().join(format!("tapline-zip-{}", crate::security::random_token()));
        let store = FileStore::new(dir.join("files")).unwrap();
        let shas = contents
            .iter()
            .map(|c| {
                let sha = hex::encode(Sha256::digest(c));
                let p = store.path(&sha);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, c).unwrap();
                sha
            })
            .collect();
        (dir, store, shas)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_streamed_zip_holds_every_file_under_its_name_in_small_chunks() {
        use futures_util::StreamExt;
        // Larger than the pipe holds, so the writer must wait for the reader.
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let (dir, store, shas) = store_with(&[b"%PDF-1.4 small", &big]);
        let entries = vec![
            ("План/план.pdf".to_string(), shas[0].clone()),
            ("От заявителя/скан.pdf".to_string(), shas[1].clone()),
        ];
        let mut body = std::pin::pin!(zip_stream(&store, entries).await.unwrap());
        let mut zip = Vec::new();
        let mut largest = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.unwrap();
            largest = largest.max(chunk.len());
            zip.extend_from_slice(&chunk);
        }
        assert!(
            largest <= PIPE_CHUNK,
            "chunks of at most {PIPE_CHUNK}: {largest}"
        );
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        let mut read = |name: &str| {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut z.by_name(name).unwrap(), &mut out).unwrap();
            out
        };
        assert_eq!(read("План/план.pdf"), b"%PDF-1.4 small");
        assert!(
            read("От заявителя/скан.pdf") == big,
            "the large file survives whole"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_missing_file_fails_the_zip_before_its_first_byte() {
        let (dir, store, shas) = store_with(&[b"%PDF-1.4 here"]);
        let entries = vec![
            ("a.pdf".to_string(), shas[0].clone()),
            ("b.pdf".to_string(), "ab".repeat(32)),
        ];
        assert!(zip_stream(&store, entries).await.is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pipe_whose_reader_left_stops_its_writer() {
        use std::io::Write;
        let (mut w, body) = pipe(1);
        drop(body);
        let e = tokio::task::spawn_blocking(move || w.write_all(&vec![0u8; PIPE_CHUNK * 2]))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
    }

    use super::*;

    #[test]
    fn types_come_from_content_not_names() {
        assert_eq!(FileType::sniff(b"%PDF-1.7\n..."), Some(FileType::Pdf));
        assert_eq!(
            FileType::sniff(b"\x89PNG\r\n\x1a\n...."),
            Some(FileType::Png)
        );
        // Real archives, told apart by their parts' names.
        let zip_of = |names: &[&str]| {
            let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            for n in names {
                z.start_file(*n, zip::write::SimpleFileOptions::default())
                    .unwrap();
                std::io::Write::write_all(&mut z, b"<x/>").unwrap();
            }
            z.finish().unwrap().into_inner()
        };
        let sniff = |names: &[&str]| FileType::sniff(&zip_of(names));
        assert_eq!(
            sniff(&["[Content_Types].xml", "word/document.xml"]),
            Some(FileType::Docx)
        );
        assert_eq!(
            sniff(&["[Content_Types].xml", "xl/workbook.xml"]),
            Some(FileType::Xlsx)
        );
        assert_eq!(sniff(&["foo.txt"]), Some(FileType::Zip));
        assert_eq!(
            sniff(&["password/list.txt", "docs/word/readme.txt"]),
            Some(FileType::Zip),
            "a folder that merely ends in \"word\""
        );
        assert_eq!(FileType::sniff(b"MZ\x90\x00 an exe named .pdf"), None);
        assert!(!accepts(&[FileType::Pdf], FileType::Zip));
    }

    #[test]
    fn archive_names_are_unique_and_safe() {
        let files = vec![
            ("Паспорт".to_string(), "скан.pdf".to_string()),
            ("Паспорт".to_string(), "СКАН.pdf".to_string()),
            ("Паспорт".to_string(), "скан.pdf".to_string()),
            ("../План".to_string(), "../x".to_string()),
        ];
        assert_eq!(
            archive_names(&files),
            vec![
                "Паспорт/скан.pdf",
                "Паспорт/СКАН (2).pdf",
                "Паспорт/скан (3).pdf",
                "План/x"
            ]
        );
    }

    #[test]
    fn names_are_made_safe() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("C:\\docs\\план.pdf"), "план.pdf");
        assert_eq!(safe_name("a<b>:c?.pdf"), "a_b__c_.pdf");
        assert_eq!(safe_name("..."), "file");
    }

    #[test]
    fn names_lose_invisible_direction_marks() {
        // Drawn as "счётexe.pdf" while it is an .exe.
        assert_eq!(safe_name("счёт\u{202E}fdp.exe"), "счётfdp.exe");
        assert_eq!(
            safe_name("\u{2067}a\u{200B}b\u{2069}\u{200F}.pdf\u{FEFF}"),
            "ab.pdf"
        );
        assert_eq!(safe_name("\u{202D}\u{202C}"), "file");
    }
}
