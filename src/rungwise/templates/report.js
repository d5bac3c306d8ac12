"use strict";
// The rows table of a rungwise report: filters and paging over the data embedded in #report-data.
// Every string from the data reaches the page through textContent, never as markup.
(function () {
  var DATA = JSON.parse(document.getElementById("report-data").textContent);
  var PAGE = 50;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function option(select, value, text) {
    var o = el("option", null, text);
    o.value = value;
    select.appendChild(o);
  }
  function fmtScore(s) {
    if (s === null || s === undefined) return "";
    return (Math.round(s * 1000) / 10) + "%";
  }
  function tag(kind) {
    var names = { right: "right", format: "format", content: "content", none: "not scored" };
    return el("span", "tag " + kind, names[kind]);
  }
  function $(id) { return document.getElementById(id); }

  function pager(state, total, render) {
    var info = $("page-info");
    var pages = Math.max(1, Math.ceil(total / PAGE));
    if (state.page >= pages) state.page = pages - 1;
    var first = total ? state.page * PAGE + 1 : 0;
    info.textContent = "rows " + first + "-" + Math.min(total, (state.page + 1) * PAGE) + " of " + total +
      " (page " + (state.page + 1) + " of " + pages + ")";
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
    $("prev").onclick = function () { state.page -= 1; render(); };
    $("next").onclick = function () { state.page += 1; render(); };
  }

  // -- the climb report ---------------------------------------------------------------------------------
  function climb() {
    var V = DATA.variants, n = DATA.ids.length, state = { page: 0 }, hay = null, shown = [];
    // outcome per variant and row: "right", "format", "content", or "none" (not scored)
    var outcome = V.map(function (_, v) {
      var out = new Array(n);
      for (var i = 0; i < n; i++) {
        var s = DATA.score[v][i];
        out[i] = s === null ? "none" : (DATA.fail[v][i] || "right");
      }
      return out;
    });
    ["variant", "va", "vb"].forEach(function (id) {
      var sel = $(id);
      option(sel, "", id === "variant" ? "any variant" : "(none)");
      V.forEach(function (v, k) { option(sel, String(k), v.name); });
    });
    var head = $("rows-head");
    ["#", "id", "input", "expected"].forEach(function (h) { head.appendChild(el("th", null, h)); });
    V.forEach(function (v) { head.appendChild(el("th", null, v.name + (v.probe ? " (probe)" : ""))); });

    function haystack() {
      if (hay) return hay;
      hay = new Array(n);
      for (var i = 0; i < n; i++) {
        var parts = [DATA.ids[i], DATA.inputs[i] || "", DATA.targets[i] || ""];
        for (var v = 0; v < V.length; v++) parts.push(DATA.out[v][i] || "");
        hay[i] = parts.join("\u0001").toLowerCase();
      }
      return hay;
    }
    function matches(kind, o) {
      if (kind === "") return true;
      if (kind === "fail") return o === "format" || o === "content";
      return o === kind;
    }
    function filter() {
      var q = $("q").value.trim().toLowerCase(), kind = $("kind").value, vs = $("variant").value;
      var va = $("va").value, vb = $("vb").value, rows = [];
      var h = q ? haystack() : null, which = vs === "" ? null : +vs;
      var flip = va !== "" && vb !== "" ? [+va, +vb] : null;
      for (var i = 0; i < n; i++) {
        if (h && h[i].indexOf(q) < 0) continue;
        if (kind !== "") {
          var hit = false;
          if (which === null) { for (var v = 0; v < V.length && !hit; v++) hit = matches(kind, outcome[v][i]); }
          else hit = matches(kind, outcome[which][i]);
          if (!hit) continue;
        }
        if (flip && !(outcome[flip[0]][i] === "right" && matches("fail", outcome[flip[1]][i]))) continue;
        rows.push(i);
      }
      shown = rows;
      state.page = 0;
      render();
    }
    function render() {
      var body = $("rows-body"), frag = document.createDocumentFragment();
      var start = state.page * PAGE, end = Math.min(shown.length, start + PAGE);
      for (var r = start; r < end; r++) {
        var i = shown[r], tr = el("tr", r % 2 ? "hl" : null);
        tr.appendChild(el("td", "num", i + 1));
        tr.appendChild(el("td", null, DATA.ids[i]));
        tr.appendChild(el("td", "text", DATA.inputs[i] === null ? "(not stored)" : DATA.inputs[i]));
        tr.appendChild(el("td", "text", DATA.targets[i] === null ? "(not stored)" : DATA.targets[i]));
        for (var v = 0; v < V.length; v++) {
          var td = el("td", "out"), o = outcome[v][i];
          if (o !== "none") td.appendChild(document.createTextNode(DATA.out[v][i]));
          td.appendChild(tag(o));
          if (!DATA.binary && o !== "none") td.appendChild(el("span", "muted", " " + fmtScore(DATA.score[v][i])));
          tr.appendChild(td);
        }
        frag.appendChild(tr);
      }
      body.replaceChildren(frag);
      pager(state, shown.length, render);
      $("rows").setAttribute("data-shown", String(shown.length));
    }
    var timer = null;
    $("q").addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(filter, 120); });
    ["kind", "variant", "va", "vb"].forEach(function (id) { $(id).addEventListener("change", filter); });
    $("reset").addEventListener("click", function () {
      $("q").value = ""; ["kind", "variant", "va", "vb"].forEach(function (id) { $(id).value = ""; });
      filter();
    });
    filter();
  }

  // -- the compare page -------------------------------------------------------------------------------
  function compare() {
    var F = DATA.flips, state = { page: 0 }, shown = [];
    var sel = $("variant");
    option(sel, "", "every variant");
    DATA.variants.forEach(function (name) { option(sel, name, name); });
    function filter() {
      var q = $("q").value.trim().toLowerCase(), v = sel.value, dir = $("dir").value;
      shown = F.filter(function (f) {
        if (v && f.variant !== v) return false;
        if (dir && f.dir !== dir) return false;
        if (!q) return true;
        return [f.id, f.input || "", f.target || "", f.a_out || "", f.b_out || ""].join("\u0001").toLowerCase().indexOf(q) >= 0;
      });
      state.page = 0;
      render();
    }
    function cell(out, failure, score) {
      var td = el("td", "out");
      if (out === null) { td.appendChild(tag("none")); return td; }
      td.appendChild(document.createTextNode(out));
      td.appendChild(tag(failure || "right"));
      if (!DATA.binary) td.appendChild(el("span", "muted", " " + fmtScore(score)));
      return td;
    }
    function render() {
      var body = $("rows-body"), frag = document.createDocumentFragment();
      var start = state.page * PAGE, end = Math.min(shown.length, start + PAGE);
      for (var r = start; r < end; r++) {
        var f = shown[r], tr = el("tr", r % 2 ? "hl" : null);
        tr.appendChild(el("td", null, f.variant));
        tr.appendChild(el("td", f.dir === "worse" ? "bad" : "good", f.dir === "worse" ? "right \u2192 wrong" : "wrong \u2192 right"));
        tr.appendChild(el("td", null, f.id));
        tr.appendChild(el("td", "text", f.input === null ? "(not stored)" : f.input));
        tr.appendChild(el("td", "text", f.target === null ? "(not stored)" : f.target));
        tr.appendChild(cell(f.a_out, f.a_fail, f.a_score));
        tr.appendChild(cell(f.b_out, f.b_fail, f.b_score));
        frag.appendChild(tr);
      }
      body.replaceChildren(frag);
      pager(state, shown.length, render);
      $("rows").setAttribute("data-shown", String(shown.length));
    }
    var timer = null;
    $("q").addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(filter, 120); });
    sel.addEventListener("change", filter);
    $("dir").addEventListener("change", filter);
    filter();
  }

  if (DATA.kind === "compare") compare(); else if (DATA.kind === "climb") climb();
  document.documentElement.setAttribute("data-ready", "1");
})();
