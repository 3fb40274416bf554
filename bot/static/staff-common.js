// Shared by the staff pages (staff.html, insights.html): DOM helpers, JSON
// fetching, and the provenance of a fact with its verbatim source on demand
// (GET /staff/api/source).  Everything is rendered with textContent / text
// nodes, never innerHTML.  Exposes window.StaffUI.
(function () {
  "use strict";

  var STATUS = { fact: "事実", plan: "計画", proposal: "市民提案", example: "例示" };

  // -- small DOM helpers -------------------------------------------------
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function add(parent) {
    for (var i = 1; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === "") continue;
      parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return parent;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function dateJa(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
    return m ? m[1] + "年" + Number(m[2]) + "月" + Number(m[3]) + "日" : "";
  }

  function linesJa(first, last) {
    return first === last ? first + "行目" : first + "〜" + last + "行目";
  }

  function getJSON(url, signal) {
    return fetch(url, { signal: signal, headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    });
  }

  function badge(status) {
    var label = STATUS[status] || status || "";
    var b = el("span", "badge badge-" + (STATUS[status] ? status : "other"), label);
    b.setAttribute("title", "記載の種類：" + label);
    return b;
  }

  // -- provenance and the source passage --------------------------------
  var sourceSeq = 0;

  // "『title』 › section" and "001・2053行目・2015年4月1日時点" lines, plus a toggle for the source.
  function provenance(item, withSection) {
    var box = el("div", "prov");
    var where = el("p", "where");
    add(where, badge(item.status), " ", el("cite", "title", "『" + item.title + "』"));
    if (withSection && item.section) add(where, el("span", "section", " › " + item.section));
    var meta = el("p", "meta");
    add(meta,
      el("span", "doc", "資料" + item.doc),
      el("span", "lines", linesJa(item.line_start, item.line_end)),
      el("span", "asof", item.as_of ? dateJa(item.as_of) + "時点" : "時点の記載なし"));
    add(box, where, meta, sourceToggle(item));
    return box;
  }

  function sourceToggle(item) {
    var wrap = el("div", "source");
    var id = "src-" + (++sourceSeq);
    var button = el("button", "src-btn", "原文を表示");
    button.type = "button";
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", id);
    var panel = el("div", "src-panel");
    panel.id = id;
    panel.hidden = true;
    var loaded = false;
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") === "true";
      button.setAttribute("aria-expanded", open ? "false" : "true");  // the label stays; the state is announced
      panel.hidden = open;
      if (open || loaded) return;
      loaded = true;
      add(panel, el("p", "status", "原文を読み込んでいます…"));
      var url = "/staff/api/source?doc=" + encodeURIComponent(item.doc) +
        "&first=" + encodeURIComponent(item.line_start) + "&last=" + encodeURIComponent(item.line_end);
      getJSON(url).then(function (data) {
        clear(panel);
        renderSource(panel, data);
      }).catch(function () {
        clear(panel);
        loaded = false;
        add(panel, el("p", "status error", "原文を読み込めませんでした。もう一度お試しください。"));
      });
    });
    add(wrap, button, panel);
    return wrap;
  }

  function renderSource(panel, data) {
    if (!data.lines || !data.lines.length) {
      add(panel, el("p", "status error", data.error ? "原文を表示できません：" + data.error : "原文がありません。"));
      return;
    }
    var caption = el("p", "src-caption",
      "『" + data.title + "』" + linesJa(data.first, data.last) + "（前後の行も表示。▶ が該当行）");
    var pre = el("pre", "src-text");
    pre.setAttribute("tabindex", "0");
    pre.setAttribute("aria-label", "原文 " + linesJa(data.first, data.last));
    var width = String(data.lines[data.lines.length - 1].line).length;
    data.lines.forEach(function (ln) {
      var row = el("span", ln.cited ? "src-line cited" : "src-line");
      var num = String(ln.line);
      while (num.length < width) num = " " + num;
      var mark = el("span", "mark", ln.cited ? "▶" : "");
      mark.setAttribute("aria-hidden", "true");
      add(row, mark, el("span", "ln", num + " "), ln.text, "\n");
      pre.appendChild(row);
    });
    add(panel, caption, pre);
  }

  window.StaffUI = {
    el: el, add: add, clear: clear, dateJa: dateJa, linesJa: linesJa, getJSON: getJSON,
    badge: badge, provenance: provenance, sourceToggle: sourceToggle
  };
})();
