// Signing with the CryptoPro ЭЦП Browser plug-in on a signing form
// (templates/portal/_sign.html, `data-scheme="cryptopro"`). The tenant's
// copy of `cadesplugin_api.js` is loaded only here, so other pages never
// run it; the certificates a person can sign with now are listed; the
// signature is a detached CAdES-BES of the exact bytes the server gave (or
// of their Streebog hash when the file is large), which the form posts for
// the server to verify. What went wrong on this computer is said in
// `.sign-error`; the server's own refusal arrives there with the page.
(function () {
  "use strict";
  var forms = Array.prototype.slice.call(
    document.querySelectorAll("form.sign-form[data-scheme=cryptopro]"));
  if (!forms.length) return;

  var INSTALL = "https://www.cryptopro.ru/products/cades/plugin";
  // The vendor's script gives up on a missing extension after about 20 s;
  // ours stops waiting a little later in case a slow start still succeeds.
  var LOAD_TIMEOUT_MS = 25000;
  // Above this CryptoPro signs the hash the server computed instead of the
  // file: the plug-in receives the whole file as base64 otherwise.
  var HASH_ABOVE = 10 * 1024 * 1024;
  // A multiple of 3 bytes: each part's base64 stands alone, unpadded.
  var HASH_PART = 3 * 256 * 1024;
  var CURRENT_USER = 2, MY = "My", MAXIMUM_ALLOWED = 2, FIND_SHA1 = 0;
  var WHOLE_CHAIN = 1, BASE64_TO_BINARY = 1, CADES_BES = 1;
  var STREEBOG_256 = 101, STREEBOG_512 = 102;
  var GOST_2012_256 = "1.2.643.7.1.1.1.1", GOST_2012_512 = "1.2.643.7.1.1.1.2";

  var loading = null;

  // One script tag for every form on the page; a failed load is final.
  function plugin(src) {
    if (loading) return loading;
    loading = new Promise(function (resolve, reject) {
      var timer = setTimeout(function () { reject(missing()); }, LOAD_TIMEOUT_MS);
      function done(ok, value) { clearTimeout(timer); (ok ? resolve : reject)(value); }
      var s = document.createElement("script");
      s.src = src;
      s.onerror = function () { done(false, missing()); };
      s.onload = function () {
        var cp = window.cadesplugin;
        if (!cp || typeof cp.then !== "function") return done(false, missing());
        // Wrapped: resolving with `cp`, itself a promise, would hand over
        // its value (nothing) instead of the object.
        cp.then(function () { done(true, { api: cp }); }, function () { done(false, missing()); });
      };
      document.head.appendChild(s);
    });
    return loading;
  }

  function missing() { var e = new Error("plug-in missing"); e.missing = true; return e; }

  // "CN=Иванов Иван, O=""ООО """"Ромашка"""""", C=RU": RDNs split at commas
  // outside quotes; a quoted value's doubled quotes are one quote.
  function subjectParts(dn) {
    var parts = {}, key = "", val = "", inKey = true, quoted = false;
    function flush() {
      var k = key.trim().toUpperCase();
      if (k && !(k in parts)) parts[k] = val.trim();
      key = ""; val = ""; inKey = true;
    }
    for (var i = 0; i < dn.length; i++) {
      var ch = dn[i];
      if (inKey) {
        if (ch === "=") inKey = false; else if (ch === ",") flush(); else key += ch;
      } else if (quoted) {
        if (ch === '"' && dn[i + 1] === '"') { val += '"'; i++; }
        else if (ch === '"') quoted = false;
        else val += ch;
      } else if (ch === '"' && !val.trim()) {
        quoted = true;
      } else if (ch === ",") {
        flush();
      } else {
        val += ch;
      }
    }
    flush();
    return parts;
  }

  function ddmmyyyy(d) {
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return two(d.getDate()) + "." + two(d.getMonth() + 1) + "." + d.getFullYear();
  }

  // Certificates write ООО "Ромашка"; Russian text quotes «Ромашка».
  function quotes(s) { return s.replace(/"([^"]*)"/g, "«$1»"); }

  // «Иванов Иван Иванович — ООО «Ромашка», до 31.12.2027».
  function certLabel(subject, validTo) {
    var p = subjectParts(subject);
    var cn = quotes(p.CN || subject);
    var org = quotes(p.O || "");
    var who = org && org !== cn ? cn + " — " + org : cn;
    return who + ", до " + ddmmyyyy(validTo);
  }

  async function openStore(cp) {
    var store = await cp.CreateObjectAsync("CAdESCOM.Store");
    await store.Open(CURRENT_USER, MY, MAXIMUM_ALLOWED);
    return store;
  }

  // Certificates valid today whose private key is on this computer (or its
  // token): the others could not make a signature the server accepts.
  async function usableCertificates(cp) {
    var store = await openStore(cp);
    try {
      var certs = await store.Certificates;
      var count = await certs.Count;
      var now = new Date(), found = [];
      for (var i = 1; i <= count; i++) {
        var c = await certs.Item(i);
        var from = new Date(await c.ValidFromDate), to = new Date(await c.ValidToDate);
        if (!(from <= now && now <= to)) continue;
        if (!(await c.HasPrivateKey())) continue;
        found.push({
          thumbprint: await c.Thumbprint,
          label: certLabel(await c.SubjectName, to),
          to: to,
        });
      }
      // The longest-valid first: usually the newest certificate.
      found.sort(function (a, b) { return b.to - a.to; });
      return found;
    } finally {
      await store.Close();
    }
  }

  function bytesToBase64(buf) {
    var bytes = new Uint8Array(buf), chunks = [];
    for (var i = 0; i < bytes.length; i += 0x8000) {
      chunks.push(String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000)));
    }
    return btoa(chunks.join(""));
  }

  async function contentBytes(form) {
    var r = await fetch(form.dataset.contentUrl, { credentials: "same-origin" });
    if (!r.ok) {
      var e = new Error("content " + r.status);
      e.human = "Не удалось получить документ для подписи. Обновите страницу и попробуйте снова.";
      throw e;
    }
    return r.arrayBuffer();
  }

  async function contentBase64(form) {
    if (form.dataset.contentBase64) return form.dataset.contentBase64;
    return bytesToBase64(await contentBytes(form));
  }

  async function sign(cp, form, thumbprint) {
    var store = await openStore(cp), cert;
    try {
      var matching = await (await store.Certificates).Find(FIND_SHA1, thumbprint);
      if ((await matching.Count) < 1) {
        var gone = new Error("certificate gone");
        gone.human = "Выбранный сертификат больше не доступен. Вставьте носитель с ключом и обновите страницу.";
        throw gone;
      }
      cert = await matching.Item(1);
    } finally {
      await store.Close();
    }
    var signer = await cp.CreateObjectAsync("CAdESCOM.CPSigner");
    await signer.propset_Certificate(cert);
    await signer.propset_Options(WHOLE_CHAIN);
    var sd = await cp.CreateObjectAsync("CAdESCOM.CadesSignedData");
    var size = Number(form.dataset.size || 0);
    if (size > HASH_ABOVE && !form.dataset.contentBase64) {
      // The hash must be the one the key's family signs with.
      var oid = await (await (await cert.PublicKey()).Algorithm).Value;
      var alg = 0, hex = "";
      if (oid === GOST_2012_256) { alg = STREEBOG_256; hex = form.dataset.streebog256; }
      else if (oid === GOST_2012_512) { alg = STREEBOG_512; hex = form.dataset.streebog512; }
      if (alg) {
        var hashed = await cp.CreateObjectAsync("CAdESCOM.HashedData");
        await hashed.propset_Algorithm(alg);
        await hashed.propset_DataEncoding(BASE64_TO_BINARY);
        if (hex) {
          await hashed.SetHashValue(hex);
        } else {
          // No hash from the server: the plug-in hashes the file in parts,
          // so no single message to it carries the whole file.
          var bytes = await contentBytes(form);
          for (var at = 0; at < bytes.byteLength; at += HASH_PART) {
            await hashed.Hash(bytesToBase64(bytes.slice(at, at + HASH_PART)));
          }
        }
        return await sd.SignHash(hashed, signer, CADES_BES);
      }
    }
    await sd.propset_ContentEncoding(BASE64_TO_BINARY);
    await sd.propset_Content(await contentBase64(form));
    return await sd.SignCades(signer, CADES_BES, true);
  }

  function setup(form) {
    var certsBox = form.querySelector(".sign-certs");
    var button = form.querySelector(".sign-start");
    var status = form.querySelector(".sign-status");
    var error = form.querySelector(".sign-error");
    var install = form.dataset.install || INSTALL;
    var cp = null;

    function say(text) { status.textContent = text; }
    function fail(text, link) {
      error.textContent = text;
      if (link) {
        error.appendChild(document.createTextNode(" "));
        var a = document.createElement("a");
        a.href = install;
        a.className = "sign-install";
        a.target = "_blank";
        a.rel = "noopener";
        a.textContent = "Установить КриптоПро ЭЦП Browser plug-in";
        error.appendChild(a);
      }
      say("");
    }
    function lastError(e) {
      try { return (cp && cp.getLastError) ? cp.getLastError(e) : String(e && e.message || e); }
      catch (_) { return String(e && e.message || e); }
    }
    function cancelled(text, e) {
      // 0x8010006E (SCARD_W_CANCELLED_BY_USER) as hex text or as a number.
      return /0x8010006E/i.test(text) || (e && (e.number === -2146434962 || e.number === 0x8010006E));
    }
    function explain(e) {
      if (e && e.missing) {
        fail("Не найден КриптоПро ЭЦП Browser plug-in. Установите его, перезапустите браузер и обновите страницу.", true);
      } else if (e && e.human) {
        fail(e.human);
      } else {
        var text = lastError(e);
        if (cancelled(text, e)) fail("Подписание отменено. Нажмите «Подписать», чтобы попробовать ещё раз.");
        else fail("КриптоПро не смог подписать документ: " + text);
      }
    }

    button.disabled = true;
    say("Загружаем КриптоПро ЭЦП Browser plug-in…");
    plugin(form.dataset.pluginApi).then(function (loaded) {
      cp = loaded.api;
      say("Ищем сертификаты…");
      return usableCertificates(cp);
    }).then(function (list) {
      if (!list.length) {
        fail("На этом компьютере нет действующего сертификата с закрытым ключом. Вставьте носитель с ключом (токен) и обновите страницу.");
        return;
      }
      var select = document.createElement("select");
      select.name = "thumbprint";
      select.id = "sign-thumbprint-" + forms.indexOf(form);
      list.forEach(function (c) {
        var o = document.createElement("option");
        o.value = c.thumbprint;
        o.textContent = c.label;
        select.appendChild(o);
      });
      var label = document.createElement("label");
      label.htmlFor = select.id;
      label.textContent = "Сертификат";
      // The portal's own field layout: a label above a full-width select.
      var field = document.createElement("div");
      field.className = "field";
      field.appendChild(label);
      field.appendChild(select);
      certsBox.textContent = "";
      certsBox.appendChild(field);
      button.disabled = false;
      say("Выберите сертификат и нажмите «Подписать».");
    }).catch(explain);

    button.addEventListener("click", async function () {
      var select = certsBox.querySelector("select[name=thumbprint]");
      if (!cp || !select || button.disabled) return;
      button.disabled = true;
      error.textContent = "";
      say("Подписываем… Подтвердите подпись в окне КриптоПро, если оно появится.");
      try {
        var cms = await sign(cp, form, select.value);
        form.querySelector("input[name=signature]").value = cms;
        say("Подпись готова, отправляем её на проверку…");
        form.submit();
      } catch (e) {
        button.disabled = false;
        explain(e);
      }
    });
  }

  forms.forEach(setup);
})();
