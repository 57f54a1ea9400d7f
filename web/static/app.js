// sealvault workbench: behaviour shared by every page. No inline script anywhere (the
// Content-Security-Policy forbids it): pages mark elements with data- attributes.
"use strict";
document.addEventListener("click", function (e) {
  var back = e.target.closest("[data-back]");
  if (back && history.length > 1) { e.preventDefault(); history.back(); }
});
// A form or button with data-confirm asks before it is submitted.
document.addEventListener("submit", function (e) {
  var f = e.target, msg = f.getAttribute("data-confirm");
  if (e.submitter && e.submitter.hasAttribute("data-confirm")) msg = e.submitter.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) { e.preventDefault(); return; }
  // One submission at a time: a second click while the first is on its way does nothing.
  if (f.dataset.sent) { e.preventDefault(); return; }
  f.dataset.sent = "1";
  setTimeout(function () { delete f.dataset.sent; }, 5000);
});
// The CSRF token of the page, for scripts that post (uploads).
window.sealvault = {
  csrf: function () { var m = document.querySelector('meta[name="csrf"]'); return m ? m.content : ""; }
};
// A file input drawn by the "file" template names what was chosen, in the page's language.
document.addEventListener("change", function (e) {
  var input = e.target;
  if (!input.classList || !input.classList.contains("file-input")) return;
  var out = document.querySelector('[data-file-name-for="' + input.id + '"]');
  if (!out) return;
  var n = input.files ? input.files.length : 0;
  out.textContent = n === 0 ? out.dataset.none : n === 1 ? input.files[0].name : out.dataset.many.replace("{n}", n);
});
