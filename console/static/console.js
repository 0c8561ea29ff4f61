// The console's own script: the CSRF header on htmx requests, and the live view of a conversation.
// The live view reads the API's event stream (`/v1/conversations/{id}/events`) with a single-use ticket the
// console issues for the signed-in session, and asks for a fresh one (resuming with `after=`) on reconnect.
(function () {
  "use strict";
  var csrf = document.body.dataset.csrf;
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (csrf) { event.detail.headers["X-CSRF-Token"] = csrf; }
  });

  var live = document.getElementById("live");
  if (!live) { return; }
  var answer = document.getElementById("live-answer");
  var log = document.getElementById("live-events");
  var lastId = null;
  var retryMs = 500;
  var TYPES = ["message.accepted", "turn.started", "token", "message.completed", "turn.failed", "turn.cut",
    "tool.started", "tool.completed", "tool.failed", "tool.unavailable", "saga.compensating",
    "saga.compensated", "saga.needs_attention", "approval.requested", "approval.resolved", "agent.handoff",
    "budget.threshold", "tool.policy", "confirmation.requested", "confirmation.resolved", "route.decided",
    "model.fallback"];

  function show(type, body) {
    if (type === "token") {
      answer.textContent += (body.data && body.data.delta) || "";
      return;
    }
    if (type === "turn.started") { answer.textContent = ""; }
    var item = document.createElement("li");
    item.className = "event";
    item.dataset.type = type;
    item.textContent = type + " " + JSON.stringify(body.data || {});
    log.appendChild(item);
    live.dataset.lastType = type;
  }

  function open() {
    fetch(live.dataset.ticketUrl, { method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("ticket refused: " + response.status); }
        return response.json();
      })
      .then(function (issued) {
        var url = issued.url + "?ticket=" + encodeURIComponent(issued.ticket);
        if (lastId) { url += "&after=" + encodeURIComponent(lastId); }
        var source = new EventSource(url);
        source.onopen = function () { live.dataset.state = "open"; retryMs = 500; };
        TYPES.forEach(function (type) {
          source.addEventListener(type, function (event) {
            lastId = event.lastEventId || lastId;
            show(type, JSON.parse(event.data));
          });
        });
        source.onerror = function () {
          // A ticket opens one stream only: reconnect with a new one, from the last event seen.
          source.close();
          live.dataset.state = "reconnecting";
          setTimeout(open, retryMs);
          retryMs = Math.min(retryMs * 2, 10000);
        };
      })
      .catch(function () {
        live.dataset.state = "reconnecting";
        setTimeout(open, retryMs);
        retryMs = Math.min(retryMs * 2, 10000);
      });
  }
  open();
})();
