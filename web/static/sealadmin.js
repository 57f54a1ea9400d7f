// The seal's page: the seal image drawn from the form as it is typed (印章制作 preview).
(function () {
  "use strict";
  var form = document.getElementById("draw-form");
  if (!form) return;
  var img = document.getElementById("seal-preview"), prob = document.getElementById("preview-problem");
  var timer = null, url = null, seq = 0;
  function preview() {
    var n = ++seq;
    fetch(form.dataset.preview, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (r) {
        if (r.ok) return r.blob().then(function (b) {
          if (n !== seq) return;
          if (url) URL.revokeObjectURL(url);
          url = URL.createObjectURL(b); img.src = url; img.hidden = false; prob.hidden = true;
        });
        return r.json().then(function (j) {
          if (n !== seq) return;
          var p = j.problem || {};
          prob.textContent = (p.title || r.status) + " " + (p.detail || "") +
            (p.errors || []).map(function (e) { return " " + e.field + ": " + e.reason; }).join("");
          prob.hidden = false; img.hidden = true;
        });
      });
  }
  form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(preview, 300); });
  form.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(preview, 100); });
  preview();
})();
