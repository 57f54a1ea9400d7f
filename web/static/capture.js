// The capture page: pages from files (chosen or dropped) or from a document camera, shown
// as thumbnails to reorder, rotate and remove, uploaded in the order shown with progress.
(function () {
  "use strict";
  var form = document.getElementById("capture");
  if (!form) return;
  var d = form.dataset, thumbs = document.getElementById("thumbs"), save = document.getElementById("capture-save");
  var pages = []; // {blob, name, url, pdf}
  var fmt = function (s, n) { return s.replace("%d", n).replace("%s", n); };

  // The resolution a scan states: JFIF density of a JPEG, pHYs of a PNG (dots per inch).
  function density(buf) {
    var b = new Uint8Array(buf), v = new DataView(buf);
    if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff && b[3] === 0xe0 && b[6] === 0x4a && b[13] === 1) return v.getUint16(14);
    if (b[0] === 0x89 && b[1] === 0x50) {
      for (var i = 8; i + 12 <= b.length;) {
        var len = v.getUint32(i), type = String.fromCharCode(b[i + 4], b[i + 5], b[i + 6], b[i + 7]);
        if (type === "pHYs" && b[i + 16] === 1) return Math.round(v.getUint32(i + 8) * 0.0254);
        if (type === "IDAT") break;
        i += 12 + len;
      }
    }
    return 0;
  }
  // A JPEG from a canvas states dpi in its JFIF segment, as a scanner writes it.
  function withDensity(blob, dpi) {
    return blob.arrayBuffer().then(function (buf) {
      var b = new Uint8Array(buf);
      if (dpi > 0 && b[2] === 0xff && b[3] === 0xe0 && b[6] === 0x4a) {
        b[13] = 1; b[14] = dpi >> 8; b[15] = dpi & 255; b[16] = dpi >> 8; b[17] = dpi & 255;
      }
      return new Blob([b], { type: "image/jpeg" });
    });
  }
  function add(blob, name, pdf) {
    pages.push({ blob: blob, name: name, url: pdf ? "" : URL.createObjectURL(blob), pdf: pdf });
    draw();
  }
  function draw() {
    thumbs.textContent = "";
    pages.forEach(function (p, i) {
      var li = document.createElement("li");
      li.className = "thumb";
      if (p.pdf) { var s = document.createElement("span"); s.className = "thumb-pdf"; s.textContent = "PDF"; li.appendChild(s); }
      else { var im = document.createElement("img"); im.src = p.url; im.alt = fmt(d.page, i + 1); li.appendChild(im); }
      var cap = document.createElement("span"); cap.className = "thumb-name"; cap.textContent = fmt(d.page, i + 1) + " · " + p.name; li.appendChild(cap);
      var bar = document.createElement("span"); bar.className = "row thumb-tools";
      [["up", d.up, i > 0], ["down", d.down, i < pages.length - 1], ["rotate", d.rotate, !p.pdf], ["remove", d.remove, true]].forEach(function (t) {
        if (!t[2]) return;
        var b = document.createElement("button"); b.type = "button"; b.textContent = t[1]; b.dataset.act = t[0]; b.dataset.i = i; bar.appendChild(b);
      });
      li.appendChild(bar);
      thumbs.appendChild(li);
    });
    document.getElementById("page-count").textContent = pages.length;
    document.getElementById("no-pages").hidden = pages.length > 0;
    save.disabled = pages.length === 0;
  }
  thumbs.addEventListener("click", function (e) {
    var b = e.target.closest("button"); if (!b) return;
    var i = parseInt(b.dataset.i, 10), p = pages[i];
    if (b.dataset.act === "up") { pages.splice(i - 1, 0, pages.splice(i, 1)[0]); draw(); }
    if (b.dataset.act === "down") { pages.splice(i + 1, 0, pages.splice(i, 1)[0]); draw(); }
    if (b.dataset.act === "remove") { if (p.url) URL.revokeObjectURL(p.url); pages.splice(i, 1); draw(); }
    if (b.dataset.act === "rotate") rotate(i);
  });
  // Rotating redraws the page a quarter turn clockwise, keeping the resolution it stated.
  function rotate(i) {
    var p = pages[i];
    p.blob.arrayBuffer().then(function (buf) {
      var dpi = density(buf);
      return createImageBitmap(p.blob).then(function (bm) {
        var c = document.createElement("canvas"); c.width = bm.height; c.height = bm.width;
        var g = c.getContext("2d"); g.translate(c.width, 0); g.rotate(Math.PI / 2); g.drawImage(bm, 0, 0);
        return new Promise(function (res) { c.toBlob(res, "image/jpeg", 0.92); }).then(function (bl) { return withDensity(bl, dpi); });
      });
    }).then(function (bl) {
      URL.revokeObjectURL(p.url);
      pages[i] = { blob: bl, name: p.name.replace(/\.(png|jpe?g)$/i, "") + ".jpg", url: URL.createObjectURL(bl), pdf: false };
      draw();
    });
  }
  function addFiles(list) {
    Array.prototype.forEach.call(list, function (f) { add(f, f.name, f.type === "application/pdf" || /\.pdf$/i.test(f.name)); });
  }
  var input = document.getElementById("files"), zone = document.getElementById("dropzone");
  input.addEventListener("change", function () { addFiles(input.files); input.value = ""; });
  zone.addEventListener("dragover", function (e) { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
  zone.addEventListener("drop", function (e) { e.preventDefault(); zone.classList.remove("over"); addFiles(e.dataTransfer.files); });

  // The document camera: a USB video device; each frame taken is a page whose resolution is
  // the frame's width over the paper's.
  var video = document.getElementById("camera"), stream = null, camErr = document.getElementById("camera-error");
  var openB = document.getElementById("camera-open"), shootB = document.getElementById("camera-shoot"), closeB = document.getElementById("camera-close");
  openB.addEventListener("click", function () {
    camErr.hidden = true;
    navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 3264 }, height: { ideal: 2448 } }, audio: false })
      .then(function (s) { stream = s; video.srcObject = s; video.hidden = shootB.hidden = closeB.hidden = false; openB.hidden = true; })
      .catch(function (e) { camErr.textContent = fmt(d.camerr, e.name || e.message); camErr.hidden = false; });
  });
  closeB.addEventListener("click", function () {
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null; video.hidden = shootB.hidden = closeB.hidden = true; openB.hidden = false;
  });
  var shots = 0;
  shootB.addEventListener("click", function () {
    if (!video.videoWidth) return;
    var c = document.createElement("canvas"); c.width = video.videoWidth; c.height = video.videoHeight;
    c.getContext("2d").drawImage(video, 0, 0);
    var mm = parseFloat(document.getElementById("paper").value), dpi = Math.round(c.width / (mm / 25.4));
    c.toBlob(function (bl) { withDensity(bl, dpi).then(function (b) { shots++; add(b, "camera-" + shots + ".jpg", false); }); }, "image/jpeg", 0.92);
  });

  // Saving: one upload, with progress; the API's refusal is shown as it names it.
  var bar = document.getElementById("progress"), ptext = document.getElementById("progress-text"), prob = document.getElementById("capture-problem");
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var pdfs = pages.filter(function (p) { return p.pdf; }).length;
    if (pdfs > 1 || (pdfs === 1 && pages.length > 1)) { show({ title: d.refused, detail: d.pdfonly }); return; }
    var fd = new FormData();
    ["csrf", "title", "valid_until"].forEach(function (n) { fd.append(n, form.elements[n].value); });
    fd.append("original_verified", form.elements.original_verified.checked ? "true" : "false");
    // Each part is named by its page number too, so a refusal names the page.
    pages.forEach(function (p, i) { fd.append(p.pdf ? "pdf" : "pages", p.blob, p.pdf ? p.name : "p" + (i + 1) + "-" + p.name); });
    var x = new XMLHttpRequest();
    x.open("POST", form.action);
    x.responseType = "json";
    x.upload.onprogress = function (ev) {
      if (!ev.lengthComputable) return;
      bar.value = Math.round(100 * ev.loaded / ev.total);
      ptext.textContent = d.uploading + " " + bar.value + "%";
    };
    x.onload = function () {
      var r = x.response || {};
      if (x.status === 200 && r.next) { window.location = r.next; return; }
      bar.hidden = ptext.hidden = true; save.disabled = false;
      show(r.problem || { title: d.refused, detail: String(x.status) });
    };
    x.onerror = function () { bar.hidden = ptext.hidden = true; save.disabled = false; show({ title: d.refused, detail: "network" }); };
    prob.hidden = true; bar.hidden = ptext.hidden = false; bar.value = 0; ptext.textContent = d.uploading; save.disabled = true;
    x.send(fd);
  });
  function show(p) {
    prob.textContent = "";
    var h = document.createElement("p"); h.className = "problem-title";
    var st = document.createElement("strong"); st.textContent = p.title || d.refused; h.appendChild(st);
    if (p.detail) { h.appendChild(document.createTextNode(" " + p.detail)); }
    prob.appendChild(h);
    if (p.errors && p.errors.length) {
      var ul = document.createElement("ul"); ul.className = "problem-fields";
      p.errors.forEach(function (f) { var li = document.createElement("li"); var c = document.createElement("code"); c.textContent = f.field; li.appendChild(c); li.appendChild(document.createTextNode(" " + f.reason)); ul.appendChild(li); });
      prob.appendChild(ul);
    }
    if (p.rule) { var r = document.createElement("p"); r.textContent = p.rule; prob.appendChild(r); }
    prob.hidden = false;
  }
  draw();
})();
