//! A verdict for people and for machines: the JSON kept with every
//! signature (and printed by `tapline signature verify --json`), and the
//! printable report that goes into a signed package.

use tapline_signature::policy::Verdict;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub fn rfc3339(secs: u64) -> String {
    OffsetDateTime::from_unix_timestamp(secs as i64)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub fn json(v: &Verdict) -> serde_json::Value {
    let signer = v.signer.as_ref().map(|id| {
        serde_json::json!({
            "name": id.person_name(),
            "organisation": id.organisation,
            "title": id.title,
            "inn": id.inn,
            "inn_le": id.inn_le,
            "ogrn": id.ogrn,
            "ogrnip": id.ogrnip,
            "snils": id.snils,
            "iin": id.iin,
            "bin": id.bin,
            "kz_role": id.kz_role,
        })
    });
    serde_json::json!({
        "valid": v.valid,
        // Whatever a refused signature's certificate claims is unconfirmed.
        "signer_confirmed": v.valid,
        "reason": v.reason.map(|r| r.code()),
        "message": v.reason.map(|r| r.message()),
        "algorithm": v.algorithm,
        "signer": signer,
        "serial": v.serial,
        "issuer": v.issuer,
        "chain": v.chain,
        "revocation": v.revocation,
        "policy": v.policy,
        "signing_time": v.signing_time,
        "checked_at": rfc3339(v.at),
    })
}

pub fn human(v: &Verdict) -> String {
    let mut out = String::new();
    let mut line = |k: &str, val: &str| out.push_str(&format!("{k:<22}{val}\n"));
    match v.reason {
        None => line("Подпись:", "действительна"),
        Some(r) => line(
            "Подпись:",
            &format!("отклонена ({}): {}", r.code(), r.message()),
        ),
    }
    if let Some(a) = &v.algorithm {
        line("Алгоритм:", a);
    }
    if v.signer.is_some() && !v.valid {
        // Read from a certificate nobody vouched for: shown, but said so.
        line("", "данные сертификата ниже не подтверждены:");
    }
    if let Some(id) = &v.signer {
        for (k, val) in [
            ("Подписал:", id.person_name()),
            ("Должность:", id.title.clone()),
            ("Организация:", id.organisation.clone()),
            ("ИНН:", id.inn.clone()),
            ("ИНН ЮЛ:", id.inn_le.clone()),
            ("ОГРН:", id.ogrn.clone()),
            ("ОГРНИП:", id.ogrnip.clone()),
            ("СНИЛС:", id.snils.clone()),
            ("ИИН:", id.iin.clone()),
            ("БИН:", id.bin.clone()),
            ("Роль:", id.kz_role.map(str::to_string)),
        ] {
            if let Some(val) = val {
                line(k, &val);
            }
        }
    }
    if let Some(s) = &v.serial {
        line("Серийный номер:", s);
    }
    if let Some(i) = &v.issuer {
        line("Издатель:", i);
    }
    for (i, c) in v.chain.iter().enumerate() {
        line(if i == 0 { "Цепочка:" } else { "" }, c);
    }
    for (i, r) in v.revocation.iter().enumerate() {
        line(
            if i == 0 {
                "Отзыв проверен:"
            } else {
                ""
            },
            &r.to_string(),
        );
    }
    if let Some(t) = &v.signing_time {
        line("Время подписи (заявл.):", t);
    }
    line("Проверено на:", &rfc3339(v.at));
    out
}

/// A stored signature as a file: the CMS (`.sig`) or, for a simple
/// signature, its record (`.json`).
pub fn signature_file(s: &super::Stored) -> Option<(Vec<u8>, &'static str, &'static str)> {
    use base64::Engine;
    match &s.cms {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .map(|der| (der, "application/pkcs7-signature", "sig")),
        None => Some((s.verdict.clone().into_bytes(), "application/json", "json")),
    }
}

/// The validity of the signer's certificate, read again from the CMS.
fn validity(der: &[u8], content: &[u8]) -> Option<(String, String)> {
    let signed = tapline_signature::cms::check(der, Some(content)).ok()?;
    let v = &signed.signer.tbs_certificate.validity;
    let day = |t: std::time::Duration| {
        OffsetDateTime::from_unix_timestamp(t.as_secs() as i64)
            .map(|t| t.date().to_string())
            .unwrap_or_default()
    };
    Some((
        day(v.not_before.to_unix_duration()),
        day(v.not_after.to_unix_duration()),
    ))
}

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error(transparent)]
    Sign(#[from] super::SignError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("zip: {0}")]
    Zip(String),
}

