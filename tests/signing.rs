//! Signing over HTTP: a setevaya document both sides sign (the utility with
//! a qualified signature made by OpenSSL with the test PKI, the applicant
//! with an SMS code), refusals of foreign, revoked and changed signatures,
//! the code's limits, and the signed package.

use tapline::office::{self, StaffRole};
use tapline_e2e::pki::Pki;
use tapline_e2e::{Browser, Setup, TestApp, setevaya_applicant, tenants_copy};

const STAFF_PASSWORD: &str = "correct horse battery staple";

async fn sign_in(app: &TestApp, tenant: &str, email: &str) -> Browser {
    office::add_staff(
        app.db(),
        tenant,
        email,
        "Петров Пётр Петрович",
        StaffRole::Operator,
        STAFF_PASSWORD,
        None,
    )
    .await
    .unwrap();
    let mut b = app.browser(tenant);
    b.get("/office/login").await;
    let r = b
        .post(
            "/office/login",
            &[("email", email), ("password", STAFF_PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    b
}

/// A setevaya application sent by an individual.
async fn sent_application(app: &TestApp, tenant: &str, phone: &str) -> (Browser, String) {
    let _ = tenant;
    let mut a = setevaya_applicant(app, "sign@example.ru", phone).await;
    let r = a.post("/applications/new", &[("kind", "connection")]).await;
    let id = tapline_e2e::id_of(r.location.as_deref().unwrap());
    let pdf =
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
    a.upload(
        &format!("/applications/{id}/files/ownership_doc"),
        "егрн.pdf",
        pdf,
        true,
    )
    .await;
    let v = a
        .get(&format!("/applications/{id}"))
        .await
        .hidden("version")
        .unwrap();
    let r = a
        .post(
            &format!("/applications/{id}"),
            &[
                ("action", "submit"),
                ("version", &v),
                ("object_address", "ул. Сетевая, 1"),
                ("power_kw", "12"),
                ("line_length_m", "50"),
                ("metering_points", "1"),
                ("phone", phone),
                ("email", "sign@example.ru"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    (a, id)
}

#[tokio::test]
async fn setevaya_the_utility_signs_first_then_the_applicant_by_sms_code() {
    let Some(pki) = Pki::gost256("setevaya") else {
        return;
    };
    let app = trusting(&pki, &["setevaya", "kazenergo", "kvadra"], "").await;
    let phone = "+79003000077";
    let (mut a, id) = sent_application(&app, "setevaya", phone).await;
    let mut op = sign_in(&app, "setevaya", "op@setevaya.ru").await;
    let card = format!("/office/applications/{id}");
    let contract = b"%PDF-1.4\n% contract for both sides\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
    let r = op
        .post_multipart(
            &format!("{card}/document"),
            &[("title", "Договор"), ("body", "Подпишите, пожалуйста")],
            Some(("договор.pdf", contract)),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (file,): (i64,) = sqlx::query_as(
        "SELECT id FROM application_files WHERE tenant_id = 'setevaya' AND file_name = 'договор.pdf'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    let doc = format!("{card}/documents/{file}");
    let r = op.post(&format!("{doc}/ask"), &[("asked", "both")]).await;
    assert_eq!(r.status, 303, "{}", r.body);

    // The applicant cannot sign before the utility.
    let mine = format!("/applications/{id}/documents/{file}");
    let p = a.get(&mine).await;
    assert!(
        p.has("Сначала документ подписывает организация"),
        "{}",
        p.body
    );
    let r = a.post(&format!("{mine}/code"), &[]).await;
    assert_eq!(r.status, 422);
    assert!(r.has("ещё не подписан организацией"), "{}", r.body);

    // The utility's refusals: another root, a revoked key, changed bytes.
    let foreign = Pki::gost256("setevaya-foreign").unwrap();
    for (sig, words) in [
        (foreign.sign("ee", contract), "не доверяет"),
        (pki.sign("revoked", contract), "отозван"),
        (pki.sign("ee", b"another document"), "изменён"),
        (
            "bm90IGEgc2lnbmF0dXJl".to_string(),
            "не является электронной подписью",
        ),
    ] {
        let r = op
            .post(&format!("{doc}/sign"), &[("signature", &sig)])
            .await;
        assert_eq!(r.status, 422, "{words}: {}", r.body);
        let err = r.body.split("id=\"sign-error\"").nth(1).unwrap_or_default();
        assert!(
            tapline_e2e::unescape(err).to_lowercase().contains(words),
            "{words}: {}",
            &err[..err.len().min(400)]
        );
    }
    let r = op
        .post(
            &format!("{doc}/sign"),
            &[("signature", &pki.sign("ee", contract))],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let p = op.get(&doc).await;
    assert!(
        p.has("Подписано: ООО Ромашка (Иванов Иван Иванович)"),
        "{}",
        p.body
    );

    // The applicant: the agreement first, then a code to the confirmed phone.
    let r = a.post(&format!("{mine}/code"), &[]).await;
    assert_eq!(r.status, 422);
    assert!(r.field_error("agree").is_some(), "{}", r.body);
    // Forty presses of «Получить код» at once send one SMS.
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let mut b = a.clone();
        let path = format!("{mine}/code");
        tasks.push(tokio::spawn(async move {
            b.post(&path, &[("agree", "1")]).await.status
        }));
    }
    for t in tasks {
        let status = t.await.unwrap();
        assert!(status == 303 || status == 422, "{status}");
    }
    let sent = app
        .all_messages("setevaya")
        .await
        .into_iter()
        .filter(|m| m.0 == "sms" && m.2.contains("для подписания документа"))
        .count();
    assert_eq!(sent, 1);
    let code = app.last_sms_code("setevaya", phone).await;
    // A second code only after the cooldown.
    let r = a.post(&format!("{mine}/code"), &[]).await;
    assert_eq!(r.status, 422);
    assert!(
        r.field_error("code")
            .unwrap()
            .contains("Новый можно запросить")
    );
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = a.post(&format!("{mine}/confirm"), &[("code", wrong)]).await;
    assert_eq!(r.status, 422);
    assert!(
        r.field_error("code")
            .unwrap()
            .contains("Осталось попыток: 4")
    );

    // Forty presses with the right code sign once.
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let mut b = a.clone();
        let path = format!("{mine}/confirm");
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            b.post(&path, &[("code", &code)]).await.status
        }));
    }
    for t in tasks {
        // A press that lost to its twin shows the signature too.
        assert_eq!(t.await.unwrap(), 303);
    }
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM signatures WHERE tenant_id = 'setevaya' AND file_id = $1 AND valid = 1",
    )
    .bind(file)
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    assert_eq!(n, 2, "the utility's and the applicant's");
    let p = a.get(&mine).await;
    assert!(p.has("Подписано: Сетев Пётр Ильич"), "{}", p.body);
    assert!(p.has("Вы подписали документ"));
    // The record keeps the phone, the text sent and every attempt.
    let (verdict,): (String,) = sqlx::query_as(
        "SELECT verdict FROM signatures WHERE tenant_id = 'setevaya' AND scheme = 'pep_sms'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&verdict).unwrap();
    assert_eq!(v["phone"], phone);
    assert!(v["message"].as_str().unwrap().contains(&code));
    // The wrong code, then the right one; the presses after it found the
    // code spent and tried nothing.
    let tried = v["attempts"].as_array().unwrap();
    assert_eq!(tried.len(), 2, "{v}");
    assert_eq!(tried[0]["ok"], false, "{v}");
    assert_eq!(tried[1]["ok"], true, "{v}");
    assert_eq!(v["agreement"]["version"], "1");
    // A code is bound to its document: the used one does not sign the next.
    let letter = b"%PDF-1.4\n% a letter to sign\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
    let r = op
        .post_multipart(
            &format!("{card}/document"),
            &[("title", "Письмо"), ("body", "")],
            Some(("письмо.pdf", letter)),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (second,): (i64,) = sqlx::query_as(
        "SELECT id FROM application_files WHERE tenant_id = 'setevaya' AND file_name = 'письмо.pdf'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    let r = op
        .post(
            &format!("{card}/documents/{second}/ask"),
            &[("asked", "applicant")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let next = format!("/applications/{id}/documents/{second}");
    let r = a.post(&format!("{next}/code"), &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let code2 = app.last_sms_code("setevaya", phone).await;
    if code2 != code {
        let r = a.post(&format!("{next}/confirm"), &[("code", &code)]).await;
        assert_eq!(r.status, 422);
        assert!(
            r.field_error("code").unwrap().contains("Неверный код"),
            "{}",
            r.body
        );
    }
    let r = a
        .post(&format!("{next}/confirm"), &[("code", &code2)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    // The used code then signs nothing: no live code is left for either.
    let (live,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM pep_codes WHERE tenant_id = 'setevaya' AND used_at IS NULL",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    assert_eq!(live, 0);

    // The package: the document, both signatures and the report.
    let resp = a
        .client
        .get(format!("{}{mine}/package.zip", a.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.unwrap();
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let names: Vec<String> = (0..z.len())
        .map(|i| z.by_index(i).unwrap().name().unwrap().to_string())
        .collect();
    assert!(names.contains(&"договор.pdf".to_string()), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with(".sig")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with(".json")), "{names:?}");
    let mut report = String::new();
    std::io::Read::read_to_string(
        &mut z.by_name("Лист проверки подписей.txt").unwrap(),
        &mut report,
    )
    .unwrap();
    assert!(report.contains("Серийный номер:"), "{report}");
    assert!(
        report.matches("подпись действительна").count() == 2,
        "{report}"
    );
    let mut doc_bytes = Vec::new();
    std::io::Read::read_to_end(&mut z.by_name("договор.pdf").unwrap(), &mut doc_bytes).unwrap();
    assert_eq!(doc_bytes, contract);

    // Strangers: another applicant of the tenant, an applicant and staff
    // of another tenant find nothing, and a form without its token is refused.
    let (sig_id,): (i64,) =
        sqlx::query_as("SELECT MIN(id) FROM signatures WHERE tenant_id = 'setevaya'")
            .fetch_one(&app.db().pool)
            .await
            .unwrap();
    let mut other = setevaya_applicant(&app, "other@example.ru", "+79003000078").await;
    let mut far = tapline_e2e::kazenergo_legal(&app, "far@example.ru", "+79003000079").await;
    let pages = [
        mine.clone(),
        format!("{mine}/package.zip"),
        format!("/applications/{id}/signatures/{sig_id}"),
    ];
    let forms = [
        format!("{mine}/sign"),
        format!("{mine}/code"),
        format!("{mine}/confirm"),
    ];
    for b in [&mut other, &mut far] {
        for p in &pages {
            assert_eq!(b.get(p).await.status, 404, "{p}");
        }
        for p in &forms {
            assert_eq!(b.post(p, &[("code", &code)]).await.status, 404, "{p}");
            assert_eq!(b.post_raw(p, String::new()).await.status, 403, "{p}");
        }
    }
    office::add_staff(
        app.db(),
        "kvadra",
        "op@kvadra.ru",
        "Чужой",
        StaffRole::Admin,
        STAFF_PASSWORD,
        None,
    )
    .await
    .unwrap();
    let mut kv = app.browser("kvadra");
    kv.get("/office/login").await;
    let r = kv
        .post(
            "/office/login",
            &[("email", "op@kvadra.ru"), ("password", STAFF_PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 303);
    for p in [
        doc.clone(),
        format!("{doc}/package.zip"),
        format!("{card}/signatures/{sig_id}"),
    ] {
        assert_eq!(kv.get(&p).await.status, 404, "{p}");
    }
    let r = kv.post(&format!("{doc}/ask"), &[("asked", "both")]).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn kvadra_a_company_signs_its_application_and_it_moves_on_by_itself() {
    let Some(pki) = Pki::gost256("kvadra") else {
        return;
    };
    // Another company's key under the same trusted CA.
    pki.issue(
        "other",
        "/C=RU/O=ООО Лютик/CN=Сидоров Семён Семёнович/SN=Сидоров/GN=Семён Семёнович/INNLE=7707083893/OGRN=1027700132195",
    );
    let app = trusting(&pki, &["kvadra"], "").await;
    let phone = "+79003000088";
    let (mut a, mut op, id) = kvadra_awaiting_signature(&app, phone).await;

    // «Ожидает подписи ЭЦП»: the application as a Word file waits for the key.
    let view = a.get(&format!("/applications/{id}")).await;
    assert!(view.has("Документы на подпись"), "{}", view.body);
    assert!(view.has("ожидает вашей подписи"), "{}", view.body);
    let (file,): (i64,) = sqlx::query_as(
        "SELECT id FROM application_files WHERE tenant_id = 'kvadra' AND slot = '_application'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    // Looking again makes no second copy.
    a.get(&format!("/applications/{id}")).await;
    let (copies,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM application_files WHERE tenant_id = 'kvadra' AND slot = '_application'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    assert_eq!(copies, 1);
    let doc = format!("/applications/{id}/documents/{file}");
    let page = a.get(&doc).await;
    assert!(page.has("data-scheme=\"cryptopro\""), "{}", page.body);
    let bytes = a
        .client
        .get(format!("{}/applications/{id}/file/{file}", a.base))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    assert!(bytes.starts_with(b"PK"), "a Word file");

    // Another company's valid signature: whose it is, and no move.
    let r = a
        .post(
            &format!("{doc}/sign"),
            &[("signature", &pki.sign("other", &bytes))],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.has("ООО Лютик"), "{}", r.body);
    assert!(r.has("ИНН 7707083893"), "{}", r.body);
    let r = a
        .post(
            &format!("{doc}/sign"),
            &[("signature", &pki.sign("expired", &bytes))],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.has("Срок действия сертификата истёк"), "{}", r.body);
    assert!(
        a.get(&format!("/applications/{id}"))
            .await
            .has("Ожидает подписи ЭЦП")
    );

    // Forty presses of «Подписать» at once: one signature, one move.
    let sig = pki.sign("ee", &bytes);
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let mut b = a.clone();
        let path = format!("{doc}/sign");
        let sig = sig.clone();
        tasks.push(tokio::spawn(async move {
            b.post(&path, &[("signature", &sig)]).await.status
        }));
    }
    for t in tasks {
        // The presses that lost show the signature too.
        assert_eq!(t.await.unwrap(), 303);
    }
    let (signed,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM signatures WHERE tenant_id = 'kvadra'")
            .fetch_one(&app.db().pool)
            .await
            .unwrap();
    assert_eq!(signed, 1);
    let (moves,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM application_events WHERE tenant_id = 'kvadra' AND status = 'in_work'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    assert_eq!(moves, 1);
    let view = a.get(&format!("/applications/{id}")).await;
    assert!(view.has("В работе у филиала"), "{}", view.body);
    assert!(
        view.has("Подписано: ООО Ромашка (Иванов Иван Иванович)"),
        "{}",
        view.body
    );
    // The staff see the verdict on the card; the history says who signed.
    let card = op.get(&format!("/office/applications/{id}")).await;
    assert!(
        card.has("Подписано: ООО Ромашка (Иванов Иван Иванович)"),
        "{}",
        card.body
    );
    assert!(card.has("Документ подписан"), "{}", card.body);
    // The refused signatures were never recorded; the valid one is kept
    // with what it was judged on, and judges the same again.
    let (n, cms, verdict, evidence): (i64, String, String, String) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM signatures WHERE tenant_id = 'kvadra'), cms, verdict, evidence \
         FROM signatures WHERE tenant_id = 'kvadra'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    assert_eq!(n, 1);
    let v: serde_json::Value = serde_json::from_str(&verdict).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["signer"]["ogrn"], "1027700123450");
    // Checked again later from what is stored: the CMS, the document's
    // bytes, the evidence and the time of receipt give the same verdict;
    // other bytes do not.
    use base64::Engine;
    use tapline_signature::policy::{self, Evidence, Policy, Purpose, Revocation};
    let der = base64::engine::general_purpose::STANDARD
        .decode(&cms)
        .unwrap();
    let evidence: Evidence = serde_json::from_str(&evidence).unwrap();
    assert!(
        !evidence.crls.is_empty(),
        "the CRL it was judged with is kept"
    );
    let at = time::OffsetDateTime::parse(
        v["checked_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp() as u64;
    let anchors =
        policy::certificates_from(&std::fs::read(pki.dir.join("root.pem")).unwrap()).unwrap();
    let again = Policy {
        revocation: Revocation::Crl,
        purpose: Purpose::Sign,
    };
    let verdict = policy::verify(&der, Some(&bytes), &anchors, &again, &evidence, at);
    assert!(verdict.valid, "{:?}", verdict.reason);
    assert_eq!(verdict.serial.as_deref(), v["serial"].as_str());
    let changed = policy::verify(&der, Some(b"other bytes"), &anchors, &again, &evidence, at);
    assert!(!changed.valid);
}

/// Sends (or sends again) an almatyenergosbyt application signed by the
/// head's key, as its page does: saved, its Word file signed, sent.
async fn almaty_send_signed(
    a: &mut Browser,
    id: &str,
    pki: &Pki,
    power: &str,
    phone: &str,
) -> tapline_e2e::Page {
    let values = [
        ("object_address", "Алматы, пр. Абая, 1"),
        ("power_kw", power),
        ("phone", phone),
        ("email", "contract@example.kz"),
    ];
    let path = format!("/applications/{id}");
    let v = a.get(&path).await.hidden("version").unwrap();
    let mut form = vec![("action", "save"), ("version", v.as_str())];
    form.extend(values);
    a.post(&path, &form).await;
    let docx = a
        .client
        .get(format!("{}{path}/application.docx", a.base))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let signature = pki.sign("head", &docx);
    let v = a.get(&path).await.hidden("version").unwrap();
    let mut form = vec![("action", "submit"), ("version", v.as_str())];
    form.extend(values);
    form.push(("signature", signature.as_str()));
    a.post(&path, &form).await
}

#[tokio::test]
async fn almaty_the_contract_is_signed_by_the_utility_then_by_the_head_of_the_company() {
    let Some(pki) = Pki::gost256("almaty") else {
        return;
    };
    const BIN: &str = "050540004455";
    // Kazakh roles: 1.2.398.3.3.4.1.2 organisation, .1 its head, .5 an employee.
    pki.issue_with_eku(
        "head",
        &format!("/C=KZ/O=ТОО «Тест»/OU=BIN{BIN}/CN=ДИРЕКТОРОВ ДАНИЯР/SN=ДИРЕКТОРОВ/GN=ДАНИЯР/serialNumber=IIN880101300123"),
        "emailProtection,1.2.398.3.3.4.1.2,1.2.398.3.3.4.1.2.1",
    );
    pki.issue_with_eku(
        "employee",
        &format!("/C=KZ/O=ТОО «Тест»/OU=BIN{BIN}/CN=СОТРУДНИКОВ САЯН/SN=СОТРУДНИКОВ/GN=САЯН/serialNumber=IIN900202400456"),
        "emailProtection,1.2.398.3.3.4.1.2,1.2.398.3.3.4.1.2.5",
    );
    // The utility's own key carries its BIN.
    pki.issue_with_eku(
        "utility",
        "/C=KZ/O=ТОО «АлматыЭнергоСбыт»/OU=BIN990240001234/CN=БУХГАЛТЕРОВА АЙГУЛЬ/SN=БУХГАЛТЕРОВА/GN=АЙГУЛЬ/serialNumber=IIN850505400789",
        "emailProtection,1.2.398.3.3.4.1.2,1.2.398.3.3.4.1.2.2",
    );
    let app = trusting(
        &pki,
        &["almatyenergosbyt"],
        "utility_id = \"990240001234\"\n",
    )
    .await;
    let phone = "+77013000099";
    let mut a = tapline_e2e::ready(
        &app,
        "almatyenergosbyt",
        "legal",
        phone,
        &[
            ("org_name", "ТОО «Тест»"),
            ("bin", BIN),
            ("email", "contract@example.kz"),
            ("phone", phone),
        ],
        &[
            ("org_name", "ТОО «Тест»"),
            ("bin", BIN),
            ("head_name", "Директоров Данияр"),
            ("legal_address", "Алматы, пр. Абая, 1"),
        ],
    )
    .await;
    let r = a.post("/applications/new", &[("kind", "connection")]).await;
    let id = tapline_e2e::id_of(r.location.as_deref().unwrap());
    let pdf =
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
    for slot in ["registration_certificate", "title_document"] {
        a.upload(
            &format!("/applications/{id}/files/{slot}"),
            "doc.pdf",
            pdf,
            true,
        )
        .await;
    }
    // Sending signs the application (seed 004): the head's key signs its
    // Word file as saved, as the page has NCALayer do.
    let r = almaty_send_signed(&mut a, &id, &pki, "20", phone).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let mut op = sign_in(&app, "almatyenergosbyt", "op@aes.kz").await;
    let card = format!("/office/applications/{id}");
    let r = op
        .post(&format!("{card}/status"), &[("to", "consumer_signing")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);

    // The contract is made from the application; the consumer reads it but
    // signs after the utility.
    let view = a.get(&format!("/applications/{id}")).await;
    assert!(view.has("На подписании у потребителя"), "{}", view.body);
    assert!(view.has("Просмотр договора"), "{}", view.body);
    assert!(view.has("ожидает подписи организации"), "{}", view.body);
    let (file,): (i64,) = sqlx::query_as(
        "SELECT id FROM application_files WHERE tenant_id = 'almatyenergosbyt' AND slot = '_contract'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    let mine = format!("/applications/{id}/documents/{file}");
    let page = a.get(&mine).await;
    assert!(page.has("Договор по заявке №"), "{}", page.body);
    assert!(page.has("ТОО «Тест», БИН 050540004455"), "{}", page.body);
    let bytes = op
        .client
        .get(format!("{}{card}/file/{file}", op.base))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let r = a
        .post(
            &format!("{mine}/sign"),
            &[("signature", &pki.sign("head", &bytes))],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.has("ещё не подписан организацией"), "{}", r.body);

    // The utility signs in the office (NCALayer there), and the consumer is told.
    let office_doc = format!("{card}/documents/{file}");
    assert!(op.get(&office_doc).await.has("data-scheme=\"ncalayer\""));
    // A staff member's key that is not the utility's signs nothing for it.
    let r = op
        .post(
            &format!("{office_doc}/sign"),
            &[("signature", &pki.sign("ee", &bytes))],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.has("выданным не организации: ООО Ромашка"), "{}", r.body);
    let r = op
        .post(
            &format!("{office_doc}/sign"),
            &[("signature", &pki.sign("utility", &bytes))],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        app.all_messages("almatyenergosbyt")
            .await
            .iter()
            .any(|m| m.2.contains("Организация подписала документ")),
        "the consumer hears of it"
    );

    // An employee's key carries the BIN but cannot bind the company.
    let r = a
        .post(
            &format!("{mine}/sign"),
            &[("signature", &pki.sign("employee", &bytes))],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.has("СОТРУДНИКОВ САЯН"), "{}", r.body);

    // The consumer asks for a change: the application goes back, and the
    // contract on the page left open signs nothing any more.
    let r = op
        .post(
            &format!("{card}/status"),
            &[("to", "returned"), ("note", "Уточните мощность")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = a
        .post(
            &format!("{mine}/sign"),
            &[("signature", &pki.sign("head", &bytes))],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = almaty_send_signed(&mut a, &id, &pki, "25", phone).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = op
        .post(&format!("{card}/status"), &[("to", "consumer_signing")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    // Back in signing, before anyone looks: the old copy still signs nothing.
    let r = a
        .post(
            &format!("{mine}/sign"),
            &[("signature", &pki.sign("head", &bytes))],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    // A new contract, from the changed application; the old one is no longer asked.
    a.get(&format!("/applications/{id}")).await;
    let asked: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM application_files WHERE tenant_id = 'almatyenergosbyt' AND slot = '_contract' \
         AND signing IS NOT NULL",
    )
    .fetch_all(&app.db().pool)
    .await
    .unwrap();
    assert_eq!(asked.len(), 1);
    let file = asked[0].0;
    let mine = format!("/applications/{id}/documents/{file}");
    let office_doc = format!("{card}/documents/{file}");
    let p = a.get(&mine).await;
    assert!(
        p.has("Требуемая мощность: 25 кВт"),
        "the new power is in the contract: {}",
        p.body
    );
    let bytes = op
        .client
        .get(format!("{}{card}/file/{file}", op.base))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let r = op
        .post(
            &format!("{office_doc}/sign"),
            &[("signature", &pki.sign("utility", &bytes))],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = a
        .post(
            &format!("{mine}/sign"),
            &[("signature", &pki.sign("head", &bytes))],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let view = a.get(&format!("/applications/{id}")).await;
    assert!(view.has("Договор подписан"), "{}", view.body);
    let p = a.get(&mine).await;
    assert!(
        p.has("Подписано: ТОО «Тест» (ДИРЕКТОРОВ ДАНИЯР)"),
        "{}",
        p.body
    );
    assert!(
        p.has("организация ·"),
        "the utility's signature is listed: {}",
        p.body
    );
}

#[tokio::test]
async fn vodokanal_signature_files_are_checked_on_arrival_and_shown_beside_their_document() {
    let Some(pki) = Pki::gost256("vodokanal") else {
        return;
    };
    pki.issue(
        "other",
        "/C=RU/O=ООО Лютик/CN=Сидоров Семён Семёнович/SN=Сидоров/GN=Семён Семёнович/INNLE=7707083893/OGRN=1027700132195",
    );
    let app = trusting(&pki, &["vodokanal"], "").await;
    let mut b = app.browser("vodokanal");
    tapline_e2e::register(
        &mut b,
        "legal",
        &[
            ("org_name", "ООО Ромашка"),
            ("email", "romashka@example.ru"),
            ("login", "romashka"),
        ],
    )
    .await;
    let link = app.last_link("vodokanal", "romashka@example.ru").await;
    b.get(&link).await;
    let r = b
        .post(
            "/login",
            &[
                ("identifier", "romashka"),
                ("password", tapline_e2e::PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = b
        .post(
            "/profile",
            &[
                ("org_name", "ООО Ромашка"),
                ("inn", "7703123457"),
                ("address", "Москва, ул. Мира, 1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = b.post("/applications/new", &[("kind", "connection")]).await;
    let id = tapline_e2e::id_of(r.location.as_deref().unwrap());
    let pdf =
        b"%PDF-1.4\n% the plan\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
    b.upload(
        &format!("/applications/{id}/files/attachments"),
        "план.pdf",
        pdf,
        true,
    )
    .await;
    let v = b
        .get(&format!("/applications/{id}"))
        .await
        .hidden("version")
        .unwrap();
    let r = b
        .post(
            &format!("/applications/{id}"),
            &[
                ("action", "submit"),
                ("version", &v),
                ("supply_types", "Холодное водоснабжение"),
                ("object_address", "ул. Мира, 5"),
                ("water_m3_day", "2"),
                ("phone", "+79003000099"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (file,): (i64,) = sqlx::query_as(
        "SELECT id FROM application_files WHERE tenant_id = 'vodokanal' AND file_name = 'план.pdf'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    let doc = format!("/applications/{id}/documents/{file}");
    let sig = |who: &str| pki.sign(who, pdf).into_bytes();
    for (bytes, verdict) in [
        (sig("ee"), "Подписано: ООО Ромашка (Иванов Иван Иванович)"),
        (sig("other"), "другого владельца: ООО Лютик"),
        (pki.sign("ee", b"another file").into_bytes(), "изменён"),
    ] {
        let r = b
            .post_multipart(
                &format!("{doc}/signature-file"),
                &[],
                Some(("план.pdf.sig", &bytes)),
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let page = b.get(&doc).await;
        assert!(
            page.has(verdict) || page.body.to_lowercase().contains(verdict),
            "{verdict}: {}",
            page.body
        );
    }
    // Beside the file on the application's page too.
    let view = b.get(&format!("/applications/{id}")).await;
    assert!(
        view.has("Подписано: ООО Ромашка (Иванов Иван Иванович)"),
        "{}",
        view.body
    );
    assert!(view.has("Подпись не принята"), "{}", view.body);
    // And on the office's card, with their verdicts.
    let mut op = sign_in(&app, "vodokanal", "op@vodokanal.ru").await;
    let card = op.get(&format!("/office/applications/{id}")).await;
    assert!(
        card.has("Подписано: ООО Ромашка (Иванов Иван Иванович)") && card.has("Подпись не принята"),
        "{}",
        card.body
    );
    // Nothing but a file is refused at the field, and nothing is recorded.
    let r = b
        .post_multipart(&format!("{doc}/signature-file"), &[], None)
        .await;
    assert_eq!(r.status, 422);
    assert!(r.has("Выберите файл подписи"), "{}", r.body);
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM signatures WHERE tenant_id = 'vodokanal'")
            .fetch_one(&app.db().pool)
            .await
            .unwrap();
    assert_eq!(n, 3);
}

/// A kvadra company (ООО Ромашка, the test PKI's INN and OGRN) whose
/// application staff have set to «Ожидает подписи ЭЦП»: the applicant's
/// and the operator's browsers and the application id.
async fn kvadra_awaiting_signature(app: &TestApp, phone: &str) -> (Browser, Browser, String) {
    let mut a = tapline_e2e::ready(
        app,
        "kvadra",
        "legal",
        phone,
        &[
            ("org_name", "ООО Ромашка"),
            ("email", "romashka@example.ru"),
            ("phone", phone),
        ],
        &[
            ("org_name", "ООО Ромашка"),
            ("inn", "7703123457"),
            ("ogrn", "1027700123450"),
            ("representative", "Иванов Иван Иванович"),
            ("city", "Белгород"),
            ("postal_address", "Белгород, ул. Мира, 1"),
        ],
    )
    .await;
    let r = a
        .post(
            "/applications/new",
            &[("city", "Белгород"), ("kind", "connection")],
        )
        .await;
    let id = tapline_e2e::id_of(r.location.as_deref().unwrap());
    let v = a
        .get(&format!("/applications/{id}"))
        .await
        .hidden("version")
        .unwrap();
    let r = a
        .post(
            &format!("/applications/{id}"),
            &[
                ("action", "submit"),
                ("version", &v),
                ("city", "Белгород"),
                ("object_address", "ул. Мира, 5"),
                ("supply_type", "Теплоснабжение"),
                ("load_gcal_h", "0,25"),
                ("phone", phone),
                ("email", "romashka@example.ru"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let mut op = sign_in(app, "kvadra", "op@kvadra.ru").await;
    let r = op
        .post(
            &format!("/office/applications/{id}/status"),
            &[("to", "awaiting_signature")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);

    (a, op, id)
}

#[tokio::test]
async fn without_trusted_roots_the_page_says_signatures_are_not_taken_yet() {
    // The demo tenants ship no roots: a utility adds its CAs' to trust/.
    let app = TestApp::spawn().await;
    let (mut a, _op, id) = kvadra_awaiting_signature(&app, "+79003000066").await;
    let view = a.get(&format!("/applications/{id}")).await;
    assert!(view.has("ожидает вашей подписи"), "{}", view.body);
    let (file,): (i64,) = sqlx::query_as(
        "SELECT id FROM application_files WHERE tenant_id = 'kvadra' AND slot = '_application'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    // almatyenergosbyt signs when sending: its draft says why it cannot be sent yet.
    let mut kz = tapline_e2e::ready(
        &app,
        "almatyenergosbyt",
        "legal",
        "+77013000066",
        &[
            ("org_name", "ТОО «Тест»"),
            ("bin", "050540004455"),
            ("email", "draft@example.kz"),
            ("phone", "+77013000066"),
        ],
        &[],
    )
    .await;
    let r = kz
        .post("/applications/new", &[("kind", "connection")])
        .await;
    let draft = kz.follow(&r).await;
    assert!(
        draft.has("портал пока не принимает подписи"),
        "{}",
        draft.body
    );
    let page = a.get(&format!("/applications/{id}/documents/{file}")).await;
    assert!(
        page.has("Портал пока не принимает электронные подписи"),
        "{}",
        page.body
    );
    assert!(
        !page.has("data-scheme=\"cryptopro\""),
        "no widget that can only fail"
    );
    // And a signature posted anyway is refused, the page saying why.
    let r = a
        .post(
            &format!("/applications/{id}/documents/{file}/sign"),
            &[("signature", "MIIB")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.has("Портал пока не принимает электронные подписи"),
        "{}",
        r.body
    );
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM signatures")
        .fetch_one(&app.db().pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_document_kind_may_be_signed_by_another_scheme_than_the_applicant_type() {
    // kvadra's companies sign with CryptoPro, but this copy lets the
    // application itself be signed by SMS code.
    let tenants = tenants_copy(&[("kvadra", "kvadra", None)]);
    let toml_path = tenants.join("kvadra/tenant.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap().replace(
        "[[signature.step]]",
        "[signature.documents]\napplication = \"pep_sms\"\n\n[[signature.step]]",
    );
    std::fs::write(&toml_path, toml).unwrap();
    let app = TestApp::spawn_with(Setup {
        tenants,
        ..Setup::default()
    })
    .await;
    let (mut a, _op, id) = kvadra_awaiting_signature(&app, "+79003000055").await;
    a.get(&format!("/applications/{id}")).await;
    let (file,): (i64,) = sqlx::query_as(
        "SELECT id FROM application_files WHERE tenant_id = 'kvadra' AND slot = '_application'",
    )
    .fetch_one(&app.db().pool)
    .await
    .unwrap();
    let doc = format!("/applications/{id}/documents/{file}");
    let page = a.get(&doc).await;
    assert!(page.has("Получить код"), "{}", page.body);
    assert!(!page.has("data-scheme=\"cryptopro\""), "{}", page.body);
    let r = a.post(&format!("{doc}/code"), &[("agree", "1")]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let code = app.last_sms_code("kvadra", "+79003000055").await;
    let r = a.post(&format!("{doc}/confirm"), &[("code", &code)]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        a.get(&format!("/applications/{id}"))
            .await
            .has("В работе у филиала")
    );
    // And a CMS is not what this document takes.
    let r = a
        .post(&format!("{doc}/sign"), &[("signature", "MIIB")])
        .await;
    assert_eq!(r.status, 404);
}

/// A server with copies of the demo tenants `slugs`, the first trusting
/// `pki` and judging revocation by its CRL files alone (the test PKI names
/// no distribution points); `extra` goes under its `[signature]`.
async fn trusting(pki: &Pki, slugs: &[&str], extra: &str) -> TestApp {
    let specs: Vec<(&str, &str, Option<&std::path::Path>)> =
        slugs.iter().map(|s| (*s, *s, None)).collect();
    let tenants = tenants_copy(&specs);
    pki.install(&tenants.join(slugs[0]));
    let toml_path = tenants.join(slugs[0]).join("tenant.toml");
    let toml = std::fs::read_to_string(&toml_path)
        .unwrap()
        .replace("revocation = \"either\"\n", "")
        .replace(
            "[signature]\n",
            &format!("[signature]\nrevocation = \"crl\"\nfetch = false\n{extra}"),
        );
    std::fs::write(&toml_path, toml).unwrap();
    TestApp::spawn_with(Setup {
        tenants,
        ..Setup::default()
    })
    .await
}
