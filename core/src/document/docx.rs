//! The application as a Word file: a tenant's .docx template with minijinja
//! placeholders in its text, or the built-in one.
//!
//! Word often splits what the author typed as one `{{ number }}` across
//! several runs (spell-check marks, edits, formatting). Before rendering,
//! every paragraph whose text holds a placeholder has its runs' text joined
//! into its first run, so the template engine sees whole tags; paragraphs
//! without placeholders are left exactly as they were.

use std::io::{Read, Write};

#[derive(Debug, thiserror::Error)]
pub enum DocxError {
    #[error("not a .docx: {0}")]
    Package(String),
    #[error("template: {0}")]
    Template(String),
}

/// Render `template` (a .docx file's bytes) with `ctx`.
pub fn render(template: &[u8], ctx: &minijinja::Value) -> Result<Vec<u8>, DocxError> {
    let pkg = |e: zip::result::ZipError| DocxError::Package(e.to_string());
    let mut zin = zip::ZipArchive::new(std::io::Cursor::new(template)).map_err(pkg)?;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..zin.len() {
        let mut entry = zin.by_index(i).map_err(pkg)?;
        let name = entry.name().map_err(pkg)?.to_string();
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(|e| DocxError::Package(e.to_string()))?;
        if is_text_part(&name) {
            let xml = String::from_utf8(data).map_err(|e| DocxError::Package(e.to_string()))?;
            data = render_xml(&join_split_tags(&xml), ctx)?.into_bytes();
        }
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        out.start_file(name, opts).map_err(pkg)?;
        out.write_all(&data)
            .map_err(|e| DocxError::Package(e.to_string()))?;
    }
    Ok(out.finish().map_err(pkg)?.into_inner())
}

/// The paragraphs of a Word file's body as plain text, to read a contract
/// on its page without opening Word. Runs of a paragraph are joined; XML
/// entities are decoded; anything that is not a .docx gives nothing.
pub fn paragraphs(docx: &[u8]) -> Vec<String> {
    let Ok(mut z) = zip::ZipArchive::new(std::io::Cursor::new(docx)) else {
        return Vec::new();
    };
    let mut xml = String::new();
    match z.by_name("word/document.xml") {
        Ok(mut f) if f.size() < 16 << 20 => {
            if f.read_to_string(&mut xml).is_err() {
                return Vec::new();
            }
        }
        _ => return Vec::new(),
    }
    let decode = |t: &str| {
        t.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&")
    };
    let mut out = Vec::new();
    for para in xml.split("</w:p>") {
        let mut text = String::new();
        let mut rest = para;
        // Each <w:t> or <w:t xml:space="preserve"> … </w:t>.
        while let Some(i) = rest.find("<w:t") {
            let after = &rest[i + 4..];
            if !(after.starts_with('>') || after.starts_with(' ')) {
                rest = after;
                continue;
            }
            let Some(open_end) = after.find('>') else {
                break;
            };
            let body = &after[open_end + 1..];
            let Some(close) = body.find("</w:t>") else {
                break;
            };
            text.push_str(&decode(&body[..close]));
            rest = &body[close + 6..];
        }
        let text = text.trim().to_string();
        if !text.is_empty() {
            out.push(text);
        }
    }
    out
}

/// The parts of a .docx whose text may hold placeholders.
fn is_text_part(name: &str) -> bool {
    name == "word/document.xml"
        || (name.starts_with("word/header") || name.starts_with("word/footer"))
            && name.ends_with(".xml")
}

/// The top-level names the application's Word file is rendered with (see
/// `download_docx` in the web layer).
pub const CONTEXT_NAMES: &[&str] = &[
    "tenant",
    "kind",
    "number",
    "status",
    "submitted_at",
    "applicant",
    "fields",
    "values",
    "plugin",
    "fee",
    "files",
    "today",
];

/// Names the template's own syntax brings along.
const SYNTAX_NAMES: &[&str] = &["loop", "range", "dict", "namespace", "debug", "self"];

