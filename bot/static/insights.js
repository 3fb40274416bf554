// Staff insights (/staff/insights): totals, charts and tables from GET /staff/api/insights,
// CSV links to /staff/api/insights.csv.  The date range and the period live in the URL's
// query string.  Charts: Chart.js (bot/static/vendor/chart.umd.min.js, MIT, unchanged from
// npm).  All data is rendered with textContent / text nodes, never innerHTML.
(function () {
  "use strict";

  var UI = window.StaffUI;
  var el = UI.el, add = UI.add, clear = UI.clear;
  var OUTCOMES = [
    { key: "answered", label: "回答", color: "#1b7f3b" },
    { key: "not_found", label: "資料に記載なし", color: "#c25e00" },
    { key: "clarify", label: "聞き返し", color: "#5a5a9e" },
    { key: "unavailable", label: "応答不能", color: "#a50e0e" }
  ];
  var RATINGS = [
    { key: "ratings_up", label: "役に立った", color: "#0b57d0" },
    { key: "ratings_down", label: "役に立たなかった", color: "#b3261e" }
  ];
  var STATUS_LABELS = { answered: "回答", not_found: "資料に記載なし" };
  var form = document.getElementById("range");
  var statusLine = document.getElementById("status");
  var charts = {};

  function params() {
    var q = new URLSearchParams(location.search);
    var out = new URLSearchParams();
    ["since", "until", "period"].forEach(function (name) {
      var v = (q.get(name) || "").trim();
      if (v) out.set(name, v);
    });
    return out;
  }

  function fillForm(p) {
    form.since.value = p.get("since") || "";
    form.until.value = p.get("until") || "";
    form.period.value = p.get("period") === "week" ? "week" : "day";
  }

  function csvLinks(p) {
    document.querySelectorAll("a.csv").forEach(function (a) {
      var q = new URLSearchParams(p);
      q.set("table", a.getAttribute("data-table"));
      a.href = "/staff/api/insights.csv?" + q.toString();
      a.setAttribute("download", "");
    });
  }

  // shares as the CSV and the terminal print them: one decimal (50.0)
  function cell(key, v) {
    if (v === null || v === undefined) return "";
    if (/_pct$/.test(key) && typeof v === "number") return v.toFixed(1);
    return Array.isArray(v) ? v.join(" / ") : String(v);
  }

  function renderTotals(data) {
    var t = data.totals;
    var pct = function (k) { return cell(k + "_pct", t[k + "_pct"]); };
    var dl = document.getElementById("totals");
    clear(dl);
    var items = [
      ["会話数", t.conversations + "件"],
      ["質問数", t.questions + "件"],
      ["回答", t.answered + "件（" + pct("answered") + "%）"],
      ["資料に記載なし", t.not_found + "件（" + pct("not_found") + "%）"],
      ["聞き返し", t.clarify + "件（" + pct("clarify") + "%）"],
      ["応答不能", t.unavailable + "件（" + pct("unavailable") + "%）"],
      ["役に立った", t.ratings_up + "件"],
      ["役に立たなかった", t.ratings_down + "件"]
    ];
    items.forEach(function (item) {
      var div = el("div", "total");
      div.setAttribute("data-key", item[0]);
      add(div, el("dt", "", item[0]), el("dd", "", item[1]));
      dl.appendChild(div);
    });
  }

  function renderTable(id, columns, rows, emptyText) {
    var table = document.getElementById(id);
    clear(table);
    if (!rows.length) {
      add(table, add(el("tbody"), add(el("tr"), el("td", "muted", emptyText))));
      return;
    }
    var head = el("tr");
    columns.forEach(function (c) { head.appendChild(el("th", "", c[1])).setAttribute("scope", "col"); });
    var body = el("tbody");
    rows.forEach(function (row) {
      var tr = el("tr");
      columns.forEach(function (c) {
        var v = row[c[0]];
        var td = el("td", typeof v === "number" ? "num" : "", cell(c[0], v));
        td.setAttribute("data-col", c[0]);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    add(table, add(el("thead"), head), body);
  }

  function renderChart(id, labels, series, rows, stacked) {
    if (typeof window.Chart !== "function") return;
    if (charts[id]) charts[id].destroy();
    charts[id] = new window.Chart(document.getElementById(id), {
      type: "bar",
      data: {
        labels: labels,
        datasets: series.map(function (s) {
          return { label: s.label, backgroundColor: s.color, data: rows.map(function (r) { return r[s.key]; }) };
        })
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { position: "bottom" } },
        scales: {
          x: { stacked: stacked },
          y: { stacked: stacked, beginAtZero: true, ticks: { precision: 0 } }
        }
      }
    });
  }

  function sourceItems(row) {
    // the facts as the staff search shows them; the bare sources when the knowledge base no longer has a fact
    var withText = row.facts_detail.filter(function (f) { return f.text; });
    if (withText.length) return withText.map(function (f) { return { fact: f }; });
    return row.sources_detail.map(function (s) {
      return { source: { doc: s.doc, line_start: (s.lines || [])[0], line_end: (s.lines || [])[1] || (s.lines || [])[0],
                         as_of: s.as_of, status: s.status } };
    });
  }

  function renderDownRated(rows) {
    var list = document.getElementById("down-rated");
    clear(list);
    if (!rows.length) {
      list.appendChild(el("li", "muted", "この期間に「役に立たなかった」と評価された回答はありません。"));
      return;
    }
    rows.forEach(function (row) {
      var li = el("li", "card down-rated");
      var head = el("p", "meta");
      add(head,
        el("span", "count-down", "役に立たなかった " + row.down + "件"),
        el("span", "count-up", "役に立った " + row.up + "件"),
        el("span", "", STATUS_LABELS[row.status] || row.status),
        el("span", "", "最終評価 " + row.last_rated));
      add(li, head, el("p", "question", "質問：" + row.question), el("p", "answer", row.answer));
      var facts = el("div", "facts");
      add(facts, el("p", "label", row.facts_detail.length ? "使った記載（" + row.facts_detail.length + "件）" : "使った記載：なし"));
      row.facts_detail.forEach(function (f) {
        if (!f.text) add(facts, el("p", "fact-id", "記載 " + f.id + "（現在のナレッジベースにありません）"));
      });
      sourceItems(row).forEach(function (item) {
        var box = el("div", "fact-item");
        if (item.fact) {
          add(box, el("p", "fact", item.fact.text), el("p", "about", item.fact.id), UI.provenance(item.fact, true));
        } else {
          add(box, el("p", "meta", "資料" + item.source.doc + "・" + UI.linesJa(item.source.line_start, item.source.line_end)),
            UI.sourceToggle(item.source));
        }
        facts.appendChild(box);
      });
      li.appendChild(facts);
      list.appendChild(li);
    });
  }

  function render(data) {
    renderTotals(data);
    var labels = data.periods.map(function (r) { return r.period; });
    renderChart("chart-outcomes", labels, OUTCOMES, data.periods, true);
    renderChart("chart-ratings", labels, RATINGS, data.periods, false);
    renderTable("table-periods", data.columns.periods, data.periods, "この期間の質問はありません。");
    renderTable("table-unanswered", data.columns.unanswered, data.unanswered, "この期間に答えられなかった質問はありません。");
    renderDownRated(data.down_rated);
    var scope = (data.since || "最初") + " 〜 " + (data.until || "最後") + "（" + (data.period === "week" ? "週" : "日") + "ごと）";
    statusLine.classList.remove("error");
    statusLine.textContent = data.notice ? "会話の記録はまだありません。" :
      scope + "：質問 " + data.totals.questions + "件、答えられなかった質問 " + data.unanswered.length + "種類。";
  }

  function load() {
    var p = params();
    fillForm(p);
    csvLinks(p);
    statusLine.textContent = "読み込んでいます…";
    fetch("/staff/api/insights?" + p.toString(), { headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error(body && body.error ? body.error : "HTTP " + r.status);
          return body;
        });
      })
      .then(render)
      .catch(function (err) {
        statusLine.classList.add("error");
        statusLine.textContent = "読み込めませんでした：" + (err && err.message ? err.message : "不明なエラー");
      });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var q = new URLSearchParams();
    if (form.since.value) q.set("since", form.since.value);
    if (form.until.value) q.set("until", form.until.value);
    if (form.period.value !== "day") q.set("period", form.period.value);
    history.pushState(null, "", "/staff/insights" + (q.toString() ? "?" + q.toString() : ""));
    load();
  });
  document.getElementById("all-dates").addEventListener("click", function () {
    form.since.value = "";
    form.until.value = "";
    form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit", { cancelable: true }));
  });
  window.addEventListener("popstate", load);
  if (window.Chart) {
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  }
  load();
})();
