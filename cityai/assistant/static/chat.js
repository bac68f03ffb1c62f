// CityAI public-service assistant: the chat on /assistant and in the widget's frame (/assistant/embed).
// It calls the JSON API (/api/v1/assistant/...) and builds every message with DOM text nodes: nothing that
// comes from the server or the user is ever parsed as HTML. No dependencies; the page's CSP allows only
// scripts from this origin, so there is no inline script anywhere.
(function () {
  "use strict";

  var API = "/api/v1/assistant";
  var root = document.getElementById("asst");
  if (!root) { return; }

  var T = {};
  try { T = JSON.parse(document.getElementById("asst-texts").textContent); } catch (e) { T = {}; }
  T.kinds = T.kinds || {};
  T.sections = T.sections || {};

  var channel = root.getAttribute("data-channel") || "web";
  var csrf = root.getAttribute("data-csrf") || "";
  var locale = root.getAttribute("data-locale") || "vi";
  var log = document.getElementById("asst-log");
  var form = document.getElementById("asst-form");
  var input = document.getElementById("asst-q");
  var sendBtn = document.getElementById("asst-send");
  var busyEl = document.getElementById("asst-busy");
  var alertEl = document.getElementById("asst-alert");
  var newBtn = document.getElementById("asst-new");
  var modeToggle = document.getElementById("asst-internal");
  var welcome = log.querySelector(".asst-welcome");
  var storeKey = "cityai.assistant." + channel;
  var busy = false;
  var counter = 0;

  // ---------------------------------------------------------------- small helpers

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (attrs[k] !== null && attrs[k] !== undefined) { node.setAttribute(k, attrs[k]); }
      });
    }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function load() {
    try { return JSON.parse(window.sessionStorage.getItem(storeKey) || "null"); } catch (e) { return null; }
  }

  function save(state) {
    try { window.sessionStorage.setItem(storeKey, JSON.stringify(state)); } catch (e) { /* storage off */ }
  }

  function forget() {
    try { window.sessionStorage.removeItem(storeKey); } catch (e) { /* storage off */ }
  }

  function mode() {
    return modeToggle && modeToggle.checked ? "internal" : "public";
  }

  function safeUrl(value) {
    if (typeof value !== "string" || !value) { return null; }
    try {
      var u = new URL(value, window.location.href);
      return (u.protocol === "https:" || u.protocol === "http:") ? u.href : null;
    } catch (e) { return null; }
  }

  function api(method, path, body) {
    var headers = { "Accept": "application/json", "Accept-Language": locale };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    if (csrf && method !== "GET") { headers["X-CSRF-Token"] = csrf; }
    return fetch(path, {
      method: method, headers: headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (resp) {
      return resp.text().then(function (raw) {
        var data = null;
        try { data = raw ? JSON.parse(raw) : null; } catch (e) { data = null; }
        if (!resp.ok) {
          var err = new Error((data && (data.detail || data.title)) || (T.error + " (HTTP " + resp.status + ")"));
          err.status = resp.status;
          err.data = data;
          throw err;
        }
        return data;
      });
    }, function () {
      var err = new Error(T.network);
      err.status = 0;
      throw err;
    });
  }

  function showAlert(message) {
    alertEl.textContent = message;
    alertEl.hidden = false;
  }

  function hideAlert() {
    alertEl.hidden = true;
    alertEl.textContent = "";
  }

  function setBusy(on) {
    busy = on;
    busyEl.hidden = !on;
    sendBtn.disabled = on;
    sendBtn.setAttribute("aria-busy", on ? "true" : "false");
  }

  function reveal(node) {
    // show the new message: its start when it is taller than the list, else the end of the list
    if (node.offsetHeight > log.clientHeight) {
      log.scrollTop = node.offsetTop - log.offsetTop - 8;
    } else {
      log.scrollTop = log.scrollHeight;
    }
  }

  function systemNote(text) {
    var p = el("p", { "class": "asst-note", "data-testid": "note" }, text);
    log.appendChild(p);
    reveal(p);
  }

  // ---------------------------------------------------------------- rendering an answer

  function citeId(mid, n) {
    return "asst-cit-" + mid + "-" + n;
  }

  // Text with [n] markers: the markers that point at a citation become links to it.
  function withCites(node, text, mid, ncits) {
    var re = /\[(\d{1,3})\]/g;
    var last = 0;
    var m;
    while ((m = re.exec(text)) !== null) {
      var n = parseInt(m[1], 10);
      if (n < 1 || n > ncits) { continue; }
      if (m.index > last) { node.appendChild(document.createTextNode(text.slice(last, m.index))); }
      var a = el("a", { "class": "asst-cite", href: "#" + citeId(mid, n), "data-cite": String(n) }, "[" + n + "]");
      a.addEventListener("click", openCitation);
      node.appendChild(a);
      last = m.index + m[0].length;
    }
    if (last < text.length) { node.appendChild(document.createTextNode(text.slice(last))); }
    return node;
  }

  function openCitation(event) {
    var id = this.getAttribute("href").slice(1);
    var target = document.getElementById(id);
    if (!target) { return; }
    event.preventDefault();
    var details = target.querySelector("details");
    if (details) { details.open = true; }
    target.focus();
    target.scrollIntoView({ block: "nearest" });
  }

  // Plain text with newlines: "- " lines become a list, "1. " lines a numbered one (left out when they
  // are shown as option buttons), other lines paragraphs.
  function renderText(container, text, mid, ncits, skipNumbers) {
    var list = null;
    var listTag = "";
    text.split("\n").forEach(function (line) {
      var num = /^(\d{1,2})\.\s+(.*)$/.exec(line);
      if (line.indexOf("- ") === 0) {
        if (listTag !== "ul") { list = el("ul"); listTag = "ul"; container.appendChild(list); }
        list.appendChild(withCites(el("li"), line.slice(2), mid, ncits));
      } else if (num) {
        if (skipNumbers[num[1]]) { return; }
        if (listTag !== "ol") { list = el("ol"); listTag = "ol"; container.appendChild(list); }
        list.appendChild(withCites(el("li", { value: num[1] }), num[2], mid, ncits));
      } else {
        list = null;
        listTag = "";
        if (line.trim()) { container.appendChild(withCites(el("p"), line, mid, ncits)); }
      }
    });
  }

  function renderCitations(box, cits, mid) {
    var wrap = el("div", { "class": "asst-citations", "data-testid": "citations" });
    wrap.appendChild(el("h3", null, T.sources));
    var ol = el("ol");
    var previous = null;
    var previousUrl = null;
    cits.forEach(function (c, i) {
      var n = i + 1;
      var li = el("li", { id: citeId(mid, n), tabindex: "-1", "data-testid": "citation",
                          "data-source-type": c.source_type, "data-source-id": c.source_id });
      // sections of the source just named are listed under it without repeating its title
      var same = previous && previous.source_type === c.source_type && previous.source_id === c.source_id;
      previous = c;
      var bits = [];
      if (!same) {
        li.appendChild(el("span", { "class": "asst-kind" }, T.kinds[c.source_type] || c.source_type || ""));
        li.appendChild(el("strong", null, c.title || c.source_id || ""));
        if (c.source_id) { bits.push(c.source_id); }
      }
      if (c.section) { bits.push(T.sections[c.section] || c.section); }
      if (bits.length) { li.appendChild(el("span", { "class": "muted" }, (same ? "" : " · ") + bits.join(" · "))); }
      if (c.snippet) {
        var details = el("details");
        details.appendChild(el("summary", null, T.snippet));
        details.appendChild(el("p", { "class": "asst-snippet" }, c.snippet));
        li.appendChild(details);
      }
      var links = el("div", { "class": "asst-cite-links" });
      var url = safeUrl(c.url);
      if (url && !(same && previousUrl === url)) {
        links.appendChild(el("a", { href: url, target: "_blank", rel: "noopener noreferrer",
                                    "data-testid": "citation-url" }, T.open_url));
      }
      previousUrl = url;
      if (!same && c.source_id && c.source_type) {
        var href = "/assistant/sources?kind=" + encodeURIComponent(c.source_type) + "&q=" +
          encodeURIComponent(c.source_id);
        if (links.firstChild) { links.appendChild(document.createTextNode(" · ")); }
        links.appendChild(el("a", { href: href, target: channel === "widget" ? "_blank" : null,
                                    rel: channel === "widget" ? "noopener" : null }, T.open_source));
      }
      if (links.firstChild) { li.appendChild(links); }
      ol.appendChild(li);
    });
    wrap.appendChild(ol);
    box.appendChild(wrap);
  }

  function renderFeedback(box, conversationId, mid, rating) {
    var fb = el("div", { "class": "asst-feedback", "data-testid": "feedback" });
    box.appendChild(fb);
    function thanks() {
      fb.textContent = "";
      fb.appendChild(el("span", { "class": "asst-thanks", role: "status", "data-testid": "feedback-thanks" },
                        T.thanks));
    }
    if (rating) { thanks(); return; }
    fb.appendChild(el("span", null, T.helpful_q));
    var up = el("button", { type: "button", "class": "outline small", "aria-label": T.helpful, title: T.helpful,
                            "data-testid": "feedback-up" }, T.helpful);
    var down = el("button", { type: "button", "class": "outline small secondary", "aria-label": T.not_helpful,
                              title: T.not_helpful, "data-testid": "feedback-down" }, T.not_helpful);
    function rate(value) {
      up.disabled = true;
      down.disabled = true;
      api("POST", API + "/conversations/" + encodeURIComponent(conversationId) + "/feedback",
          { message_id: mid, rating: value })
        .then(thanks, function (err) {
          up.disabled = false;
          down.disabled = false;
          showAlert(err.message);
        });
    }
    up.addEventListener("click", function () { rate(1); });
    down.addEventListener("click", function () { rate(-1); });
    fb.appendChild(up);
    fb.appendChild(down);
  }

  function addUser(text) {
    root.classList.add("asst-started");
    var box = el("div", { "class": "asst-msg asst-user", "data-testid": "question-bubble" });
    box.appendChild(el("div", { "class": "asst-meta" }, T.you));
    box.appendChild(el("div", null, text));
    log.appendChild(box);
    reveal(box);
    return box;
  }

  // m: an answer of POST /ask (message_id, options ...) or a message of GET /conversations/{id} (id, rating).
  function addBot(m, conversationId, live) {
    var mid = m.message_id || m.id || ("x" + (++counter));
    var status = m.status || "answered";
    var cits = Array.isArray(m.citations) ? m.citations : [];
    var options = live && Array.isArray(m.options) ? m.options : [];
    var box = el("div", { "class": "asst-msg asst-bot", "data-testid": "answer", "data-status": status,
                          "data-message-id": String(mid) });
    var meta = el("div", { "class": "asst-meta" });
    meta.appendChild(el("span", null, T.assistant));
    if (status === "not_found") {
      var label = (m.reason === "out_of_scope" || m.reason === "declined") ? T.out_of_scope : T.not_found;
      meta.appendChild(el("span", { "class": "asst-badge asst-not_found", "data-testid": "status-badge" }, label));
    } else if (status === "clarify") {
      meta.appendChild(el("span", { "class": "asst-badge asst-clarify", "data-testid": "status-badge" }, T.clarify));
    }
    box.appendChild(meta);
    var skip = {};
    options.forEach(function (o) { skip[String(o.n)] = true; });
    var body = el("div", { "class": "asst-text", "data-testid": "answer-text" });
    renderText(body, String(m.answer || ""), mid, cits.length, skip);
    box.appendChild(body);
    if (options.length) {
      var group = el("div", { "class": "asst-options", role: "group", "aria-label": T.choose,
                              "data-testid": "options" });
      options.forEach(function (o) {
        var label = o.n + ". " + (o.title || o.source_id || "");
        var b = el("button", { type: "button", "class": "outline small", "data-testid": "option",
                               "data-n": String(o.n) }, label);
        b.addEventListener("click", function () { ask(String(o.n), label); });
        group.appendChild(b);
      });
      box.appendChild(group);
    }
    var portal = m.procedure && safeUrl(m.procedure.url);
    if (portal) {
      var p = el("p", { "class": "asst-portal" });
      p.appendChild(el("a", { href: portal, target: "_blank", rel: "noopener noreferrer",
                              "data-testid": "procedure-url" }, T.open_url));
      box.appendChild(p);
    }
    if (m.generation && m.generation.used) { box.appendChild(el("p", { "class": "asst-note" }, T.generated)); }
    if (cits.length) { renderCitations(box, cits, mid); }
    if ((status === "answered" || status === "not_found") && typeof mid === "number" && conversationId) {
      renderFeedback(box, conversationId, mid, m.rating);
    }
    log.appendChild(box);
    reveal(box);
    return box;
  }

  // ---------------------------------------------------------------- asking

  function clearLog() {
    Array.prototype.slice.call(log.children).forEach(function (child) {
      if (child !== welcome) { log.removeChild(child); }
    });
  }

  function post(body, retried) {
    return api("POST", API + "/ask", body).catch(function (err) {
      // a conversation this client may no longer continue (signed in or out since, or expired): start anew
      if (err.status === 404 && body.conversation_id && !retried) {
        forget();
        delete body.conversation_id;
        return post(body, true);
      }
      throw err;
    });
  }

  function ask(question, shown, fromInput) {
    question = String(question || "").trim();
    if (busy) { return; }
    if (!question) { input.focus(); return; }
    hideAlert();
    Array.prototype.forEach.call(log.querySelectorAll(".asst-options button"), function (b) { b.disabled = true; });
    var bubble = addUser(shown || question);
    var currentMode = mode();
    var state = load();
    var body = { question: question, channel: channel, mode: currentMode };
    if (state && state.id && state.mode === currentMode) { body.conversation_id = state.id; }
    if (fromInput) { input.value = ""; }
    setBusy(true);
    post(body).then(function (data) {
      setBusy(false);
      save({ id: data.conversation_id, mode: currentMode });
      addBot(data, data.conversation_id, true);
    }, function (err) {
      setBusy(false);
      if (bubble.parentNode) { bubble.parentNode.removeChild(bubble); }
      if (fromInput && !input.value) { input.value = question; }
      showAlert(err.message || T.error);
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    ask(input.value, null, true);
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      ask(input.value, null, true);
    }
  });

  Array.prototype.forEach.call(root.querySelectorAll(".asst-sample"), function (b) {
    b.addEventListener("click", function () { ask(b.getAttribute("data-question")); });
  });

  newBtn.addEventListener("click", function () {
    forget();
    clearLog();
    hideAlert();
    root.classList.remove("asst-started");
    systemNote(T.new_started);
    input.focus();
  });

  if (modeToggle) {
    modeToggle.addEventListener("change", function () {
      // a conversation keeps its mode: switching starts a new one
      forget();
      clearLog();
      hideAlert();
      systemNote(modeToggle.checked ? T.mode_internal : T.mode_public);
    });
  }

  // ---------------------------------------------------------------- continuing after a reload

  function restore() {
    var state = load();
    if (!state || !state.id) { return; }
    if (state.mode === "internal" && !modeToggle) { forget(); return; }
    if (modeToggle) { modeToggle.checked = state.mode === "internal"; }
    api("GET", API + "/conversations/" + encodeURIComponent(state.id)).then(function (conv) {
      var messages = (conv && conv.messages) || [];
      if (!messages.length) { return; }
      systemNote(T.restored);
      messages.forEach(function (m) {
        addUser(m.question);
        addBot(m, conv.conversation_id, false);
      });
    }, function () { forget(); });
  }

  restore();
})();
