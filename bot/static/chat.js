/* 川崎市 区役所案内チャット: the website chat widget (plain JS, no build step).
 *
 * Talks to Rasa's socket.io channel (credentials.yml) with the socket.io client
 * vendored at /static/vendor/socket.io.min.js: socket.io-client 4.8.4 from npm
 * (dist/socket.io.min.js, unchanged), MIT License, (c) 2014-present Guillermo
 * Rauch and Socket.IO contributors.  Protocol v5, matching python-socketio 5.x.
 *
 * Embed (the script builds the launcher and the panel itself):
 *   <link rel="stylesheet" href="/static/chat.css">
 *   <script src="/static/vendor/socket.io.min.js" defer></script>
 *   <script src="/static/chat.js" data-server="https://chat.example.jp" defer></script>
 * Server: data-server on the script tag, else ?server= (only on the page's own
 * host, so a link cannot send a citizen's questions elsewhere), else
 * data-server-port (the page's own host at that port: the local demo page of
 * `make run`), else the origin chat.js was loaded from: the reverse proxy that
 * serves /static/ and /socket.io/ on HTTPS (docs/deployment.md).
 * data-socket-path (default /socket.io).  The page connects (websocket
 * transport only) when the panel is first opened.
 *
 * Bot text is always rendered as text (textContent / text nodes); http(s) URLs
 * become <a rel="noopener noreferrer" target="_blank"> built with DOM APIs.
 * Lines starting with 出典 are shown under the answer in a smaller style.  The
 * {"status","intent","sources","facts","answer"} message is kept as metadata,
 * never shown.  Under an answered or not_found reply, 「役に立った」/
 * 「役に立たなかった」 buttons (aria-pressed; one rating per answer, changeable)
 * send /rate_answer{"rating":"up"|"down","answer":"<answer id>"} (bot/ratings.py),
 * which is not shown as the citizen's message.
 * The session id, the last messages and their ratings are kept in localStorage.
 */