/// The signed package of a document: the document, every signature file
/// and a verification report a person can print.
pub async fn package(
    db: &crate::store::Db,
    files: &crate::document::FileStore,
    tenant: &crate::tenant::Tenant,
    a: &crate::application::Application,
    d: &super::Document,
) -> Result<Vec<u8>, PackageError> {
    let content = super::read_document(files, d).await?;
    let sigs = super::signatures_of(db, &tenant.slug, a.id).await?;
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    let mut report = String::new();
    report.push_str(&format!(
        "{}\nЛист проверки электронных подписей\n\nДокумент: {}\nЗаявка: {}\nSHA-256 документа: {}\nРазмер: {} байт\n",
        tenant.name(),
        d.file_name,
        a.number.clone().unwrap_or_else(|| a.id.to_string()),
        d.sha256,
        d.size,
    ));
    let mut n = 0;
    for s in sigs.iter().filter(|s| s.file_id == d.id) {
        let Some(stored) = super::stored(db, &tenant.slug, a.id, s.id).await? else {
            continue;
        };
        n += 1;
        let Some((bytes, _, ext)) = signature_file(&stored) else {
            continue;
        };
        let name = format!("{}.{n}.{ext}", d.file_name);
        report.push_str(&format!("\n{n}. Файл подписи: {name}\n"));
        let side = match s.side.as_str() {
            "utility" => "организация",
            _ => "заявитель",
        };
        let mut line = |k: &str, v: &str| report.push_str(&format!("   {k:<24}{v}\n"));
        line("Сторона:", side);
        line("Подписал:", &s.signer_name);
        for (k, v) in &s.signer_ids {
            line(&format!("{k}:"), v);
        }
        line("Получена:", &tenant.local_time(&s.created_at));
        if s.scheme == "pep_sms" {
            line("Вид подписи:", "простая электронная подпись (код из SMS)");
            let rec: serde_json::Value = serde_json::from_str(&stored.verdict).unwrap_or_default();
            if let Some(p) = rec.get("phone").and_then(|v| v.as_str()) {
                line("Телефон:", p);
            }
            line(
                "Хеш подписанного:",
                rec.pointer("/document/sha256")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default(),
            );
        } else {
            if let Some(serial) = &s.cert_serial {
                line("Серийный номер:", serial);
            }
            if let Some(issuer) = &s.cert_issuer {
                line("Издатель:", issuer);
            }
            if let Some((from, to)) = validity(&bytes, &content) {
                line("Сертификат действует:", &format!("с {from} по {to}"));
            }
            let rec: serde_json::Value = serde_json::from_str(&stored.verdict).unwrap_or_default();
            if let Some(alg) = rec.get("algorithm").and_then(|v| v.as_str()) {
                line("Алгоритм:", alg);
            }
            if let Some(at) = rec.get("checked_at").and_then(|v| v.as_str()) {
                line("Проверена на момент:", at);
            }
        }
        line(
            "Результат проверки:",
            &if s.valid {
                "подпись действительна".to_string()
            } else {
                format!(
                    "подпись не принята: {}",
                    s.reason.clone().unwrap_or_default()
                )
            },
        );
        entries.push((name, bytes));
    }
    if n == 0 {
        report.push_str("\nПодписей нет.\n");
    }
    let doc_name = d.file_name.clone();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        let mut put = |name: &str, bytes: &[u8]| -> zip::result::ZipResult<()> {
            z.start_file(name, opts)?;
            z.write_all(bytes)?;
            Ok(())
        };
        put(&doc_name, &content).map_err(|e| PackageError::Zip(e.to_string()))?;
        for (name, bytes) in &entries {
            put(name, bytes).map_err(|e| PackageError::Zip(e.to_string()))?;
        }
        put("Лист проверки подписей.txt", report.as_bytes())
            .map_err(|e| PackageError::Zip(e.to_string()))?;
        z.finish()
            .map(|c| c.into_inner())
            .map_err(|e| PackageError::Zip(e.to_string()))
    })
    .await
    .map_err(|e| PackageError::Zip(e.to_string()))?
}