/// Placeholders a template uses that its document is never given: a name
/// outside [`CONTEXT_NAMES`], or `values.<id>` with an id that is not one of
/// `field_ids`. Rendering shows those as empty, so a typo in a template
/// would only be seen in a finished document; `tapline check` names them.
pub fn unknown_names(template: &[u8], field_ids: &[&str]) -> Result<Vec<String>, DocxError> {
    let pkg = |e: zip::result::ZipError| DocxError::Package(e.to_string());
    let mut zin = zip::ZipArchive::new(std::io::Cursor::new(template)).map_err(pkg)?;
    let mut unknown = std::collections::BTreeSet::new();
    for i in 0..zin.len() {
        let mut entry = zin.by_index(i).map_err(pkg)?;
        if !is_text_part(&entry.name().map_err(pkg)?) {
            continue;
        }
        let mut xml = String::new();
        entry
            .read_to_string(&mut xml)
            .map_err(|e| DocxError::Package(e.to_string()))?;
        let joined = join_split_tags(&xml);
        let env = minijinja::Environment::new();
        let t = env
            .template_from_str(&joined)
            .map_err(|e| DocxError::Template(e.to_string()))?;
        for name in t.undeclared_variables(true) {
            let mut path = name.split('.');
            let top = path.next().unwrap_or_default();
            let known = match top {
                "values" => path.next().is_none_or(|id| field_ids.contains(&id)),
                _ => CONTEXT_NAMES.contains(&top) || SYNTAX_NAMES.contains(&top),
            };
            if !known {
                unknown.insert(name);
            }
        }
    }
    Ok(unknown.into_iter().collect())
}

fn render_xml(xml: &str, ctx: &minijinja::Value) -> Result<String, DocxError> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env.set_formatter(|out, _state, value| {
        if value.is_undefined() || value.is_none() {
            return Ok(());
        }
        let text = value.to_string();
        out.write_str(&if value.is_safe() {
            text
        } else {
            xml_text(&text)
        })
        .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()))
    });
    let t = env
        .template_from_str(xml)
        .map_err(|e| DocxError::Template(e.to_string()))?;
    t.render(ctx)
        .map_err(|e| DocxError::Template(e.to_string()))
}

