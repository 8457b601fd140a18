//! The queue as a spreadsheet: CSV (UTF-8 with a BOM, so Excel reads the
//! Cyrillic right) and XLSX, with the same columns.
//!
//! An export is written while it is sent. One thread of the blocking pool
//! reads the rows ([`queue::export_ids`], then [`queue::export_chunk`]
//! at a time, only the columns the cells show); another turns each into
//! cells and writes it into the response: CSV as it is, XLSX through its
//! sheet's deflate stream ([`super::xlsx`]). No worker of the runtime
//! formats ten thousand rows, and no export holds more than three chunks
//! of its table in memory.

use super::queue::{self, ExportRow, QueueFilter};
use crate::store::Db;
use crate::tenant::Tenant;
use std::io::Write;
use std::sync::Arc;

pub const HEADERS: [&str; 14] = [
    "Номер",
    "Вид заявки",
    "Город",
    "Адрес объекта",
    "Заявитель",
    "Категория",
    "Идентификаторы",
    "Почта",
    "Телефон",
    "Статус",
    "Подана",
    "Срок",
    "Просрочена",
    "Исполнитель",
];

/// Column widths of the XLSX sheet, in characters: a constant-memory sheet
/// has flushed its rows before it could measure them.
const WIDTHS: [f64; 14] = [
    14.0, 28.0, 16.0, 40.0, 36.0, 16.0, 30.0, 28.0, 18.0, 22.0, 11.0, 11.0, 11.0, 24.0,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    pub fn ext(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

/// Exports written at once: each holds two threads of the blocking pool
/// and a connection of the pool while its client reads.
static EXPORTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);
/// Chunks written ahead of the client: a megabyte or so.
const BODY_QUEUE: usize = 16;

/// How one queue row reads in the export.
pub fn cells(tenant: &Tenant, r: &ExportRow, today: time::Date) -> Vec<String> {
    let profile: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&r.profile).unwrap_or_default();
    let b = crate::account::badge_of(
        tenant,
        crate::tenant::config::ApplicantType::from_id(&r.applicant_type),
        &profile,
        r.email.clone(),
    );
    let overdue = crate::workflow::is_overdue(tenant, &r.status, r.due_on.as_deref(), today)
        && r.clock_stopped_on.is_none();
    vec![
        r.number.clone().unwrap_or_default(),
        tenant.kind_title(&r.kind),
        r.city.clone().unwrap_or_default(),
        r.object_address(),
        b.name,
        b.type_title,
        b.ids
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        r.email.clone().unwrap_or_default(),
        r.phone.clone().unwrap_or_default(),
        r.custom_status
            .clone()
            .unwrap_or_else(|| crate::workflow::status_title(tenant, &r.status)),
        // ISO dates sort as text; the day is the tenant's.
        r.submitted_at
            .as_deref()
            .and_then(crate::store::parse_ts)
            .map(|t| t.to_offset(tenant.offset).date().to_string())
            .unwrap_or_default(),
        r.due_on.clone().unwrap_or_default(),
        if overdue {
            "да".into()
        } else {
            String::new()
        },
        r.assignee.clone().unwrap_or_default(),
    ]
}

/// The filtered queue (up to [`queue::EXPORT_MAX`] rows) in `format`, as a
/// stream of bytes written while it is read. A database error midway ends
/// the stream with an error, so the client's download fails rather than
/// looking complete.
pub async fn stream(
    db: Db,
    tenant: Arc<Tenant>,
    filter: QueueFilter,
    format: Format,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + use<> {
    let permit = EXPORTS
        .acquire()
        .await
        .expect("the semaphore is never closed");
    let (mut out, body) = crate::document::pipe(BODY_QUEUE);
    // Two threads of the blocking pool: one reads the next chunk while the
    // other writes the last, so the database's worker and the formatting
    // run side by side (each about half an export's time) instead of in
    // turn. Reading on a thread rather than a task of the runtime: the
    // database's worker wakes it directly, where a task would queue behind
    // every request.
    let (chunks_tx, chunks) = std::sync::mpsc::sync_channel(1);
    let reader_tenant = tenant.clone();
    // Both hold the permit: the reader keeps a connection of the pool until
    // its query ends, even after the writer has left.
    let permit = Arc::new(permit);
    let reader_permit = permit.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = reader_permit;
        let rt = tokio::runtime::Handle::current();
        let read = rt.block_on(read_chunks(&db, &reader_tenant, &filter, &chunks_tx));
        if let Err(e) = read {
            // The writer may have left already; then nobody needs to hear.
            let _ = chunks_tx.send(Err(e));
        }
    });
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let today = tenant.today();
        let mut failed = None;
        let mut ended = false;
        let cells = chunks
            .iter()
            .map_while(|chunk| match chunk {
                Ok(Some(rows)) => Some(rows),
                Ok(None) => {
                    ended = true;
                    None
                }
                Err(e) => {
                    failed = Some(e);
                    None
                }
            })
            .flatten()
            .map(|r| cells(&tenant, &r, today));
        let written = match format {
            Format::Csv => write_csv(&mut out, cells),
            Format::Xlsx => write_xlsx(&mut out, cells),
        };
        // The rows ended: because the database sent them all, or failed,
        // or the reader stopped without a word (it panicked): only the
        // first makes a whole file.
        let res = written.and_then(|_| match failed {
            Some(e) => Err(std::io::Error::other(e)),
            None if !ended => Err(std::io::Error::other("the export's reader stopped early")),
            None => Ok(()),
        });
        out.finish(res, "an export");
    });
    body
}

