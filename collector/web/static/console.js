// The console's only script: new tickets appear without a reload (server-sent events).
// Everything else works without it. Text goes in with textContent, never as markup.
"use strict";
(function () {
  var live = document.getElementById("live");
  if (!live || !window.EventSource) return;
  // A page that lists tickets says which is the newest it shows (data-newest), and the
  // feed catches up from there. Any other page asks for new tickets only: catching up from
  // 0 would announce the last 50 old tickets as "new" in the live region on every page.
  var known = live.hasAttribute("data-newest");
  var newest = known ? parseInt(live.getAttribute("data-newest"), 10) || 0 : 0;
  var rows = document.getElementById("ticket-rows");
  var source = new EventSource(known ? "/events?after=" + newest : "/events");

  function cell(tr, text, href) {
    var td = document.createElement("td");
    if (href) {
      var a = document.createElement("a");
      a.href = href;
      a.textContent = text;
      td.appendChild(a);
    } else {
      td.textContent = text;
    }
    tr.appendChild(td);
    return td;
  }

  source.addEventListener("ticket", function (ev) {
    var t;
    try { t = JSON.parse(ev.data); } catch (e) { return; }
    if (t.id <= newest) return;
    newest = t.id;
    var note = document.createElement("p");
    note.className = "toast";
    var a = document.createElement("a");
    a.href = "/tickets/" + t.id;
    a.textContent = "New ticket #" + t.id + " " + (t.priority || "") + ": " + (t.summary || "");
    note.appendChild(a);
    live.insertBefore(note, live.firstChild);
    while (live.childNodes.length > 5) live.removeChild(live.lastChild);
    if (rows && t.state === "open") {
      var tr = document.createElement("tr");
      tr.className = "new " + (t.priority || "");
      cell(tr, "#" + t.id, "/tickets/" + t.id);
      var p = cell(tr, "");
      var span = document.createElement("span");
      span.className = "prio " + (t.priority || "");
      span.textContent = t.priority || "";
      p.appendChild(span);
      cell(tr, t.tier || "");
      cell(tr, t.summary || "", "/tickets/" + t.id);
      cell(tr, t.hostname || "", t.agent_id ? "/hosts/" + encodeURIComponent(t.agent_id) : null);
      cell(tr, t.state || "");
      cell(tr, t.created_at || "");
      cell(tr, t.assignee || "");
      // The "No tickets." placeholder (one cell spanning the row) is no longer true.
      var placeholder = rows.querySelector("td[colspan]");
      if (placeholder && placeholder.parentNode.parentNode === rows) {
        rows.removeChild(placeholder.parentNode);
      }
      rows.insertBefore(tr, rows.firstChild);
    }
  });
})();
