/*
 * CityAI public-service assistant: the widget for agencies' websites.
 *
 *   <script src="https://<cityai>/assistant/widget.js" defer></script>
 *
 * Optional attributes on the tag: data-title (the button's label, default "Hỏi trợ lý ảo"),
 * data-position="left" | "right" (default right), data-lang="vi" | "en".
 *
 * Adds a floating button that opens a fixed-size frame of <cityai>/assistant/embed (the origin this script
 * was loaded from), with a close button. No dependencies; the host page's styles cannot reach it (shadow
 * DOM), and the only global it adds is window.CityAIAssistant ({open, close, toggle, version}).
 */
(function () {
  "use strict";

  if (window.CityAIAssistant && window.CityAIAssistant.version) { return; } // the tag is on the page twice

  var script = document.currentScript;
  if (!script) {
    var tags = document.querySelectorAll("script[src*='/assistant/widget.js']");
    script = tags[tags.length - 1];
  }
  if (!script) { return; }
  var origin;
  try { origin = new URL(script.src, window.location.href).origin; } catch (e) { return; }

  var lang = script.getAttribute("data-lang");
  lang = lang === "en" || lang === "vi" ? lang : "vi";
  var WORDS = {
    vi: { open: "Hỏi trợ lý ảo", close: "Đóng", frame: "Trợ lý ảo dịch vụ công" },
    en: { open: "Ask the assistant", close: "Close", frame: "Public-service assistant" }
  }[lang];
  var title = (script.getAttribute("data-title") || "").trim() || WORDS.open;
  var side = script.getAttribute("data-position") === "left" ? "left" : "right";
  var src = origin + "/assistant/embed" + (script.getAttribute("data-lang") ? "?lang=" + lang : "");

  function css(node, styles) {
    Object.keys(styles).forEach(function (k) { node.style.setProperty(k, styles[k]); });
    return node;
  }

  function make(tag, styles, attrs) {
    var node = css(document.createElement(tag), styles || {});
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  var host, button, panel, frame, closeBtn;
  var FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";

  function build() {
    host = make("div", { position: "fixed", bottom: "0", "z-index": "2147483000", width: "0", height: "0" },
                { "data-cityai-assistant": "" });
    css(host, side === "left" ? { left: "0" } : { right: "0" });
    var shadow = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;

    button = make("button", {
      position: "fixed", bottom: "20px", padding: "12px 18px", "border-radius": "999px", border: "0",
      background: "#1d4f91", color: "#fff", font: "600 15px/1.2 " + FONT, cursor: "pointer",
      "box-shadow": "0 4px 14px rgba(0,0,0,.25)", "max-width": "calc(100vw - 40px)"
    }, { type: "button", "aria-expanded": "false", "aria-haspopup": "dialog", "data-testid": "cityai-widget-button" });
    css(button, side === "left" ? { left: "20px" } : { right: "20px" });
    button.textContent = "💬 " + title;
    button.addEventListener("click", toggle);

    panel = make("div", {
      position: "fixed", bottom: "80px", width: "380px", height: "560px", "max-width": "calc(100vw - 24px)",
      "max-height": "calc(100vh - 100px)", display: "none", "flex-direction": "column", background: "#fff",
      "border-radius": "12px", overflow: "hidden", "box-shadow": "0 8px 30px rgba(0,0,0,.3)",
      border: "1px solid #d0d7de"
    }, { role: "dialog", "aria-label": WORDS.frame, "data-testid": "cityai-widget-panel" });
    css(panel, side === "left" ? { left: "12px" } : { right: "12px" });

    var bar = make("div", {
      display: "flex", "align-items": "center", "justify-content": "space-between", padding: "6px 8px 6px 12px",
      background: "#1d4f91", color: "#fff", font: "600 14px/1.3 " + FONT
    });
    var label = make("span", { overflow: "hidden", "text-overflow": "ellipsis", "white-space": "nowrap" });
    label.textContent = title;
    closeBtn = make("button", {
      background: "transparent", color: "#fff", border: "0", font: "700 20px/1 " + FONT, cursor: "pointer",
      padding: "2px 8px"
    }, { type: "button", "aria-label": WORDS.close, title: WORDS.close, "data-testid": "cityai-widget-close" });
    closeBtn.textContent = "×";
    closeBtn.addEventListener("click", close);
    bar.appendChild(label);
    bar.appendChild(closeBtn);
    panel.appendChild(bar);
    panel.addEventListener("keydown", function (e) { if (e.key === "Escape") { close(); } });

    shadow.appendChild(panel);
    shadow.appendChild(button);
    document.body.appendChild(host);
  }

  function open() {
    if (!frame) { // the frame loads on first opening, not with the agency's page
      frame = make("iframe", { flex: "1", width: "100%", border: "0", "min-height": "0" },
                   { src: src, title: WORDS.frame, "data-testid": "cityai-widget-frame",
                     allow: "clipboard-write", referrerpolicy: "origin" });
      panel.appendChild(frame);
    }
    panel.style.display = "flex";
    button.setAttribute("aria-expanded", "true");
    closeBtn.focus();
  }

  function close() {
    if (!panel || panel.style.display === "none") { return; }
    panel.style.display = "none";
    button.setAttribute("aria-expanded", "false");
    button.focus();
  }

  function toggle() {
    if (panel.style.display === "none") { open(); } else { close(); }
  }

  function start() {
    if (!host) { build(); }
  }

  if (document.body) { start(); } else { document.addEventListener("DOMContentLoaded", start); }

  window.CityAIAssistant = {
    version: "1",
    open: function () { start(); open(); },
    close: function () { if (panel) { close(); } },
    toggle: function () { start(); toggle(); }
  };
})();
