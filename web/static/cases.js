// sealvault workbench: the window clerk's case pages. The applicant's number is checked as it
// is typed (check digits of GB 11643 and GB 32100) and masked once entered; the seal is placed
// by clicking or dragging on the drawn page.
"use strict";
(function () {
  // --- the applicant's number -------------------------------------------------------------
  var ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  var ID_CHECK = "10X98765432";
  function idCardProblem(s) {
    if (s.length !== 18) return "length";
    if (!/^[0-9]{17}[0-9X]$/.test(s)) return "chars";
    var sum = 0;
    for (var i = 0; i < 17; i++) sum += (s.charCodeAt(i) - 48) * ID_WEIGHTS[i];
    return ID_CHECK[sum % 11] === s[17] ? "" : "digit";
  }
  var CC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  var CC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
  function creditCodeProblem(s) {
    if (s.length !== 18) return "length";
    for (var i = 0; i < 18; i++) if (CC_CHARS.indexOf(s[i]) < 0) return "chars";
    var sum = 0;
    for (var j = 0; j < 17; j++) sum += CC_CHARS.indexOf(s[j]) * CC_WEIGHTS[j];
    var c = (31 - (sum % 31)) % 31;
    return CC_CHARS[c] === s[17] ? "" : "digit";
  }
  function mask(s) { return s.length > 8 ? s.slice(0, 4) + "*".repeat(s.length - 8) + s.slice(-4) : s; }

  var num = document.getElementById("holder_number");
  if (num) {
    var kind = document.getElementById("holder_kind");
    var out = document.getElementById("holder-check");
    var hidden = null;
    var check = function () {
      var s = num.value.trim().toUpperCase();
      if (!s) { out.textContent = ""; out.className = "check"; num.setCustomValidity(""); return ""; }
      var p = kind.value === "credit_code" ? creditCodeProblem(s) : idCardProblem(s);
      var msg = p ? num.dataset["bad" + p.charAt(0).toUpperCase() + p.slice(1)] : num.dataset.ok;
      out.textContent = p ? msg : msg + " " + mask(s);
      out.className = "check " + (p ? "bad" : "ok");
      num.setCustomValidity(p ? msg : "");
      return p ? "" : s;
    };
    // Masked once entered: the number goes in a hidden field, the box shows it masked until
    // the clerk edits it again.
    var unmask = function () {
      if (!hidden) return;
      num.value = hidden.value; num.readOnly = false; num.name = "holder_number";
      hidden.remove(); hidden = null;
    };
    num.addEventListener("input", check);
    kind.addEventListener("change", function () { unmask(); check(); });
    num.addEventListener("blur", function () {
      var s = check();
      if (!s || hidden) return;
      hidden = document.createElement("input");
      hidden.type = "hidden"; hidden.name = "holder_number"; hidden.value = s;
      num.form.appendChild(hidden);
      num.removeAttribute("name"); num.value = mask(s); num.readOnly = true;
    });
    num.addEventListener("focus", unmask);
    num.addEventListener("click", unmask);
  }

  // --- placing the seal -------------------------------------------------------------------
  var img = document.getElementById("page-image");
  if (!img) return;
  var stage = document.getElementById("stage"), stamp = document.getElementById("stamp");
  var info = document.getElementById("page-info");
  var docSel = document.getElementById("document"), pageIn = document.getElementById("page");
  var xIn = document.getElementById("x"), yIn = document.getElementById("y"), sizeIn = document.getElementById("size");
  var pageW = 0, pageH = 0, pages = 0, url = null;

  function load() {
    var n = parseInt(pageIn.value, 10) || 1;
    info.textContent = info.dataset.loading;
    fetch("/documents/" + encodeURIComponent(docSel.value) + "/pages/" + n + "?width=900", { credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error(String(r.status));
        var size = (r.headers.get("Sealvault-Page-Size") || "").split(" ");
        pageW = parseFloat(size[0]); pageH = parseFloat(size[1]);
        pages = parseInt(r.headers.get("Sealvault-Page-Count"), 10) || 1;
        pageIn.max = pages;
        return r.blob();
      })
      .then(function (b) {
        if (url) URL.revokeObjectURL(url);
        url = URL.createObjectURL(b);
        img.src = url;
        info.textContent = info.dataset.of.replace("%d", n).replace("%d", pages) + " · " + Math.round(pageW) + " × " + Math.round(pageH) + " pt";
        if (xIn.value === "" || yIn.value === "") {
          // A first suggestion: lower right, over the issuing authority and the date, where a licence's seal goes.
          var s = parseFloat(sizeIn.value) || 113;
          xIn.value = Math.round(pageW - s - 50); yIn.value = Math.round(Math.min(150, pageH - s));
        }
      })
      .catch(function (e) { info.textContent = "× " + e.message; });
  }
  function draw() {
    if (!pageW || !img.clientWidth) return;
    var scale = img.clientWidth / pageW;
    var s = parseFloat(sizeIn.value) || 0, x = parseFloat(xIn.value) || 0, y = parseFloat(yIn.value) || 0;
    stamp.hidden = false;
    stamp.style.width = stamp.style.height = (s * scale) + "px";
    stamp.style.left = (x * scale) + "px";
    stamp.style.top = ((pageH - y - s) * scale) + "px";
  }
  // A click or drag puts the stamp's centre under the pointer, kept on the page.
  function place(ev) {
    var r = img.getBoundingClientRect();
    if (!pageW || !r.width) return;
    var scale = r.width / pageW, s = parseFloat(sizeIn.value) || 113;
    var cx = (ev.clientX - r.left) / scale, cy = (ev.clientY - r.top) / scale;
    var x = Math.min(Math.max(cx - s / 2, 0), pageW - s);
    var y = Math.min(Math.max(pageH - cy - s / 2, 0), pageH - s);
    xIn.value = Math.round(x); yIn.value = Math.round(y);
    draw();
  }
  var dragging = false;
  stage.addEventListener("pointerdown", function (e) { dragging = true; stage.setPointerCapture(e.pointerId); place(e); e.preventDefault(); });
  stage.addEventListener("pointermove", function (e) { if (dragging) place(e); });
  stage.addEventListener("pointerup", function () { dragging = false; });
  img.addEventListener("load", draw);
  window.addEventListener("resize", draw);
  [xIn, yIn, sizeIn].forEach(function (el) { el.addEventListener("input", draw); });
  docSel.addEventListener("change", function () { pageIn.value = 1; load(); });
  pageIn.addEventListener("change", load);
  load();
})();