/// A value as the text of a `<w:t>`: escaped, without the control
/// characters XML forbids (Word refuses a file holding one, and a paste
/// can bring them), and a typed line break as Word's own `<w:br/>`.
fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("</w:t><w:br/><w:t xml:space=\"preserve\">"),
            '\t' => out.push_str("</w:t><w:tab/><w:t xml:space=\"preserve\">"),
            '\r' => {}
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Join the runs Word split a tag across (`{{ num` + `ber }}`, often with
/// a spell-check mark between) into the first of them, so the template
/// engine reads whole tags. Runs outside a split tag keep their own
/// formatting. Word's markup inside tags (`&quot;` for quotes) is unescaped
/// so the template engine reads plain syntax.
pub fn join_split_tags(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(start) = find_paragraph(rest) {
        out.push_str(&rest[..start]);
        let Some(len) = paragraph_len(&rest[start..]) else {
            break;
        };
        out.push_str(&join_paragraph(&rest[start..start + len]));
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    out
}

/// The next `<w:p>` or `<w:p …>` that opens a paragraph with content (not
/// `<w:pPr>`, `<w:proofErr>`…, nor an empty `<w:p w:rsidR="…"/>`).
fn find_paragraph(s: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find("<w:p") {
        let at = from + i;
        let self_closing = s[at..]
            .find('>')
            .is_some_and(|gt| s[at..at + gt].ends_with('/'));
        match s.as_bytes().get(at + 4) {
            Some(b'>') | Some(b' ') if !self_closing => return Some(at),
            _ => from = at + 4,
        }
    }
    None
}

/// The length of the paragraph `s` starts with, up to its own `</w:p>`: a
/// text box inside it (`w:txbxContent`) holds paragraphs of its own.
fn paragraph_len(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut at = 0;
    loop {
        let open = find_paragraph(&s[at..]).map(|i| at + i);
        let close = s[at..].find("</w:p>").map(|i| at + i)?;
        match open {
            Some(o) if o < close => {
                depth += 1;
                at = o + 4;
            }
            _ => {
                depth = depth.checked_sub(1)?;
                at = close + "</w:p>".len();
                if depth == 0 {
                    return Some(at);
                }
            }
        }
    }
}

/// A character no XML element may hold: it marks a nested paragraph while
/// the outer one is joined.
const HOLE: char = '\u{0}';

fn join_paragraph(p: &str) -> String {
    // Paragraphs nested in this one (text boxes) are joined on their own
    // and kept out of this one's runs.
    let mut nested = Vec::new();
    let mut masked = String::with_capacity(p.len());
    let own_open = p.find('>').map_or(p.len(), |i| i + 1);
    masked.push_str(&p[..own_open]);
    let mut rest = &p[own_open..];
    while let Some(i) = find_paragraph(rest) {
        let Some(len) = paragraph_len(&rest[i..]) else {
            break;
        };
        masked.push_str(&rest[..i]);
        masked.push(HOLE);
        nested.push(join_paragraph(&rest[i..i + len]));
        rest = &rest[i + len..];
    }
    masked.push_str(rest);
    let mut joined = join_runs(&masked);
    for inner in nested {
        joined = joined.replacen(HOLE, &inner, 1);
    }
    joined
}

/// Whether a run's text leaves a tag open, so the next run's text belongs
/// to it; `Some(true)` for a trailing `{` that the next run may complete.
fn tag_open(text: &str) -> Option<bool> {
    let mut rest = text;
    loop {
        let next = [rest.find("{{"), rest.find("{%")]
            .into_iter()
            .flatten()
            .min();
        let Some(i) = next else {
            return rest.ends_with('{').then_some(true);
        };
        let close = if rest[i..].starts_with("{{") {
            "}}"
        } else {
            "%}"
        };
        match rest[i + 2..].find(close) {
            Some(j) => rest = &rest[i + 2 + j + 2..],
            None => return Some(false),
        }
    }
}

/// The `<w:t>` contents of a paragraph, as byte ranges.
fn text_ranges(p: &str) -> Vec<(usize, usize)> {
    let mut texts = Vec::new();
    let mut from = 0;
    while let Some(i) = p[from..].find("<w:t") {
        let open = from + i;
        let after = p.as_bytes().get(open + 4).copied();
        if !matches!(after, Some(b'>') | Some(b' ')) {
            from = open + 4;
            continue;
        }
        let Some(gt) = p[open..].find('>') else { break };
        let content_start = open + gt + 1;
        if p[..content_start].ends_with("/>") {
            from = content_start;
            continue;
        }
        let Some(close) = p[content_start..].find("</w:t>") else {
            break;
        };
        texts.push((content_start, content_start + close));
        from = content_start + close + "</w:t>".len();
    }
    texts
}

fn join_runs(p: &str) -> String {
    let texts = text_ranges(p);
    let text = |n: usize| &p[texts[n].0..texts[n].1];
    // For each run, what it says after joining: a split tag's first run
    // gets the whole tag, the runs after it give theirs up.
    let mut replaced: Vec<Option<String>> = vec![None; texts.len()];
    let mut n = 0;
    while n < texts.len() {
        let mut acc = text(n).to_string();
        let mut last = n;
        while last + 1 < texts.len() {
            let next = text(last + 1);
            match tag_open(&acc) {
                Some(false) => {}
                Some(true) if next.starts_with(['{', '%']) => {}
                _ => break,
            }
            last += 1;
            acc.push_str(next);
        }
        if last > n {
            replaced[n] = Some(acc);
            for r in &mut replaced[n + 1..=last] {
                *r = Some(String::new());
            }
        }
        n = last + 1;
    }
    let mut out = String::with_capacity(p.len());
    let mut at = 0;
    for (n, &(a, b)) in texts.iter().enumerate() {
        let before = &p[at..a];
        match &replaced[n] {
            // Keep spaces at the ends of the joined text.
            Some(t) if !t.is_empty() && before.ends_with("<w:t>") => {
                out.push_str(&before[..before.len() - "<w:t>".len()]);
                out.push_str("<w:t xml:space=\"preserve\">");
                out.push_str(t);
            }
            Some(t) => {
                out.push_str(before);
                out.push_str(t);
            }
            None => {
                out.push_str(before);
                out.push_str(&p[a..b]);
            }
        }
        at = b;
    }
    out.push_str(&p[at..]);
    unescape_tags(&out)
}

/// Inside `{{ … }}` and `{% … %}`, turn Word's entities back into the
/// characters the template syntax needs (quotes in string literals).
fn unescape_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    loop {
        let next = [rest.find("{{"), rest.find("{%")]
            .into_iter()
            .flatten()
            .min();
        let Some(i) = next else { break };
        out.push_str(&rest[..i]);
        let close = if rest[i..].starts_with("{{") {
            "}}"
        } else {
            "%}"
        };
        let Some(j) = rest[i..].find(close) else {
            break;
        };
        let tag = &rest[i..i + j + 2];
        out.push_str(
            &tag.replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&#39;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
                .replace(
                    ['\u{201c}', '\u{201d}', '\u{201e}', '\u{ab}', '\u{bb}'],
                    "\"",
                )
                .replace(['\u{2018}', '\u{2019}'], "'"),
        );
        rest = &rest[i + j + 2..];
    }
    out.push_str(rest);
    out
}

/// A paragraph of the built-in documents.
fn para(text: &str, bold: bool) -> String {
    let rpr = if bold { "<w:rPr><w:b/></w:rPr>" } else { "" };
    format!("<w:p><w:r>{rpr}<w:t xml:space=\"preserve\">{text}</w:t></w:r></w:p>")
}

/// The built-in application document, used when the tenant has no template.
pub fn builtin_template() -> Vec<u8> {
    let p = para;
    let body = [
        p("{{ tenant }}", false),
        p("{{ kind }} № {{ number }}", true),
        p("Дата подачи: {{ submitted_at }}. Статус: {{ status }}.", false),
        p("Заявитель: {{ applicant.name }} ({{ applicant.type }}){% for i in applicant.ids %}, {{ i.0 }} {{ i.1 }}{% endfor %}", false),
        p("{% for f in fields %}", false),
        p("{{ f.label }}: {{ f.value }}{% if f.unit %} {{ f.unit }}{% endif %}", false),
        p("{% endfor %}", false),
        p("{% if fee %}Плата за подключение ({{ fee.currency }}):{% endif %}", true),
        p("{% for l in fee.lines %}", false),
        p("{{ l.title }}: {{ l.amount }}", false),
        p("{% endfor %}", false),
        p("{% if fee %}Итого: {{ fee.total }}{% endif %}", true),
        p("{% for k, v in plugin|default({})|items %}", false),
        p("{{ k }}: {{ v }}", false),
        p("{% endfor %}", false),
        p("{% if files %}Приложения:{% endif %}", true),
        p("{% for f in files %}", false),
        p("{{ loop.index }}. {{ f.doc_type or f.slot }}: {{ f.name }}", false),
        p("{% endfor %}", false),
    ]
    .concat();
    package(&body)
}

/// The built-in contract, used when the tenant has no template of its own.
pub fn builtin_contract() -> Vec<u8> {
    let p = para;
    let body = [
        p("{{ tenant }}", false),
        p("Договор по заявке № {{ number }}", true),
        p("Дата: {{ today }}", false),
        p("{{ tenant }}, далее «Организация», и {{ applicant.name }}{% for i in applicant.ids %}, {{ i.0 }} {{ i.1 }}{% endfor %}, далее «Потребитель», заключили настоящий договор о следующем.", false),
        p("1. Предмет договора: {{ kind }} на условиях заявки № {{ number }}.", false),
        p("{% for f in fields %}", false),
        p("{{ f.label }}: {{ f.value }}{% if f.unit %} {{ f.unit }}{% endif %}", false),
        p("{% endfor %}", false),
        p("{% if fee %}2. Цена ({{ fee.currency }}):{% endif %}", true),
        p("{% for l in fee.lines %}", false),
        p("{{ l.title }}: {{ l.amount }}", false),
        p("{% endfor %}", false),
        p("{% if fee %}Итого: {{ fee.total }}{% endif %}", true),
        p("Договор заключён в электронной форме и подписан электронными подписями сторон.", false),
    ]
    .concat();
    package(&body)
}

/// A minimal Word package around a document body.
fn package(body: &str) -> Vec<u8> {
    let document = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
         <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>{body}</w:body></w:document>"
    );
    let files: [(&str, String); 3] = [
        (
            "[Content_Types].xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
             <Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
             <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
             <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
             <Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>\
             </Types>"
                .into(),
        ),
        (
            "_rels/.rels",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
             <Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
             <Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"word/document.xml\"/>\
             </Relationships>"
                .into(),
        ),
        ("word/document.xml", document),
    ];
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in files {
        // Writing to memory cannot fail.
        let _ = out.start_file(name, zip::write::SimpleFileOptions::default());
        let _ = out.write_all(text.as_bytes());
    }
    out.finish().map(|c| c.into_inner()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_contract_reads_as_its_paragraphs() {
        let ctx = minijinja::context! {
            tenant => "ТОО «Тест» & Co",
            number => "A-1",
            today => "2026-12-01",
            applicant => minijinja::context! { name => "ТОО <Ромашка>", ids => vec![("БИН", "123")] },
            fields => Vec::<minijinja::Value>::new(),
        };
        let bytes = render(&builtin_contract(), &ctx).unwrap();
        let text = paragraphs(&bytes);
        assert_eq!(text[0], "ТОО «Тест» & Co");
        assert_eq!(text[1], "Договор по заявке № A-1");
        assert!(
            text.iter().any(|p| p.contains("ТОО <Ромашка>, БИН 123")),
            "{text:?}"
        );
        assert!(paragraphs(b"not a zip").is_empty());
    }

    #[test]
    fn unknown_placeholders_are_named_and_known_ones_are_not() {
        assert_eq!(
            unknown_names(&builtin_template(), &[]).unwrap(),
            Vec::<String>::new(),
            "the built-in template uses only what it is given"
        );
        let doc = |text: &str| {
            let xml = format!(
                "<w:document><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>"
            );
            let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            out.start_file(
                "word/document.xml",
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            out.write_all(xml.as_bytes()).unwrap();
            out.finish().unwrap().into_inner()
        };
        let t = doc(
            "{{ numbr }} {{ values.object_address }} {{ values.objet_address }} \
                     {% for f in fields %}{{ f.label }}{% endfor %} {{ applicant.name }}",
        );
        assert_eq!(
            unknown_names(&t, &["object_address"]).unwrap(),
            vec!["numbr".to_string(), "values.objet_address".to_string()]
        );
    }

    #[test]
    fn a_placeholder_split_across_runs_is_joined() {
        let xml = "<w:body><w:p><w:pPr/><w:r><w:t>Заявка № {{ num</w:t></w:r><w:proofErr w:type=\"x\"/>\
                   <w:r><w:rPr><w:b/></w:rPr><w:t>ber }}</w:t></w:r></w:p><w:p><w:r><w:t>plain</w:t></w:r><w:r><w:t> text</w:t></w:r></w:p></w:body>";
        let joined = join_split_tags(xml);
        assert!(
            joined.contains("<w:t xml:space=\"preserve\">Заявка № {{ number }}</w:t>"),
            "{joined}"
        );
        // Paragraphs without tags keep their runs.
        assert!(joined.contains("<w:t>plain</w:t></w:r><w:r><w:t> text</w:t>"));
        let out = render_xml(&joined, &minijinja::context! { number => "ТП-1 & <2>" }).unwrap();
        assert!(out.contains("Заявка № ТП-1 &amp; &lt;2&gt;"), "{out}");
    }

    #[test]
    fn runs_outside_a_split_tag_keep_their_formatting() {
        // "Номер: " plain, then a bold placeholder in a run of its own.
        let xml = "<w:p><w:r><w:t xml:space=\"preserve\">Номер: </w:t></w:r>\
                   <w:r><w:rPr><w:b/></w:rPr><w:t>{{ number }}</w:t></w:r></w:p>";
        assert_eq!(join_split_tags(xml), xml, "nothing to join");
        // A tag split at its braces is joined, and only its own runs are.
        let xml = "<w:p><w:r><w:t>До </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>{</w:t></w:r>\
                   <w:r><w:rPr><w:b/></w:rPr><w:t>{ number }</w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>}</w:t></w:r>\
                   <w:r><w:rPr><w:i/></w:rPr><w:t> после</w:t></w:r></w:p>";
        let joined = join_split_tags(xml);
        assert!(
            joined.starts_with("<w:p><w:r><w:t>До </w:t></w:r>"),
            "{joined}"
        );
        assert!(
            joined.contains("<w:b/></w:rPr><w:t xml:space=\"preserve\">{{ number }}</w:t>"),
            "{joined}"
        );
        assert!(
            joined.contains("<w:i/></w:rPr><w:t> после</w:t>"),
            "{joined}"
        );
    }

    #[test]
    fn empty_self_closing_paragraphs_are_no_paragraphs_to_join() {
        let xml = "<w:body><w:p w:rsidR=\"00A1\"/><w:p><w:r><w:t>{{ num</w:t></w:r><w:r><w:t>ber }}</w:t></w:r></w:p>\
                   <w:p/><w:p><w:r><w:t>{{ kind }}</w:t></w:r></w:p></w:body>";
        let out = render_xml(
            &join_split_tags(xml),
            &minijinja::context! { number => "42", kind => "ТУ" },
        )
        .unwrap();
        assert!(
            out.starts_with("<w:body><w:p w:rsidR=\"00A1\"/><w:p>"),
            "{out}"
        );
        assert!(
            out.contains(">42</w:t>") && out.contains("<w:t>ТУ</w:t>") && out.contains("<w:p/>"),
            "{out}"
        );
    }

    #[test]
    fn a_text_box_inside_a_paragraph_is_a_paragraph_of_its_own() {
        let xml = "<w:p><w:r><w:t>{{ num</w:t></w:r><w:r><w:drawing><w:txbxContent>\
                   <w:p><w:r><w:t>{{ kind</w:t></w:r><w:r><w:t> }}</w:t></w:r></w:p>\
                   </w:txbxContent></w:drawing></w:r><w:r><w:t>ber }}</w:t></w:r></w:p><w:p><w:r><w:t>после</w:t></w:r></w:p>";
        let out = render_xml(
            &join_split_tags(xml),
            &minijinja::context! { number => "42", kind => "ТУ" },
        )
        .unwrap();
        assert!(
            out.contains("<w:t>ТУ</w:t>") || out.contains(">ТУ</w:t>"),
            "{out}"
        );
        assert!(
            out.contains(">42</w:t>") && out.contains("<w:t>после</w:t>"),
            "{out}"
        );
        assert!(!out.contains("{{"), "{out}");
    }

    #[test]
    fn values_are_valid_word_text() {
        let xml = "<w:p><w:r><w:t>{{ a }}</w:t></w:r></w:p>";
        let out = render_xml(
            xml,
            &minijinja::context! { a => "ул. Мира\u{1}\u{b}, 5\r\nкв. 7 & <б>" },
        )
        .unwrap();
        assert_eq!(
            out,
            "<w:p><w:r><w:t>ул. Мира, 5</w:t><w:br/><w:t xml:space=\"preserve\">кв. 7 &amp; &lt;б&gt;</w:t></w:r></w:p>"
        );
        // Word's curly single quotes in a tag are plain ones to the engine.
        let xml = "<w:p><w:r><w:t>{{ x or \u{2018}нет\u{2019} }}</w:t></w:r></w:p>";
        let out = render_xml(&join_split_tags(xml), &minijinja::context! {}).unwrap();
        assert!(out.contains(">нет<"), "{out}");
    }

    #[test]
    fn quotes_inside_tags_come_back_from_entities() {
        let xml = "<w:p><w:r><w:t>{{ x or &quot;—&quot; }}</w:t></w:r></w:p>";
        let out = render_xml(&join_split_tags(xml), &minijinja::context! {}).unwrap();
        assert!(out.contains(">—<"), "{out}");
    }

    #[test]
    fn the_builtin_template_renders() {
        let ctx = minijinja::context! { number => "42", kind => "Заявка", fields => vec![minijinja::context!{ label => "Адрес", value => "ул. Мира" }] };
        let docx = render(&builtin_template(), &ctx).unwrap();
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(docx)).unwrap();
        let mut xml = String::new();
        z.by_name("word/document.xml")
            .unwrap()
            .read_to_string(&mut xml)
            .unwrap();
        assert!(
            xml.contains("Заявка № 42") && xml.contains("Адрес: ул. Мира"),
            "{xml}"
        );
    }
}
