// Signing through NCALayer (Kazakhstan's signing program, a websocket on
// the user's computer) for every `.sign-form[data-scheme=ncalayer]`.
//
// The form names what to sign (`data-content-base64`, or `data-content-url`
// whose bytes are fetched), the key (`data-key`: SIGNATURE or
// AUTHENTICATION) and where NCALayer listens (`data-ncalayer`). The newer
// module `kz.gov.pki.knca.basics` is asked first; an NCALayer that does not
// know it, or fails in it, is asked again through the older
// `kz.gov.pki.knca.commonUtils` with a key file (PKCS12). The detached CMS
// goes into `signature` and the form is sent. What goes wrong is said in
// `.sign-error` in plain words.
//
// The application's form (`data-autosave`, seed 004's «Отправить на
// рассмотрение») is saved as a draft first, so the bytes fetched and
// signed are made from the values the server holds, and is then sent with
// `action` = `data-submit-action`. Its button and messages sit outside the
// form, in elements marked `data-sign-for` with the form's id.
(function () {
  'use strict';

  var BASICS = 'kz.gov.pki.knca.basics';
  var COMMON = 'kz.gov.pki.knca.commonUtils';
  var OIDS = {
    SIGNATURE: ['1.3.6.1.5.5.7.3.4'],
    AUTHENTICATION: ['1.3.6.1.5.5.7.3.2']
  };
  // A person picks a key file and types its password in NCALayer's window:
  // minutes, not seconds.
  var DEFAULT_TIMEOUT = 180000;
  var INSTALL = 'https://pki.gov.kz/ncalayer/';

  function Failure(kind, detail) {
    this.kind = kind;
    this.detail = detail || '';
  }

  // The widget's part `cls`: inside the form, or beside it.
  function part(form, cls) {
    return form.querySelector(cls) ||
      (form.id && document.querySelector('[data-sign-for="' + form.id + '"]' + cls + ', [data-sign-for="' + form.id + '"] ' + cls));
  }

  function say(form, cls, text, link) {
    var p = part(form, cls);
    if (!p) return;
    p.textContent = text;
    if (link) {
      p.appendChild(document.createTextNode(' '));
      var a = document.createElement('a');
      a.href = link;
      a.target = '_blank';
      a.rel = 'noopener';
      a.textContent = 'Скачать NCALayer';
      p.appendChild(a);
    }
  }

  function message(form, f) {
    var key = form.dataset.key === 'AUTHENTICATION' ? 'для входа (AUTH_RSA… или AUTH_GOST…)' : 'для подписи (RSA… или GOSTKNCA…)';
    switch (f.kind) {
      case 'not_running':
        return 'Не удалось связаться с программой NCALayer. Запустите NCALayer (ярлык на рабочем столе или в меню «Пуск»), дождитесь её значка возле часов и нажмите кнопку ещё раз. Если программа не установлена, скачайте её с сайта НУЦ РК и установите.';
      case 'closed':
        return 'NCALayer прервал связь, не подписав. Проверьте, что программа запущена, и нажмите кнопку ещё раз.';
      case 'cancelled':
        return 'Подписание отменено: ключ не выбран. Чтобы продолжить, нажмите кнопку ещё раз и выберите ключ ' + key + '.';
      case 'timeout':
        return 'NCALayer не ответил. Возможно, его окно открыто за окном браузера: найдите его на панели задач или перезапустите NCALayer и нажмите кнопку ещё раз.';
      case 'content':
        return 'Не удалось получить документ для подписи. Обновите страницу и попробуйте ещё раз.';
      case 'save':
        return f.detail || 'Не удалось сохранить заявку перед подписью. Проверьте поля формы и попробуйте ещё раз.';
      default:
        return 'NCALayer не подписал: ключ не принят. Проверьте, что выбран ключ ' + key + ' и введён верный пароль, и попробуйте ещё раз.';
    }
  }

  // One connection to NCALayer: its greeting first, then one request at a
  // time (the older module answers in order, with no ids).
  function Connection(address, timeout) {
    var self = this;
    this.timeout = timeout;
    this.waiting = null;
    this.ready = new Promise(function (resolve, reject) {
      var greeted = false;
      var ws;
      try {
        ws = new WebSocket(address);
      } catch (e) {
        reject(new Failure('not_running'));
        return;
      }
      self.ws = ws;
      // NCALayer greets as soon as it accepts: a long silence here is not
      // a person choosing a key.
      var timer = setTimeout(function () {
        if (!greeted) { reject(new Failure('timeout')); ws.close(); }
      }, Math.min(timeout, 15000));
      ws.onmessage = function (ev) {
        var data;
        try { data = JSON.parse(ev.data); } catch (e) { data = null; }
        if (!greeted) {
          greeted = true;
          clearTimeout(timer);
          resolve(data && data.result ? data.result.version : '');
          return;
        }
        var w = self.waiting;
        self.waiting = null;
        if (w) w.resolve(data);
      };
      ws.onclose = function () {
        clearTimeout(timer);
        if (!greeted) {
          reject(new Failure('not_running'));
          return;
        }
        var w = self.waiting;
        self.waiting = null;
        if (w) w.reject(new Failure('closed'));
      };
      // A refused connection reports an error and then the close.
      ws.onerror = function () {};
    });
  }

  Connection.prototype.ask = function (request) {
    var self = this;
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () {
        self.waiting = null;
        reject(new Failure('timeout'));
      }, self.timeout);
      self.waiting = {
        resolve: function (v) { clearTimeout(timer); resolve(v); },
        reject: function (e) { clearTimeout(timer); reject(e); }
      };
      try {
        self.ws.send(JSON.stringify(request));
      } catch (e) {
        clearTimeout(timer);
        self.waiting = null;
        reject(new Failure('closed'));
      }
    });
  };

  Connection.prototype.close = function () {
    try { this.ws.close(); } catch (e) { /* gone already */ }
  };

  // PEM or bare base64 into bare base64.
  function bare(cms) {
    return String(cms).replace(/-----(BEGIN|END)[^-]*-----/g, '').replace(/\s+/g, '');
  }

  function signNewer(conn, data, keyType) {
    return conn.ask({
      module: BASICS,
      method: 'sign',
      args: {
        allowedStorages: null,
        format: 'cms',
        data: data,
        signingParams: { decode: true, encapsulate: false, digested: false },
        signerParams: { extKeyUsageOids: OIDS[keyType] || OIDS.SIGNATURE, chain: [] },
        locale: 'ru'
      }
    }).then(function (r) {
      if (r && r.status === true) {
        var result = r.body && r.body.result;
        if (Array.isArray(result)) result = result[0];
        if (!result) throw new Failure('cancelled');
        return bare(result);
      }
      // Unknown module (an older NCALayer answers in its own shape) or a
      // failure inside it: the older module gets its turn.
      return null;
    });
  }

  function signOlder(conn, data, keyType) {
    return conn.ask({
      module: COMMON,
      method: 'createCAdESFromBase64',
      args: ['PKCS12', keyType, data, false]
    }).then(function (r) {
      if (r && String(r.code) === '200' && r.responseObject) return bare(r.responseObject);
      var said = r ? String(r.message || '') : '';
      if (said.indexOf('action.canceled') >= 0) throw new Failure('cancelled');
      throw new Failure('refused', said);
    });
  }

  function toBase64(buffer) {
    var bytes = new Uint8Array(buffer);
    var chunks = [];
    for (var i = 0; i < bytes.length; i += 0x8000) {
      chunks.push(String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000)));
    }
    return btoa(chunks.join(''));
  }

  function content(form) {
    if (form.dataset.contentBase64) return Promise.resolve(form.dataset.contentBase64);
    return fetch(form.dataset.contentUrl, { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) {
        if (!r.ok) throw new Failure('content');
        return r.arrayBuffer();
      })
      .then(toBase64, function (e) {
        throw e instanceof Failure ? e : new Failure('content');
      });
  }

  // The application's form saved as a draft (as draft.js autosaves it),
  // its version taken, so that sending it is not taken for a stale copy.
  function saveFirst(form) {
    if (!form.hasAttribute('data-autosave')) return Promise.resolve();
    var data = new URLSearchParams(new FormData(form));
    data.set('action', 'autosave');
    data.delete('signature');
    return fetch(form.getAttribute('action'), {
      method: 'POST',
      body: data,
      headers: { 'Accept': 'application/json' },
      credentials: 'same-origin'
    }).then(function (r) {
      if (r.redirected) throw new Failure('save', 'Сеанс истёк: войдите снова и откройте черновик.');
      return r.json().then(function (j) {
        if (!r.ok || !j.ok) throw new Failure('save', j.error);
        form.querySelector('input[name=version]').value = j.version;
      }, function () { throw new Failure('save'); });
    });
  }

  function start(form) {
    var button = part(form, '.sign-start');
    var address = form.dataset.ncalayer || 'wss://127.0.0.1:13579';
    var keyType = form.dataset.key === 'AUTHENTICATION' ? 'AUTHENTICATION' : 'SIGNATURE';
    var timeout = parseInt(form.dataset.timeout, 10) || DEFAULT_TIMEOUT;
    var conn = null;
    say(form, '.sign-error', '');
    say(form, '.sign-status', 'Подключаемся к NCALayer…');
    if (button) button.disabled = true;
    // No background save of draft.js starts while the key is asked for: it
    // would change the version the signed form goes out with.
    form.dataset.holding = '1';
    saveFirst(form)
      .then(function () { return content(form); })
      .then(function (data) {
        conn = new Connection(address, timeout);
        return conn.ready.then(function () {
          say(form, '.sign-status', 'Выберите ключ и введите пароль в окне NCALayer…');
          return signNewer(conn, data, keyType).then(function (cms) {
            return cms || signOlder(conn, data, keyType);
          });
        });
      })
      .then(function (cms) {
        conn.close();
        form.querySelector('input[name=signature]').value = cms;
        if (form.dataset.submitAction) {
          var action = document.createElement('input');
          action.type = 'hidden';
          action.name = 'action';
          action.value = form.dataset.submitAction;
          form.appendChild(action);
        }
        say(form, '.sign-status', 'Подписано. Отправляем…');
        HTMLFormElement.prototype.submit.call(form);
      })
      .catch(function (e) {
        if (conn) conn.close();
        var f = e instanceof Failure ? e : new Failure('refused');
        say(form, '.sign-status', '');
        say(form, '.sign-error', message(form, f), f.kind === 'not_running' ? (form.dataset.install || INSTALL) : null);
        if (button) button.disabled = false;
        delete form.dataset.holding;
      });
  }

  function init() {
    var forms = document.querySelectorAll('.sign-form[data-scheme=ncalayer]');
    Array.prototype.forEach.call(forms, function (form) {
      var button = part(form, '.sign-start');
      if (button) button.addEventListener('click', function () { start(form); });
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
