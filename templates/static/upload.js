// Upload with a progress bar: each slot's form is sent with XMLHttpRequest
// (fetch has no upload progress); without this script the form posts and
// the page reloads with the same result.
document.querySelectorAll("form.upload").forEach(function (form) {
  form.addEventListener("submit", function (ev) {
    var input = form.querySelector("input[type=file]");
    if (!input.files.length) return;
    ev.preventDefault();
    var bar = form.querySelector("progress");
    var status = form.querySelector(".upload-status");
    var button = form.querySelector("button");
    var data = new FormData();
    data.append("csrf_token", form.querySelector("input[name=csrf_token]").value);
    data.append("file", input.files[0]);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    bar.hidden = false;
    bar.value = 0;
    button.disabled = true;
    status.textContent = "Загрузка…";
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
    };
    xhr.onload = function () {
      button.disabled = false;
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
        bar.value = 100;
        status.textContent = "Файл «" + r.name + "» загружен (" + r.size + ").";
        // Added in place, not by reloading: what is typed in the form above stays.
        var base = form.action.replace(/\/files\/[^/]+$/, "");
        var li = document.createElement("li");
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
        bar.hidden = true;
        status.textContent = r.error || "Файл не загрузился.";
      }
    };
    xhr.onerror = function () {
      button.disabled = false;
      bar.hidden = true;
      status.textContent = "Связь прервалась — файл не загружен. Попробуйте ещё раз.";
    };
    xhr.send(data);
  });
});
