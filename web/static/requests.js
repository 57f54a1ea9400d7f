// The seal request page: the document's page drawn, with the seal's image laid over it
// where the request places it (x, y and size in points from the page's lower left).
(function () {
  "use strict";
  var stage = document.getElementById("request-stage");
  if (!stage) return;
  var img = document.getElementById("page-image"), seal = document.getElementById("seal-overlay");
  var info = document.getElementById("page-info");
  var text = info.textContent, pageW = 0, pageH = 0;
  info.textContent = info.dataset.loading;
  function draw() {
    if (!pageW || !pageH) return;
    var x = parseFloat(stage.dataset.x), y = parseFloat(stage.dataset.y), s = parseFloat(stage.dataset.size);
    seal.style.left = (100 * x / pageW) + "%";
    seal.style.top = (100 * (pageH - y - s) / pageH) + "%";
    seal.style.width = (100 * s / pageW) + "%";
    seal.hidden = false;
  }
  fetch(stage.dataset.page, { credentials: "same-origin" })
    .then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      var size = (r.headers.get("Sealvault-Page-Size") || "").split(" ");
      pageW = parseFloat(size[0]); pageH = parseFloat(size[1]);
      return r.blob();
    })
    .then(function (b) {
      img.src = URL.createObjectURL(b);
      info.textContent = text + " · " + Math.round(pageW) + " × " + Math.round(pageH) + " pt";
      draw();
    })
    .catch(function (e) { info.textContent = "× " + e.message; });
})();
