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
