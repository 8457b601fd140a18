// The resend button's cooldown: the seconds left count down on the page and
// the button, disabled meanwhile, is enabled when they run out.
(function () {
  var note = document.querySelector("[data-countdown]");
  if (!note) return;
  var button = note.closest("form").querySelector("button[type=submit]");
  var left = parseInt(note.getAttribute("data-countdown"), 10) || 0;
  var shown = note.querySelector(".countdown-left");
  var timer = setInterval(function () {
    left--;
    if (left > 0) {
      if (shown) shown.textContent = String(left);
      return;
    }
    clearInterval(timer);
    note.textContent = "SMS не пришло? Можно отправить код ещё раз.";
    button.disabled = false;
    button.removeAttribute("aria-describedby");
  }, 1000);
})();
