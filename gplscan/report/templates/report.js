/* gplscan HTML report: search, filters, expand/collapse. The report is complete without
   this script; it only hides and opens what is already on the page. No network. */
(function () {
  "use strict";
  var doc = document;
  var $ = function (id) { return doc.getElementById(id); };
  var toArray = function (list) { return Array.prototype.slice.call(list); };
  var findings = toArray(doc.querySelectorAll("details.finding"));
  var binaries = toArray(doc.querySelectorAll("details.binary, tr.binary-row"));
  var q = $("q"), sev = $("f-severity"), rule = $("f-rule"), bin = $("f-binary");
  var withFindings = $("f-with-findings"), shown = $("shown");
  var hay = new WeakMap();

  function text(el) {
    var t = hay.get(el);
    if (t === undefined) { t = (el.textContent || "").toLowerCase(); hay.set(el, t); }
    return t;
  }
  function words(value) { return value ? value.split(" ") : []; }
  function apply() {
    var needle = q.value.trim().toLowerCase();
    var s = sev.value, r = rule.value, b = bin.value.trim().toLowerCase();
    var nf = 0, nb = 0;
    findings.forEach(function (el) {
      var ok = (!s || el.dataset.severity === s) && (!r || el.dataset.rule === r) &&
        (!b || el.dataset.binary.toLowerCase().indexOf(b) >= 0) &&
        (!needle || text(el).indexOf(needle) >= 0);
      el.hidden = !ok;
      if (ok) { nf += 1; }
    });
    binaries.forEach(function (el) {
      var sevs = words(el.dataset.severities.trim()), rules = words(el.dataset.rules);
      var ok = (!s || sevs.indexOf(s) >= 0) && (!r || rules.indexOf(r) >= 0) &&
        (!withFindings.checked || sevs.length > 0) &&
        (!b || el.dataset.binary.toLowerCase().indexOf(b) >= 0) &&
        (!needle || text(el).indexOf(needle) >= 0);
      el.hidden = !ok;
      if (ok) { nb += 1; }
    });
    shown.textContent = "showing " + nf + " of " + findings.length + " findings, " +
      nb + " of " + binaries.length + " binaries";
  }
  var timer = null;
  function later() {
    clearTimeout(timer);
    timer = setTimeout(function () { timer = null; apply(); }, 120);
  }
  function flush() {
    if (timer !== null) { clearTimeout(timer); timer = null; apply(); }
  }
  function setOpen(open) {
    flush();
    toArray(doc.querySelectorAll("details")).forEach(function (el) {
      if (!el.hidden) { el.open = open; }
    });
  }
  function reveal() {
    var target = location.hash ? doc.getElementById(location.hash.slice(1)) : null;
    for (var el = target; el; el = el.parentElement) {
      if (el.tagName === "DETAILS") { el.open = true; el.hidden = false; }
    }
    if (target) { target.hidden = false; target.scrollIntoView(); }
  }
  function download() {
    var block = $("gplscan-data");
    if (block.dataset.encoding === "gzip+base64") {
      var raw = atob(block.textContent), bytes = new Uint8Array(raw.length);
      for (var i = 0; i < raw.length; i += 1) { bytes[i] = raw.charCodeAt(i); }
      var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
      new Response(stream).text().then(save);
    } else {
      save(block.textContent);
    }
  }
  function save(data) {
    var url = URL.createObjectURL(new Blob([data], { type: "application/json" }));
    var a = doc.createElement("a");
    a.href = url;
    a.download = "gplscan-report.json";
    doc.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  q.addEventListener("input", later);
  bin.addEventListener("input", later);
  [sev, rule, withFindings].forEach(function (el) { el.addEventListener("change", apply); });
  $("expand").addEventListener("click", function () { setOpen(true); });
  $("collapse").addEventListener("click", function () { setOpen(false); });
  $("download").addEventListener("click", download);
  window.addEventListener("hashchange", reveal);
  /* print carries everything: every section open and shown, as it was afterwards */
  var beforePrint = [];
  window.addEventListener("beforeprint", function () {
    beforePrint = toArray(doc.querySelectorAll("details, tr.binary-row")).map(function (el) {
      var state = [el, el.open, el.hidden];
      el.open = true;
      el.hidden = false;
      return state;
    });
  });
  window.addEventListener("afterprint", function () {
    beforePrint.forEach(function (state) { state[0].open = state[1]; state[0].hidden = state[2]; });
    beforePrint = [];
  });
  $("toolbar").hidden = false;
  apply();
  reveal();
}());
