//! The queue as a spreadsheet: CSV (UTF-8 with a BOM, so Excel reads the
//! Cyrillic right) and XLSX, with the same columns.
//!
//! An export is written while it is sent. A task on the blocking pool
//! reads the rows ([`queue::export_ids`], then [`queue::export_chunk`]
//! at a time, only the columns the cells show), turns each into cells and
//! writes it (CSV straight into the response, XLSX into a constant-memory
//! sheet that rust_xlsxwriter keeps in a temporary file and zips into the
//! response at the end). No worker of the runtime formats ten thousand
//! rows, and no export holds more than a chunk of its table in memory.

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

/// Exports written at once: each holds a thread of the blocking pool while
/// its client reads.
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
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let today = tenant.today();
        // Read on this thread, a chunk at a time: the database's worker
        // wakes it directly, where a task of the runtime would queue behind
        // every request.
        let rt = tokio::runtime::Handle::current();
        let mut failed = None;
        // One connection for the whole export: under load, each chunk
        // queueing anew for one of the pool's would make a second of it.
        let ids = rt.block_on(async {
            let mut conn = db.pool.acquire().await?;
            let ids = queue::export_ids(&mut conn, db.dialect, &tenant, &filter).await?;
            Ok::<_, sqlx::Error>((conn, ids))
        });
        let written = match ids {
            Err(e) => Err(std::io::Error::other(e)),
            Ok((mut conn, ids)) => {
                let mut chunks = ids.chunks(queue::EXPORT_CHUNK);
                let cells = std::iter::from_fn(|| {
                    let chunk = chunks.next()?;
                    let rows = queue::export_chunk(&mut conn, db.dialect, &tenant, chunk);
                    match rt.block_on(rows) {
                        Ok(rows) => Some(rows),
                        Err(e) => {
                            failed = Some(e);
                            None
                        }
                    }
                })
                .flatten()
                .map(|r| cells(&tenant, &r, today));
                match format {
                    Format::Csv => write_csv(&mut out, cells),
                    Format::Xlsx => write_xlsx(&mut out, cells),
                }
            }
        };
        // The rows ended: because the database sent them all, or failed.
        let res = written.and_then(|_| match failed {
            None => Ok(()),
            Some(e) => Err(std::io::Error::other(e)),
        });
        out.finish(res, "an export");
    });
    body
}

/// A cell a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, tab,
/// CR) is prefixed with `'`: an applicant's text must not run in an
/// operator's Excel (CSV injection).
/// A phone such as "+7 (900) 123-45-67" holds no letters, so it cannot
/// call a function and is left as it is; the `'` would show in Excel.
fn defuse(s: &str) -> String {
    let plain_number = s.chars().any(|c| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c));
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') if !plain_number => format!("'{s}"),
        _ => s.to_string(),
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
        w.write_record(r.iter().map(|c| defuse(c)))?;
        n += 1;
    }
    w.flush()?;
    Ok(n)
}

/// XLSX of `rows` under [`HEADERS`] (blocking: call from the blocking pool).
/// The sheet is in constant-memory mode: each row goes to a temporary file
/// as it is written, and the package is zipped into `out` at the end.
pub fn write_xlsx(
    out: &mut (impl Write + Send),
    rows: impl Iterator<Item = Vec<String>>,
) -> std::io::Result<usize> {
    use rust_xlsxwriter::{Format, Workbook, XlsxError};
    let io = |e: XlsxError| match e {
        XlsxError::IoError(e) => e,
        e => std::io::Error::other(e),
    };
    let mut book = Workbook::new();
    let sheet = book.add_worksheet_with_constant_memory().map_err(io)?;
    sheet.set_name("Заявки").map_err(io)?;
    for (c, w) in WIDTHS.iter().enumerate() {
        sheet.set_column_width(c as u16, *w).map_err(io)?;
    }
    let bold = Format::new().set_bold();
    for (c, h) in HEADERS.iter().enumerate() {
        sheet
            .write_string_with_format(0, c as u16, *h, &bold)
            .map_err(io)?;
    }
    let mut n = 0u32;
    for r in rows {
        n += 1;
        for (c, v) in r.iter().enumerate() {
            // Strings stay strings: nothing typed by a user becomes a formula.
            sheet.write_string(n, c as u16, v).map_err(io)?;
        }
    }
    sheet.set_freeze_panes(1, 0).map_err(io)?;
    // Compressing is most of an XLSX's time; level 1 takes about half of
    // the default's for a file about half as large again.
    book.set_zip_compression_level(1);
    book.save_to_writer(out).map_err(io)?;
    Ok(n as usize)
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

    /// A writer that only counts what reached it.
    struct Counting(std::rc::Rc<std::cell::Cell<usize>>);
    impl Write for Counting {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.set(self.0.get() + b.len());
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

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
