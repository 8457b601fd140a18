//! The queue as a spreadsheet: CSV (UTF-8 with a BOM, so Excel reads the
//! Cyrillic right) and XLSX, with the same columns.

/// One exported row, already in words.
pub struct ExportRow {
    pub cells: Vec<String>,
}

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

pub fn csv(rows: &[ExportRow]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer(b"\xEF\xBB\xBF".to_vec());
    w.write_record(HEADERS)?;
    for r in rows {
        w.write_record(r.cells.iter().map(|c| defuse(c)))?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

pub fn xlsx(rows: &[ExportRow]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Заявки")?;
    let bold = Format::new().set_bold();
    for (c, h) in HEADERS.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, r) in rows.iter().enumerate() {
        for (c, v) in r.cells.iter().enumerate() {
            // Strings stay strings: nothing typed by a user becomes a formula.
            sheet.write_string(i as u32 + 1, c as u16, v)?;
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofit();
    book.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_cyrillic_survives() {
        let mut cells = vec![String::new(); HEADERS.len()];
        cells[0] = "=HYPERLINK(\"http://x\")".into();
        cells[4] = "Иванов; Иван".into();
        cells[5] = "+79001234567".into();
        cells[6] = "+cmd|' /C calc'!A0".into();
        cells[7] = "-2+3+cmd|' /C calc'!A0".into();
        let rows = [ExportRow { cells }];
        let text = String::from_utf8(csv(&rows).unwrap()).unwrap();
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
        let book = xlsx(&rows).unwrap();
        assert!(book.starts_with(b"PK"), "an XLSX is a ZIP");
    }
}
