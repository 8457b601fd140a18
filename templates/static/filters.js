// Filters fold behind their summary so a phone's first screen shows the
// applications; a wide screen has room, so there they open by themselves.
(function () {
  if (!window.matchMedia || !matchMedia("(min-width: 48rem)").matches) return;
  document.querySelectorAll("details.filters-box").forEach(function (d) { d.open = true; });
})();
