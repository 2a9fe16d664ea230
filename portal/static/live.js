// Live updates for a logged-in resident (the pages work without this file).
// Listens to /events (Server-Sent Events) and, with textContent only (never HTML from data):
//   access  → a new first row in the history table (#history[data-live]) and an alert line;
//   notice  → a new first item in #notice-list, the unread counters bumped, an alert line.
"use strict";
(function () {
  if (!window.EventSource) { return; }

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (cls) { node.className = cls; }
    return node;
  }

  function alertLine(text) {
    var box = document.getElementById("live-alerts");
    if (!box) { return; }
    var p = el("p", text);
    box.insertBefore(p, box.firstChild);
    while (box.childNodes.length > 3) { box.removeChild(box.lastChild); }
  }

  function cell(label, text, cls) {
    var td = el("td", text, cls);
    td.setAttribute("data-label", label);
    return td;
  }

  function postButton(action, token, label) {
    var form = el("form", null, "inline");
    form.method = "post";
    form.action = action;
    var csrf = el("input");
    csrf.type = "hidden"; csrf.name = "csrf"; csrf.value = token || "";
    var button = el("button", label, "small");
    button.type = "submit";
    form.appendChild(csrf);
    form.appendChild(button);
    return form;
  }

  function addAccess(row) {
    if (row.own) { return; }  // the portal's own look-ups never alert (the server sends none)
    alertLine("新しいやりとりがありました (new access): " + row.requester_name + " → " +
      row.provider_name + "「" + row.affair + "」");
    var table = document.getElementById("history");
    if (!table || table.getAttribute("data-live") !== "on") { return; }
    if (document.getElementById("r-" + row.record_id)) { return; }
    var body = table.tBodies[0];
    var empty = body.querySelector("tr.empty");
    if (empty) { body.removeChild(empty); }
    var tr = el("tr", null, "fresh");
    tr.id = "r-" + row.record_id;
    tr.appendChild(cell("日時", row.at));
    tr.appendChild(cell("照会した機関", row.requester_name));
    tr.appendChild(cell("提供した機関", row.provider_name));
    tr.appendChild(cell("事務", row.affair));
    tr.appendChild(cell("項目", row.items));
    tr.appendChild(cell("結果", row.outcome_label, "outcome-" + row.outcome));
    var td = cell("検証");
    td.appendChild(postButton("/history/" + encodeURIComponent(row.record_id) + "/verify",
      table.getAttribute("data-csrf"), "検証 (chain check)"));
    tr.appendChild(td);
    body.insertBefore(tr, body.firstChild);
  }

  function bump(id) {
    var node = document.getElementById(id);
    if (!node) { return; }
    var n = parseInt(node.textContent.replace(/,/g, ""), 10);
    node.textContent = ((isNaN(n) ? 0 : n) + 1).toLocaleString("ja-JP");
  }

  function addNotice(row) {
    alertLine("お知らせが届きました (new notice): " + row.office_name + " — " + row.title);
    bump("unread-count");
    bump("home-unread");
    var list = document.getElementById("notice-list");
    if (!list || document.getElementById("n-" + row.notice_id)) { return; }
    var empty = list.querySelector("li.empty");
    if (empty) { list.removeChild(empty); }
    var li = el("li", null, "unread");
    li.id = "n-" + row.notice_id;
    var meta = el("p", row.at + " · " + row.office_name + " ", "meta");
    meta.appendChild(el("span", "未読 (unread)", "state"));
    li.appendChild(meta);
    li.appendChild(el("h2", row.title));
    li.appendChild(el("p", row.body, "body"));
    li.appendChild(postButton("/notices/" + encodeURIComponent(row.notice_id) + "/read",
      list.getAttribute("data-csrf"), "既読にする (mark as read)"));
    list.insertBefore(li, list.firstChild);
  }

  function handler(fn) {
    return function (event) {
      try { fn(JSON.parse(event.data)); } catch (e) { /* a malformed event is skipped */ }
    };
  }

  var source = new EventSource("/events");
  source.addEventListener("access", handler(addAccess));
  source.addEventListener("notice", handler(addNotice));
  window.addEventListener("pagehide", function () { source.close(); });
}());
