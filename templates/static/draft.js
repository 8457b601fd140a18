// Autosave of an application draft. Every change is kept in this
// browser's localStorage at once and sent to the server a moment later
// (action=autosave, JSON reply with the new version). When the connection
// drops, the copy stays in the browser and goes out when it comes back; a
// reload restores it. Without this script the form saves on its buttons.
(function () {
  // A sent application leaves no copy of its draft in the browser.
  var sent = document.querySelector("[data-draft-sent]");
  if (sent) {
    try { localStorage.removeItem("tapline-draft:" + sent.getAttribute("data-draft-sent")); } catch (e) {}
    return;
  }
  var form = document.querySelector("form[data-autosave]");
  if (!form || !window.fetch) return;
  // Not form.action: the buttons are named "action", which shadows it.
  var url = form.getAttribute("action");
  var key = "tapline-draft:" + url;
  var version = form.querySelector("input[name=version]");
  var status = form.querySelector(".autosave-status");
  var timer = null, retry = null, sending = false, dirty = false, stopped = false;
  // A press of a form button made while a background save is on its way:
  // the press goes out when the save has answered, with the version it
  // gave, or the server would take the press for another tab's. A save
  // that does not answer in 10 s lets the press go as it is.
  var held = null, holdTimer = null, passing = false;
  var CONTROL = { csrf_token: 1, version: 1, action: 1 };

  function say(text) { if (status) status.textContent = text; }
  function values() {
    var out = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || CONTROL[el.name] || el.type === "file" || el.type === "submit") return;
      if (el.type === "checkbox" || el.type === "radio") out.push([el.name, el.value, el.checked]);
      else out.push([el.name, el.value]);
    });
    return out;
  }
  function restore(list) {
    list.forEach(function (v) {
      var els = form.querySelectorAll("[name='" + v[0].replace(/'/g, "") + "']");
      Array.prototype.forEach.call(els, function (el) {
        if (el.type === "checkbox" || el.type === "radio") { if (el.value === v[1]) el.checked = v[2]; }
        else el.value = v[1];
      });
    });
  }
  function read() { try { return JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { return null; } }
  function keep(extra) {
    var copy = { base: version.value, values: values(), at: Date.now() };
    for (var k in extra) copy[k] = extra[k];
    try { localStorage.setItem(key, JSON.stringify(copy)); } catch (e) { /* private mode: server save only */ }
  }
  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(save, ms);
  }
  function save() {
    if (stopped || !dirty) return;
    // upload.js holds a press of «Отправить» until the chosen files are up;
    // a save started now would change the version under the press.
    if (sending || form.dataset.holding) { schedule(500); return; }
    sending = true;
    dirty = false;
    var data = new URLSearchParams(new FormData(form));
    data.set("action", "autosave");
    fetch(url, {
      method: "POST",
      body: data,
      headers: { "Accept": "application/json" },
      credentials: "same-origin"
    }).then(function (r) {
      // An expired session redirects to the login page, which fetch follows.
      if (r.redirected) return { ok: false, status: 401 };
      return r.json().then(function (j) { j.status = r.status; return j; },
        function () { return { ok: false, status: r.status }; });
    }).then(function (r) {
      sending = false;
      if (held) {
        if (r.ok) version.value = r.version;
        release();
        return;
      }
      if (r.ok) {
        version.value = r.version;
        if (dirty) { keep(); schedule(1000); }
        else { try { localStorage.removeItem(key); } catch (e) {} }
        say("Черновик сохранён автоматически " + r.saved_at + "." + (r.errors && r.errors._form ? " " + r.errors._form : ""));
        problems(r.errors || {});
        form.dataset.saved = r.version;
        refreshFee();
      } else if (r.status === 422 && r.fields) {
        // A value longer than its field allows: say which; the next change
        // (shortened, one hopes) is saved again.
        say(r.error);
      } else if (r.status === 409 || r.status === 422) {
        // Another tab saved, the draft was sent or the form changed: trying
        // again cannot help, so stop and say so; the copy stays in this browser.
        stopped = true;
        say(r.error);
      } else if (r.status === 401 || r.status === 403) {
        stopped = true;
        say("Сеанс истёк. Введённое сохранено в этом браузере: войдите снова и откройте черновик.");
      } else if (r.status >= 500 || r.status === 408 || r.status === 429) {
        // A server or proxy failure passes: keep the copy and try again.
        offline("Не удалось сохранить сейчас. Введённое сохранено в этом браузере, повторим попытку.");
      } else {
        // Gone (deleted in another tab) or refused for good: retrying cannot help.
        stopped = true;
        say("Черновик больше недоступен. Введённое сохранено в этом браузере: обновите страницу.");
      }
    }, function () {
      sending = false;
      if (held) { release(); return; }
      offline("Нет связи с сервером. Введённое сохранено в этом браузере и будет отправлено, когда связь восстановится.");
    });
  }
  // What the tenant's rules find wrong in the saved draft, under each
  // field; the draft is kept all the same, and sending checks it again.
  function problems(errors) {
    Array.prototype.forEach.call(form.querySelectorAll("[data-autosave-error]"), function (el) {
      var input = form.querySelector("#f-" + el.getAttribute("data-autosave-error"));
      if (input) {
        input.removeAttribute("aria-invalid");
        var rest = (input.getAttribute("aria-describedby") || "").split(" ").filter(function (d) { return d && d !== el.id; });
        input.setAttribute("aria-describedby", rest.join(" "));
      }
      var holder = el.closest(".field");
      el.remove();
      if (holder && !holder.querySelector(".field-error")) holder.classList.remove("has-error");
    });
    Object.keys(errors).forEach(function (name) {
      var input = form.querySelector("#f-" + name.replace(/[^\w-]/g, ""));
      var field = input && input.closest(".field");
      if (!field || field.querySelector("#e-" + name)) return;
      var note = document.createElement("div");
      note.className = "field-error";
      note.id = "e-" + name;
      note.setAttribute("data-autosave-error", name);
      note.textContent = errors[name];
      field.appendChild(note);
      field.classList.add("has-error");
      input.setAttribute("aria-invalid", "true");
      var by = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      if (by.indexOf(note.id) < 0) by.push(note.id);
      input.setAttribute("aria-describedby", by.join(" "));
    });
  }
  // The price follows what is saved: the plugin's fee, drawn by the server.
  function refreshFee() {
    fetch(url + "/fee", { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (r) {
      if (r.redirected || (r.status !== 200 && r.status !== 204)) return;
      return r.text().then(function (html) {
        var old = document.getElementById("fee");
        if (r.status === 204 || !html.trim()) { if (old) old.remove(); return; }
        var box = document.createElement("div");
        box.innerHTML = html;
        var fresh = box.querySelector("#fee");
        if (!fresh) return;
        if (old) old.replaceWith(fresh);
        else {
          var actions = document.querySelector(".form-actions");
          if (actions) actions.parentNode.insertBefore(fresh, actions);
        }
      });
    }, function () { /* offline: the old price stays until the next save */ });
  }
  function offline(message) {
    dirty = true;
    say(message);
    clearTimeout(retry);
    retry = setTimeout(save, 15000);
  }
  function changed() {
    dirty = true;
    keep();
    schedule(1500);
  }
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  function release() {
    if (!held) return;
    var by = held.by;
    held = null;
    clearTimeout(holdTimer);
    passing = true;
    // The pressed button goes with the form: «Отправить» and «Сохранить»
    // differ only in it. A browser without requestSubmit clicks it again.
    if (form.requestSubmit) form.requestSubmit(by || undefined);
    else if (by) by.click();
    else form.submit();
  }
  form.addEventListener("submit", function (ev) {
    clearTimeout(timer);
    if (sending && !passing) {
      ev.preventDefault();
      if (!held) {
        held = { by: ev.submitter || null };
        holdTimer = setTimeout(release, 10000);
        say("Дожидаемся автосохранения, затем форма отправится.");
      }
      return;
    }
    passing = false;
    stopped = true;
    keep({ submitted: true });
  });
  window.addEventListener("online", function () { if (dirty) save(); });

  // A copy left by a dropped connection or a closed tab.
  var copy = read();
  if (copy && copy.values) {
    if (copy.base === version.value) {
      restore(copy.values);
      dirty = true;
      say("Восстановлено введённое, которое не успело сохраниться. Сохраняем…");
      schedule(300);
    } else if (copy.submitted) {
      localStorage.removeItem(key);
    } else {
      var box = document.createElement("div");
      box.className = "alert alert-warning";
      box.setAttribute("role", "status");
      box.textContent = "В этом браузере есть несохранённая версия черновика. ";
      var b = document.createElement("button");
      b.type = "button";
      b.className = "link";
      b.textContent = "Восстановить её";
      b.addEventListener("click", function () { restore(copy.values); box.remove(); changed(); });
      box.appendChild(b);
      form.parentNode.insertBefore(box, form);
    }
  }
})();
