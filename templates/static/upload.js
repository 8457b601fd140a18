// Choosing a file uploads it at once, with a progress bar: each slot's form
// is sent with XMLHttpRequest (fetch has no upload progress). Sending the
// application waits for uploads still running and retries a chosen file
// that did not go, so nothing chosen is silently left out. Without this
// script each slot has its «Загрузить» button and the page reloads.
(function () {
  var forms = Array.prototype.slice.call(document.querySelectorAll("form.upload"));
  if (!forms.length || !window.FormData) return;
  var running = 0;
  var afterUploads = [];

  function finished() {
    running--;
    if (running > 0) return;
    var then = afterUploads;
    afterUploads = [];
    then.forEach(function (f) { f(); });
  }

  function upload(form) {
    var input = form.querySelector("input[type=file]");
    if (!input.files.length || form.dataset.busy) return;
    form.dataset.busy = "1";
    running++;
    var bar = form.querySelector("progress");
    var status = form.querySelector(".upload-status");
    var data = new FormData();
    data.append("csrf_token", form.querySelector("input[name=csrf_token]").value);
    data.append("file", input.files[0]);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    bar.hidden = false;
    bar.value = 0;
    status.textContent = "Загрузка файла «" + input.files[0].name + "»…";
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
    };
    function fail(message) {
      bar.hidden = true;
      // The file stays chosen, so sending the application tries it again.
      form.dataset.failed = "1";
      status.textContent = message;
    }
    xhr.onload = function () {
      delete form.dataset.busy;
      var r = {};
      // An expired session answers with a redirect to the login page, which
      // the request follows; say so rather than "failed, try again".
      var bounced = xhr.responseURL && xhr.responseURL !== form.action;
      if (bounced || xhr.status === 401 || xhr.status === 403) {
        r = { ok: false, error: "Сеанс истёк. Войдите снова и загрузите файл ещё раз." };
      } else {
        try { r = JSON.parse(xhr.responseText); } catch (e) { r = { ok: false, error: "Файл не загрузился. Попробуйте ещё раз." }; }
      }
      if (r.ok) {
        delete form.dataset.failed;
        bar.value = 100;
        status.textContent = "Файл «" + r.name + "» загружен (" + r.size + ").";
        // Added in place, not by reloading: what is typed in the form above stays.
        var base = form.action.replace(/\/files\/[^/]+$/, "");
        var li = document.createElement("li");
        li.setAttribute("data-file", r.id);
        var a = document.createElement("a");
        a.href = base + "/file/" + r.id;
        a.textContent = r.name;
        li.appendChild(a);
        li.appendChild(document.createTextNode(" " + r.size + " ✓ загружен "));
        var del = document.createElement("form");
        del.className = "inline";
        del.method = "post";
        del.action = base + "/file/" + r.id + "/delete";
        del.appendChild(form.querySelector("input[name=csrf_token]").cloneNode());
        var b = document.createElement("button");
        b.className = "link danger";
        b.type = "submit";
        b.textContent = "Удалить";
        del.appendChild(b);
        li.appendChild(del);
        form.parentNode.querySelector(".file-list").appendChild(li);
        input.value = "";
      } else {
        fail(r.error || "Файл не загрузился.");
      }
      finished();
    };
    xhr.onerror = function () {
      delete form.dataset.busy;
      fail("Связь прервалась — файл не загружен. Он загрузится при отправке, или выберите его снова.");
      finished();
    };
    xhr.send(data);
  }

  forms.forEach(function (form) {
    var input = form.querySelector("input[type=file]");
    form.querySelectorAll(".upload-button, .upload-nojs").forEach(function (el) { el.hidden = true; });
    input.addEventListener("change", function () { upload(form); });
    // Enter on the file field, or a browser that shows the button anyway.
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      upload(form);
    });
  });

  // Saving or sending the application: first the files still on their way,
  // then the form, with the button that was pressed. Capture on the document
  // runs before the autosave script's own handler on the form.
  var main = document.querySelector("form[data-autosave]");
  if (!main) return;
  document.addEventListener("submit", function (ev) {
    if (ev.target !== main) return;
    var chosen = forms.filter(function (f) {
      return f.dataset.busy || f.querySelector("input[type=file]").files.length;
    });
    if (!chosen.length) return;
    ev.preventDefault();
    ev.stopPropagation();
    var submitter = ev.submitter;
    var say = main.querySelector(".autosave-status");
    if (say) say.textContent = "Дожидаемся загрузки выбранных файлов, затем форма отправится.";
    // draft.js starts no background save while the press is held.
    main.dataset.holding = "1";
    afterUploads.push(function () {
      delete main.dataset.holding;
      var left = forms.filter(function (f) { return f.querySelector("input[type=file]").files.length; });
      if (left.length) {
        if (say) say.textContent = "Не все выбранные файлы загрузились — форма не отправлена. Посмотрите сообщения у документов.";
        left[0].querySelector("input[type=file]").focus();
        return;
      }
      // The pressed button goes with the form; without requestSubmit it is
      // clicked again.
      if (main.requestSubmit) main.requestSubmit(submitter);
      else if (submitter) submitter.click();
      else main.submit();
    });
    // Each chosen form is either running already or starts here, so the
    // queue above runs when the last one ends.
    chosen.forEach(function (f) { upload(f); });
  }, true);
})();