(function () {
  "use strict";

  var KEY_SESSION = "kuyakusho-chat.session";
  var KEY_HISTORY = "kuyakusho-chat.history";
  var KEY_OPEN = "kuyakusho-chat.open";
  var MAX_HISTORY = 40;
  var MAX_INPUT = 500;
  var REPLY_TIMEOUT_MS = 30000;
  var URL_RE = /https?:\/\/[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+/g;
  var SOURCE_RE = /^\s*出典/;
  var ANSWER_ID_RE = /^[a-p]{16}$/;
  var RATEABLE = { answered: true, not_found: true };
  var RATINGS = [["up", "役に立った"], ["down", "役に立たなかった"]];

  var script = document.currentScript;

  function store(kind) {  // localStorage / sessionStorage, or memory when blocked
    var mem = {};
    try {
      var s = window[kind]; s.setItem("kuyakusho-chat.test", "1"); s.removeItem("kuyakusho-chat.test");
      return s;
    } catch (e) {
      return { getItem: function (k) { return k in mem ? mem[k] : null; },
               setItem: function (k, v) { mem[k] = String(v); }, removeItem: function (k) { delete mem[k]; } };
    }
  }
  var local = store("localStorage"), sessionStore = store("sessionStorage");

  function serverUrl() {
    var attr = script && script.getAttribute("data-server");
    if (attr) return attr;
    var param = new URLSearchParams(location.search).get("server");
    if (param) {
      try {
        var u = new URL(param, location.href);
        if ((u.protocol === "http:" || u.protocol === "https:") && u.hostname === location.hostname) return u.origin;
      } catch (e) { /* ignored: falls back to the default */ }
    }
    var port = script && script.getAttribute("data-server-port");
    if (port && /^[0-9]{1,5}$/.test(port)) {
      return (location.protocol === "https:" ? "https:" : "http:") + "//" + (location.hostname || "localhost") + ":" + port;
    }
    try {
      if (script && script.src) return new URL(script.src, location.href).origin;
    } catch (e) { /* ignored: falls back to the page's origin */ }
    return location.origin;
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  /* Text with its http(s) URLs as links; everything else stays a text node. */
  function appendLinked(parent, text) {
    var last = 0, m;
    URL_RE.lastIndex = 0;
    while ((m = URL_RE.exec(text)) !== null) {
      var url = m[0].replace(/[.,;:!?'()\]]+$/, "");
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      var a = el("a", null, url);
      a.href = url; a.target = "_blank"; a.rel = "noopener noreferrer";
      parent.appendChild(a);
      last = m.index + url.length;
      URL_RE.lastIndex = last;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
    return parent;
  }

  /* A bot text: the answer lines, then the 出典 lines in .kc-source. */
  function renderBotText(text) {
    var lines = String(text == null ? "" : text).split("\n");
    var body = lines.filter(function (l) { return !SOURCE_RE.test(l); }).join("\n").trim();
    var sources = lines.filter(function (l) { return SOURCE_RE.test(l); });
    var box = el("div", "kc-msg kc-bot");
    if (body) box.appendChild(appendLinked(el("p", "kc-text"), body));
    if (sources.length) {
      var src = el("p", "kc-source");
      sources.forEach(function (l, i) { if (i) src.appendChild(document.createTextNode("\n")); appendLinked(src, l.trim()); });
      box.appendChild(src);
    }
    return box;
  }

  function build() {
    var launcher = el("button", "kc-launcher");
    launcher.type = "button";
    launcher.id = "kc-launcher";
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", "kc-panel");
    launcher.setAttribute("aria-label", "チャットで質問（川崎市 区役所案内）");
    launcher.appendChild(el("span", "kc-launcher-icon")).setAttribute("aria-hidden", "true");
    launcher.appendChild(el("span", "kc-launcher-label", "チャットで質問"));

    var panel = el("section", "kc-panel");
    panel.id = "kc-panel";
    panel.hidden = true;
    panel.setAttribute("aria-labelledby", "kc-title");
    var header = panel.appendChild(el("div", "kc-header"));
    header.appendChild(el("h2", "kc-title", "川崎市 区役所案内チャット")).id = "kc-title";
    var close = header.appendChild(el("button", "kc-close", "×"));
    close.type = "button";
    close.setAttribute("aria-label", "チャットを閉じる");
    panel.appendChild(el("p", "kc-note", "市の資料に基づく自動応答です。個人情報は入力しないでください。"));
    var log = panel.appendChild(el("div", "kc-log"));
    log.id = "kc-log";
    log.setAttribute("role", "log");
    log.setAttribute("aria-live", "polite");
    log.setAttribute("aria-label", "会話");
    log.tabIndex = 0;
    var status = panel.appendChild(el("p", "kc-status"));
    status.setAttribute("role", "status");
    var form = panel.appendChild(el("form", "kc-form"));
    form.setAttribute("autocomplete", "off");
    var input = form.appendChild(el("input", "kc-input"));
    input.id = "kc-input"; input.type = "text"; input.maxLength = MAX_INPUT;
    input.placeholder = "ご質問を入力してください";
    input.setAttribute("aria-label", "ご質問を入力してください");
    input.setAttribute("enterkeyhint", "send");
    form.appendChild(el("button", "kc-send", "送信")).type = "submit";

    document.body.appendChild(launcher);
    document.body.appendChild(panel);
    return { launcher: launcher, panel: panel, close: close, log: log, status: status, form: form, input: input };
  }

  function start() {
    var ui = build();
    var history = [];
    try { history = JSON.parse(local.getItem(KEY_HISTORY) || "[]"); } catch (e) { history = []; }
    if (!Array.isArray(history)) history = [];
    var sessionId = local.getItem(KEY_SESSION);
    var confirmed = false, pending = [], replyTimer = null, socket = null;

    function setStatus(text, isError) {
      ui.status.textContent = text || "";
      ui.status.classList.toggle("kc-error", !!isError);
    }
    function save() {
      history = history.slice(-MAX_HISTORY);
      try { local.setItem(KEY_HISTORY, JSON.stringify(history)); } catch (e) { /* quota: keep going */ }
    }
    function scroll() { ui.log.scrollTop = ui.log.scrollHeight; }
    function clearQuickReplies() {
      ui.log.querySelectorAll(".kc-quick").forEach(function (q) { q.remove(); });
    }

    function renderQuickReplies(buttons) {
      var box = el("div", "kc-quick");
      box.setAttribute("role", "group");
      box.setAttribute("aria-label", "よくある続きの質問");
      buttons.forEach(function (b) {
        var btn = box.appendChild(el("button", "kc-reply", b.title));
        btn.type = "button";
        btn.addEventListener("click", function () { ask(b.payload, b.title); });
      });
      ui.log.appendChild(box);
    }

    /* 「役に立った」/「役に立たなかった」 under a bot message; msg is its history entry. */
    function renderRating(box, msg) {
      var old = box.querySelector(".kc-rate");
      if (old) old.remove();
      if (!RATEABLE[msg.status] || !ANSWER_ID_RE.test(msg.answer || "")) return;
      var group = el("div", "kc-rate");
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", "この回答の評価");
      group.appendChild(el("span", "kc-rate-label", "この回答は役に立ちましたか？"));
      var buttons = RATINGS.map(function (r) {
        var btn = group.appendChild(el("button", "kc-rate-btn", r[1]));
        btn.type = "button";
        btn.setAttribute("data-rating", r[0]);
        btn.setAttribute("aria-pressed", msg.rating === r[0] ? "true" : "false");
        btn.addEventListener("click", function () {
          if (msg.rating === r[0]) return;  // already given; the other button changes it
          msg.rating = r[0];
          save();
          buttons.forEach(function (b) { b.setAttribute("aria-pressed", b === btn ? "true" : "false"); });
          send("/rate_answer" + JSON.stringify({ rating: r[0], answer: msg.answer }));
        });
        return btn;
      });
      box.appendChild(group);
    }

    function render(msg, isLast) {
      if (msg.role === "user") {
        ui.log.appendChild(el("div", "kc-msg kc-user", msg.text));
      } else {
        var node = renderBotText(msg.text);
        var prev = ui.log.lastElementChild;
        if (!node.querySelector(".kc-text") && prev && prev.classList.contains("kc-bot") && !prev.querySelector(".kc-source")) {
          prev.appendChild(node.firstChild);  // a part that is only 出典 lines belongs to the answer before it
        } else {
          ui.log.appendChild(node);
        }
        if (msg.answer) renderRating(ui.log.lastElementChild, msg);
        if (isLast && msg.buttons && msg.buttons.length) renderQuickReplies(msg.buttons);
      }
    }
    function add(msg) {
      clearQuickReplies();
      history.push(msg);
      save();
      render(msg, true);
      scroll();
    }

    function emit(text) {
      socket.emit("user_uttered", { message: text, session_id: sessionId });
      clearTimeout(replyTimer);
      setStatus("回答を準備しています…");
      replyTimer = setTimeout(function () {
        setStatus("応答がありません。しばらくしてからもう一度お試しください。", true);
      }, REPLY_TIMEOUT_MS);
    }
    function send(payload) {
      if (confirmed) emit(payload); else { pending.push(payload); setStatus("接続しています…"); }
    }
    function ask(payload, shown) {
      add({ role: "user", text: shown });
      send(payload);
      ui.input.focus();
    }

    function onBotMessage(data) {
      if (!data || typeof data !== "object") return;
      var meta = data.custom || (data.status && data.sources ? data : null);
      if (meta) {  // {"status","intent","sources","facts","answer"}: metadata only
        var lastBot = ui.log.querySelectorAll(".kc-bot");
        lastBot = lastBot[lastBot.length - 1];
        if (lastBot && typeof meta.status === "string") lastBot.setAttribute("data-status", meta.status);
        for (var i = history.length - 1; i >= 0; i--) {
          if (history[i].role === "bot") {
            var entry = history[i];
            entry.status = meta.status;
            entry.sources = meta.sources;
            if (typeof meta.answer === "string" && ANSWER_ID_RE.test(meta.answer)) entry.answer = meta.answer;
            save();
            if (lastBot && entry.answer) renderRating(lastBot, entry);
            break;
          }
        }
        return;
      }
      var raw = data.quick_replies || data.buttons || [];
      var buttons = (Array.isArray(raw) ? raw : []).filter(function (b) {
        return b && typeof b.title === "string" && typeof b.payload === "string";
      }).map(function (b) { return { title: b.title, payload: b.payload }; });
      if (typeof data.text !== "string" || !data.text) return;
      clearTimeout(replyTimer);
      setStatus("");
      add({ role: "bot", text: data.text, buttons: buttons });
    }

    /* Connects when the panel is first opened, so visitors who never open it cost the server nothing. */
    function connect() {
      if (socket) return;
      if (typeof window.io !== "function") {
        setStatus("チャットを読み込めませんでした。", true);
        return;
      }
      socket = window.io(serverUrl(), {
        path: (script && script.getAttribute("data-socket-path")) || "/socket.io",
        transports: ["websocket"],  // no cross-origin polling requests, so no CORS needed
        reconnectionDelayMax: 10000
      });
      socket.on("connect", function () {
        confirmed = false;
        socket.emit("session_request", { session_id: sessionId });
      });
      socket.on("session_confirm", function (data) {
        var id = typeof data === "string" ? data : data && data.session_id;
        if (!id) return;
        var first = !sessionId;
        sessionId = id;
        local.setItem(KEY_SESSION, id);
        confirmed = true;
        setStatus("");
        if (first && history.length === 0) emit("/greet");
        pending.splice(0).forEach(emit);
      });
      socket.on("bot_uttered", onBotMessage);
      socket.on("connect_error", function () {
        confirmed = false;
        setStatus("チャットサーバーに接続できません。再接続しています…", true);
      });
      socket.on("disconnect", function () { confirmed = false; });
    }

    function setOpen(open, focus) {
      ui.panel.hidden = !open;
      ui.launcher.setAttribute("aria-expanded", open ? "true" : "false");
      ui.launcher.classList.toggle("kc-open", open);
      sessionStore.setItem(KEY_OPEN, open ? "1" : "0");
      if (open) { connect(); scroll(); if (focus) ui.input.focus(); } else if (focus) ui.launcher.focus();
    }

    ui.launcher.addEventListener("click", function () { setOpen(ui.panel.hidden, true); });
    ui.close.addEventListener("click", function () { setOpen(false, true); });
    ui.panel.addEventListener("keydown", function (e) { if (e.key === "Escape") setOpen(false, true); });
    ui.form.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = ui.input.value.replace(/\s+/g, " ").trim().slice(0, MAX_INPUT);
      if (!text) return;
      ui.input.value = "";
      ask(text, text);
    });

    window.KuyakushoChat.sessionId = function () { return sessionId; };
    window.KuyakushoChat.connected = function () { return confirmed; };
    history.forEach(function (m, i) { if (m && typeof m.text === "string") render(m, i === history.length - 1); });
    setOpen(sessionStore.getItem(KEY_OPEN) === "1", false);
  }

  window.KuyakushoChat = { renderBotText: renderBotText, serverUrl: serverUrl };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
