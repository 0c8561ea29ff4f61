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

// The live status of a knowledge collection: its documents' ingestion and its re-embed, from the knowledge
// event stream the console serves for the session (`.../events`), starting after the newest event the page
// had when it read the documents; the browser resumes with `Last-Event-ID`, and after a refusal the page
// reopens the stream from the last event it saw.
(function () {
  "use strict";
  var live = document.getElementById("knowledge-live");
  if (!live) { return; }
  var lastId = live.dataset.after || "";
  var retryMs = 500;
  var TYPES = ["ingest.progress", "ingest.completed", "ingest.failed", "reembed.progress", "reembed.completed",
    "reembed.failed", "reembed.cancelled"];

  function row(documentId) {
    return documentId ? live.querySelector("tr[data-document='" + documentId + "']") : null;
  }

  function setRow(tr, status, detail) {
    tr.dataset.status = status;
    tr.querySelector(".doc-status").textContent = status;
    tr.querySelector(".doc-detail").textContent = detail;
  }

  function showDocument(type, data) {
    var tr = row(data.document_id);
    if (!tr) {
      document.getElementById("live-note").hidden = false;
      return;
    }
    if (type === "ingest.completed") {
      setRow(tr, "ready", data.chunks + " chunks");
    } else if (type === "ingest.failed") {
      setRow(tr, "failed", data.reason || "");
    } else if (data.stage === "parsed") {
      setRow(tr, "processing", "parsed: " + data.chunks + " chunks, " + data.pages + " pages");
    } else if (data.stage === "embedding") {
      setRow(tr, "processing", "embedding: " + data.remaining + " chunks to go");
    }
  }

  function showReembed(type, data) {
    var box = document.getElementById("reembed");
    var status = document.getElementById("reembed-status");
    var embedded = document.getElementById("reembed-embedded");
    var state = type === "reembed.progress" ? "running" : type.split(".")[1];
    box.dataset.status = state;
    if (status) { status.textContent = state; }
    if (embedded && data.embedded !== undefined) { embedded.textContent = data.embedded; }
    var cancel = document.getElementById("cancel-reembed");
    if (cancel && state !== "running") { cancel.hidden = true; }
  }

  function open() {
    var url = live.dataset.streamUrl + (lastId ? "?after=" + encodeURIComponent(lastId) : "");
    var source = new EventSource(url);
    source.onopen = function () { live.dataset.state = "open"; retryMs = 500; };
    TYPES.forEach(function (type) {
      source.addEventListener(type, function (event) {
        lastId = event.lastEventId || lastId;
        var body = JSON.parse(event.data);
        var data = body.data || {};
        if (type.indexOf("ingest.") === 0) { showDocument(type, data); } else { showReembed(type, data); }
        live.dataset.lastType = type;
      });
    });
    source.onerror = function () {
      if (source.readyState !== EventSource.CLOSED) { live.dataset.state = "reconnecting"; return; }
      // Refused (a session that ended, say): reopen later from the last event seen.
      live.dataset.state = "reconnecting";
      setTimeout(open, retryMs);
      retryMs = Math.min(retryMs * 2, 10000);
    };
  }
  open();
})();
