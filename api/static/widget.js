/* aiaas web chat widget: <script src="https://GATEWAY/widget.js" data-key="wk_..." async></script>
 *
 * Starts a visitor session (kept in sessionStorage, so a reload keeps the conversation), posts messages,
 * and reads the conversation's events over Server-Sent Events with fetch (the visitor token goes in a
 * header, never the URL). A dropped stream - a network blip, a gateway restart - is reopened with
 * Last-Event-ID, so no token is lost and none repeats. No dependencies, no build step.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var key = script.getAttribute("data-key");
  var base = new URL(script.src).origin;
  var store = window.sessionStorage;
  var slot = "aiaas.widget." + key;
  var session = null;
  var lastEventId = null;
  var answers = {};

  function headers(extra) {
    var h = { "X-Widget-Key": key };
    if (session) h.Authorization = "Bearer " + session.visitor_token;
    for (var k in extra || {}) h[k] = extra[k];
    return h;
  }

  function ui() {
    var box = document.createElement("div");
    box.id = "aiaas-widget";
    box.style.cssText = "position:fixed;bottom:16px;right:16px;width:320px;font:14px sans-serif;" +
      "background:#fff;border:1px solid #ccc;border-radius:8px;box-shadow:0 2px 8px rgba(0,0,0,.2);z-index:99999";
    box.innerHTML = '<div class="log" style="height:280px;overflow:auto;padding:8px"></div>' +
      '<form style="display:flex;border-top:1px solid #eee"><input name="q" autocomplete="off" ' +
      'style="flex:1;border:0;padding:8px" placeholder="Type a message"><button>Send</button></form>';
    document.body.appendChild(box);
    return box;
  }

  function line(log, who, id) {
    var p = document.createElement("p");
    p.className = who;
    if (id) p.setAttribute("data-reply-to", id);
    p.style.margin = "4px 0";
    p.style.textAlign = who === "you" ? "right" : "left";
    log.appendChild(p);
    return p;
  }

  // One session per page: a message sent while the first session is still being opened waits for that same
  // session (two would put the message in one conversation and the stream on the other).
  var starting = null;
  function start() {
    if (starting) return starting;
    var saved = store.getItem(slot);
    if (saved) { session = JSON.parse(saved); starting = Promise.resolve(session); return starting; }
    starting = fetch(base + "/widget/v1/sessions", { method: "POST", headers: headers() })
      .then(function (r) { if (!r.ok) throw new Error("widget session refused: " + r.status); return r.json(); })
      .then(function (s) { session = s; store.setItem(slot, JSON.stringify(s)); return s; });
    starting.catch(function () { starting = null; });  // a refused start is tried again by the next caller
    return starting;
  }

  function onEvent(log, type, data) {
    if (type === "token") {
      var id = data.reply_to || data.message_id || "current";
      (answers[id] = answers[id] || line(log, "agent", id)).textContent += data.delta || "";
    } else if (type === "message.completed") {
      var p = answers[data.reply_to] || answers.current || line(log, "agent", data.reply_to);
      p.textContent = data.content;
      delete answers.current;
    }
    log.scrollTop = log.scrollHeight;
  }

  function stream(log) {
    var h = headers({ Accept: "text/event-stream" });
    if (lastEventId) h["Last-Event-ID"] = lastEventId;
    fetch(base + "/widget/v1/events", { headers: h }).then(function (r) {
      if (!r.ok || !r.body) throw new Error("stream refused: " + r.status);
      var reader = r.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) throw new Error("stream ended");
          buffer += decoder.decode(chunk.value, { stream: true });
          var frames = buffer.split("\n\n");
          buffer = frames.pop();
          frames.forEach(function (frame) {
            var id = null, type = "message", data = "";
            frame.split("\n").forEach(function (l) {
              if (l.indexOf("id:") === 0) id = l.slice(3).trim();
              else if (l.indexOf("event:") === 0) type = l.slice(6).trim();
              else if (l.indexOf("data:") === 0) data += l.slice(5).trim();
            });
            if (id) lastEventId = id;
            // Each frame's data is the event's envelope; what the event says is in its `data`.
            if (data) {
              try { var event = JSON.parse(data); onEvent(log, type, (event && event.data) || {}); }
              catch (e) { /* not JSON: ignore */ }
            }
          });
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      // Reconnect after a pause; the stream resumes after the last event shown.
      setTimeout(function () { stream(log); }, 2000);
    });
  }

  // How long to wait before sending again, or null when the message was taken (or refused for good).
  // A 429 (the shop's rate or queue is full) waits as long as Retry-After says, at most 30 s;
  // a 5xx or a network error backs off a second per attempt.
  function pause(r, attempt) {
    if (r.status === 429) {
      var after = parseInt(r.headers.get("Retry-After") || "", 10);
      return 1000 * Math.min(isNaN(after) || after < 1 ? attempt : after, 30);
    }
    return r.status >= 500 ? 1000 * attempt : null;
  }

  function ready() {
    var box = ui();
    var log = box.querySelector(".log");
    var form = box.querySelector("form");
    start().then(function () { stream(log); });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = form.q.value.trim();
      if (!text) return;
      form.q.value = "";
      line(log, "you").textContent = text;
      var cid = "w-" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
      var send = function (attempt) {
        return fetch(base + "/widget/v1/messages", {
          method: "POST",
          headers: headers({ "Content-Type": "application/json" }),
          body: JSON.stringify({ content: text, client_message_id: cid })
        }).then(function (r) { return pause(r, attempt); }, function () { return 1000 * attempt; }).then(function (wait) {
          // The same client_message_id makes a retry safe: the conversation answers it once.
          if (wait === null) return;
          if (attempt >= 5) { line(log, "note").textContent = "Not sent; please try again."; return; }
          return new Promise(function (ok) { setTimeout(ok, wait); }).then(function () { return send(attempt + 1); });
        });
      };
      start().then(function () { return send(1); });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
