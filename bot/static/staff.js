// Staff quick reference: search as you type, sources on demand, browsing tabs.
// All data is rendered with textContent / text nodes, never innerHTML (helpers: staff-common.js).
(function () {
  "use strict";

  var DEBOUNCE_MS = 120;
  var KINDS = { section: "課・部", office: "窓口", committee: "会議体" };

  var UI = window.StaffUI;
  var el = UI.el, add = UI.add, clear = UI.clear, dateJa = UI.dateJa, getJSON = UI.getJSON, provenance = UI.provenance;

  // -- search ------------------------------------------------------------
  var input = document.getElementById("q");
  var results = document.getElementById("results");
  var searchStatus = document.getElementById("search-status");
  var timer = null;
  var controller = null;
  var seq = 0;

  function renderResults(query, items) {
    clear(results);
    items.forEach(function (item) {
      var li = el("li", "card result");
      add(li,
        el("p", "fact", item.text),
        el("p", "about", item.subject + "・" + (item.label || item.attribute)));
      if (item.inference) {  // found through a citizen's word: general knowledge, not the documents'
        add(li, el("p", "inference", "「" + item.inference.term + "」から：" + item.inference.reason +
                   "（一般的な手続きの区分による推定）"));
      }
      add(li, provenance(item, true));
      results.appendChild(li);
    });
    searchStatus.textContent = items.length
      ? "「" + query + "」の検索結果 " + items.length + "件"
      : "「" + query + "」に当てはまる記載は資料に見つかりませんでした。";
  }

  function runSearch() {
    var query = input.value.trim().slice(0, 200);
    var mine = ++seq;
    if (controller) controller.abort();
    if (!query) {
      clear(results);
      searchStatus.textContent = "";
      return;
    }
    controller = typeof AbortController === "function" ? new AbortController() : null;
    getJSON("/staff/api/search?q=" + encodeURIComponent(query), controller && controller.signal)
      .then(function (data) {
        if (mine !== seq) return;  // a newer query is on its way
        renderResults(query, data.results || []);
      })
      .catch(function (err) {
        if (mine !== seq || (err && err.name === "AbortError")) return;
        searchStatus.textContent = "検索できませんでした。しばらくしてからもう一度お試しください。";
      });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(runSearch, DEBOUNCE_MS);
  });
  document.getElementById("search-form").addEventListener("submit", function (e) {
    e.preventDefault();
    clearTimeout(timer);
    runSearch();
  });

  // -- browsing tabs -----------------------------------------------------
  function dutiesBlock(unit) {
    var box = el("div", "duties");
    if (!unit.duties.length) {
      add(box, el("p", "muted", "担当業務：資料に記載なし"));
      return box;
    }
    unit.duties.forEach(function (d) {
      var item = el("div", "duty");
      add(item, el("p", "fact", "担当業務：" + d.value), provenance(d, false));
      box.appendChild(item);
    });
    return box;
  }

  var renderers = {
    sections: function (data, list) {
      data.sections.forEach(function (u) {
        var li = el("li", "card");
        var head = el("h3", "", u.name);
        if (u.kana) add(head, el("span", "kana", "（" + u.kana + "）"));
        var info = el("p", "meta");
        add(info, el("span", "", KINDS[u.type] || u.type), el("span", "", "上位：" + (u.parent || "なし")));
        if (u.children.length) add(info, el("span", "", "下位：" + u.children.join("、")));
        add(li, head, info);
        if (u.services.length) add(li, el("p", "", "取扱サービス：" + u.services.join("、")));
        add(li, dutiesBlock(u));
        list.appendChild(li);
      });
      return data.sections.length + "件の組織";
    },
    contacts: function (data, list) {
      data.contacts.forEach(function (c) {
        var li = el("li", "card");
        var role = el("p", "role", "用途：" + (c.role || "記載なし"));
        if (c.press_only) add(role, " ", el("span", "badge badge-press", "報道機関向け（市民には案内しない）"));
        add(li, el("h3", "", c.unit + "　" + c.kind_label + "　" + c.value), role, provenance(c, false));
        list.appendChild(li);
      });
      return data.contacts.length + "件の連絡先";
    },
    events: function (data, list) {
      data.events.forEach(function (e) {
        var li = el("li", "card");
        var head = el("h3", "", e.name);
        li.appendChild(head);
        var info = el("p", "meta");
        add(info, el("span", "", e.held_on ? "開催日：" + dateJa(e.held_on) : "開催日：記載なし"));
        if (e.over === true) add(info, el("span", "badge badge-over", "終了"));
        if (e.over === false) add(info, el("span", "badge badge-upcoming", "開催予定"));
        li.appendChild(info);
        if (!e.details.length) add(li, el("p", "muted", "詳細の記載なし"));
        var dl = el("dl", "details");
        e.details.forEach(function (d) {
          add(dl, el("dt", "", d.label), add(el("dd"), el("span", "value", d.value), provenance(d, false)));
        });
        if (e.details.length) li.appendChild(dl);
        list.appendChild(li);
      });
      return data.events.length + "件の催し";
    },
    timeline: function (data, list) {
      data.timeline.forEach(function (t) {
        var li = el("li", "card");
        add(li,
          el("h3", "", t.date_label + "　" + t.subject),
          el("p", "fact", t.value),
          provenance(t, false));
        list.appendChild(li);
      });
      return data.timeline.length + "件（年代順）";
    }
  };

  var loadedTabs = {};

  function loadTab(name) {
    if (name === "search" || loadedTabs[name]) return;
    loadedTabs[name] = true;
    var panel = document.getElementById("panel-" + name);
    var status = panel.querySelector(".status[role=status]");
    var list = panel.querySelector("[data-list]");
    status.textContent = "読み込んでいます…";
    getJSON("/staff/api/" + name).then(function (data) {
      clear(list);
      status.textContent = renderers[name](data, list);
    }).catch(function () {
      loadedTabs[name] = false;
      status.textContent = "読み込めませんでした。タブを選び直してください。";
    });
  }

  var tabs = Array.prototype.slice.call(document.querySelectorAll("[role=tab]"));

  function select(tab, focus) {
    tabs.forEach(function (t) {
      var on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    });
    if (focus) tab.focus();
    var name = tab.id.replace("tab-", "");
    if (history.replaceState) history.replaceState(null, "", name === "search" ? "#" : "#" + name);
    loadTab(name);
  }

  tabs.forEach(function (tab, i) {
    tab.addEventListener("click", function () { select(tab, false); });
    tab.addEventListener("keydown", function (e) {
      var next = null;
      if (e.key === "ArrowRight") next = tabs[(i + 1) % tabs.length];
      else if (e.key === "ArrowLeft") next = tabs[(i - 1 + tabs.length) % tabs.length];
      else if (e.key === "Home") next = tabs[0];
      else if (e.key === "End") next = tabs[tabs.length - 1];
      if (next) {
        e.preventDefault();
        select(next, true);
      }
    });
  });

  var initial = document.getElementById("tab-" + location.hash.replace("#", ""));
  if (initial && initial !== tabs[0]) select(initial, false);
  else input.focus();
})();