/// Reads the export's rows a chunk at a time into `to`, a chunk or two
/// ahead of the writer, then `None` for the end; stops early when the
/// writer has left (dropped its end). One connection for the whole export:
/// under load, each chunk queueing anew for one of the pool's would make a
/// second of it.
async fn read_chunks(
    db: &Db,
    tenant: &Tenant,
    filter: &QueueFilter,
    to: &std::sync::mpsc::SyncSender<Result<Option<Vec<ExportRow>>, sqlx::Error>>,
) -> Result<(), sqlx::Error> {
    let mut conn = db.pool.acquire().await?;
    let ids = queue::export_ids(&mut conn, db.dialect, tenant, filter).await?;
    for chunk in ids.chunks(queue::EXPORT_CHUNK) {
        let rows = queue::export_chunk(&mut conn, db.dialect, tenant, chunk).await?;
        // Blocks this thread (of the blocking pool, never the runtime's)
        // while the writer is a chunk behind.
        if to.send(Ok(Some(rows))).is_err() {
            return Ok(());
        }
    }
    // The writer may have left; then nobody needs to hear.
    let _ = to.send(Ok(None));
    Ok(())
}

/// A cell a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, tab,
/// CR) is prefixed with `'`: an applicant's text must not run in an
/// operator's Excel (CSV injection).
/// A phone such as "+7 (900) 123-45-67" holds no letters, so it cannot
/// call a function and is left as it is; the `'` would show in Excel.
fn defuse(s: &str) -> std::borrow::Cow<'_, str> {
    let plain_number = s.chars().any(|c| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c));
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') if !plain_number => format!("'{s}").into(),
        _ => s.into(),
    }
}

/// CSV of `rows` under [`HEADERS`], each row written before the next is
/// asked for. Returns how many rows were written.
pub fn write_csv(
    out: &mut impl Write,
    rows: impl Iterator<Item = Vec<String>>,
) -> std::io::Result<usize> {
    out.write_all(b"\xEF\xBB\xBF")?;
    let mut w = csv::WriterBuilder::new().delimiter(b';').from_writer(out);
    w.write_record(HEADERS)?;
    let mut n = 0;
    for r in rows {
        for c in &r {
            w.write_field(defuse(c).as_bytes())?;
        }
        // An empty record after the fields ends the row.
        w.write_record(None::<&[u8]>)?;
        n += 1;
    }
    w.flush()?;
    Ok(n)
}

/// XLSX of `rows` under [`HEADERS`] (blocking: call from the blocking pool),
/// each row written before the next is asked for. Returns how many rows
/// were written.
pub fn write_xlsx(
    out: &mut impl Write,
    rows: impl Iterator<Item = Vec<String>>,
) -> std::io::Result<usize> {
    let mut sheet = super::xlsx::Sheet::new(out, "Заявки", &WIDTHS)?;
    sheet.row(&HEADERS, true)?;
    for r in rows {
        // Strings stay strings: nothing typed by a user becomes a formula.
        sheet.row(&r, false)?;
    }
    let n = sheet.rows() as usize - 1;
    sheet.finish()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[(usize, &str)]) -> Vec<String> {
        let mut r = vec![String::new(); HEADERS.len()];
        for (i, v) in cells {
            r[*i] = v.to_string();
        }
        r
    }

    #[test]
    fn formulas_are_defused_and_cyrillic_survives() {
        let cells = row(&[
            (0, "=HYPERLINK(\"http://x\")"),
            (4, "Иванов; Иван"),
            (5, "+79001234567"),
            (6, "+cmd|' /C calc'!A0"),
            (7, "-2+3+cmd|' /C calc'!A0"),
        ]);
        let mut bytes = Vec::new();
        assert_eq!(
            write_csv(&mut bytes, std::iter::once(cells.clone())).unwrap(),
            1
        );
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with('\u{feff}'));
        assert!(text.contains("'=HYPERLINK"));
        assert!(text.contains("\"Иванов; Иван\""), "{text}");
        assert!(
            text.contains(";+79001234567;"),
            "a phone stays a phone: {text}"
        );
        assert!(
            text.contains("'+cmd") && text.contains("'-2+3+cmd"),
            "{text}"
        );
        let mut book = Vec::new();
        assert_eq!(write_xlsx(&mut book, std::iter::once(cells)).unwrap(), 1);
        assert!(book.starts_with(b"PK"), "an XLSX is a ZIP");
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(book)).unwrap();
        let mut sheet = String::new();
        std::io::Read::read_to_string(
            &mut z.by_name("xl/worksheets/sheet1.xml").unwrap(),
            &mut sheet,
        )
        .unwrap();
        assert!(
            sheet.contains("Иванов; Иван") && sheet.contains("=HYPERLINK"),
            "{sheet}"
        );
        assert!(!sheet.contains("<f>"), "no cell is a formula: {sheet}");
    }

    use crate::office::xlsx::tests::Counting;

    #[test]
    fn csv_rows_reach_the_writer_while_later_rows_are_still_unread() {
        let written = std::rc::Rc::new(std::cell::Cell::new(0));
        let seen = written.clone();
        let mut at_last_row = 0;
        let rows = (0..20_000).map(|i| {
            if i == 19_999 {
                at_last_row = seen.get();
            }
            row(&[(0, &format!("Н-{i}")), (3, "г. Казань, ул. Баумана, д. 1")])
        });
        let n = write_csv(&mut Counting(written.clone()), rows).unwrap();
        assert_eq!(n, 20_000);
        // Had the rows been gathered first, nothing would have been written
        // when the last was made.
        assert!(
            at_last_row > written.get() * 9 / 10,
            "{at_last_row} of {} bytes written before the last row was read",
            written.get()
        );
    }
}
