// A stand-in for CryptoPro's cadesplugin_api.js with the plug-in's async
// API (the objects the page's script uses). The test server prepends
// `window.__fakeCadesConfig = {mode, certs}`. Signing requests wait in
// `window.__fakeCades` until the test takes them, signs the bytes for real
// with OpenSSL and answers, as the plug-in hands them to CSP and back.
(function () {
  "use strict";
  var cfg = window.__fakeCadesConfig || { mode: "ok", certs: [] };
  var pending = [], waiting = {}, next = 1;
  var calls = [];
  window.__fakeCades = {
    calls: calls,
    take: function () { var p = pending; pending = []; return p; },
    answer: function (id, b64) { var w = waiting[id]; delete waiting[id]; if (w) w.resolve(b64); },
    fail: function (id, message) { var w = waiting[id]; delete waiting[id]; if (w) w.reject(new Error(message)); },
  };
  function ok(v) { return Promise.resolve(v); }

  function certificate(c) {
    return {
      _c: c,
      get Thumbprint() { return ok(c.thumbprint); },
      get SubjectName() { return ok(c.subject); },
      get ValidFromDate() { return ok(c.from); },
      get ValidToDate() { return ok(c.to); },
      HasPrivateKey: function () { return ok(c.hasKey); },
      PublicKey: function () {
        return ok({ get Algorithm() { return ok({ get Value() { return ok(c.oid); } }); } });
      },
    };
  }
  function collection(list) {
    return {
      get Count() { return ok(list.length); },
      Item: function (i) {
        if (i < 1 || i > list.length) return Promise.reject(new Error("Неверный индекс. (0x80070057)"));
        return ok(certificate(list[i - 1]));
      },
      Find: function (type, value) {
        if (type !== 0) return Promise.reject(new Error("unsupported find type " + type));
        return ok(collection(list.filter(function (c) {
          return c.thumbprint.toUpperCase() === String(value).toUpperCase();
        })));
      },
    };
  }
  function refusal() {
    if (cfg.mode === "cancel") {
      return new Error("Действие было отменено пользователем. (0x8010006E)");
    }
    if (cfg.mode === "error") {
      return new Error("Не удается построить цепочку сертификатов для доверенного корневого центра. (0x800B010A)");
    }
    return null;
  }
  function queue(req) {
    var e = refusal();
    if (e) return Promise.reject(e);
    req.id = next++;
    pending.push(req);
    return new Promise(function (resolve, reject) { waiting[req.id] = { resolve: resolve, reject: reject }; });
  }
  var makers = {
    "CAdESCOM.Store": function () {
      var open = false;
      return {
        Open: function (location, name, mode) {
          calls.push("Store.Open " + location + " " + name + " " + mode);
          open = true;
          return ok();
        },
        Close: function () { open = false; return ok(); },
        get Certificates() {
          if (!open) return Promise.reject(new Error("Хранилище не открыто. (0x80092004)"));
          return ok(collection(cfg.mode === "none" ? [] : cfg.certs));
        },
      };
    },
    "CAdESCOM.CPSigner": function () {
      var s = { cert: null, options: null };
      s.propset_Certificate = function (c) { s.cert = c; return ok(); };
      s.propset_Options = function (o) { s.options = o; return ok(); };
      return s;
    },
    "CAdESCOM.HashedData": function () {
      var h = { alg: null, encoding: null, hash: null, parts: [] };
      h.propset_Algorithm = function (a) { h.alg = a; return ok(); };
      h.propset_DataEncoding = function (e) { h.encoding = e; return ok(); };
      h.SetHashValue = function (v) { h.hash = v; return ok(); };
      h.Hash = function (b64) {
        if (h.encoding !== 1) return Promise.reject(new Error("fake: expected base64 parts"));
        h.parts.push(b64);
        return ok();
      };
      return h;
    },
    "CAdESCOM.CadesSignedData": function () {
      var d = { encoding: 0, content: null };
      d.propset_ContentEncoding = function (e) { d.encoding = e; return ok(); };
      d.propset_Content = function (c) { d.content = c; return ok(); };
      d.SignCades = function (signer, type, detached) {
        calls.push("SignCades " + type + " " + detached);
        if (type !== 1 || detached !== true || d.encoding !== 1 || !signer.cert) {
          return Promise.reject(new Error("fake: expected detached CAdES-BES of base64 content"));
        }
        return queue({ kind: "cades", thumbprint: signer.cert._c.thumbprint, content: d.content });
      };
      d.SignHash = function (hashed, signer, type) {
        calls.push("SignHash " + hashed.alg + " " + type);
        if (type !== 1 || !signer.cert || hashed.encoding !== 1) {
          return Promise.reject(new Error("fake: expected CAdES-BES over a hash"));
        }
        calls.push(hashed.hash ? "SetHashValue" : "Hash x" + hashed.parts.length);
        return queue({
          kind: "hash", thumbprint: signer.cert._c.thumbprint, alg: hashed.alg,
          hash: hashed.hash, parts: hashed.parts,
        });
      };
      return d;
    },
  };

  var plugin = cfg.mode === "missing"
    ? Promise.reject(new Error("Истекло время ожидания загрузки плагина"))
    : Promise.resolve();
  plugin.CreateObjectAsync = function (name) {
    calls.push("CreateObjectAsync " + name);
    var make = makers[name];
    return make ? ok(make()) : Promise.reject(new Error("fake: no object " + name));
  };
  plugin.getLastError = function (e) { return e && e.message ? e.message : String(e); };
  window.cadesplugin = plugin;
})();
